import Foundation
import LinesightCore
import TestSupport
import Testing

/// The operator's screen, as a panel at the line shows it: the shipped binary serves the page,
/// headless Chromium runs it at 1366x768 (its script, the live event stream, the images), and
/// the screenshot is read back by OCR (tesseract) for the verdict and the counters.
@Suite("operator screen", .serialized)
struct OperatorScreenTests {
    static let screen = """
    [operator]
    enabled = true
    title = "Line 7 housings"
    rejects = 4
    """

    /// Runs `tesseract` on a PNG: the words it reads (`line`: the image is one line of text). The PNG stays in
    /// .build/test-artifacts/operator-screen.png for a person to look at.
    static func ocr(_ png: Data, dir: String, keep: Bool = true, line: Bool = false) throws -> String {
        let path = dir + "/screen.png"
        try png.write(to: URL(fileURLWithPath: path))
        let artifacts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/test-artifacts")
        try? FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        try? png.write(to: artifacts.appendingPathComponent(keep ? "operator-screen.png" : "operator-part.png"))
        let r = try Child.run(URL(fileURLWithPath: "/usr/bin/tesseract"), [path, "stdout", "--psm", line ? "7" : "11"])
        #expect(r.status == 0, "tesseract: \(r.err.suffix(300))")
        return r.out
    }

    @Test("off by default: the shipped config serves no page")
    func offByDefault() throws {
        let h = try ServeHarness.shipped(name: "operator-off")
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try h.start()
        #expect(h.wait(30) { (h.metric("linesight_store_committed_total") ?? 0) > 0 })
        for path in ["/operator", "/api/v1/operator/status", "/api/v1/operator/shots/1.jpg"] {
            let r = h.http(path)
            let error = (try? JSONSerialization.jsonObject(with: r.body) as? [String: Any])?["error"] as? String
            #expect(r.status == 404 && error?.contains("[operator]") == true, "\(path): \(r.status) \(error ?? "")")
        }
        kill(h.pid, SIGTERM)
        #expect(h.finish().status == 0)
    }

