import Lifecycle
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
