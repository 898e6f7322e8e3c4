import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Errors of starting a child process in a test.
public enum ChildError: Error, CustomStringConvertible {
    case spawn(String, Int32)

    public var description: String {
        switch self {
        case .spawn(let path, let code): "cannot start \(path): \(String(cString: strerror(code)))"
        }
    }
}

/// Reads a file descriptor to its end on a thread of its own, so a child that fills one pipe
/// while the test waits on the other never blocks (a pipe holds 64 KiB; a daemon logs more).
final class FDDrain: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var data = [UInt8]()

    init(_ fd: Int32) {
        Thread.detachNewThread { [self] in
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(fd, &buf, buf.count)
                if n > 0 { data.append(contentsOf: buf[0..<n]); continue }
                if n < 0 && errno == EINTR { continue }
                break
            }
            close(fd)
            done.signal()
        }
    }

    /// Everything written, once every writer closed its end (or what came within `seconds`).
    func text(within seconds: Double) -> String {
        guard done.wait(timeout: .now() + seconds) == .success else { return "(output still open after \(Int(seconds)) s)" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Initializes spawn attributes so the child starts with no signal blocked and every signal at
/// its default: the test runner's threads may block SIGTERM, and a mask is inherited across
/// exec (a broker would then ignore the SIGTERM a test sends it).
func cleanSignals(_ attr: inout posix_spawnattr_t) {
    posix_spawnattr_init(&attr)
    var none = sigset_t(), all = sigset_t()
    sigemptyset(&none)
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attr, &none)
    posix_spawnattr_setsigdefault(&attr, &all)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
}

/// A child process for tests, started with posix_spawn and reaped with waitpid, its stdout and
/// stderr drained as it runs, killed if it outlives its deadline: a stuck child fails its test
/// instead of hanging the suite. (Foundation's Process.waitUntilExit was seen to miss a child's
/// exit when many tests start processes at once, and to hang forever.)
public final class Child: @unchecked Sendable {
    public private(set) var pid: pid_t = 0
    private let path: String, args: [String], environment: [String: String]
    private var outDrain: FDDrain?, errDrain: FDDrain?
    private var status: Int32?
    private let lock = NSLock()

    public init(_ executable: URL, _ args: [String], environment: [String: String]? = nil) {
        path = executable.path
        self.args = args
        self.environment = environment ?? ProcessInfo.processInfo.environment
    }

    public func start() throws {
        var out: [Int32] = [0, 0], err: [Int32] = [0, 0]
        guard pipe(&out) == 0, pipe(&err) == 0 else { throw ChildError.spawn(path, errno) }
        for fd in out + err { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)
        let argv = ([path] + args).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var attr = posix_spawnattr_t()
        cleanSignals(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var child: pid_t = 0
        let rc = posix_spawn(&child, path, &actions, &attr, argv, envp)
        close(out[1]); close(err[1])
        guard rc == 0 else { close(out[0]); close(err[0]); throw ChildError.spawn(path, rc) }
        pid = child
        outDrain = FDDrain(out[0])
        errDrain = FDDrain(err[0])
    }

    /// Whether the child is still running (reaps it if it just exited).
    public var isRunning: Bool { pid > 0 && reap(block: false) == nil }

    private func reap(block: Bool) -> Int32? {
        lock.lock(); defer { lock.unlock() }
        if let status { return status }
        var s: Int32 = 0
        while true {
            let r = waitpid(pid, &s, block ? 0 : WNOHANG)
            if r == pid { break }
            if r < 0 && errno == EINTR { continue }
            return nil
        }
        // exit code, or 128 + signal like a shell
        status = (s & 0x7f) == 0 ? (s >> 8) & 0xff : 128 + (s & 0x7f)
        return status
    }

    /// Waits for the child to exit; after `seconds` it is killed and `timedOut` is true.
    public func finish(within seconds: Double = 600) -> (status: Int32, out: String, err: String, timedOut: Bool) {
        let deadline = Date().addingTimeInterval(seconds)
        var code = reap(block: false)
        while code == nil && Date() < deadline {
            usleep(10_000)
            code = reap(block: false)
        }
        let timedOut = code == nil
        if timedOut {
            kill(pid, SIGKILL)
            code = reap(block: true)
        }
        let o = outDrain?.text(within: 30) ?? "", e = errDrain?.text(within: 30) ?? ""
        return (code ?? -1, o, timedOut ? "killed after \(Int(seconds)) s\n" + e : e, timedOut)
    }

    /// Runs to the end: status, stdout, stderr.
    public static func run(_ executable: URL, _ args: [String], environment: [String: String]? = nil,
                           within seconds: Double = 600) throws -> (status: Int32, out: String, err: String) {
        let child = Child(executable, args, environment: environment)
        try child.start()
        let r = child.finish(within: seconds)
        return (r.status, r.out, r.err)
    }
}
