import Testing
@testable import Inspection
import LinesightCore
import Store

@Suite("Staged decision and flagging")
struct DecisionTests {
    let t = Thresholds(fail: 0.7, pass: 0.3, defect: 0.5, stage2Confident: 0.6)

    @Test func confidentScoresDecideWithoutStageTwoOpinions() {
        let pass = Judgement.decide(stage1: 0.1, stage2: nil, t)
        #expect(pass.decision == .pass && !pass.unsure && pass.defects.isEmpty)
        #expect(!Judgement.needsStage2(0.3, t) && Judgement.needsStage2(0.31, t), "stage 2 runs above the pass threshold")
        let fail = Judgement.decide(stage1: 0.95, stage2: ["scratch": 0.9, "dent": 0.7, "stain": 0.2], t)
        #expect(fail.decision == .fail && fail.defects == ["scratch", "dent"], "defects over 0.5, highest first")
        let unnamed = Judgement.decide(stage1: 0.95, stage2: ["scratch": 0.1], t)
        #expect(unnamed.decision == .fail && unnamed.defects.isEmpty, "stage 1 fails the part even if stage 2 names nothing")
    }

    @Test func unsureFramesAreSettledByStageTwoOrFailSafe() {
        #expect(Judgement.decide(stage1: 0.5, stage2: ["crack": 0.8], t).decision == .fail)
        let cleared = Judgement.decide(stage1: 0.5, stage2: ["crack": 0.2], t)
        #expect(cleared.decision == .pass && cleared.unsure && cleared.defects.isEmpty)
        #expect(Judgement.decide(stage1: 0.5, stage2: nil, t).decision == .fail, "no stage 2: unsure fails")
        var strict = t
        strict.unsure = .fail
        #expect(Judgement.decide(stage1: 0.5, stage2: ["crack": 0.2], strict).decision == .fail)
    }

    @Test func perKindStageTwoThresholdsNameRareKindsAtLowerScores() {
        var tuned = t
        tuned.defectPerKind = ["stain": 0.2]
        let j = Judgement.decide(stage1: 0.5, stage2: ["stain": 0.3, "crack": 0.3], tuned)
        #expect(j.decision == .fail && j.defects == ["stain"], "stain at 0.3 clears its 0.2; crack keeps the flat 0.5")
        #expect(Judgement.decide(stage1: 0.5, stage2: ["stain": 0.3], t).decision == .pass)
        tuned.defectPerKind["stain"] = 1.5
        #expect(throws: InspectionError.self) { try tuned.validate() }
    }

    @Test func thresholdsMustBeOrdered() {
        #expect(throws: InspectionError.self) { try Thresholds(fail: 0.2, pass: 0.4).validate() }
        #expect(throws: InspectionError.self) { try Thresholds(defect: 1.5).validate() }
    }

    @Test func flagsFollowTheReasonsAndKeepTheRightFrames() {
        let policy = FlagPolicy(FlagSettings())
        let unsure = Judgement.decide(stage1: 0.5, stage2: ["dent": 0.55], t)
        #expect(policy.evaluate(unsure, thresholds: t, at: 0) == .init(flags: [.uncertain, .lowStage2Confidence], keep: .flagged))
        let fail = Judgement.decide(stage1: 0.9, stage2: ["dent": 0.95], t)
        #expect(policy.evaluate(fail, thresholds: t, at: 0) == .init(flags: [], keep: .failed))
        // failed by stage 1, and stage 2 sure of no kind: which defect is for a person to say
        let unnamed = Judgement.decide(stage1: 0.9, stage2: ["dent": 0.3], t)
        #expect(policy.evaluate(unnamed, thresholds: t, at: 0) == .init(flags: [.lowStage2Confidence], keep: .flagged))
        // unsure parts stage 2 settled beyond doubt are not flagged: a clear pass (every kind at
        // most half its threshold) and a clear fail (its kind at or above stage2_confident)
        let clearPass = Judgement.decide(stage1: 0.5, stage2: ["dent": 0.25, "crack": 0.1], t)
        #expect(clearPass.decision == .pass && policy.evaluate(clearPass, thresholds: t, at: 0) == .init(flags: [], keep: nil))
        let clearFail = Judgement.decide(stage1: 0.5, stage2: ["dent": 0.8], t)
        #expect(clearFail.decision == .fail && policy.evaluate(clearFail, thresholds: t, at: 0) == .init(flags: [], keep: .failed))
        // the named kind must be the confident one: crack named at 0.55 while dent (under its 0.97 floor) scores 0.9
        var floored = t
        floored.defectPerKind = ["dent": 0.97]
        let unsureName = Judgement.decide(stage1: 0.5, stage2: ["crack": 0.55, "dent": 0.9], floored)
        #expect(unsureName.defects == ["crack"] && policy.evaluate(unsureName, thresholds: floored, at: 0).flags == [.uncertain, .lowStage2Confidence])
        // failed by stage 1 with no kind named, though one scores over stage2_confident under its floor: which defect is unclear
        let noneNamed = Judgement.decide(stage1: 0.9, stage2: ["dent": 0.9], floored)
        #expect(noneNamed.defects.isEmpty && policy.evaluate(noneNamed, thresholds: floored, at: 0).flags == [.lowStage2Confidence])
        // a pass just under its threshold is a doubt; so is every unsure part when nothing settles it
        let nearPass = Judgement.decide(stage1: 0.5, stage2: ["dent": 0.3], t)
        #expect(nearPass.decision == .pass && policy.evaluate(nearPass, thresholds: t, at: 0) == .init(flags: [.uncertain], keep: .flagged))
        var failRule = t
        failRule.unsure = .fail
        #expect(policy.evaluate(Judgement.decide(stage1: 0.5, stage2: ["dent": 0.8], failRule), thresholds: failRule, at: 0).flags == [.uncertain])
        #expect(policy.evaluate(Judgement.decide(stage1: 0.5, stage2: nil, t), thresholds: t, at: 0).flags == [.uncertain], "no stage 2")
        #expect(policy.evaluate(nil, thresholds: t, at: 0) == .init(flags: [.noVerdict], keep: .flagged))
    }

