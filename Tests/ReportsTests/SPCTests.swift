import Foundation
import Testing
@testable import Reports

@Suite("SPC and agreement")
struct SPCTests {
    @Test func pChartLimitsFollowTheTextbookFormula() {
        let chart = PChart([("a", 100, 5), ("b", 400, 20), ("c", 0, 0), ("d", 500, 25)])
        #expect(chart.points.map(\.label) == ["a", "b", "d"], "empty subgroups are left out")
        #expect(abs(chart.center - 0.05) < 1e-12)
        let sigma = (0.05 * 0.95 / 100).squareRoot()
        #expect(abs(chart.points[0].ucl - (0.05 + 3 * sigma)) < 1e-12)
        #expect(chart.points[0].lcl == 0, "the lower limit is clipped at zero")
        #expect(chart.points[2].ucl < chart.points[0].ucl, "bigger subgroups get tighter limits")
        #expect(chart.points.allSatisfy { !$0.outOfControl })
    }

    @Test func westernElectricRulesFlagTheRightPoints() {
        #expect(PChart.westernElectric([0, 3.5, 0]) == [[], [1], []])
        #expect(PChart.westernElectric([2.5, 0, 2.5]) == [[], [], [2]])
        #expect(PChart.westernElectric([2.5, 0, -2.5]) == [[], [], []], "two beyond 2σ must be on the same side")
        #expect(PChart.westernElectric([1.5, 1.5, 0, 1.5, 1.5]) == [[], [], [], [], [3]])
        let run = PChart.westernElectric([Double](repeating: 0.5, count: 8) + [-0.5])
        #expect(run[7] == [4] && run[6] == [] && run[8] == [])
        // A shifted process: its first point beyond the limits is rule 1.
        let groups = (0..<20).map { i in (label: "\(i)", n: 1000, nonconforming: i == 12 ? 90 : (i % 2 == 0 ? 30 : 44)) }
        let chart = PChart(groups)
        #expect(chart.points.filter(\.outOfControl).map(\.label) == ["12"])
        #expect(chart.points[12].rules.contains(1))
    }

    @Test func kappaAndTheAIAGVerdict() {
        var a = AttributeAgreement(subject: "x")
        (a.hits, a.misses, a.falseAlarms, a.correctRejections) = (20, 5, 10, 15)
        #expect(abs(a.kappa! - 0.4) < 1e-12)
        #expect(a.missRate == 0.2 && a.effectiveness == 0.7)
        #expect(a.verdict == .unacceptable)
        (a.hits, a.misses, a.falseAlarms, a.correctRejections) = (98, 1, 4, 97)
        #expect(a.verdict == .acceptable)
        (a.hits, a.misses, a.falseAlarms, a.correctRejections) = (96, 4, 8, 92)
        #expect(a.verdict == .marginal)
        #expect(AttributeAgreement(subject: "empty").verdict == .insufficient)
        let ci = wilsonInterval(0, 50)
        #expect(ci.lowerBound == 0 && abs(ci.upperBound - 0.0713) < 1e-3)
    }
}
