@testable import Inspection
@testable import Lifecycle
import LinesightCore
import Testing
import Training

/// The int8 gate's arithmetic: within 0.5 points of the fp32 champion passes, beyond fails,
/// each of escapes and false rejects on its own; better is always allowed.
@Suite("int8 gate")
struct Int8GateTests {
    func figures(escapes: Double, falseRejects: Double) -> GateFigures {
        GateFigures(escapeRate: escapes, escapeUpper95: escapes, falseRejectRate: falseRejects, catchRate: [:], images: 400)
    }

    @Test("within 0.5 points passes, beyond fails")
    func points() {
        let champion = figures(escapes: 0.020, falseRejects: 0.040)
        func passed(_ e: Double, _ f: Double) -> [Bool] { Promotion.int8Checks(champion: champion, challenger: figures(escapes: e, falseRejects: f)).map(\.passed) }
        #expect(passed(0.020, 0.040) == [true, true])
        #expect(passed(0.025, 0.045) == [true, true], "exactly 0.5 points worse")
        #expect(passed(0.0251, 0.040) == [false, true])
        #expect(passed(0.020, 0.0451) == [true, false])
        #expect(passed(0.0, 0.0) == [true, true], "better is allowed")
        #expect(Promotion.int8Checks(champion: champion, challenger: figures(escapes: 0.03, falseRejects: 0.05)).allSatisfy { $0.detail.contains("fp32 champion") })
    }
}

/// The stage-2 int8 gate on the line as the daemon decides it: the line's escapes and false
/// rejects within 0.5 points, and each kind's recall within 0.02 of the fp32 stage 2's.
@Suite("int8 stage-2 gate")
struct Int8StageTwoGateTests {
    /// 100 good parts and 100 scratches: `escaped` scratches passed, `rejected` good parts
    /// failed, `unnamed` of the failed scratches with no kind named.
    func evaluation(escaped: Int, rejected: Int, unnamed: Int) -> StagedEvaluation {
        func j(_ d: Decision, _ named: [String]) -> Judgement {
            Judgement(decision: d, stage1Score: d == .fail ? 0.9 : 0.1, stage2Scores: nil, defects: named, unsure: false)
        }
        var judged: [(item: LabeledImage, j: Judgement)] = []
        for i in 0..<100 { judged.append((LabeledImage(file: "g\(i).jpg", label: "good", defects: []), j(i < rejected ? .fail : .pass, []))) }
        for i in 0..<100 {
            let d: Decision = i < escaped ? .pass : .fail
            judged.append((LabeledImage(file: "s\(i).jpg", label: "scratch", defects: ["scratch"]), j(d, d == .fail && i >= escaped + unnamed ? ["scratch"] : [])))
        }
        return StagedEvaluation(data: "golden set", split: "golden", judged: judged, skipped: [], kinds: ["scratch", "dent"], thresholds: Thresholds())
    }

    @Test("the line within 0.5 points and each kind's recall within 0.02 pass; a kind the golden set lacks is not judged")
    func gates() {
        let fp32 = evaluation(escaped: 2, rejected: 4, unnamed: 3)
        func passed(_ x: StagedEvaluation) -> [String: Bool] {
            Dictionary(uniqueKeysWithValues: Promotion.int8StageTwoChecks(champion: fp32, challenger: x).map { ($0.gate, $0.passed) })
        }
        #expect(passed(fp32) == ["int8 images judged": true, "int8 line escapes": true, "int8 line false rejects": true, "int8 recall scratch": true])
        #expect(passed(evaluation(escaped: 3, rejected: 4, unnamed: 3))["int8 line escapes"] == false, "1 point more escapes")
        #expect(passed(evaluation(escaped: 2, rejected: 5, unnamed: 3))["int8 line false rejects"] == false)
        #expect(passed(evaluation(escaped: 2, rejected: 4, unnamed: 5)) == ["int8 images judged": true, "int8 line escapes": true,
                                                                            "int8 line false rejects": true, "int8 recall scratch": true],
                "recall 0.95 -> 0.93: within 0.02")
        #expect(passed(evaluation(escaped: 2, rejected: 4, unnamed: 6))["int8 recall scratch"] == false, "recall 0.95 -> 0.92")
        #expect(passed(evaluation(escaped: 0, rejected: 0, unnamed: 0)).values.allSatisfy { $0 }, "better is allowed")
        // an image the int8 line could not judge fails the gate, however good the rest looks
        var fewer = evaluation(escaped: 0, rejected: 0, unnamed: 0)
        fewer.images -= 1
        fewer.skipped = ["s99.jpg"]
        #expect(passed(fewer)["int8 images judged"] == false)
    }
}
