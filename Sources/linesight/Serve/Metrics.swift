import Foundation
import Inspection
import LineIO
import LinesightCore
import Store

/// The Prometheus text exposition (format 0.0.4) of the daemon's counters.
enum Metrics {
    static func render(_ d: InspectionService, eventClients: Int, outputs: [OutputHealth] = []) -> String {
        var out = MetricsWriter()
        out.gauge("linesight_uptime_seconds", "Seconds since the daemon started.", Date().timeIntervalSince(d.startedAt))
        out.gauge("linesight_product_info", "The product the line makes now ([[products]]): 1 on its label.", [(["product": d.currentProduct.id], 1)])
        out.counter("linesight_product_changeovers_total", "Product changeovers since start (API, MQTT).", Double(d.productChangeovers))
        let all = d.pipelines.map { ($0.camera, $0.stats, $0.modelVersions) }
        out.counter("linesight_frames_received_total", "Frames the camera delivered (each gets one verdict).", all.map { (["camera": $0.0], Double($0.1.received)) })
        var verdicts: [([String: String], Double)] = []
        for (cam, s, _) in all {
            verdicts += [(["camera": cam, "decision": "pass"], Double(s.passes)), (["camera": cam, "decision": "fail"], Double(s.fails)),
                         (["camera": cam, "decision": "no_verdict"], Double(s.noVerdicts))]
        }
        out.counter("linesight_verdicts_total", "Verdicts by decision.", verdicts)
        out.counter("linesight_defects_total", "Defects reported by kind.", all.flatMap { cam, s, _ in s.defects.sorted { $0.key < $1.key }.map { (["camera": cam, "kind": $0.key], Double($0.value)) } })
        out.counter("linesight_flags_total", "Frames flagged for review by reason.", all.flatMap { cam, s, _ in FlagReason.allCases.map { (["camera": cam, "reason": $0.rawValue], Double(s.flags[$0] ?? 0)) } })
        out.counter("linesight_flags_capped_total", "Flags withheld by the hourly caps.", all.map { (["camera": $0.0], Double($0.1.flagsCapped)) })
        out.counter("linesight_frames_dropped_total", "Frames dropped because inspection was behind (recorded as no-verdicts).", all.map { (["camera": $0.0], Double($0.1.dropped)) })
        out.counter("linesight_frames_timed_out_total", "Frames too old to judge (recorded as no-verdicts).", all.map { (["camera": $0.0], Double($0.1.timedOut)) })
        out.counter("linesight_capture_dropped_total", "Frames the camera produced but never delivered (sequence gaps).", all.map { (["camera": $0.0], Double($0.1.capture.dropped)) })
        out.counter("linesight_capture_corrupt_total", "Corrupt frames skipped by the capture layer.", all.map { (["camera": $0.0], Double($0.1.capture.corrupt)) })
        out.counter("linesight_capture_reconnects_total", "Camera reconnects.", all.map { (["camera": $0.0], Double($0.1.capture.reconnects)) })
        out.counter("linesight_capture_stalls_total", "Camera stalls (no frame in time, reopened).", all.map { (["camera": $0.0], Double($0.1.capture.stalls)) })
        out.gauge("linesight_queue_depth", "Frames waiting for the models.", all.map { (["camera": $0.0], Double($0.1.queueDepth)) })
        out.gauge("linesight_camera_up", "1 while the camera is streaming.", all.map { (["camera": $0.0], $0.1.sourceState == .streaming ? 1 : 0) })
        let watched = all.compactMap { c in c.1.presenceScore.map { (["camera": c.0], $0) } }
        if !watched.isEmpty {
            out.gauge("linesight_presence_score", "Presence gating: the last frame's part-present score (0 the empty scene).", watched)
        }
        let drifting = all.compactMap { c in c.1.drift.map { (c.0, $0) } }
        if !drifting.isEmpty {
            out.gauge("linesight_drift_score", "Input drift: the camera's recent frames against the stage-1 model's training data (1 or more: the alarm).",
                      drifting.map { (["camera": $0.0], $0.1.score) })
            out.gauge("linesight_drift_shift", "Input drift per statistic: (window mean - training mean) / training spread; embedding: the window's median embedding distance against the good parts', in their spreads.",
                      drifting.flatMap { cam, r in r.shifts.sorted { $0.key < $1.key }.map { (["camera": cam, "statistic": $0.key], $0.value) } })
            out.gauge("linesight_drift_scores_psi", "Input drift: population stability index of stage 1's scores against the good validation parts'.",
                      drifting.map { (["camera": $0.0], $0.1.psi) })
            out.gauge("linesight_drift_alarm", "1 while the camera's drift alarm is up.", drifting.map { (["camera": $0.0], $0.1.alarm ? 1 : 0) })
        }
        out.counter("linesight_drift_alarms_total", "Times a camera's drift alarm rose.", all.map { (["camera": $0.0], Double($0.1.driftAlarms)) })
        out.counter("linesight_frames_saved_total", "JPEGs kept for review, failures and audits.", all.map { (["camera": $0.0], Double($0.1.framesSaved)) })
        out.counter("linesight_frame_save_errors_total", "JPEGs that could not be written (disk full?); verdicts still flow.", all.map { (["camera": $0.0], Double($0.1.saveErrors)) })
        out.histogram("linesight_frame_latency_ms", "Capture to verdict, milliseconds.", all.map { (["camera": $0.0], $0.1.latency) })
        out.histogram("linesight_stage_latency_ms", "Model time per stage including preprocessing, milliseconds.",
                      all.flatMap { [(["camera": $0.0, "stage": "1"], $0.1.stage1Latency), (["camera": $0.0, "stage": "2"], $0.1.stage2Latency)] })
        out.gauge("linesight_model_info", "The model versions in use (first 12 hex digits of the file's SHA-256).",
                  all.flatMap { cam, _, v in [(["camera": cam, "stage": "1", "version": v.0], 1.0)] + (v.1.map { [(["camera": cam, "stage": "2", "version": $0], 1.0)] } ?? []) })
        let c = d.committer.stats
        out.counter("linesight_store_committed_total", "Verdicts committed to SQLite.", Double(c.committed))
        out.counter("linesight_store_batches_total", "Group-commit transactions.", Double(c.batches))
        out.gauge("linesight_store_pending", "Verdicts waiting to be committed.", Double(c.pending))
        out.gauge("linesight_store_failing", "1 while commits fail (they are retried).", c.failing ? 1 : 0)
        out.counter("linesight_store_dropped_total", "Verdicts lost because the store could not keep up.", Double(c.dropped))
        out.counter("linesight_store_refused_total", "Verdict rows SQLite refused, each recorded as a no-verdict instead.", Double(c.refused))
        out.counter("linesight_model_reloads_total", "Model reloads by result.", [(["result": "ok"], Double(d.reloads.ok)), (["result": "refused"], Double(d.reloads.refused))])
        out.gauge("linesight_frames_over_budget_bytes", "Kept-frame bytes over retention.frame_budget_mb after the last retention run (frames under review stay).",
                  Double(d.lastRetention?.bytesOverBudget ?? 0))
        out.gauge("linesight_event_clients", "Clients following /api/v1/events.", Double(eventClients))
        out.gauge("linesight_pipeline_advancing", "1 while every camera produces verdicts (the watchdog is fed).", d.isAdvancing() ? 1 : 0)
        let parts = d.partStats.sorted { $0.key < $1.key }
        if !parts.isEmpty {
            out.counter("linesight_parts_triggered_total", "Triggers taken (each a part).", parts.map { (["station": $0.key], Double($0.value.triggered)) })
            out.counter("linesight_parts_total", "Parts decided, by decision.", parts.flatMap { st, s in
                [(["station": st, "decision": "pass"], Double(s.passes)), (["station": st, "decision": "fail"], Double(s.fails)),
                 (["station": st, "decision": "no_verdict"], Double(s.noVerdicts))]
            })
            out.counter("linesight_parts_late_total", "Parts decided by their deadline, a view's verdict missing (rejected).", parts.map { (["station": $0.key], Double($0.value.lateParts)) })
            out.histogram("linesight_part_latency_ms", "Trigger to part verdict, milliseconds.", parts.map { (["station": $0.key], $0.value.latency) })
            out.counter("linesight_frames_skipped_total", "Frames of a station's camera no part asked for (not judged).",
                        d.pipelines.compactMap { p in p.gate.map { (["camera": p.camera], Double($0.skippedFrames)) } })
        }
        let o = outputs.map { (["output": $0.name, "target": $0.target], $0) }
        out.gauge("linesight_output_up", "1 while the output to the line is connected.", o.map { ($0.0, $0.1.connected ? 1 : 0) })
        out.gauge("linesight_output_alarm", "1 while the output is failing (see the log for why).", o.map { ($0.0, $0.1.alarm == nil ? 0 : 1) })
        out.counter("linesight_output_delivered_total", "Verdicts the far end acknowledged.", o.map { ($0.0, Double($0.1.delivered)) })
        out.gauge("linesight_output_pending", "Verdicts sent or queued but not yet acknowledged.", o.map { ($0.0, Double($0.1.pending)) })
        out.counter("linesight_output_dropped_total", "Verdicts not sent because the backlog was full.", o.map { ($0.0, Double($0.1.dropped)) })
        out.histogram("linesight_output_ack_latency_ms", "Verdict handed to the output until the far end acknowledged it, milliseconds.", o.map { ($0.0, $0.1.latency) })
        out.counter("linesight_output_reconnects_total", "Reconnections after the first connection.", o.map { ($0.0, Double($0.1.reconnects)) })
        return out.text
    }
}

