import Hummingbird
import HummingbirdCore
import Inspection
import Logging
import ServiceLifecycle
import Training

/// The HTTP API (HTTPAPI.swift): read routes, the classifier, model reloads and the live
/// event stream. Failing to listen (port taken, address not local) ends the daemon with
/// "cannot serve HTTP on HOST:PORT" and a non-zero exit, before any camera starts. On
/// shutdown the live event streams end first, then open requests finish.
struct HTTPService: Service {
    let settings: HTTPSettings
    let inspection: InspectionService
    let events: EventHub
    let outputs: LineOutputs
    let screen: OperatorScreen?
    let token: String?
    let startup: Startup
    let logger: Logger

    func run() async throws {
        guard settings.enabled else {
            startup.httpListening.reach()
            try? await gracefulShutdown()
            return
        }
        do {
            try await withGracefulShutdownHandler {
                try await application().run()
            } onGracefulShutdown: {
                events.finishAll()
            }
        } catch {
            throw ServeError.http("cannot serve HTTP on \(settings.host):\(settings.port): \(error)")
        }
        guard startup.httpListening.isReached || Task.isShuttingDownGracefully else {
            throw ServeError.http("cannot serve HTTP on \(settings.host):\(settings.port): the server stopped before it listened")
        }
    }

    private func application() -> some ApplicationProtocol {
        var httpLogger = Logger(label: "linesight.http")
        httpLogger.logLevel = .warning
        let router = HTTPAPI.router(inspection, events: events, outputs: outputs, screen: screen, gate: ClassifyGate(), token: token,
                                    requireTokenForReads: !settings.isLoopback, logger: logger)
        let (settings, startup, logger) = (settings, startup, logger)
        return Application(router: router, server: .http1(configuration: .init(idleTimeout: .seconds(60))),
                           configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "linesight",
                                                availableConnectionsDelegate: MaximumAvailableConnections(256)),
                           onServerRunning: { channel in
                               let port = channel.localAddress?.port ?? settings.port
                               logger.info("http listening", metadata: ["address": "http://\(settings.host):\(port)"])
                               Console.line("HTTP API on http://\(settings.host):\(port)  (/metrics, /api/v1/verdicts, /api/v1/events)")
                               if screen != nil { Console.line("operator screen on http://\(settings.host):\(port)/operator") }
                               startup.httpListening.reach()
                           }, logger: httpLogger)
    }
}
