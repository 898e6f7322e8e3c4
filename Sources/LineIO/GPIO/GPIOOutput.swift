import CGPIOD
import Foundation
import LinesightCore
import Logging

/// Verdicts to GPIO lines of the line PC (libgpiod): a reject switches the reject line on
/// at once, from the pipeline's thread (one ioctl), and a thread of its own switches it off
/// when the pulse ends; the ready line is on while the lease is renewed (the inspection is
/// healthy) and off when it lapses or the daemon stops. Lines that cannot be requested at
/// start end the start (a wrong chip or line is a configuration error); a write that fails
/// later raises an alarm.
public final class GPIOOutput: @unchecked Sendable {
    public let settings: GPIOSettings
    let logger: Logger
    let cond = NSCondition()
    private var chip: OpaquePointer?
    private var reject: OpaquePointer?
    private var ready: OpaquePointer?
    private var rejectOn = false, readyOn = false
    private var pulseEnd = 0.0
    private var leaseUntil = 0.0
    private var stopping = false
    private var running = false
    private var signalled: UInt64 = 0
    private var failures: UInt64 = 0
    private var lastError: String?
    private var latency = Histogram(bounds: [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50])
    private let threadDone = DispatchSemaphore(value: 0)
    /// The trigger input's line (requested for edge events) and what a trigger does.
    var triggerLine: OpaquePointer?
    var fire: (@Sendable () -> Void)?
    let watchDone = DispatchSemaphore(value: 0)
    /// Triggers fired, and edges ignored as bounces.
    var triggersFired: UInt64 = 0
    var bouncesIgnored: UInt64 = 0
    /// Read by the watcher thread without the lock (set under it before the thread starts).
    var isStopping: Bool { cond.withLock { stopping } }

    public init(_ settings: GPIOSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    public var target: String { "\(settings.chip):\(settings.rejectLine)" }

    /// Requests the lines (reject off, ready off) and starts the pulse thread.
    public func start() throws(LineIOError) {
        guard let c = gpiod_chip_open_lookup(settings.chip) else {
            throw .output("gpio", "cannot open GPIO chip '\(settings.chip)': \(String(cString: strerror(errno))) (gpiodetect lists the chips)")
        }
        let flags = Int32(settings.activeLow ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0)
        func request(_ offset: Int, _ what: String) throws(LineIOError) -> OpaquePointer {
            guard let line = gpiod_chip_get_line(c, UInt32(offset)), gpiod_line_request_output_flags(line, "linesight", flags, 0) == 0 else {
                let why = String(cString: strerror(errno))
                gpiod_chip_close(c)
                throw .output("gpio", "cannot drive line \(offset) of \(settings.chip) as the \(what) output: \(why) (gpioinfo shows who holds it)")
            }
            return line
        }
        let r = try request(settings.rejectLine, "reject")
        let ready = try settings.readyLine.map { offset throws(LineIOError) in try request(offset, "ready") }
        let input: OpaquePointer?
        do { input = try settings.trigger.map { t throws(LineIOError) in try requestTrigger(c, t) } } catch {
            for line in [r, ready].compactMap({ $0 }) { gpiod_line_release(line) }
            gpiod_chip_close(c)
            throw error
        }
        cond.withLock {
            chip = c
            reject = r
            self.ready = ready
            triggerLine = input
            running = true
            leaseUntil = monotonicSeconds() + 3
        }
        let t = Thread { [self] in run(); threadDone.signal() }
        t.name = "gpio-\(settings.chip)"
        t.start()
        if let input, let trigger = settings.trigger {
            nonisolated(unsafe) let line = input  // the watcher thread's alone
            let w = Thread { [self] in watch(line, trigger); watchDone.signal() }
            w.name = "gpio-trigger"
            w.start()
        }
        logger.info("gpio output started", metadata: ["chip": "\(settings.chip)", "reject_line": "\(settings.rejectLine)",
                                                      "ready_line": "\(settings.readyLine.map(String.init) ?? "none")"])
    }

    /// Keeps the ready line on for `seconds` more.
    public func renew(for seconds: Double) {
        cond.withLock {
            leaseUntil = monotonicSeconds() + seconds
            cond.signal()
        }
    }

    /// A reject switches the line on now (the caller's thread); a pass does nothing.
    public func send(_ v: LineVerdict) {
        guard v.reject else { return }
        let handed = monotonicSeconds()
        cond.withLock {
            guard running, !stopping, let reject else { return }
            pulseEnd = handed + settings.rejectPulse
            if !rejectOn {
                guard write(reject, true, "reject") else { return }
                rejectOn = true
            }
            signalled += 1
            latency.record((monotonicSeconds() - handed) * 1000)
            cond.signal()
        }
    }

    public var health: OutputHealth {
        cond.withLock {
            OutputHealth(name: "gpio", target: target, connected: reject != nil && lastError == nil, delivered: signalled, pending: 0,
                         dropped: failures, reconnects: 0, latency: latency,
                         alarm: lastError.map { "GPIO writes fail: \($0)" })
        }
    }

    /// Ends a pulse in progress after its time, switches both lines off, releases them.
    public func stop() {
        let was = cond.withLock { () -> Bool in
            defer { stopping = true; cond.signal() }
            return running
        }
        guard was else { return }
        _ = threadDone.wait(timeout: .now() + settings.rejectPulse + 2)
        if triggerLine != nil { watchDone.wait() }  // it sees the stop within 0.1 s; its line is released below
        cond.withLock {
            for line in [reject, ready, triggerLine].compactMap({ $0 }) { gpiod_line_release(line) }
            if let chip { gpiod_chip_close(chip) }
            (reject, ready, triggerLine, chip, running) = (nil, nil, nil, nil, false)
        }
        logger.info("gpio output stopped", metadata: ["rejects": "\(health.delivered)"])
    }

    private func run() {
        cond.lock()
        defer { cond.unlock() }
        while true {
            let now = monotonicSeconds()
            if rejectOn && now >= pulseEnd, let reject {
                if write(reject, false, "reject") { rejectOn = false }
            }
            let alive = now < leaseUntil && !stopping
            if let ready, alive != readyOn {
                if write(ready, alive, "ready") { readyOn = alive }
            }
            if stopping && !rejectOn { return }
            var due = now + 1
            if rejectOn { due = min(due, pulseEnd) }
            if readyOn { due = min(due, leaseUntil) }
            let floor = lastError == nil ? 0.0005 : 0.1  // a failing line is retried, not hammered
            _ = cond.wait(until: Date(timeIntervalSinceNow: max(floor, due - monotonicSeconds())))
        }
    }

    /// Sets a line (call with `cond` held); a failure is counted and raises the alarm.
    private func write(_ line: OpaquePointer, _ on: Bool, _ what: String) -> Bool {
        if gpiod_line_set_value(line, on ? 1 : 0) == 0 {
            if lastError != nil {
                lastError = nil
                logger.notice("output working again", metadata: ["output": "gpio", "chip": "\(settings.chip)"])
            }
            return true
        }
        failures += 1
        if lastError == nil {
            logger.error("output failing", metadata: ["output": "gpio", "line": "\(what)", "error": "\(String(cString: strerror(errno)))"])
        }
        lastError = "setting the \(what) line failed: \(String(cString: strerror(errno)))"
        return false
    }
}
