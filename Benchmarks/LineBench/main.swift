// `make bench-pipeline`, its second half: trigger to reject signal, end to end. The shipped
// binary (release) runs a station of two synthetic views with the small ResNet for both
// stages; a real mosquitto broker and a libmodbus server (standing in for the PLC) run on
// loopback. This process triggers parts over MQTT at a fixed rate and timestamps, on one
// monotonic clock, the part's MQTT message and the PLC's "verdicts sent" register reaching
// that part. Prints JSON.
//   linesight-line-bench WORKDIR [--binary PATH] [--rate 30] [--seconds 20] [--fps 60]
import CMosquitto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Neural
import TestSupport

func option(_ name: String) -> String? {
    let a = CommandLine.arguments
    return a.firstIndex(of: name).flatMap { $0 + 1 < a.count ? a[$0 + 1] : nil }
}
guard CommandLine.arguments.count > 1, !CommandLine.arguments[1].hasPrefix("-") else {
    FileHandle.standardError.write("usage: linesight-line-bench WORKDIR [--binary PATH] [--rate 30] [--seconds 20] [--fps 60]\n".data(using: .utf8)!)
    exit(2)
}
let work = CommandLine.arguments[1]
let binary = option("--binary") ?? ".build/release/linesight"
let rate = Double(option("--rate") ?? "30")!, seconds = Double(option("--seconds") ?? "20")!, fps = Int(option("--fps") ?? "60")!
try? FileManager.default.removeItem(atPath: work)
try FileManager.default.createDirectory(atPath: work + "/models", withIntermediateDirectories: true)

func model(_ path: String, classes: [String], task: ModelMetadata.Task, seed: UInt64) throws {
    let net = try Network(Zoo.smallResNet(input: Shape(1, 128, 128), classes: classes.count, depth: 8, width: 32), seed: seed)
    try ModelFile.save(net, ModelMetadata(spec: net.spec, task: task, classes: classes, normalization: .init(mean: [0.5], std: [0.25]),
                                          provenance: .init(created: "bench")), to: path)
}
try model(work + "/models/stage1.safetensors", classes: ["good", "defect"], task: .multiclass, seed: 1)
try model(work + "/models/stage2.safetensors", classes: ["scratch", "stain", "crack"], task: .multilabel, seed: 2)

let broker = try MosquittoBroker()
try broker.start()
let plc = ModbusServer()
try plc.start()
let httpPort = freeLoopbackPort()
let views = ["top", "side"]
let config = """
[store]
database = "data/inspection.sqlite"
frames = "data/frames"
[models]
stage1 = "models/stage1.safetensors"
stage2 = "models/stage2.safetensors"
[http]
listen = "127.0.0.1:\(httpPort)"
[outputs.mqtt]
enabled = true
broker = "127.0.0.1:\(broker.port)"
topic = "bench"
[outputs.modbus]
enabled = true
server = "127.0.0.1:\(plc.port)"
reject_pulse_ms = 10
registers = 0
\(views.enumerated().map { i, v in "[[cameras]]\nid = \"\(v)\"\nsource = \"synthetic\"\nfps = \(fps)\nwidth = 320\nheight = 240\nseed = \(i + 1)\n" }.joined(separator: "\n"))
[[stations]]
id = "s1"
cameras = [\(views.map { "\"\($0)\"" }.joined(separator: ", "))]
frames = 1
deadline_ms = 200
triggers = ["mqtt"]
"""
try config.write(toFile: work + "/linesight.toml", atomically: true, encoding: .utf8)
let daemon = Child(URL(fileURLWithPath: binary), ["serve", "--config", work + "/linesight.toml"])
try daemon.start()

