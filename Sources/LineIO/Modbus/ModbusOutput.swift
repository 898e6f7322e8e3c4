import CModbus
import Foundation
import LinesightCore
import Logging

/// Verdicts to the line's PLC over Modbus TCP (libmodbus): a reject pulses the reject coil
/// (a reject while it is on extends the pulse), every verdict updates a block of holding
/// registers (last verdict, verdicts sent, parts passed and rejected), and a heartbeat
/// register counts up while the inspection is healthy, so a PLC sees a daemon that stopped
/// or hangs. One thread owns the connection (a libmodbus context is not shared): `send`
/// only queues and wakes it. A PLC that cannot be reached raises an alarm and is retried with
/// back-off; rejects that could not be signalled are counted (`missedRejects`) — the PLC
/// must treat a heartbeat that stands still as "reject everything".
public final class ModbusOutput: @unchecked Sendable {
    public let settings: ModbusSettings
    private let logger: Logger
    private let cond = NSCondition()
    // Guarded by `cond`.
    private var queue: [(verdict: LineVerdict, handedAt: Double)] = []
    private var stopping = false
    private var leaseUntil = 0.0
    private var connected = false
    private var lastError: String?
    private var delivered: UInt64 = 0
    private var dropped: UInt64 = 0
    private var missedRejects: UInt64 = 0
    private var connects: UInt64 = 0
    private var latency = Histogram(bounds: [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000])
    /// The thread logged a failure and no recovery since.
    private var failureLogged = false
    private var started = monotonicSeconds()
    private let threadDone = DispatchSemaphore(value: 0)
    private var running = false
    // The thread's own.
    private var ctx: OpaquePointer?
    private var coilOn = false
    private var pulseEnd = 0.0
    private var nextBeat = 0.0
    private var retryAt = 0.0
    private var backoff = 0.25
    private var beat: UInt16 = 0
    private var last: UInt16 = 0, sent: UInt16 = 0, passes: UInt16 = 0, rejects: UInt16 = 0
    // The trigger input (the thread's own).
    private var nextPoll = 0.0
    private var inputState: Bool?
    private var lastEdgeAt = -Double.infinity
    private var fire: (@Sendable () -> Void)?
    private var triggersFired: UInt64 = 0

    /// Verdicts waiting for the thread beyond this are dropped (counted): it keeps up at any line rate.
    static let maxQueued = 1000

