import Foundation
import LinesightCore
import Testing
@testable import LineIO

@Suite("line verdict messages")
struct LineVerdictTests {
    func object(_ v: LineVerdict) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(v.json())) as? [String: Any])
    }

    @Test("a verdict as JSON: every field, the time in UTC with milliseconds, a no-verdict is a reject")
    func fields() throws {
        let v = LineVerdict(camera: "top", sequence: 42, decision: .noVerdict, defects: ["scratch", "dent"], stage1Score: 0.123456,
                            flags: [.noVerdict], capturedAt: Date(timeIntervalSince1970: 1_796_500_000.9996), latencyMs: 12.345,
                            error: "model error: \"NaN\"\n")
        let o = try object(v)
        #expect(o["camera"] as? String == "top" && o["sequence"] as? Int == 42 && o["decision"] as? String == "no_verdict")
        #expect(o["reject"] as? Bool == true && o["defects"] as? [String] == ["scratch", "dent"] && o["flags"] as? [String] == ["no_verdict"])
        #expect(o["stage1_score"] as? Double == 0.1235 && o["latency_ms"] as? Double == 12.35)
        #expect(o["captured_at"] as? String == "2026-12-05T19:46:41.000Z", "rounded up to the next second, not .1000")
        #expect(o["error"] as? String == "model error: \"NaN\"\n", "escaped, read back intact")
        #expect(!v.json().contains(UInt8(ascii: "\n")), "one line per message")
    }

    @Test("non-finite numbers become null; a pass is no reject")
    func nonFinite() throws {
        let v = LineVerdict(camera: "a", sequence: 0, decision: .pass, defects: [], stage1Score: .nan, flags: [],
                            capturedAt: Date(timeIntervalSince1970: 0), latencyMs: .infinity, error: nil)
        let o = try object(v)
        #expect(o["stage1_score"] is NSNull && o["latency_ms"] is NSNull && o["error"] is NSNull)
        #expect(o["reject"] as? Bool == false && o["captured_at"] as? String == "1970-01-01T00:00:00.000Z")
    }
}

@Suite("MQTT trigger payloads")
struct TriggerPayloadTests {
    @Test(arguments: [
        ("", nil, nil), ("SN-1", "SN-1", nil), ("  SN-2\n", "SN-2", nil), ("{\"serial\": \"LOT 7/3\"}", "LOT 7/3", nil),
        ("{}", nil, nil), ("{\"serial\": 5}", nil, "serial is not a string"), ("{\"serial\"", nil, "not a JSON object"),
        ("a\u{7}b", nil, "control characters"),
    ] as [(String, String?, String?)])
    func serials(payload: String, serial: String?, problem: String?) {
        let (s, p) = MQTTOutput.serial(Array(payload.utf8))
        #expect(s == serial)
        #expect(p == nil ? problem == nil : p!.contains(problem ?? "?"), "\(String(describing: p))")
    }

    @Test func invalidUTF8AndOverlongSerialsAreRefused() {
        #expect(MQTTOutput.serial([0xFF, 0xFE]).1 == "not UTF-8")
        #expect(MQTTOutput.serial(Array(String(repeating: "x", count: 129).utf8)).0 == nil)
        #expect(MQTTOutput.serial(Array(String(repeating: "x", count: 128).utf8)).0?.count == 128)
    }
}
