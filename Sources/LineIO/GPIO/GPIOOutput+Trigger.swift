import CGPIOD
import Foundation
import LinesightCore

/// The GPIO trigger input: a line of the chip requested for edge events (the kernel queues
/// them with their time, so none is lost between reads), read by a thread of its own; each
/// edge that is not a bounce fires the stations' trigger.
extension GPIOOutput {
    /// Called once before `start()`: what an edge of the trigger line does.
    public func takeTriggers(_ fire: @escaping @Sendable () -> Void) {
        self.fire = fire
    }

    /// Triggers fired from the input, and edges ignored as bounces.
    public var triggerCounts: (fired: UInt64, bounces: UInt64) { cond.withLock { (triggersFired, bouncesIgnored) } }

    func requestTrigger(_ chip: OpaquePointer, _ t: GPIOSettings.TriggerInput) throws(LineIOError) -> OpaquePointer {
        var flags: Int32 = 0
        switch t.bias {
        case .none: break
        case .up: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP)
        case .down: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN)
        }
        guard let line = gpiod_chip_get_line(chip, UInt32(t.line)) else {
            throw .output("gpio", "cannot watch line \(t.line) of \(settings.chip) as the trigger input: \(String(cString: strerror(errno)))")
        }
        let rc: Int32 = switch t.edge {
        case .rising: gpiod_line_request_rising_edge_events_flags(line, "linesight", flags)
        case .falling: gpiod_line_request_falling_edge_events_flags(line, "linesight", flags)
        case .both: gpiod_line_request_both_edges_events_flags(line, "linesight", flags)
        }
        guard rc == 0 else {
            throw .output("gpio", "cannot watch line \(t.line) of \(settings.chip) as the trigger input: \(String(cString: strerror(errno))) (gpioinfo shows who holds it)")
        }
        return line
    }

    /// Waits for edges (a tenth of a second at a time, to see a stop) and fires a trigger for
    /// each edge not within `debounce` of the last one taken.
    func watch(_ line: OpaquePointer, _ t: GPIOSettings.TriggerInput) {
        var lastTaken = -Double.infinity
        var failing = false
        while !isStopping {
            var timeout = timespec(tv_sec: 0, tv_nsec: 100_000_000)
            let ready = gpiod_line_event_wait(line, &timeout)
            if ready < 0 {
                if !failing { logger.error("gpio trigger input failing", metadata: ["error": "\(String(cString: strerror(errno)))"]) }
                failing = true
                Thread.sleep(forTimeInterval: 0.1)
                continue
            }
            guard ready > 0 else { continue }
            var event = gpiod_line_event()
            guard gpiod_line_event_read(line, &event) == 0 else {
                if !failing { logger.error("gpio trigger input failing", metadata: ["error": "\(String(cString: strerror(errno)))"]) }
                failing = true
                Thread.sleep(forTimeInterval: 0.1)
                continue
            }
            if failing { logger.notice("gpio trigger input working again"); failing = false }
            let at = Self.eventTime(event.ts)
            if at - lastTaken < t.debounce {
                cond.withLock { bouncesIgnored += 1 }
                continue
            }
            lastTaken = at
            cond.withLock { triggersFired += 1 }
            fire?()
        }
    }

    /// The edge's time on the monotonic clock: the kernel's timestamp when it is one (recent
    /// kernels stamp line events on CLOCK_MONOTONIC), else now.
    static func eventTime(_ ts: timespec) -> Double {
        let now = monotonicSeconds(), t = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        return t <= now && now - t < 1 ? t : now
    }
}
