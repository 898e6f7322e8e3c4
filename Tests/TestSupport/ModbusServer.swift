import CModbus
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real Modbus TCP server (libmodbus's server side) on a loopback port, standing in for the
/// PLC: it answers every client, and keeps the history of its coils and holding registers
/// (when each changed, to what), so a test can measure reject pulses and watch a heartbeat.
public final class ModbusServer: @unchecked Sendable {
    public let port: Int
    private let lock = NSLock()
    private var coilHistory: [Int: [(at: Double, on: Bool)]] = [:]
    private var registerHistory: [Int: [(at: Double, value: UInt16)]] = [:]
    private var requests = 0
    private var stopping = false
    private var paused = false
    private var pendingInputs: [(Int, Bool)] = []
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)

    public init(port: Int = freeLoopbackPort()) {
        self.port = port
    }

    deinit { stop() }

    /// Starts answering (again, after `stop`: a fresh map of zeros, like a PLC restarted).
    public func start() throws {
        guard let ctx = modbus_new_tcp("127.0.0.1", Int32(port)) else { throw ChildError.spawn("modbus server", errno) }
        let listener = modbus_tcp_listen(ctx, 8)
        guard listener >= 0, let map = modbus_mapping_new(64, 64, 128, 0) else {
            modbus_free(ctx)
            throw ChildError.spawn("modbus server on port \(port)", errno)
        }
        lock.withLock { stopping = false }
        nonisolated(unsafe) let (c, m) = (ctx, map)  // handed to the server thread, used by it alone
        let t = Thread { [self] in serve(c, listener, m); done.signal() }
        t.name = "modbus-server"
        thread = t
        t.start()
    }

    /// Stops answering and closes every connection (the PLC is gone).
    public func stop() {
        guard thread != nil else { return }
        lock.withLock { stopping = true }
        done.wait()
        thread = nil
    }

    /// Sets a discrete input (a sensor wired to the PLC); the next read sees it.
    public func setInput(_ address: Int, _ on: Bool) {
        lock.withLock { pendingInputs.append((address, on)) }
    }

    /// While paused the server reads requests but never answers (a PLC that hangs).
    public func pause(_ on: Bool) { lock.withLock { paused = on } }

    /// Each change of a coil: when (monotonic seconds) and to what.
    public func coil(_ address: Int) -> [(at: Double, on: Bool)] { lock.withLock { coilHistory[address] ?? [] } }
    /// Each change of a holding register: when and to what.
    public func register(_ address: Int) -> [(at: Double, value: UInt16)] { lock.withLock { registerHistory[address] ?? [] } }
    public func value(_ address: Int) -> UInt16? { register(address).last?.value }
    public var requestCount: Int { lock.withLock { requests } }

    private func serve(_ ctx: OpaquePointer, _ listener: Int32, _ map: UnsafeMutablePointer<modbus_mapping_t>) {
        var clients: [Int32] = []
        var query = [UInt8](repeating: 0, count: 260)  // MODBUS_TCP_MAX_ADU_LENGTH
        defer {
            for fd in clients { close(fd) }
            close(listener)
            modbus_mapping_free(map)
            modbus_free(ctx)
        }
        while !lock.withLock({ stopping }) {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)] + clients.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), 50) > 0 else { continue }
            if fds[0].revents != 0 {
                var l = listener
                let fd = modbus_tcp_accept(ctx, &l)
                if fd >= 0 { clients.append(fd) }
            }
            for p in fds.dropFirst() where p.revents != 0 {
                modbus_set_socket(ctx, p.fd)
                let n = modbus_receive(ctx, &query)
                if n < 0 {
                    close(p.fd)
                    clients.removeAll { $0 == p.fd }
                    continue
                }
                guard n > 0, !lock.withLock({ paused }) else { continue }
                for (a, on) in lock.withLock({ defer { pendingInputs = [] }; return pendingInputs }) where a < Int(map.pointee.nb_input_bits) {
                    map.pointee.tab_input_bits[a] = on ? 1 : 0
                }
                modbus_reply(ctx, query, n, map)
                record(map)
            }
        }
    }

    private func record(_ map: UnsafeMutablePointer<modbus_mapping_t>) {
        let now = monotonicTime()
        lock.withLock {
            requests += 1
            for a in 0..<Int(map.pointee.nb_bits) {
                let on = map.pointee.tab_bits[a] != 0
                if (coilHistory[a]?.last?.on ?? false) != on { coilHistory[a, default: []].append((now, on)) }
            }
            for a in 0..<Int(map.pointee.nb_registers) {
                let v = map.pointee.tab_registers[a]
                if registerHistory[a]?.last?.value != v && !(registerHistory[a] == nil && v == 0) {
                    registerHistory[a, default: []].append((now, v))
                }
            }
        }
    }
}

/// CLOCK_MONOTONIC in seconds (the daemon's clock too).
public func monotonicTime() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}
