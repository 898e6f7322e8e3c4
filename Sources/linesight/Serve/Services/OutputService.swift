import Inspection
import LineIO
import Logging
import ServiceLifecycle

/// Keeps the outputs to the line alive while the inspection is healthy: renews their lease
/// every second while every camera advances (a hung or stalled daemon stops renewing: the
/// Modbus heartbeat stands still and the broker's last will says "offline"), logs MQTT alarms
/// as they start and clear (the Modbus thread logs its own at once), and on shutdown (after the cameras drained) sends what is queued
/// and says goodbye.
struct OutputService: Service {
    let inspection: InspectionService
    let outputs: LineOutputs
    let logger: Logger
    static let every = 1.0

    func run() async throws {
        guard !outputs.isEmpty else {
            try? await gracefulShutdown()  // returning would end the daemon
            return
        }
        outputs.modbus?.start()
        outputs.mqtt?.start()  // (GPIO lines were requested before the daemon started: Daemon.run)
        let mqttLease = Double(outputs.mqtt?.settings.keepAlive ?? 0) + 2 * Self.every
        let modbusLease = 2 * Self.every + (outputs.modbus?.settings.heartbeat ?? 0)
        let gpioLease = 2 * Self.every + 0.5
        while await tick(Self.every) {
            if inspection.isAdvancing() {
                outputs.mqtt?.renew(for: mqttLease)
                outputs.modbus?.renew(for: modbusLease)
                outputs.gpio?.renew(for: gpioLease)
            }
            outputs.mqtt?.checkAlarm()
        }
        await blocking("outputs-stop") {
            outputs.gpio?.stop()
            outputs.modbus?.stop()
            outputs.mqtt?.stop()
        }
    }
}
