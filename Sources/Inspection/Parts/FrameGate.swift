import Capture
import Foundation

/// Which frames of a triggered camera are judged: for each part asked for, the next `count`
/// frames captured after its trigger; every other frame is skipped unjudged (the camera runs
/// free, the part is somewhere else). Called from the capture thread and the trigger's.
public final class FrameGate: @unchecked Sendable {
    private struct Request {
        var part: Int64
        var after: UInt64
        var taken = 0
        var count: Int
    }

    private let lock = NSLock()
    private var requests: [Request] = []
    private var skipped: UInt64 = 0

    public init() {}

    /// Asks for `count` frames captured at or after `after` (monotonic nanoseconds) for `part`.
    func request(part: Int64, after: UInt64, count: Int) {
        lock.withLock { requests.append(Request(part: part, after: after, count: count)) }
    }

    /// Forgets a part (decided by its deadline): its frames still to come are not taken.
    func cancel(part: Int64) {
        lock.withLock { requests.removeAll { $0.part == part } }
    }

    /// The part `frame` is taken for, or nil to skip it.
    public func admit(_ frame: Frame) -> Int64? {
        lock.withLock {
            guard let i = requests.firstIndex(where: { frame.monotonicNanos >= $0.after }) else {
                skipped += 1
                return nil
            }
            let part = requests[i].part
            requests[i].taken += 1
            if requests[i].taken >= requests[i].count { requests.remove(at: i) }
            return part
        }
    }

    /// Frames skipped so far (no part waiting for them).
    public var skippedFrames: UInt64 { lock.withLock { skipped } }
}
