import Foundation

/// sd_notify without libsystemd: datagrams to $NOTIFY_SOCKET ("READY=1", "STATUS=...",
/// "WATCHDOG=1", "STOPPING=1", "RELOADING=1"). Does nothing when not started by systemd.
final class SystemdNotifier: @unchecked Sendable {
    private let path: String?
    private let fd: Int32
    /// The watchdog period systemd asked for (WATCHDOG_USEC), if any.
    let watchdogInterval: Double?

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        fd = path == nil ? -1 : socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let pidMatches = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        watchdogInterval = environment["WATCHDOG_USEC"].flatMap(Double.init).flatMap { pidMatches && $0 > 0 ? $0 / 1e6 : nil }
    }

    deinit { if fd >= 0 { close(fd) } }

    var isActive: Bool { fd >= 0 }

    /// Sends one message without waiting; true when the datagram left. A receiver that stops
    /// reading (its queue holds 10 datagrams) once blocked the daemon here, and with it
    /// SIGTERM handling; a lost STATUS or WATCHDOG datagram is resent at the next tick (SystemdService).
    @discardableResult
    func send(_ message: String) -> Bool {
        guard let path, fd >= 0 else { return false }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let payload = Array(message.utf8)
        let sent = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                sendto(fd, payload, payload.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT), sa, length)
            }
        }
        return sent == payload.count
    }
}