struct MetricsWriter {
    private(set) var text = ""

    mutating func counter(_ name: String, _ help: String, _ value: Double) { counter(name, help, [([:], value)]) }
    mutating func gauge(_ name: String, _ help: String, _ value: Double) { gauge(name, help, [([:], value)]) }
    mutating func counter(_ name: String, _ help: String, _ series: [([String: String], Double)]) { family(name, "counter", help, series) }
    mutating func gauge(_ name: String, _ help: String, _ series: [([String: String], Double)]) { family(name, "gauge", help, series) }

    mutating func histogram(_ name: String, _ help: String, _ series: [([String: String], Histogram)]) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        for (labels, h) in series {
            var cumulative: UInt64 = 0
            for (i, c) in h.counts.enumerated() {
                cumulative += c
                let le = i < h.bounds.count ? Self.number(h.bounds[i]) : "+Inf"
                text += "\(name)_bucket\(Self.labels(labels, extra: ("le", le))) \(cumulative)\n"
            }
            text += "\(name)_sum\(Self.labels(labels)) \(Self.number(h.sum))\n\(name)_count\(Self.labels(labels)) \(h.count)\n"
        }
    }

    private mutating func family(_ name: String, _ type: String, _ help: String, _ series: [([String: String], Double)]) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        for (labels, v) in series { text += "\(name)\(Self.labels(labels)) \(Self.number(v))\n" }
    }

    static func labels(_ l: [String: String], extra: (String, String)? = nil) -> String {
        var pairs = l.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if let extra { pairs.append(extra) }
        guard !pairs.isEmpty else { return "" }
        return "{" + pairs.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func number(_ v: Double) -> String {
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }
}
