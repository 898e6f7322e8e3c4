import Capture
import Foundation

/// Which frames of a triggered camera are judged: for each part asked for, the next `count`
/// frames captured after its trigger (all of them, or only the sharpest); every other frame
/// is skipped unjudged (the camera runs free, the part is somewhere else). Called from the
/// capture thread and the trigger's.
public final class FrameGate: @unchecked Sendable {
    private struct Request {
        var part: Int64
        var after: UInt64
        var taken = 0
        var count: Int
        var sharpest: Bool
        /// With `sharpest`: the best frame so far and its focus score.
        var best: (frame: Frame, score: Double)?
    }

    private let lock = NSLock()
    private var requests: [Request] = []
    private var skipped: UInt64 = 0
    /// Scores a frame's focus (capture thread only), for stations that judge the sharpest.
    private let focus: ((Frame) -> Double?)?

    public init(focus: ((Frame) -> Double?)? = nil) {
        self.focus = focus
    }

    /// Asks for `count` frames captured at or after `after` (monotonic nanoseconds) for `part`:
    /// each judged, or with `sharpest` only the one in focus best.
    func request(part: Int64, after: UInt64, count: Int, sharpest: Bool = false) {
        lock.withLock { requests.append(Request(part: part, after: after, count: count, sharpest: sharpest && focus != nil)) }
    }

    /// Forgets a part (decided by its deadline): its frames still to come are not taken.
    func cancel(part: Int64) {
        lock.withLock { requests.removeAll { $0.part == part } }
    }

    /// The frame to judge now, its part set: `frame` itself, or for a part judged from the
    /// sharpest of its burst, that frame once the burst is complete; nil to judge nothing now.
    public func admit(_ frame: Frame) -> Frame? {
        lock.lock()
        guard let i = requests.firstIndex(where: { frame.monotonicNanos >= $0.after }) else {
            skipped += 1
            lock.unlock()
            return nil
        }
        var taken = frame
        taken.part = requests[i].part
        guard requests[i].sharpest, let focus else {
            requests[i].taken += 1
            if requests[i].taken >= requests[i].count { requests.remove(at: i) }
            lock.unlock()
            return taken
        }
        let part = requests[i].part
        lock.unlock()
        // scored outside the lock (a decode and a resize); the request may be cancelled meanwhile
        let score = focus(frame) ?? -.infinity
        return lock.withLock {
            guard let j = requests.firstIndex(where: { $0.part == part }) else { return nil }
            if requests[j].best == nil || score > requests[j].best!.score { requests[j].best = (taken, score) }
            requests[j].taken += 1
            guard requests[j].taken >= requests[j].count else { return nil }
            let best = requests[j].best?.frame
            requests.remove(at: j)
            return best
        }
    }

    /// Frames skipped so far (no part waiting for them).
    public var skippedFrames: UInt64 { lock.withLock { skipped } }
}
