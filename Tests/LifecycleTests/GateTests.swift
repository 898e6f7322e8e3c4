import Lifecycle
import Testing
import Training

@Suite("Promotion gates")
struct GateTests {
    let champion = GateFigures(escapeRate: 0.01, escapeUpper95: 0.03, falseRejectRate: 0.02, catchRate: ["dent": 0.99, "scratch": 0.95], images: 500)

    @Test func aChallengerNoWorseOnEveryGatePasses() {
        let x = GateFigures(escapeRate: 0.008, escapeUpper95: 0.025, falseRejectRate: 0.03, catchRate: ["dent": 0.98, "scratch": 0.97], images: 500)
        let checks = Promotion.stageOneChecks(champion: champion, challenger: x, gates: Gates())
        #expect(checks.count == 4 && checks.filter { !$0.passed }.isEmpty)
    }

    @Test func eachFailedGateIsNamedWithItsFigures() {
        let x = GateFigures(escapeRate: 0.04, escapeUpper95: 0.07, falseRejectRate: 0.09, catchRate: ["dent": 0.90, "scratch": 0.95], images: 500)
        let failed = Promotion.stageOneChecks(champion: champion, challenger: x, gates: Gates()).filter { !$0.passed }
        #expect(failed.map(\.gate) == ["recall dent", "escape rate", "false rejects"])
        #expect(failed[0].detail.contains("champion 0.990, challenger 0.900") && failed[0].detail.contains("dropped 0.090"))
        #expect(failed[1].detail.contains("upper 95% bound 0.0700 vs target 0.0500"))
    }

    @Test func stageTwoIsJudgedPerKindOnItsOwnGate() {
        let kinds = [KindGateFigures(kind: "dent", championRecall: 0.80, championThreshold: 0.4, championPrecision: 0.7,
                                     challengerRecall: 0.79, challengerThreshold: 0.35, challengerPrecision: 0.6),
                     KindGateFigures(kind: "stain", championRecall: 0.50, championThreshold: 0.5, championPrecision: 0.5,
                                     challengerRecall: 0.40, challengerThreshold: 0.45, challengerPrecision: 0.9)]
        let checks = Promotion.stageTwoChecks(kinds, gates: Gates())
        #expect(checks.map(\.gate) == ["stage-2 recall dent", "stage-2 recall stain"] && checks.map(\.passed) == [true, false])
        #expect(!checks.passed && checks[1].detail.contains("champion 0.500 at threshold 0.50 (precision 0.50), challenger 0.400 at 0.45"))
        #expect(checks[1].detail.contains("dropped 0.100"))
    }

    @Test func aNewKindNeedsHeldOutLabelsAndItsRecall() {
        let old = [KindGateFigures(kind: "dent", championRecall: 0.80, championThreshold: 0.4, championPrecision: 0.7,
                                   challengerRecall: 0.80, challengerThreshold: 0.4, challengerPrecision: 0.7)]
        let learned = [NewKindFigures(kind: "burr", trained: 8, heldOut: 4, recall: 0.75, precision: 0.6, threshold: 0.3),
                       NewKindFigures(kind: "flash", trained: 9, heldOut: 5, recall: 0.4, precision: 0.5, threshold: 0.35),
                       NewKindFigures(kind: "sliver", trained: 6, heldOut: 0, recall: 0, precision: 0, threshold: 0.5)]
        let checks = Promotion.stageTwoChecks(old, newKinds: learned, gates: Gates())
        #expect(checks.map(\.gate) == ["stage-2 recall dent", "stage-2 new kind burr", "stage-2 new kind flash", "stage-2 new kind sliver"])
        #expect(checks.map(\.passed) == [true, true, false, false])
        #expect(checks[1].detail == "recall 0.750 at threshold 0.30 (precision 0.60) on 4 held-out labels, 8 trained on (needs 0.500)")
        #expect(checks[3].detail.contains("no held-out labels"))
        var lenient = Gates()
        lenient.newKindRecall = 0.4
        #expect(Promotion.stageTwoChecks(old, newKinds: learned, gates: lenient).map(\.passed) == [true, true, true, false])
    }
}