    public init(_ settings: ModbusSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    public var target: String { "\(settings.host):\(settings.port)" }

    /// What to do on an edge of the trigger input (`settings.trigger`); call before `start`.
    public func takeTriggers(_ fire: @escaping @Sendable () -> Void) { self.fire = fire }

    /// Edges of the trigger input taken as triggers.
    public var triggers: UInt64 { cond.withLock { triggersFired } }

    public func start() {
        cond.withLock {
            started = monotonicSeconds()
            leaseUntil = started + 3 * settings.heartbeat + 2
            running = true
        }
        let t = Thread { [self] in run(); threadDone.signal() }
        t.name = "modbus-\(target)"
        t.start()
        logger.info("modbus output starting", metadata: ["server": "\(target)", "unit": "\(settings.unitId)"])
    }

    /// Keeps the heartbeat counting for `seconds` more; call it while the inspection is healthy.
    public func renew(for seconds: Double) {
        cond.withLock {
            leaseUntil = monotonicSeconds() + seconds
            cond.signal()
        }
    }

    /// Hands one verdict to the PLC thread; never blocks on the network (a pipeline's thread calls it).
    public func send(_ v: LineVerdict) {
        cond.lock()
        if queue.count >= Self.maxQueued { dropped += 1 } else { queue.append((v, monotonicSeconds())) }
        cond.signal()
        cond.unlock()
    }

    public var health: OutputHealth {
        cond.withLock {
            var alarm: String?
            if !connected && monotonicSeconds() - started > 2 {
                alarm = "cannot reach the PLC at \(target)" + (lastError.map { ": \($0)" } ?? "")
            } else if missedRejects > 0 && !connected {
                alarm = "\(missedRejects) rejects could not be signalled"
            }
            return OutputHealth(name: "modbus", target: target, connected: connected, delivered: delivered,
                                pending: UInt64(queue.count), dropped: dropped + missedRejects,
                                reconnects: connects > 0 ? connects - 1 : 0, latency: latency, alarm: alarm)
        }
    }

    /// Rejects that could not be signalled because the PLC was out of reach.
    public var rejectsMissed: UInt64 { cond.withLock { missedRejects } }


    /// Sends what is queued, switches the coil off, closes the connection, ends the thread.
    public func stop() {
        let wasRunning = cond.withLock { () -> Bool in
            defer { stopping = true; cond.signal() }
            return running
        }
        guard wasRunning else { return }
        // room for the last pulse to complete and for the writes' timeouts
        _ = threadDone.wait(timeout: .now() + settings.rejectPulse + 4 * settings.timeout + 2)
        let h = health
        logger.info("modbus output stopped", metadata: ["delivered": "\(h.delivered)", "missed_rejects": "\(rejectsMissed)"])
    }

    // MARK: The thread

    private func run() {
        while true {
            cond.lock()
            while queue.isEmpty && !stopping {
                let due = nextDue()
                if monotonicSeconds() >= due { break }
                _ = cond.wait(until: Date(timeIntervalSinceNow: min(due - monotonicSeconds(), 1)))
            }
            let batch = queue
            queue = []
            let quit = stopping, alive = monotonicSeconds() < leaseUntil
            cond.unlock()

            if ctx == nil && monotonicSeconds() >= retryAt { connect() }
            handle(batch)
            let now = monotonicSeconds()
            if ctx != nil && coilOn && now >= pulseEnd { if writeCoil(false) { coilOn = false } }
            if ctx != nil, settings.trigger != nil, fire != nil, now >= nextPoll { poll(now) }
            if ctx != nil && alive && now >= nextBeat {
                beat &+= 1
                if write(settings.registers, [beat]) { nextBeat = now + settings.heartbeat }
            }
            if quit {
                if ctx != nil && coilOn {
                    // the last reject gets its whole pulse
                    let rest = pulseEnd - monotonicSeconds()
                    if rest > 0 { usleep(useconds_t(rest * 1e6)) }
                    _ = writeCoil(false)
                }
                disconnect()
                return
            }
        }
    }

    /// When the thread must act next (call with `cond` held): a retry, the end of a pulse, a
    /// heartbeat. Each is counted only when the thread will act on it (a heartbeat only while
    /// the lease lives, a pulse's end only while connected): a due time left in the past would
    /// wake the thread at once, forever.
    private func nextDue() -> Double {
        let now = monotonicSeconds()
        var due = now + 1
        if ctx == nil { due = min(due, retryAt) }
        if ctx != nil && coilOn { due = min(due, pulseEnd) }
        if ctx != nil && now < leaseUntil { due = min(due, nextBeat) }  // a renewal wakes the thread
        if ctx != nil && settings.trigger != nil && fire != nil { due = min(due, nextPoll) }
        return due
    }

    private func handle(_ batch: [(verdict: LineVerdict, handedAt: Double)]) {
        guard !batch.isEmpty else { return }
        var anyReject = false
        for (v, _) in batch {
            sent &+= 1
            if v.reject { rejects &+= 1; anyReject = true } else { passes &+= 1 }
            last = switch v.decision { case .pass: 1; case .fail: 2; case .noVerdict: 3 }
        }
        guard ctx != nil else {
            if anyReject { cond.withLock { missedRejects += UInt64(batch.filter { $0.verdict.reject }.count) } }
            return
        }
        if anyReject {
            pulseEnd = monotonicSeconds() + settings.rejectPulse
            if !coilOn {
                guard writeCoil(true) else {
                    cond.withLock { missedRejects += UInt64(batch.filter { $0.verdict.reject }.count) }
                    return
                }
                coilOn = true
            }
        }
        guard write(settings.registers + 1, [last, sent, passes, rejects]) else { return }
        let now = monotonicSeconds()
        cond.withLock {
            delivered += UInt64(batch.count)
            for (_, at) in batch { latency.record((now - at) * 1000) }
        }
    }

    /// Reads the trigger bit; an edge of the configured kind (outside the debounce time) fires.
    private func poll(_ now: Double) {
        guard let t = settings.trigger, let ctx else { return }
        nextPoll = now + t.poll
        var bit: UInt8 = 0
        let n = t.kind == .discrete ? modbus_read_input_bits(ctx, Int32(t.address), 1, &bit) : modbus_read_bits(ctx, Int32(t.address), 1, &bit)
        guard n == 1 else {
            fail("reading \(t.kind == .discrete ? "discrete input" : "coil") \(t.address) failed: \(String(cString: modbus_strerror(errno)))")
            return
        }
        let on = bit != 0
        defer { inputState = on }
        guard let before = inputState, before != on else { return }  // the first reading is no edge
        let wanted = t.edge == .both || (t.edge == .rising) == on
        guard wanted, now - lastEdgeAt >= t.debounce else { return }
        lastEdgeAt = now
        cond.withLock { triggersFired += 1 }
        fire?()
    }

    // MARK: libmodbus

    private func connect() {
        guard let c = modbus_new_tcp_pi(settings.host, "\(settings.port)") else {
            fail("cannot create a Modbus context for \(target)")
            return
        }
        modbus_set_slave(c, Int32(settings.unitId))
        let usec = UInt32((settings.timeout * 1e6).rounded())
        modbus_set_response_timeout(c, usec / 1_000_000, usec % 1_000_000)
        guard modbus_connect(c) == 0 else {
            let why = String(cString: modbus_strerror(errno))
            modbus_free(c)
            fail("cannot connect: \(why)")
            return
        }
        var one: Int32 = 1
        setsockopt(modbus_get_socket(c), Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        ctx = c
        backoff = 0.25
        // the PLC's view after a (re)connection: the coil as it should be, every register
        let coil = coilOn && monotonicSeconds() < pulseEnd
        coilOn = coil
        guard writeCoil(coil), write(settings.registers, [beat, last, sent, passes, rejects]) else { return }
        nextBeat = monotonicSeconds() + settings.heartbeat
        inputState = nil  // an edge while away is not a part seen now
        cond.withLock { connected = true; connects += 1; lastError = nil }
        if failureLogged {
            failureLogged = false
            logger.notice("output working again", metadata: ["output": "modbus", "server": "\(target)"])
        }
    }

    private func writeCoil(_ on: Bool) -> Bool {
        guard let ctx else { return false }
        if modbus_write_bit(ctx, Int32(settings.rejectCoil), on ? 1 : 0) == 1 { return true }
        fail("writing coil \(settings.rejectCoil) failed: \(String(cString: modbus_strerror(errno)))")
        return false
    }

    private func write(_ address: Int, _ values: [UInt16]) -> Bool {
        guard let ctx else { return false }
        if modbus_write_registers(ctx, Int32(address), Int32(values.count), values) == Int32(values.count) { return true }
        fail("writing registers \(address)-\(address + values.count - 1) failed: \(String(cString: modbus_strerror(errno)))")
        return false
    }

    private func fail(_ why: String) {
        disconnect()
        retryAt = monotonicSeconds() + backoff
        backoff = min(10, backoff * 2)
        cond.withLock { connected = false; lastError = why }
        if !failureLogged {
            failureLogged = true
            logger.error("output failing", metadata: ["output": "modbus", "server": "\(target)", "error": "\(why)"])
        }
    }

    private func disconnect() {
        guard let c = ctx else { return }
        modbus_close(c)
        modbus_free(c)
        ctx = nil
    }
}
