import Foundation
import Store
import TestSupport
import Testing

/// The Modbus TCP output, as a process against a real Modbus TCP server (libmodbus's) standing
/// in for the PLC: reject pulses, the register block, the heartbeat, a PLC away or hung.
@Suite("Modbus output", .serialized)
struct ModbusOutputTests {
    static let coil = 3, base = 10

    static func config(_ port: Int) -> String {
        """
        [outputs.modbus]
        enabled = true
        server = "127.0.0.1:\(port)"
        reject_coil = \(coil)
        registers = \(base)
        reject_pulse_ms = 100
        heartbeat_ms = 200
        """
    }

    func output(_ h: ServeHarness, _ name: String) -> Double? {
        h.metrics().first { $0.key.hasPrefix(name + "{") && $0.key.contains("output=\"modbus\"") }?.value
    }

    @Test("each reject pulses the coil for reject_pulse_ms; the registers count parts; the heartbeat counts up")
    func rejectsPulseTheCoil() throws {
        let plc = ModbusServer()
        try plc.start()
        let h = try ServeHarness(name: "modbus-fail", extraConfig: Self.config(plc.port), camera: ServeHarness.syntheticCamera(fps: 3))
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try h.start(duration: 4)
        let r = h.finish()
        #expect(r.status == 0, "\(r.err.suffix(600))")
        let stats = try Store(path: h.dir + "/data/inspection.sqlite").rangeStats()
        #expect(stats.frames >= 6 && stats.fails == stats.frames, "this stage 2 fails every part: \(stats)")

        let coil = plc.coil(Self.coil)
        let ons = coil.filter(\.on), offs = coil.filter { !$0.on }
        #expect(ons.count == stats.fails, "one pulse per reject at 3 parts/s with 100 ms pulses: \(ons.count) pulses, \(stats.fails) rejects")
        #expect(coil.last?.on == false, "the coil is left off")
        let widths = zip(ons, offs).map { $1.at - $0.at }
        #expect(widths.allSatisfy { (0.09...0.5).contains($0) }, "pulse widths \(widths.map { Int($0 * 1000) }) ms")
        #expect(plc.value(Self.base + 1) == 2, "last verdict: fail")
        #expect(plc.value(Self.base + 2) == UInt16(stats.frames), "verdicts sent")
        #expect(plc.value(Self.base + 3) == nil, "no part passed")
        #expect(plc.value(Self.base + 4) == UInt16(stats.frames), "parts rejected")
        #expect(plc.register(Self.base).count >= 6, "heartbeat every 200 ms: \(plc.register(Self.base).count) beats")
        #expect(plc.coil(0).isEmpty, "no other coil written")
    }

    @Test("passing parts never touch the reject coil")
    func passesLeaveTheCoilAlone() throws {
        let plc = ModbusServer()
        try plc.start()
        let h = try ServeHarness(name: "modbus-pass", stage1P: 0.05, extraConfig: Self.config(plc.port), camera: ServeHarness.syntheticCamera(fps: 20))
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try h.start(duration: 3)
        let r = h.finish()
        #expect(r.status == 0, "\(r.err.suffix(600))")
        let stats = try Store(path: h.dir + "/data/inspection.sqlite").rangeStats()
        #expect(stats.frames >= 20 && stats.passes == stats.frames)
        #expect(plc.coil(Self.coil).isEmpty, "never switched on")
        #expect(plc.value(Self.base + 1) == 1 && plc.value(Self.base + 3) == UInt16(stats.frames) && plc.value(Self.base + 4) == nil)
    }

    @Test("a PLC away at start, then hung: the line goes on with an alarm, missed rejects are counted, the counts survive; a hung daemon's heartbeat stands still")
    func plcAwayAndDaemonHung() throws {
        let plc = ModbusServer()  // not answering yet
        let h = try ServeHarness(name: "modbus-away", extraConfig: Self.config(plc.port))
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try h.start()
        #expect(h.wait(30) { output(h, "linesight_output_alarm") == 1 }, "PLC away: alarm")
        #expect(h.wait(10) { (output(h, "linesight_output_dropped_total") ?? 0) > 0 }, "rejects that could not be signalled are counted")
        let before = h.metric("linesight_store_committed_total") ?? 0
        #expect(h.wait(10) { (h.metric("linesight_store_committed_total") ?? 0) > before + 20 }, "the line goes on")

        try plc.start()
        #expect(h.wait(30) { output(h, "linesight_output_up") == 1 && output(h, "linesight_output_alarm") == 0 }, "connected within the back-off")
        #expect(h.wait(5) { plc.register(Self.base).count >= 3 }, "heartbeat")

        plc.pause(true)  // the PLC hangs: requests time out
        #expect(h.wait(15) { output(h, "linesight_output_alarm") == 1 }, "a PLC that stops answering raises the alarm")
        plc.pause(false)
        #expect(h.wait(30) { output(h, "linesight_output_up") == 1 }, "and is reached again")

        kill(h.pid, SIGSTOP)
        usleep(300_000)
        let frozen = plc.register(Self.base).count
        usleep(1_200_000)
        #expect(plc.register(Self.base).count == frozen, "a hung daemon's heartbeat stands still")
        kill(h.pid, SIGCONT)
        #expect(h.wait(10) { plc.register(Self.base).count > frozen + 2 }, "and counts again when it runs")

        kill(h.pid, SIGTERM)
        let r = h.finish()
        #expect(r.status == 0)
        let stats = try Store(path: h.dir + "/data/inspection.sqlite").rangeStats()
        #expect(plc.value(Self.base + 2) == UInt16(truncatingIfNeeded: stats.frames), "verdicts counted through the outage: \(String(describing: plc.value(Self.base + 2))) vs \(stats.frames)")
        #expect(plc.value(Self.base + 4) == UInt16(truncatingIfNeeded: stats.fails))
        #expect(r.err.contains("output failing") && r.err.contains("output working again"))
    }
}
