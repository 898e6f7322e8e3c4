import Foundation
import LinesightCore

/// Paces a source to a frame rate on the monotonic clock (0 = as fast as asked).
struct Pacer {
    let interval: UInt64
    private var next: UInt64 = 0

    init(fps: Double) { interval = fps > 0 ? UInt64(1e9 / fps) : 0 }

    /// Waits for the next slot, at most `timeout` seconds; false when the slot is
    /// further away than that (the caller reports a timeout).
    mutating func wait(timeout: Double) -> Bool {
        guard interval > 0 else { return true }
        let now = monotonicNow()
        if next == 0 || next + interval * 4 < now { next = now }  // start, or fell far behind: resync
        if next > now {
            let wait = next - now
            if Double(wait) / 1e9 > timeout {
                if timeout > 0 { usleep(UInt32(min(timeout * 1e6, 1e9))) }
                return false
            }
            usleep(UInt32(wait / 1000))
        }
        next += interval
        return true
    }
}
