import Foundation
import Store

/// The model as an attribute gauge: its calls against a person's, for one attribute
/// (defective or not, or one defect kind). Counts in the usual 2x2.
public struct AttributeAgreement: Equatable, Sendable {
    public var subject: String
    /// Defective by the person and by the model.
    public var hits = 0
    /// Defective by the person, passed by the model (a miss: an escape).
    public var misses = 0
    /// Good by the person, failed by the model (a false alarm: a false reject).
    public var falseAlarms = 0
    /// Good by both.
    public var correctRejections = 0

    public init(subject: String) { self.subject = subject }

    public var total: Int { hits + misses + falseAlarms + correctRejections }
    public var missRate: Double? { hits + misses == 0 ? nil : Double(misses) / Double(hits + misses) }
    public var falseAlarmRate: Double? { falseAlarms + correctRejections == 0 ? nil : Double(falseAlarms) / Double(falseAlarms + correctRejections) }
    /// Share of calls that match the person's.
    public var effectiveness: Double? { total == 0 ? nil : Double(hits + correctRejections) / Double(total) }

    /// Cohen's kappa: agreement beyond what chance gives, (po − pe) / (1 − pe).
    public var kappa: Double? {
        let n = Double(total)
        guard n > 0 else { return nil }
        let po = Double(hits + correctRejections) / n
        let modelYes = Double(hits + falseAlarms), personYes = Double(hits + misses)
        let pe = (modelYes * personYes + (n - modelYes) * (n - personYes)) / (n * n)
        return pe == 1 ? (po == 1 ? 1 : nil) : (po - pe) / (1 - pe)
    }

    public enum Verdict: String, Sendable { case acceptable, marginal, unacceptable, insufficient = "too few samples" }

    /// AIAG MSA attribute criteria: acceptable with effectiveness >= 90 %, miss rate <= 2 %
    /// and false alarms <= 5 %; marginal with >= 80 %, <= 5 % and <= 10 %; else unacceptable.
    public var verdict: Verdict {
        guard let e = effectiveness, let m = missRate, let f = falseAlarmRate else { return .insufficient }
        if e >= 0.9, m <= 0.02, f <= 0.05 { return .acceptable }
        if e >= 0.8, m <= 0.05, f <= 0.10 { return .marginal }
        return .unacceptable
    }

    mutating func add(person: Bool, model: Bool) {
        switch (person, model) {
        case (true, true): hits += 1
        case (true, false): misses += 1
        case (false, true): falseAlarms += 1
        case (false, false): correctRejections += 1
        }
    }
}

/// Wilson score interval for k successes in n trials (95 % by default).
public func wilsonInterval(_ k: Int, _ n: Int, z: Double = 1.96) -> ClosedRange<Double> {
    guard n > 0 else { return 0...1 }
    let p = Double(k) / Double(n), nn = Double(n), z2 = z * z
    let centre = (p + z2 / (2 * nn)) / (1 + z2 / nn)
    let half = z * (p * (1 - p) / nn + z2 / (4 * nn * nn)).squareRoot() / (1 + z2 / nn)
    return max(0, centre - half)...min(1, centre + half)
}

/// `linesight stats agreement`: per model version, the pass/fail call and each defect
/// kind against the person's labels, and the escape rate from the audit sample.
public struct AgreementReport: Sendable {
    public struct Group: Sendable {
        public var model: String
        public var overall: AttributeAgreement
        public var kinds: [AttributeAgreement]
    }

    public var groups: [Group]
    /// Labeled no-verdicts: the model made no call, so they are not counted.
    public var skippedNoVerdicts: Int
    /// Audit samples (random confident passes) a person labeled, and how many were defective.
    public var auditLabeled: Int
    public var auditEscapes: Int
    /// Escapes among passed parts, with its 95 % Wilson interval.
    public var escapeRate: Double? { auditLabeled == 0 ? nil : Double(auditEscapes) / Double(auditLabeled) }
    public var escapeInterval: ClosedRange<Double>? { auditLabeled == 0 ? nil : wilsonInterval(auditEscapes, auditLabeled) }