    @Test func hourlyCapsHoldAndResetOnTheNextHour() {
        var s = FlagSettings()
        (s.hourlyCaps[.uncertain], s.hourlyCaps[.lowStage2Confidence]) = (5, 5)
        s.failedFramesPerHour = 3
        let policy = FlagPolicy(s)
        let unsure = Judgement.decide(stage1: 0.5, stage2: ["dent": 0.55], t)  // a doubtful fail: uncertain and low stage-2 confidence
        let outcomes = (0..<20).map { policy.evaluate(unsure, thresholds: t, at: 7200 + Double($0)) }
        #expect(outcomes.filter { $0.flags.contains(.uncertain) }.count == 5 && policy.capped == 30)
        #expect(outcomes.compactMap(\.keep) == Array(repeating: .flagged, count: 5) + [.failed, .failed, .failed],
                "over the flag cap, failed frames are still kept up to their own cap")
        #expect(policy.evaluate(unsure, thresholds: t, at: 10800).flags.contains(.uncertain), "a new hour, a new budget")
    }

    @Test func auditSamplesAboutTheConfiguredShareOfConfidentPasses() {
        var s = FlagSettings()
        s.auditShare = 0.1
        s.hourlyCaps[.audit] = 10_000
        let policy = FlagPolicy(s)
        let pass = Judgement.decide(stage1: 0.05, stage2: nil, t)
        let outcomes = (0..<5000).map { _ in policy.evaluate(pass, thresholds: t, at: 0) }
        let audited = outcomes.filter { $0.flags == [.audit] }.count
        #expect(audited > 400 && audited < 600, "\(audited) of 5000 at 10%")
        #expect(outcomes.allSatisfy { $0.flags.isEmpty ? $0.keep == nil : $0.keep == .audit })
        let again = FlagPolicy(s)
        #expect((0..<5000).map { _ in again.evaluate(pass, thresholds: t, at: 0) } == outcomes, "deterministic for a seed")
        // the unsure passes stage 2 settled are not flagged, so they are sampled with the confident ones; doubtful ones never
        let settled = Judgement.decide(stage1: 0.5, stage2: ["dent": 0.1], t), doubtful = Judgement.decide(stage1: 0.5, stage2: ["dent": 0.4], t)
        let settledAudits = (0..<2000).map { _ in policy.evaluate(settled, thresholds: t, at: 0) }.filter { $0.flags == [.audit] }.count
        #expect(settledAudits > 140 && settledAudits < 260, "\(settledAudits) of 2000 at 10%")
        #expect((0..<100).map { _ in policy.evaluate(doubtful, thresholds: t, at: 0).flags }.allSatisfy { $0 == [.uncertain] }, "within the hourly cap of 120")
    }

    @Test func latencyHistogramQuantiles() {
        var h = Histogram(bounds: [1, 10, 100])
        for v in [0.5, 0.7, 5, 50, 500] { h.record(v) }
        #expect(h.counts == [2, 1, 1, 1] && h.count == 5)
        #expect(h.quantile(0.5) == 10 && h.quantile(0.99) == .infinity)
    }
}
