import Testing
@testable import Config

@Suite("TOML and typed config")
struct ConfigTests {
    let sample = #"""
    # Linesight
    database = "/var/lib/linesight/inspection.sqlite"

    [http]
    listen = "127.0.0.1:8080"   # loopback
    enabled = true

    [[cameras]]
    id = "line1-top"
    roi = [10, 20, 300, 200]
    thresholds = { fail = 0.8, pass = 0.2 }

    [[cameras]]
    id = 'line1-side'
    fps = 1_000
    gain = -2.5e1
    note = """
    two
    lines"""
    source.kind = "replay"
    source.path = "C:\\frames"
    """#

    @Test func parsesTheSubsetLinesightUsesWithLineNumbers() throws {
        let root = try TOMLParser.parse(sample, file: "a.toml")
        #expect(root["database"]?.value == .string("/var/lib/linesight/inspection.sqlite"))
        #expect(root["database"]?.line == 2)
        guard case .table(let http)? = root["http"]?.value else { Issue.record("no [http]"); return }
        #expect(http["listen"]?.value == .string("127.0.0.1:8080") && http["listen"]?.line == 5)
        guard case .array(let cams)? = root["cameras"]?.value, cams.count == 2,
              case .table(let c0) = cams[0].value, case .table(let c1) = cams[1].value else {
            Issue.record("cameras is not an array of two tables"); return
        }
        #expect(c0["roi"]?.value == .array([10, 20, 300, 200].enumerated().map { TOMLNode(.integer(Int64($1)), line: 10) }))
        guard case .table(let th)? = c0["thresholds"]?.value else { Issue.record("inline table"); return }
        #expect(th["fail"]?.value == .float(0.8))
        #expect(c1["id"]?.value == .string("line1-side"))
        #expect(c1["fps"]?.value == .integer(1000) && c1["gain"]?.value == .float(-25))
        #expect(c1["note"]?.value == .string("two\nlines"))
        guard case .table(let src)? = c1["source"]?.value else { Issue.record("dotted keys"); return }
        #expect(src["path"]?.value == .string(#"C:\frames"#) && src["path"]?.line == 21)
    }

    @Test(arguments: [
        ("a = 1\na = 2", 2, "set twice"),
        ("[t]\nx = 1\n[t]", 3, "defined twice"),
        ("a = \"open\nb = 1", 1, "line's end"),
        ("a = 1 b = 2", 1, "one key per line"),
        ("\n\nwhen = 2026-11-29", 3, "dates"),
        ("a = [1, 2", 1, "expected ',' or ']'"),
        ("a = yes", 1, "strings need quotes"),
        ("a = \"\\q\"", 1, "unknown escape"),
    ])
    func syntaxErrorsNameTheLine(text: String, line: Int, words: String) {
        #expect {
            _ = try TOMLParser.parse(text, file: "bad.toml")
        } throws: { error in
            guard case ConfigError.syntax(let file, let l, let message) = error else { return false }
            return file == "bad.toml" && l == line && message.contains(words)
        }
    }

    @Test func typedReadsApplyDefaultsAndRejectWrongTypesAndRanges() throws {
        let root = try ConfigSection(parsing: sample, file: "a.toml")
        #expect(try root.string("database", default: "") == "/var/lib/linesight/inspection.sqlite")
        let http = try root.section("http")
        #expect(try http.bool("enabled", default: false) && http.string("listen", default: "") == "127.0.0.1:8080")
        #expect(try http.int("threads", default: 2) == 2, "absent keys take their default")
        let cams = try root.sections("cameras")
        #expect(cams.count == 2 && cams[1].path == "cameras[1]")
        #expect(try cams[0].ints("roi", default: []) == [10, 20, 300, 200])
        #expect(try cams[0].section("thresholds").double("fail", default: 0) == 0.8)
        #expect(throws: ConfigError.badValue(file: "a.toml", line: 15, key: "cameras[1].fps", message: "1000 is outside 1...240")) {
            _ = try cams[1].int("fps", default: 10, in: 1...240)
        }
        #expect(throws: ConfigError.badValue(file: "a.toml", line: 14, key: "cameras[1].id", message: "expected true or false, found a string")) {
            _ = try cams[1].bool("id", default: false)
        }
        enum Kind: String, CaseIterable { case v4l2, replay, synthetic }
        #expect(try cams[1].section("source").choice("kind", default: Kind.synthetic) == .replay)
    }

    @Test func unknownKeysAreRejectedWithLineAndSuggestion() throws {
        let root = try ConfigSection(parsing: "[http]\nlisten = \"127.0.0.1:1\"\nlsiten = \"x\"\n", file: "c.toml")
        let http = try root.section("http")
        _ = try http.string("listen", default: "")
        #expect(throws: ConfigError.unknownKey(file: "c.toml", line: 3, key: "http.lsiten", hint: "did you mean 'listen'?")) {
            try root.finish()
        }
        let other = try ConfigSection(parsing: "colour = 1\n", file: "d.toml")
        _ = try other.int("threads", default: 1)
        #expect(throws: ConfigError.unknownKey(file: "d.toml", line: 1, key: "colour", hint: "known here: threads")) {
            try other.finish()
        }
    }

    @Test func aMissingFileIsAClearError() {
        #expect(throws: ConfigError.unreadable(file: "/nonexistent/linesight.toml", detail: "no such file")) {
            _ = try ConfigSection.load(path: "/nonexistent/linesight.toml")
        }
    }

    @Test func editDistance() {
        #expect(ConfigSection.distance("listen", "lsiten") == 2)
        #expect(ConfigSection.distance("", "abc") == 3 && ConfigSection.distance("fps", "fps") == 0)
    }

    /// The error message a parse of `text` fails with, or nil when it parses.
    static func syntaxError(_ text: String) -> String? {
        do { _ = try TOMLParser.parse(text, file: "f.toml"); return nil } catch ConfigError.syntax(_, _, let message) {
            return message
        } catch { return "other error: \(error)" }
    }

    @Test func nestingIsBoundedNotAStackOverflow() {
        let limit = TOMLParser.maximumNesting
        #expect(Self.syntaxError("a = " + String(repeating: "[", count: 50_000))?.contains("nest at most") == true)
        #expect(Self.syntaxError("a = " + String(repeating: "{b = ", count: 20_000))?.contains("nest at most") == true)
        #expect(Self.syntaxError("a = " + String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1))?
            .contains("nest at most") == true)
        #expect(Self.syntaxError("a = " + String(repeating: "[", count: limit) + String(repeating: "]", count: limit)) == nil)
    }

    @Test func dottedKeysAreBoundedNotAStackOverflow() {
        let limit = TOMLParser.maximumKeyParts
        func dotted(_ n: Int) -> String { (0..<n).map { "k\($0)" }.joined(separator: ".") }
        #expect(Self.syntaxError(dotted(30_000) + " = 1")?.contains("at most \(limit) parts") == true)
        #expect(Self.syntaxError("[" + dotted(limit + 1) + "]")?.contains("at most \(limit) parts") == true)
        #expect(Self.syntaxError("a = { " + dotted(limit + 1) + " = 1 }")?.contains("at most \(limit) parts") == true)
        #expect(Self.syntaxError(dotted(limit) + " = 1\n[" + dotted(limit - 1) + "x]") == nil)
    }

    @Test(arguments: ["a = \"x\u{01}y\"", "a = 'x\u{00}y'", "a = \"x\u{7F}\"", "a = \"x\ry\"", "a = \"\"\"x\u{1B}[2J\"\"\"",
                      "a = '''x\ry'''"])
    func rawControlCharactersInStringsAreRefused(text: String) {
        #expect(Self.syntaxError(text)?.contains("control character") == true)
    }

    @Test func tabsLineBreaksAndEscapesStayAllowed() throws {
        let root = try TOMLParser.parse("a = \"x\ty\\u0001\"\nb = '''\r\none\r\ntwo'''\nc = \"\"\"\nthree\r\nfour\"\"\"\n")
        #expect(root["a"]?.value == .string("x\ty\u{01}"))
        #expect(root["b"]?.value == .string("one\r\ntwo"))
        #expect(root["c"]?.value == .string("three\r\nfour"))
    }
}
