import Foundation
import Inspection
import Logging
import ServiceLifecycle
import Training

/// `linesight serve`: the daemon as one `ServiceGroup` of small services (Services/).
///
/// How to add a service to the daemon (a trigger input, a reject output, an operator page):
///   1. Write one file in Serve/Services/: a struct conforming to `Service` whose `run()`
///      reads top to bottom: start, do its work until `gracefulShutdown()` returns (or loop
///      with `while await tick(seconds) { ... }`), clean up, return. Put blocking calls in
///      `await blocking("name") { ... }`. Wait for `startup.httpListening` or
///      `startup.camerasStarted` if it needs them. To end the daemon when its job is done,
///      `await shutdown.request()`, then wait for `gracefulShutdown()` like the others.
///      Throw only for what must end the daemon.
///   2. Add one line for it to `services` below.
/// The group starts every service at once, in list order. SIGTERM and SIGINT (the group's
/// only signals; SIGHUP is ReloadSignalService's) shut them down one at a time from the
/// bottom of the list up, each finishing before the next is told: so put a service below
/// what it needs while it stops. A service that throws shuts the group down the same way,
/// and its error is the daemon's exit message (non-zero exit).
struct Daemon {
    let inspection: InspectionService
    let outputs: LineOutputs
    let screen: OperatorScreen?
    let http: HTTPSettings
    let token: String?
    let live: Bool
    let duration: Double?
    let logger: Logger

    func run() async throws {
        let notifier = SystemdNotifier(), startup = Startup(), shutdown = ShutdownRequest(), events = EventHub()
        if live { events.tap = { Console.printVerdict($0) } }
        let board = screen?.board
        inspection.keepsLiveFrames = board != nil
        if let board { inspection.defectMapObserver = { board.post(map: $2, camera: $0, sequence: $1) } }
        inspection.observer = { [outputs] in outputs.send($0); board?.post($0); events.publish($0) }
        inspection.partObserver = { [outputs, inspection] in
            outputs.send(part: $0, product: inspection.currentProduct.id); board?.post(part: $0); events.publish(event: .part($0))
        }
        wireTriggers()
        wireProducts()
        try outputs.gpio?.start()  // a chip or line that cannot be had ends the start, before any camera runs

        var services: [any Service] = [
            StoreService(inspection: inspection, startup: startup),  // stops last: after the cameras, commits every verdict, closes SQLite
            HousekeepingService(inspection: inspection, logger: logger),
            ModelWatcherService(inspection: inspection),
            HTTPService(settings: http, inspection: inspection, events: events, outputs: outputs, screen: screen, token: token, startup: startup, logger: logger),
            OperatorService(screen: screen, events: events),
            OutputService(inspection: inspection, outputs: outputs, logger: logger),  // stops after the cameras: every verdict sent
            CameraService(inspection: inspection, startup: startup, shutdown: shutdown, logger: logger),  // stop reading, judge what is queued
            SystemdService(inspection: inspection, notifier: notifier, startup: startup, live: live, logger: logger),  // STOPPING=1
            ReloadSignalService(inspection: inspection, notifier: notifier, startup: startup),  // no READY=1 after STOPPING=1
        ]
        if let duration { services.append(DeadlineService(seconds: duration, shutdown: shutdown, logger: logger)) }

        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup,
                                           failureTerminationBehavior: .gracefullyShutdownGroup,
                                           serviceName: String(describing: type(of: $0))) },
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        shutdown.attach(group)
        try await group.run()
        printSummary()
    }

    /// Hands each line input (GPIO, Modbus, MQTT) the stations it triggers.
    private func wireTriggers() {
        let (inspection, logger) = (inspection, logger)
        let fire: @Sendable ([String], LineConfig.TriggerSource, String?) -> Void = { stations, source, serial in
            for station in stations {
                do { _ = try inspection.trigger(station: station, serial: serial, source: source) } catch {
                    logger.error("trigger refused", metadata: ["station": "\(station)", "source": "\(source.rawValue)", "error": "\(error)"])
                }
            }
        }
        func stations(_ source: LineConfig.TriggerSource) -> [String] {
            inspection.config.stations.filter { $0.triggers.contains(source) }.map(\.id)
        }
        if let gpio = outputs.gpio, case let ids = stations(.gpio), !ids.isEmpty { gpio.takeTriggers { fire(ids, .gpio, nil) } }
        if let modbus = outputs.modbus, case let ids = stations(.modbus), !ids.isEmpty { modbus.takeTriggers { fire(ids, .modbus, nil) } }
        if let mqtt = outputs.mqtt, case let ids = stations(.mqtt), !ids.isEmpty {
            mqtt.takeTriggers(for: ids) { station, serial in fire([station], .mqtt, serial) }
        }
    }

    /// The MQTT output announces the product the line makes and, on a line of several
    /// products, takes changeovers from `<topic>/product/set` (`ChangeoverQueue`).
    private func wireProducts() {
        guard let mqtt = outputs.mqtt else { return }
        let (inspection, logger) = (inspection, logger)
        mqtt.announce(product: inspection.currentProduct.id)
        inspection.productObserver = { mqtt.announce(product: $0) }
        guard inspection.config.products.count > 1 else { return }
        let queue = ChangeoverQueue(inspection: inspection, logger: logger)
        mqtt.takeProductChanges { queue.request($0) }
    }

    private func printSummary() {
        for p in inspection.pipelines {
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
            let t = s.truth
            if t.defective + t.good > 0 {
                // the synthetic camera knows which parts were defective: the line's real figures
                func pct(_ a: UInt64, _ b: UInt64) -> String { b == 0 ? "-" : String(format: "%.1f %%", Double(a) * 100 / Double(b)) }
                Console.line("  against the camera's truth: escapes \(t.escapes)/\(t.defective) defective (\(pct(t.escapes, t.defective))), "
                             + "false rejects \(t.falseRejects)/\(t.good) good (\(pct(t.falseRejects, t.good)))")
            }
        }
        Console.line("verdicts committed: \(inspection.committer.stats.committed) -> \(inspection.config.database)")
    }
}
