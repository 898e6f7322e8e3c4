import Foundation
import LinesightCore

extension InspectionService {
    /// True while every camera is producing verdicts (a station's camera between parts: while
    /// its frames arrive), or is known to be away and reconnecting, which a restart would not
    /// fix; systemd's watchdog is fed, and the outputs' leases renewed, only then.
    public func isAdvancing(now: Double = monotonicSeconds()) -> Bool {
        pipelines.allSatisfy { p in
            let s = p.stats
            if [.reconnecting, .failed, .ended].contains(s.sourceState) { return true }
            if s.gated {
                // a station between parts judges nothing: alive while frames arrive and no
                // queued frame waits longer than the stall time for its verdict
                let judging = s.queueDepth == 0 || now - (s.lastVerdictAt ?? processStart) < config.stallSeconds
                return judging && now - (s.lastFrameAt ?? processStart) < config.stallSeconds
            }
            guard let last = s.lastVerdictAt else { return now - processStart < config.stallSeconds * 2 }
            return now - last < config.stallSeconds
        }
    }

    /// Cameras whose frames cannot be judged as configured (`SourceState.failed`): not ready.
    public var failedCameras: [String] { pipelines.filter { $0.stats.sourceState == .failed }.map(\.camera) }

    /// The systemd STATUS= line: rate, totals and the last verdict.
    public func statusLine(rate: Double) -> String {
        let all = pipelines.map(\.stats)
        let total = all.reduce(0) { $0 + $1.verdicts }
        let fails = all.reduce(0) { $0 + $1.fails }, nv = all.reduce(0) { $0 + $1.noVerdicts }
        let last = all.compactMap(\.lastDecision).last.map { "\($0.rawValue)" } ?? "none yet"
        return String(format: "%.1f fps, %llu verdicts (%llu fail, %llu no-verdict), last: %@", rate, total, fails, nv, last)
    }
}
