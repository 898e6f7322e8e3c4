import LinesightCore
import Testing
@testable import Lifecycle

@Suite("evaluate --models: the confusion of truth against the line's call")
struct StagedEvaluationTests {
    // rows: good, crack, dent, scratch; columns: pass, crack, dent, scratch, fail: no kind named
    static let kinds = ["crack", "dent", "scratch"]
    static func cells(_ truth: [String], _ decision: Decision, _ named: [String]) -> [[Int]] {
        StagedEvaluation.confusionCells(truth: truth, decision: decision, named: named, kinds: kinds).map { [$0.row, $0.column] }
    }

    @Test("a good part counts once; a part with several defects once per kind it has, under that kind when the line named it, else what it named instead")
    func severalDefectsCountOncePerKind() {
        #expect(Self.cells([], .pass, []) == [[0, 0]])
        #expect(Self.cells([], .fail, ["dent", "crack"]) == [[0, 2]], "a false reject under the kind named first")
        #expect(Self.cells([], .fail, []) == [[0, 4]], "failed with no kind named")
        #expect(Self.cells(["scratch"], .fail, ["scratch"]) == [[3, 3]])
        #expect(Self.cells(["scratch"], .pass, []) == [[3, 0]], "an escape")
        // scratch and dent; the line names dent then crack: dent is right, the scratch was called crack
        #expect(Self.cells(["scratch", "dent"], .fail, ["dent", "crack"]) == [[3, 1], [2, 2]])
        // the line names only scratch: the dent row says scratch (a kind the part has, the only one named)
        #expect(Self.cells(["scratch", "dent"], .fail, ["scratch"]) == [[3, 3], [2, 3]])
        #expect(Self.cells(["scratch", "dent"], .pass, []) == [[3, 0], [2, 0]], "both escaped")
        #expect(Self.cells(["dent", "dent"], .fail, []) == [[2, 4]], "a kind listed twice counts once")
        #expect(Self.cells(["rust"], .fail, ["dent"]).isEmpty, "a kind stage 2 does not know has no row")
        #expect(Self.cells(["rust", "crack"], .fail, ["crack"]) == [[1, 1]])
    }
}
