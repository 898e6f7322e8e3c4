import Config
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
    ])
    func badSectionsAreRefusedWithLineAndKey(text: String, words: String) {
        #expect {
            _ = try read(text)
        } throws: { error in
            "\(error)".hasPrefix("t.toml:") && "\(error)".contains(words)
        }
    }
}
