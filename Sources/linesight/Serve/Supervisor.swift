import Foundation
import Hummingbird
import HummingbirdCore
import Inspection
import Training
import Logging
import NIOCore
import ServiceLifecycle

/// Runs the daemon under systemd's eyes: signals, sd_notify (READY, STATUS, WATCHDOG,
/// RELOADING, STOPPING), the HTTP server, model-file polling, retention, and the drain
/// on the way out.
final class Supervisor: @unchecked Sendable {
    let daemon: InspectionService
    let logger: Logger
    let token: String?
    let live: Bool
    let duration: Double?
    private let notifier = SystemdNotifier()
    /// Live verdicts for the terminal feed and /api/v1/events.
    let events = EventHub()
    private let lock = NSLock()
    private var stopReason: String?
    private var reloadRequested = false
    private var signalSources: [DispatchSourceSignal] = []

    init(daemon: InspectionService, logger: Logger, token: String?, live: Bool, duration: Double?) {
        self.daemon = daemon
        self.logger = logger
        self.token = token
        self.live = live
        self.duration = duration
    }

    func run() throws {
        installSignals()
        if live { events.tap = { v in Console.printVerdict(v) } }
        let events = events
        daemon.observer = { events.publish($0) }
        // The port first: failing to bind it is a failed start (no READY=1, a non-zero exit).
        let http = try startHTTP()
        daemon.start()
        let housekeeping = startHousekeeping()
        notifier.send("READY=1\nSTATUS=inspecting, waiting for the first verdict")
        loop()
        notifier.send("STOPPING=1\nSTATUS=draining queues and committing")
        logger.info("stopping", metadata: ["reason": "\(lock.withLock { stopReason ?? "" })"])
        housekeeping.stop()
        daemon.stop()
        events.finishAll()
        if let http {
            let done = DispatchSemaphore(value: 0)
            Task {
                await http.group.triggerGracefulShutdown()
                _ = await http.task.value
                done.signal()
            }
            _ = done.wait(timeout: .now() + 10)
        }
        printSummary()
    }

    // MARK: Loop

    private func loop() {
        let start = monotonicSeconds()
        var lastStatus = start, lastPing = 0.0, lastCount = totalVerdicts()
        var stalledLogged = false
        let pingEvery = notifier.watchdogInterval.map { $0 / 2 } ?? .infinity
        while true {
            Thread.sleep(forTimeInterval: 0.2)
            let now = monotonicSeconds()
            if lock.withLock({ stopReason != nil }) { return }
            if let duration, now - start >= duration { lock.withLock { stopReason = "--duration reached" }; return }
            if daemon.pipelines.allSatisfy(\.hasEnded) { lock.withLock { stopReason = "every source ended" }; return }
            if lock.withLock({ let r = reloadRequested; reloadRequested = false; return r }) {
                notifier.send("RELOADING=1\nMONOTONIC_USEC=\(UInt64(now * 1e6))")
                daemon.reloadModels(reason: "SIGHUP")
                notifier.send("READY=1")
            }
            let advancing = daemon.isAdvancing(now: now)
            if advancing, now - lastPing >= pingEvery {
                notifier.send("WATCHDOG=1")
                lastPing = now
            }
            if !advancing && !stalledLogged { logger.warning("pipeline stalled, watchdog not fed", metadata: [:]) }
            if advancing && stalledLogged { logger.notice("pipeline advancing again", metadata: [:]) }
            stalledLogged = !advancing
            if now - lastStatus >= 2 {
                let count = totalVerdicts()
                let rate = Double(count - lastCount) / (now - lastStatus)
                notifier.send("STATUS=" + daemon.statusLine(rate: rate))
                if !live { Console.status(daemon.statusLine(rate: rate)) }
                lastStatus = now
                lastCount = count
            }
        }
    }

    /// Model-file polling (with hashing on reload) and retention, on a thread of their own: a
    /// long retention run or a slow reload never delays the watchdog, signals or the status line.
    private func startHousekeeping() -> Housekeeper {
        let daemon = daemon
        return Housekeeper(every: 2) {
            daemon.checkModelFiles()
            daemon.housekeeping()
        }
    }

    private func totalVerdicts() -> UInt64 { daemon.pipelines.reduce(0) { $0 + $1.stats.verdicts } }

