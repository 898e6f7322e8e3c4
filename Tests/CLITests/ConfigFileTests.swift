import Config
import LineIO
import Foundation
import Reports
import Testing
@testable import linesight

/// One TOML file, three readers: the line (Inspection), [http] (the executable), [stats] (Reports).
@Suite("config file")
struct ConfigFileTests {
    static var shipped: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/linesight.toml").path
    }

    func read(_ text: String) throws -> ConfigFile {
        try ConfigFile.read(try ConfigSection(parsing: text + "\n[[cameras]]\nid = \"a\"\n", file: "t.toml"), baseDirectory: "/base")
    }

    @Test func theShippedConfigStatesTheHTTPAndShiftDefaults() throws {
        let c = try ConfigFile.load(path: Self.shipped)
        #expect(c.http == HTTPSettings())
        #expect(c.shifts.shifts == ShiftSchedule.standard().shifts)
        #expect(c.line.cameras.count == 1)
        #expect(c.outputs == OutputSettings(), "the shipped [outputs.mqtt] states the defaults (off)")
    }

    @Test func mqttOutputIsRead() throws {
        let c = try read("""
        [outputs.mqtt]
        enabled = true
        broker = "[::1]:8883"
        topic = "plant/line-3"
        username = "line3"
        password_file = "mqtt.pw"
        keepalive_seconds = 7
        """)
        let m = c.outputs.mqtt
        #expect(m.enabled && m.host == "::1" && m.port == 8883 && m.keepAlive == 7)
        #expect(m.statusTopic == "plant/line-3/status" && m.verdictTopic(camera: "top") == "plant/line-3/verdicts/top")
        #expect(m.username == "line3" && m.passwordFile == "/base/mqtt.pw")
    }

    @Test func modbusOutputIsRead() throws {
        let c = try read("""
        [outputs.modbus]
        enabled = true
        server = "192.168.0.10:1502"
        unit_id = 7
        reject_coil = 12
        reject_pulse_ms = 150
        registers = 100
        heartbeat_ms = 250
        timeout_ms = 40
        """)
        let m = c.outputs.modbus
        #expect(m.enabled && m.host == "192.168.0.10" && m.port == 1502 && m.unitId == 7 && m.rejectCoil == 12)
        #expect(m.rejectPulse == 0.15 && m.registers == 100 && m.heartbeat == 0.25 && m.timeout == 0.04)
    }

    @Test func httpAndShiftsAreRead() throws {
        let c = try read("""
        [http]
        listen = "0.0.0.0:9000"
        token_file = "token"
        [stats]
        timezone = "Europe/Berlin"
        [[stats.shifts]]
        name = "day"
        start = "06:00"
        end = "18:00"
        """)
        #expect(c.http.host == "0.0.0.0" && c.http.port == 9000 && c.http.tokenFile == "/base/token" && !c.http.isLoopback)
        #expect(c.shifts.shifts.map(\.name) == ["day"] && c.shifts.timeZone.identifier == "Europe/Berlin")
    }

    @Test(arguments: [
        ("[http]\nlisten = \"0.0.0.0:80\"\n", "needs http.token_file"),
        ("[http]\nlisten = \"8080\"\n", "is not HOST:PORT"),
        ("[http]\nlistn = \"127.0.0.1:80\"\n", "unknown key 'http.listn'"),
        ("[stats]\ntimezone = \"Mars/Olympus\"\n", "not a time zone name"),
        ("[stats]\ntimezon = \"UTC\"\n", "unknown key 'stats.timezon'"),
        ("[[stats.shifts]]\nname = \"a\"\nstart = \"06:00\"\nend = \"18:00\"\n[[stats.shifts]]\nname = \"b\"\nstart = \"12:00\"\nend = \"20:00\"\n", "overlap"),
        ("[sotre]\ndatabase = \"x\"\n", "unknown key 'sotre'"),
        ("[outputs.mqtt]\nbroker = \"localhost\"\n", "is not HOST:PORT"),
        ("[outputs.mqtt]\nbroker = \"localhost:0\"\n", "is not HOST:PORT"),
        ("[outputs.mqtt]\ntopic = \"line/#\"\n", "without wildcards"),
        ("[outputs.mqtt]\ntopic = \"line/\"\n", "trailing '/'"),
        ("[outputs.mqtt]\nkeepalive_seconds = 1\n", "keepalive_seconds"),
        ("[outputs.mqtt]\npassword_file = \"pw\"\n", "needs a username"),
        ("[outputs.mqtt]\nbrokr = \"a:1\"\n", "unknown key 'outputs.mqtt.brokr'"),
        ("[outputs.opcua]\nenabled = true\n", "unknown key 'outputs.opcua'"),
        ("[[cameras]]\nid = \"b\"\n[[stations]]\nid = \"s\"\ncameras = [\"b\"]\ntriggers = [\"mqtt\"]\n", "enable [outputs.mqtt]"),
        ("[outputs.modbus]\nserver = \"plc\"\n", "is not HOST:PORT"),
        ("[outputs.modbus]\nunit_id = 248\n", "unit_id"),
        ("[outputs.modbus]\nregisters = 65532\n", "registers"),
        ("[outputs.modbus]\nreject_pulse_ms = 0\n", "reject_pulse_ms"),
        ("[outputs.modbus]\nheartbeat_ms = -1\n", "heartbeat_ms"),
        ("[outputs.modbus]\ntrigger_edge = \"rising\"\n", "needs trigger_input"),
        ("[outputs.gpio]\nreject_line = 3\nready_line = 3\n", "must differ from reject_line"),
        ("[outputs.gpio]\nreject_line = 5000\n", "reject_line"),
        ("[outputs.gpio]\nchip = \"\"\n", "chip"),
        ("[outputs.modbus]\ntrigger_input = 1\ntrigger_edge = \"up\"\n", "trigger_edge"),
        ("[[cameras]]\nid = \"b\"\n[[stations]]\nid = \"s\"\ncameras = [\"b\"]\ntriggers = [\"modbus\"]\n[outputs.modbus]\nenabled = true\n", "set its trigger_input"),
        ("[[cameras]]\nid = \"b\"\n[[stations]]\nid = \"s\"\ncameras = [\"b\"]\ntriggers = [\"gpio\"]\n[outputs.gpio]\nenabled = true\n", "set its trigger_line"),
        ("[outputs.gpio]\ntrigger_bias = \"up\"\n", "needs trigger_line"),
        ("[outputs.gpio]\nreject_line = 3\ntrigger_line = 3\n", "must differ from reject_line and ready_line"),
        ("[outputs.gpio]\ntrigger_line = 9\ntrigger_edge = \"up\"\n", "trigger_edge"),
        ("[operator]\nrejects = 0\n", "rejects"),
        ("[operator]\ntitle = \"\"\n", "1 to 60 characters"),
        ("[operator]\nenable = true\n", "unknown key 'operator.enable'"),
    ])
    func badSectionsAreRefusedWithLineAndKey(text: String, words: String) {
        #expect {
            _ = try read(text)
        } throws: { error in
            "\(error)".hasPrefix("t.toml:") && "\(error)".contains(words)
        }
    }
}