    @Test("the page loads, follows parts as they are decided, shows the views, rejects and alarms; the screenshot reads the verdict and counts")
    func liveInChromium() throws {
        let h = try PartsCLITests.harness("operator", frames: 1, extra: Self.screen)
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try h.start()
        #expect(h.wait(30) { (h.metric("linesight_frames_skipped_total{camera=\"side\"}") ?? 0) > 10 })
        let trigger = { (serial: String) in
            #expect(h.http("/api/v1/trigger?station=s1&serial=\(serial)", method: "POST", token: PartsCLITests.token).status == 202)
        }
        func current() -> [String: Any]? { try? JSONSerialization.jsonObject(with: h.http("/api/v1/operator/status").body) as? [String: Any] }
        for i in 1...3 { trigger("SN-\(i)"); usleep(150_000) }
        // the part reaches the board after it is counted: wait for what the screen shows
        #expect(h.wait(15) {
            let s = current()
            return (s?["counts"] as? [String: Any])?["total"] as? Int == 3 && ((s?["last"] as? [String: Any])?["views"] as? [Any])?.count == 2
        })

        // The page: one document, nothing fetched from elsewhere.
        let page = h.http("/operator")
        let html = String(decoding: page.body, as: UTF8.self)
        #expect(page.status == 200 && html.contains("<title>Line 7 housings</title>"))
        #expect(html.range(of: #"(src|href|url)\s*[=(]\s*["']?(https?:)?//"#, options: .regularExpression) == nil, "no external assets")

        // What it shows, as JSON.
        let status = try #require(current())
        #expect(status["unit"] as? String == "parts")
        let counts = try #require(status["counts"] as? [String: Any])
        #expect(counts["total"] as? Int == 3 && counts["fails"] as? Int == 3 && counts["yield"] as? Double == 0)
        let last = try #require(status["last"] as? [String: Any])
        #expect(last["serial"] as? String == "SN-3" && last["decision"] as? String == "fail")
        let views = try #require(last["views"] as? [[String: Any]])
        #expect(Set(views.compactMap { $0["camera"] as? String }) == ["top", "side"], "both views of the last part")
        #expect(views.allSatisfy { $0["part"] as? Int == last["part"] as? Int }, "the views of the last part")
        #expect(h.wait(5) { ((current()?["last"] as? [String: Any])?["views"] as? [[String: Any]])?.allSatisfy { $0["map"] is [String: Any] } == true },
                "each failing view with stage 1's defect map")
        let rejects = try #require(status["rejects"] as? [[String: Any]])
        #expect(rejects.count == 4, "the last 4 rejects (3 parts x 2 views, capped by rejects = 4)")
        #expect(rejects.allSatisfy { $0["map"] == nil }, "thumbnails carry no map")
        let shot = try #require(views.first?["shot"] as? Int)
        let jpeg = h.http("/api/v1/operator/shots/\(shot).jpg")
        #expect(jpeg.status == 200 && jpeg.body.starts(with: [0xFF, 0xD8, 0xFF]))
        #expect(h.http("/api/v1/operator/shots/999999.jpg").status == 404)
        #expect(h.http("/api/v1/operator/shots/x.jpg").status == 400)

        // The panel: the page runs, then updates as parts arrive.
        let browser = try HeadlessChromium()
        defer { browser.close() }
        try browser.open("http://127.0.0.1:\(h.port)/operator")
        #expect(browser.waitFor("document.getElementById('count-total').textContent === '3'", seconds: 15), "counts from the first status")
        #expect(browser.waitFor("document.getElementById('verdict').textContent === 'FAIL'", seconds: 5))
        for i in 4...5 { trigger("SN-\(i)"); usleep(150_000) }
        #expect(browser.waitFor("document.getElementById('count-total').textContent === '5'", seconds: 10), "live: two more parts")
        #expect(browser.waitFor("document.getElementById('about').textContent.includes('SN-5')", seconds: 5))
        #expect(browser.waitFor("[...document.querySelectorAll('#views canvas')].length === 2 && [...document.querySelectorAll('#views canvas')].every(c => c.width === 96)",
                                seconds: 10), "both views drawn at the camera's size")
        #expect(browser.waitFor("[...document.querySelectorAll('#rejects img')].length === 4 && [...document.querySelectorAll('#rejects img')].every(i => i.complete && i.naturalWidth === 96)",
                                seconds: 10), "the reject thumbnails load")
        #expect(try browser.evaluate("document.getElementById('yield').textContent") as? String == "0.0 %")
        #expect(browser.waitFor("document.getElementById('light').className === 'yellow'", seconds: 5),
                "every frame flagged (the test model is unsure): yellow")

        // Read off the screen as a person would: the whole panel, then the verdict and the counters alone.
        let text = try Self.ocr(try browser.screenshot(), dir: h.dir)
        #expect(text.contains("Line 7 housings"), "the title: \(text)")
        // (dark text on light reads better to OCR: the parts are shot inverted, as a scanner's preprocessing would)
        _ = try browser.evaluate("document.body.style.filter = 'invert(1) grayscale(1)'")
        func read(_ element: String) throws -> String {
            try Self.ocr(try browser.screenshot(element: element), dir: h.dir, keep: false, line: true)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try read("#verdict") == "FAIL")
        #expect(try read("#count-total") == "5" && read("#count-fail") == "5" && read("#count-pass") == "0", "the counters")
        #expect(try read("#yield") == "0.0 %")
        _ = try browser.evaluate("document.body.style.filter = ''")

        // The daemon gone: the panel says so; back: the panel follows it again, the shift's
        // parts counted from the store.
        kill(h.pid, SIGKILL)
        _ = h.finish()
        #expect(browser.waitFor("document.getElementById('light').className === 'red' && document.getElementById('alarms').textContent.includes('no contact')",
                                seconds: 10), "a dead daemon turns the light red")
        try h.start()
        #expect(browser.waitFor("document.getElementById('light').className !== 'red' && document.getElementById('count-total').textContent === '5'",
                                seconds: 30), "the restarted daemon's screen: the shift's 5 parts from the store")
        trigger("SN-6")
        #expect(browser.waitFor("document.getElementById('count-total').textContent === '6' && document.getElementById('about').textContent.includes('SN-6')",
                                seconds: 15), "and live again (the event stream reopened)")
        kill(h.pid, SIGTERM)
        #expect(h.finish().status == 0)
    }

    @Test("alarms: an output that cannot deliver turns the light red and is listed; a model reload is an event; both on the page")
    func alarmsAndEvents() throws {
        let closed = freeLoopbackPort()  // nothing listens: the PLC is away
        let h = try PartsCLITests.harness("operator-alarms", frames: 1, extra: Self.screen + "\n" + ModbusOutputTests.config(closed))
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try h.start()
        func current() -> [String: Any]? { try? JSONSerialization.jsonObject(with: h.http("/api/v1/operator/status").body) as? [String: Any] }
        #expect(h.wait(20) {
            current()?["light"] as? String == "red" && (current()?["alarms"] as? [String])?.contains { $0.hasPrefix("output modbus failing") } == true
        }, "\(current()?["alarms"] ?? "-")")
        try stage1(h.dir + "/models/stage1.safetensors", pDefect: 0.2)  // a new model file
        #expect(h.http("/api/v1/models/reload", method: "POST", token: PartsCLITests.token).status == 200)
        #expect(h.wait(10) { (current()?["events"] as? [[String: Any]])?.contains { ($0["text"] as? String)?.hasPrefix("model reloaded: stage 1 ") == true } == true })
        let browser = try HeadlessChromium()
        defer { browser.close() }
        try browser.open("http://127.0.0.1:\(h.port)/operator")
        #expect(browser.waitFor("document.getElementById('light').className === 'red' && document.getElementById('alarms').textContent.includes('output modbus failing') && document.getElementById('alarms').textContent.includes('model reloaded')",
                                seconds: 15), "the page lists the alarm and the event")
        kill(h.pid, SIGTERM)
        #expect(h.finish().status == 0)
    }

    @Test("beyond loopback the page needs the token: refused without, and ?token= once keeps it in a cookie for the page, its status, images and events")
    func tokenBeyondLoopback() throws {
        let h = try PartsCLITests.harness("operator-token", frames: 1, extra: Self.screen)
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        let config = h.dir + "/linesight.toml"
        try String(contentsOfFile: config, encoding: .utf8)
            .replacingOccurrences(of: "listen = \"127.0.0.1:\(h.port)\"", with: "listen = \"0.0.0.0:\(h.port)\"")
            .write(toFile: config, atomically: true, encoding: .utf8)
        try h.start()
        #expect(h.wait(30) { h.http("/healthz", token: PartsCLITests.token).status == 200 })
        #expect(h.http("/operator").status == 401 && h.http("/api/v1/operator/status").status == 401)
        #expect(h.http("/operator?token=wrong-token-0000000000").status == 401)
        let secret = Hashing.hmacSHA256(key: PartsCLITests.token, message: "linesight operator screen: reads")
        #expect(h.http("/api/v1/operator/status", headers: ["Cookie": "linesight_read=wrong"]).status == 401)
        #expect(h.http("/api/v1/operator/status", headers: ["Cookie": "linesight_read=\(PartsCLITests.token)"]).status == 401,
                "the cookie holds a secret derived from the token, not the token")
        #expect(h.http("/api/v1/operator/status", headers: ["Cookie": "theme=dark; linesight_read=\(secret)"]).status == 200)
        #expect(h.http("/api/v1/trigger", method: "POST", headers: ["Cookie": "linesight_read=\(secret)"]).status == 401,
                "the cookie never authorizes a change")
        for i in 1...2 {
            #expect(h.http("/api/v1/trigger?serial=T\(i)", method: "POST", token: PartsCLITests.token).status == 202)
        }
        let browser = try HeadlessChromium()
        defer { browser.close() }
        try browser.open("http://127.0.0.1:\(h.port)/operator?token=\(PartsCLITests.token)")
        #expect(browser.waitFor("location.pathname === '/operator' && location.search === ''", seconds: 10), "the token leaves the address")
        #expect(browser.waitFor("document.getElementById('count-total').textContent === '2'", seconds: 15))
        #expect(h.http("/api/v1/trigger?serial=T3", method: "POST", token: PartsCLITests.token).status == 202)
        #expect(browser.waitFor("document.getElementById('count-total').textContent === '3'", seconds: 10), "the event stream, with the cookie")
        #expect(browser.waitFor("[...document.querySelectorAll('#views canvas')].every(c => c.width === 96)", seconds: 10), "images, with the cookie")
        kill(h.pid, SIGTERM)
        #expect(h.finish().status == 0)
    }
}