    private func installSignals() {
        for sig in [SIGTERM, SIGINT, SIGHUP] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { [self] in
                lock.withLock {
                    if sig == SIGHUP { reloadRequested = true } else { stopReason = sig == SIGTERM ? "SIGTERM" : "SIGINT" }
                }
            }
            s.resume()
            signalSources.append(s)
        }
    }

    // MARK: HTTP

    /// Starts the HTTP server and waits until it listens; throws when it cannot (port taken,
    /// address not local), so the daemon never reports READY without its API.
    private func startHTTP() throws -> (group: ServiceGroup, task: Task<Void, Never>)? {
        let cfg = daemon.config.http
        guard cfg.enabled else { return nil }
        var httpLogger = Logger(label: "linesight.http")
        httpLogger.logLevel = .warning
        let router = HTTPAPI.router(daemon, events: events, gate: ClassifyGate(), token: token, requireTokenForReads: !cfg.isLoopback,
                                    logger: logger)
        let logger = logger
        let started = StartSignal()
        let server = HTTPServerBuilder.http1(configuration: .init(idleTimeout: .seconds(60)))
        let app = Application(router: router, server: server,
                              configuration: .init(address: .hostname(cfg.host, port: cfg.port), serverName: "linesight",
                                                   availableConnectionsDelegate: MaximumAvailableConnections(256)),
                              onServerRunning: { channel in
                                  let port = channel.localAddress?.port ?? cfg.port
                                  logger.info("http listening", metadata: ["address": "http://\(cfg.host):\(port)"])
                                  Console.line("HTTP API on http://\(cfg.host):\(port)  (/metrics, /api/v1/verdicts, /api/v1/events)")
                                  started.finish(nil)
                              }, logger: httpLogger)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: httpLogger))
        let task = Task {
            do {
                try await group.run()
                started.finish("the HTTP server stopped before it listened")
            } catch {
                logger.error("http server failed", metadata: ["error": "\(error)"])
                started.finish("\(error)")
            }
        }
        if let failure = started.wait(seconds: 30) {
            throw ServeError.http("cannot serve HTTP on \(cfg.host):\(cfg.port): \(failure)")
        }
        return (group, task)
    }

    private func printSummary() {
        for p in daemon.pipelines {
            let s = p.stats
            let p50 = s.latency.quantile(0.5).map { String(format: "%.0f", $0) } ?? "-"
            let p99 = s.latency.quantile(0.99).map { String(format: "%.0f", $0) } ?? "-"
            Console.line("""
            \(p.camera): \(s.received) frames, \(s.passes) pass, \(s.fails) fail, \(s.noVerdicts) no-verdict \
            (\(s.dropped) dropped), \(s.flags.values.reduce(0, +)) flags raised, \(s.framesSaved) frames kept; \
            latency p50 <= \(p50) ms, p99 <= \(p99) ms
            """)
            if !s.defects.isEmpty {
                Console.line("  defects: " + s.defects.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            }
        }
        Console.line("verdicts committed: \(daemon.committer.stats.committed) -> \(daemon.config.database)")
    }
}

/// Runs `work` every `every` seconds on a thread of its own until stopped (a run in progress
/// finishes first).
final class Housekeeper: @unchecked Sendable {
    private let condition = NSCondition()
    private var stopping = false, stopped = false

    init(every: Double, _ work: @escaping @Sendable () -> Void) {
        let t = Thread { [self] in
            while true {
                condition.lock()
                if !stopping { _ = condition.wait(until: Date().addingTimeInterval(every)) }
                let stop = stopping
                condition.unlock()
                if stop { break }
                work()
            }
            condition.lock()
            stopped = true
            condition.broadcast()
            condition.unlock()
        }
        t.name = "linesight-housekeeping"
        t.start()
    }

    /// Waits up to `timeout` seconds for a run in progress.
    func stop(timeout: Double = 30) {
        condition.lock()
        stopping = true
        condition.broadcast()
        let deadline = Date().addingTimeInterval(timeout)
        while !stopped { if !condition.wait(until: deadline) { break } }
        condition.unlock()
    }
}

/// The HTTP server's first word: listening (nil) or why not. The first call wins.
final class StartSignal: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var outcome: String??

    func finish(_ failure: String?) {
        let first = lock.withLock { outcome == nil ? { outcome = .some(failure); return true }() : false }
        if first { semaphore.signal() }
    }

    /// Nil once listening; the reason it failed, or that it did not answer in time.
    func wait(seconds: Double) -> String? {
        guard semaphore.wait(timeout: .now() + seconds) == .success else { return "no answer within \(Int(seconds)) s" }
        return lock.withLock { outcome ?? nil }
    }
}

/// Why `serve` could not start or had to stop.
enum ServeError: Error, CustomStringConvertible {
    case http(String)
    case tokenFile(path: String, reason: String)

    var description: String {
        switch self {
        case .http(let why): why
        case let .tokenFile(path, reason): "\(path): \(reason)"
        }
    }
}

extension Console {
    static func line(_ s: String) { FileHandle.standardOutput.write(Data((s + "\n").utf8)) }

    static func status(_ s: String) { FileHandle.standardError.write(Data(("linesight: " + s + "\n").utf8)) }

    static func printVerdict(_ v: LiveVerdict) {
        let score = v.stage1Score.map { String(format: "%.3f", $0) } ?? "  -  "
        var text = "\(v.camera) #\(v.sequence) \(v.decision.rawValue.uppercased()) p(defect)=\(score)"
        if !v.defects.isEmpty { text += " defects=" + v.defects.joined(separator: ",") }
        if !v.flags.isEmpty { text += " flagged=" + v.flags.map(\.rawValue).joined(separator: ",") }
        if let e = v.error { text += " (\(e))" }
        line(text + String(format: " %.1f ms", v.totalMs))
    }
}
