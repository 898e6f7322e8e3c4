import Foundation
import Inspection
import LineIO
import Logging

/// The daemon's outputs to the line (GPIO, Modbus TCP, MQTT), fed every verdict as it is decided.
final class LineOutputs: Sendable {
    let mqtt: MQTTOutput?
    let modbus: ModbusOutput?
    let gpio: GPIOOutput?

    init(_ settings: OutputSettings, logger: Logger) throws {
        let about = ["host": ProcessInfo.processInfo.hostName, "pid": "\(getpid())"]
        mqtt = settings.mqtt.enabled ? try MQTTOutput(settings.mqtt, about: about, logger: logger) : nil
        modbus = settings.modbus.enabled ? ModbusOutput(settings.modbus, logger: logger) : nil
        gpio = settings.gpio.enabled ? GPIOOutput(settings.gpio, logger: logger) : nil
    }

    var isEmpty: Bool { mqtt == nil && modbus == nil && gpio == nil }

    /// Called on a pipeline's thread for every verdict: hands it to each output without waiting.
    /// A frame taken for a part is not sent: its part is, once decided (`send(part:)`).
    func send(_ v: LiveVerdict) {
        guard !isEmpty, v.part == nil else { return }
        var verdict = LineVerdict(camera: v.camera, sequence: v.sequence, decision: v.decision, defects: v.defects,
                                  stage1Score: v.stage1Score, flags: v.flags, capturedAt: v.capturedAt, latencyMs: v.totalMs,
                                  error: v.error)
        verdict.product = v.product
        gpio?.send(verdict)  // the reject line first (one ioctl, on this thread)
        modbus?.send(verdict)
        mqtt?.send(verdict)
    }

    /// Called when a part is decided (a pipeline's thread, or the deadline watcher's), with
    /// the product the line makes.
    func send(part v: PartVerdict, product: String? = nil) {
        guard !isEmpty else { return }
        var verdict = LineVerdict(camera: v.station, sequence: UInt64(v.id), decision: v.decision, defects: v.defects,
                                  stage1Score: nil, flags: [], capturedAt: v.triggeredAt, latencyMs: v.decidedMs, error: v.error,
                                  part: .init(serial: v.serial, views: v.views))
        verdict.product = product
        gpio?.send(verdict)
        modbus?.send(verdict)
        mqtt?.send(verdict)
    }

    var health: [OutputHealth] { [gpio?.health, modbus?.health, mqtt?.health].compactMap { $0 } }
}
