import ArgumentParser
import Config
import Foundation
import Hummingbird
import Inspection
import Logging

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the inspection daemon: cameras -> staged verdicts -> SQLite, with an HTTP API.",
        discussion: """
        Reads a TOML config (see deploy/linesight.toml for every key and its default; unknown \
        keys are refused with their line). Every frame a camera delivers gets one verdict in \
        the database: pass, fail with its defects, or no-verdict (which the line treats as a \
        fail). Unsure frames and a small audit share of passes are flagged for review and \
        kept as JPEG.

        Under systemd (Type=notify) it reports READY and a STATUS line, and feeds the watchdog \
        only while verdicts are flowing. SIGTERM or Ctrl-C drains the queues, commits and exits \
        0. SIGHUP (or a changed model file, or POST /api/v1/models/reload) reloads the models; \
        a broken file is refused and the running models stay.

        HTTP (loopback by default): /healthz /readyz /metrics /api/v1/verdicts /api/v1/stats \
        /api/v1/frames/ID.jpg /api/v1/events (server-sent events) POST /api/v1/classify.

        Example: linesight serve --config /etc/linesight/linesight.toml
        """)

    @Option(help: "The config file.") var config: String
    @Option(help: "Stop after this many seconds (demos and tests).") var duration: Double?
    @Option(help: "Override http.listen (HOST:PORT; port 0 picks a free one).") var listen: String?
    @Flag(help: "Print every verdict as it happens.") var live = false
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        if let duration, duration <= 0 { throw ValidationError("--duration must be positive") }
    }

    func run() throws {
        let logger = Logger(label: "linesight.serve")
        try compute.apply(logger)
        var file = try ConfigFile.forCommand(path: config)
        if let listen {
            guard file.http.setListen(listen) else { throw ValidationError("--listen must be HOST:PORT") }
            guard file.http.isLoopback || file.http.tokenFile != nil else {
                throw ValidationError("listening beyond loopback needs http.token_file in the config")
            }
        }
        let token = try file.http.tokenFile.map { try TokenFile.read($0) }
        let inspection = try InspectionService(config: file.line, logger: logger)
        let outputs = try LineOutputs(file.outputs, logger: logger)
        let screen = file.operatorScreen.enabled
            ? try OperatorScreen(file.operatorScreen, inspection: inspection, outputs: outputs, shifts: file.shifts, logger: logger) : nil
        let daemon = Daemon(inspection: inspection, outputs: outputs, screen: screen, http: file.http, token: token, live: live,
                            duration: duration, logger: logger)
        try waitFor { try await daemon.run() }
    }
}

/// Runs `body` to its end from synchronous code (a command's `run()`), rethrowing its error.
func waitFor(_ body: @escaping @Sendable () async throws -> Void) throws {
    final class Outcome: @unchecked Sendable { var error: Error? }
    let outcome = Outcome(), done = DispatchSemaphore(value: 0)
    Task {
        do { try await body() } catch { outcome.error = error }
        done.signal()
    }
    done.wait()
    if let error = outcome.error { throw error }
}

/// The bearer token file: refused when others can read or anyone but its owner and group can
/// change it (the token guards state-changing routes), or when it holds no usable token.
enum TokenFile {
    static func read(_ path: String) throws -> String {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw ServeError.tokenFile(path: path, reason: "cannot read the bearer token: \(String(cString: strerror(errno)))")
        }
        guard st.st_mode & 0o007 == 0, st.st_mode & 0o020 == 0 else {
            throw ServeError.tokenFile(path: path, reason: String(format: "others may read or change the bearer token (mode %o); chmod 0640 or 0600 it", st.st_mode & 0o777))
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ServeError.tokenFile(path: path, reason: "cannot read the bearer token (not UTF-8 text?)")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= 16, token.utf8.allSatisfy({ (0x21...0x7e).contains($0) }) else {
            throw ServeError.tokenFile(path: path, reason: "the bearer token must be at least 16 printable ASCII characters without spaces")
        }
        return token
    }
}
