// linesight-demo-plc: the PLC of `make demo LINE=1`. A Modbus TCP server on loopback (libmodbus,
// the same server the tests use) that does what a line's PLC does with Linesight's outputs:
// fires the reject gate on each pulse of the reject coil, watches the heartbeat register and
// rejects everything while it stands still, and reads the part counters. Prints each event;
// on SIGINT or SIGTERM, a summary.
//   linesight-demo-plc PORT [SECONDS]
import Foundation
import TestSupport

let args = CommandLine.arguments
guard args.count >= 2, let port = Int(args[1]), (1...65535).contains(port) else {
    FileHandle.standardError.write(Data("usage: linesight-demo-plc PORT [SECONDS]\n".utf8))
    exit(2)
}
let seconds = args.count >= 3 ? Double(args[2]) ?? 3600 : 3600
let plc = ModbusServer(port: port)
do { try plc.start() } catch {
    FileHandle.standardError.write(Data("linesight-demo-plc: \(error)\n".utf8))
    exit(1)
}
/// One line, written at once (a pipe to `make` must not hold it back).
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
say("plc: listening on 127.0.0.1:\(port) (reject coil 0, registers 0-4)")

for s in [SIGINT, SIGTERM] { signal(s, SIG_IGN) }
nonisolated(unsafe) var stop = false
let sources = [SIGINT, SIGTERM].map { s -> DispatchSourceSignal in
    let src = DispatchSource.makeSignalSource(signal: s, queue: .global())
    src.setEventHandler { stop = true }
    src.resume()
    return src
}

let start = monotonicTime()
var seenPulses = 0, gateFired = 0
var lastBeat: (value: UInt16, at: Double)?
var stalled = false
var pulseWidths: [Double] = []
while !stop && monotonicTime() - start < seconds {
    usleep(50_000)
    let now = monotonicTime()
    // a pulse is an on followed by an off
    let coil = plc.coil(0)
    var i = seenPulses * 2
    while i + 1 < coil.count {
        if coil[i].on && !coil[i + 1].on {
            gateFired += 1
            let width = (coil[i + 1].at - coil[i].at) * 1000
            pulseWidths.append(width)
            say(String(format: "plc: reject gate fired (%.0f ms pulse); rejects so far %d", width, gateFired))
        }
        i += 2
    }
    seenPulses = coil.count / 2
    if let beat = plc.value(0) {
        if beat != lastBeat?.value {
            if stalled { say("plc: heartbeat is back: inspection trusted again") }
            lastBeat = (beat, now)
            stalled = false
        } else if let last = lastBeat, now - last.at > 2, !stalled {
            stalled = true
            say("plc: heartbeat stands still for 2 s: rejecting every part until it moves")
        }
    }
}
let sent = plc.value(2) ?? 0, passed = plc.value(3) ?? 0, rejected = plc.value(4) ?? 0
let widths = pulseWidths.sorted()
let median = widths.isEmpty ? 0 : widths[widths.count / 2]
say(String(format: "plc: %d verdicts received, %d parts passed, %d rejected; the gate fired %d times (median pulse %.0f ms)",
             Int(sent), Int(passed), Int(rejected), gateFired, median))
plc.stop()
_ = sources