    public init(_ labeled: [LabeledVerdict]) {
        var byModel: [String: [LabeledVerdict]] = [:]
        var skipped = 0
        for v in labeled {
            if v.decision == .noVerdict { skipped += 1; continue }
            byModel[v.model.isEmpty ? "(unknown)" : v.model, default: []].append(v)
            byModel["all models", default: []].append(v)
        }
        if byModel.count == 2 { byModel = byModel.filter { $0.key == "all models" } }
        groups = byModel.keys.sorted { ($0 == "all models" ? "" : $0) < ($1 == "all models" ? "" : $1) }.map { model in
            let items = byModel[model]!
            var overall = AttributeAgreement(subject: "defective")
            let kinds = Set(items.flatMap { $0.humanDefects + $0.modelDefects }).sorted()
            var perKind = Dictionary(uniqueKeysWithValues: kinds.map { ($0, AttributeAgreement(subject: $0)) })
            for v in items {
                let modelFails = v.decision == .fail
                overall.add(person: !v.humanDefects.isEmpty, model: modelFails)
                for k in kinds { perKind[k]!.add(person: v.humanDefects.contains(k), model: modelFails && v.modelDefects.contains(k)) }
            }
            return Group(model: model, overall: overall, kinds: kinds.map { perKind[$0]! })
        }
        skippedNoVerdicts = skipped
        let audit = labeled.filter { $0.flags.contains(.audit) && $0.decision == .pass }
        auditLabeled = audit.count
        auditEscapes = audit.filter { !$0.humanDefects.isEmpty }.count
    }

    public func table() -> String {
        func pct(_ x: Double?) -> String { x.map { String(format: "%.1f%%", $0 * 100) } ?? "-" }
        var out: [String] = []
        let head = "subject".padding(toLength: 18, withPad: " ", startingAt: 0) + "     n   hits  misses  f.alarms  miss rate  false alarm  effectiveness  kappa  AIAG"
        for g in groups {
            out.append("model \(g.model)")
            out.append(head)
            for a in [g.overall] + g.kinds {
                out.append(a.subject.padding(toLength: 18, withPad: " ", startingAt: 0)
                           + String(format: "%6d %6d %7d %9d", a.total, a.hits, a.misses, a.falseAlarms)
                           + pct(a.missRate).leftPad(11) + pct(a.falseAlarmRate).leftPad(13) + pct(a.effectiveness).leftPad(15)
                           + (a.kappa.map { String(format: "%.3f", $0) } ?? "-").leftPad(7) + "  " + a.verdict.rawValue)
            }
            out.append("")
        }
        if groups.isEmpty { out.append("no labeled verdicts in this range: label flagged frames with `linesight review` or `linesight label`"); out.append("") }
        if skippedNoVerdicts > 0 { out.append("\(skippedNoVerdicts) labeled no-verdicts left out (the model made no call)") }
        if let e = escapeRate, let ci = escapeInterval {
            out.append(String(format: "escape rate from the audit sample: %.2f%% of passed parts (%d of %d audited passes defective), 95%% CI %.2f%%-%.2f%%",
                              e * 100, auditEscapes, auditLabeled, ci.lowerBound * 100, ci.upperBound * 100))
        } else {
            out.append("escape rate: no labeled audit samples yet (flagging.audit_share sends confident passes to review)")
        }
        out.append("note: flagged frames are the hard ones; rates over them are worse than over all parts, except the audit sample, which is random.")
        return out.joined(separator: "\n") + "\n"
    }

    public func json() -> String {
        func agreement(_ a: AttributeAgreement) -> [String: Any] {
            ["subject": a.subject, "n": a.total, "hits": a.hits, "misses": a.misses, "false_alarms": a.falseAlarms,
             "correct_rejections": a.correctRejections, "miss_rate": a.missRate ?? NSNull(), "false_alarm_rate": a.falseAlarmRate ?? NSNull(),
             "effectiveness": a.effectiveness ?? NSNull(), "kappa": a.kappa ?? NSNull(), "aiag": a.verdict.rawValue]
        }
        let doc: [String: Any] = [
            "models": groups.map { ["model": $0.model, "overall": agreement($0.overall), "kinds": $0.kinds.map(agreement)] },
            "skipped_no_verdicts": skippedNoVerdicts,
            "audit": ["labeled": auditLabeled, "escapes": auditEscapes, "escape_rate": escapeRate as Any? ?? NSNull(),
                      "ci95": escapeInterval.map { [$0.lowerBound, $0.upperBound] } as Any? ?? NSNull()] as [String: Any],
        ]
        return String(decoding: try! JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self) + "\n"
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