// Our own client: publishes triggers, receives the part messages (its own network thread).
final class Probe: @unchecked Sendable {
    let lock = NSLock()
    var received: [String: Double] = [:]
    var online = false
}
let probe = Probe()
mosquitto_lib_init()
let client = mosquitto_new("line-bench", true, Unmanaged.passUnretained(probe).toOpaque())!
mosquitto_int_option(client, MOSQ_OPT_TCP_NODELAY, 1)
mosquitto_message_callback_set(client) { _, obj, message in
    let now = monotonicTime()
    guard let obj, let m = message?.pointee, let topic = m.topic else { return }
    let p = Unmanaged<Probe>.fromOpaque(obj).takeUnretainedValue()
    let payload = Data(bytes: m.payload, count: Int(m.payloadlen))
    if String(cString: topic) == "bench/status" {
        let o = try? JSONSerialization.jsonObject(with: payload) as? [String: Any]
        p.lock.withLock { p.online = o?["state"] as? String == "online" }
        return
    }
    guard let o = try? JSONSerialization.jsonObject(with: payload) as? [String: Any], let serial = o["serial"] as? String else { return }
    p.lock.withLock { p.received[serial] = now }
}
guard mosquitto_connect(client, "127.0.0.1", Int32(broker.port), 10) == 0 else { fatalError("cannot connect to the broker") }
mosquitto_subscribe(client, nil, "bench/parts/#", 1)
mosquitto_subscribe(client, nil, "bench/status", 1)
mosquitto_loop_start(client)

let ready = Date().addingTimeInterval(60)
while !probe.lock.withLock({ probe.online }) && Date() < ready { usleep(50_000) }
guard probe.lock.withLock({ probe.online }) else { fatalError("the daemon did not come online: \(daemon.finish(within: 5).err.suffix(2000))") }
Thread.sleep(forTimeInterval: 2)  // models warm, cameras streaming

// Trigger at `rate` for `seconds`, paced on the monotonic clock.
let count = Int(rate * seconds)
var sent: [Double] = []
let start = monotonicTime()
for i in 0..<count {
    let due = start + Double(i) / rate
    while monotonicTime() < due { usleep(200) }
    let serial = Array("P\(i)".utf8)
    let t = monotonicTime()
    mosquitto_publish(client, nil, "bench/trigger/s1", Int32(serial.count), serial, 1, false)
    sent.append(t)
}
Thread.sleep(forTimeInterval: 1.5)

// The PLC's register +2 counts parts sent: its k-th value marks the k-th part decided.
let register = plc.register(2)
var plcTimes: [Int: Double] = [:]
for (at, value) in register { plcTimes[Int(value)] = at }
let metrics = (try? String(contentsOf: URL(string: "http://127.0.0.1:\(httpPort)/metrics")!, encoding: .utf8)) ?? ""
func metric(_ prefix: String) -> Double {
    metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.split(separator: " ").last ?? "") } ?? -1
}
let late = metric("linesight_parts_late_total{station=\"s1\"}")
let partsDecided = ["pass", "fail", "no_verdict"].map { metric("linesight_parts_total{decision=\"\($0)\",station=\"s1\"}") }.reduce(0, +)
kill(daemon.pid, SIGTERM)
_ = daemon.finish(within: 60)
mosquitto_loop_stop(client, true)

let received = probe.lock.withLock { probe.received }
let mqtt = sent.enumerated().compactMap { i, t in received["P\(i)"].map { ($0 - t) * 1000 } }.sorted()
let modbus = sent.enumerated().compactMap { i, t in plcTimes[i + 1].map { ($0 - t) * 1000 } }.sorted()
func q(_ xs: [Double], _ p: Double) -> Double { xs.isEmpty ? -1 : xs[min(xs.count - 1, Int((Double(xs.count) * p).rounded(.up)) - 1)] }
let result: [String: Any] = [
    "parts_triggered": count, "rate_per_second": rate, "views": views.count, "camera_fps": fps,
    "models": "resnet8-w32 at 1x128x128, both stages", "cores": ProcessInfo.processInfo.activeProcessorCount,
    "parts_decided": partsDecided, "late_parts": late,
    "mqtt": ["received": mqtt.count, "p50_ms": q(mqtt, 0.5), "p99_ms": q(mqtt, 0.99), "max_ms": mqtt.last ?? -1],
    "modbus": ["received": modbus.count, "p50_ms": q(modbus, 0.5), "p99_ms": q(modbus, 0.99), "max_ms": modbus.last ?? -1],
    "target": "p99 trigger to reject signal <= 50 ms on MQTT and Modbus at 30 parts/s, two views, zero late parts",
]
FileHandle.standardOutput.write(try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys]))
print()
