import Foundation
import Imaging
import Inspection
import Store

/// Draws the review screen: header, the frame, the model's call, the kinds, the keys.
final class ReviewScreen {
    let session: ReviewSession
    let term: Terminal
    let graphics: Graphics
    let framesDirectory: String
    /// Where stage 1 sees a defect in a frame's judged region (RGB), for `m`: the models of
    /// the product that judged the frame.
    let locate: (Image, FlaggedFrame) throws -> DefectLocation?
    private let decoder: JPEGDecoder?
    /// Why the map asked for is not drawn.
    private var mapNote: String?

    init(session: ReviewSession, term: Terminal, graphics: Graphics, framesDirectory: String, locate: @escaping (Image, FlaggedFrame) throws -> DefectLocation?) {
        self.session = session
        self.term = term
        self.graphics = graphics
        self.framesDirectory = framesDirectory
        self.locate = locate
        decoder = try? JPEGDecoder()
    }

    func draw() {
        let (cols, rows) = term.size
        var lines: [String] = []
        let (open, held) = (try? session.store.queueSize(reviewer: session.reviewer)) ?? (0, 0)
        lines.append(bold("Linesight review") + " · \(session.reviewer) · \(open) open" + (held > 0 ? " (\(held) with other reviewers)" : "")
                     + " · \(session.decided) decided")
        var image: (lines: [String], raw: String?) = ([], nil)
        let imageRows = max(3, rows - 9 - (session.current?.part != nil ? 1 : 0))  // a part's line
        if session.showHelp {
            lines += Self.help
        } else if let f = session.current {
            let when = Self.time.string(from: Date(timeIntervalSince1970: f.capturedAt))
            lines.append("frame \(f.frameId) · \(f.reason.rawValue.replacingOccurrences(of: "_", with: " ")) · camera \(f.camera) · \(when)"
                         + (f.roi.map { " · region \($0.x),\($0.y) \($0.width)x\($0.height)" } ?? ""))
            lines.append(modelLine(f))
            if let part = f.part {
                lines.append("part \(part)" + (f.station.map { " at \($0)" } ?? "") + (f.serial.map { " · serial \($0)" } ?? "")
                             + (f.partDecision.map { " · part \($0.rawValue.replacingOccurrences(of: "_", with: " "))" } ?? ""))
            }
            if let note = f.note { lines.append("why: " + note) }
            image = render(f, cols: cols, rows: imageRows)
            lines += image.lines
            if image.raw != nil { lines += Array(repeating: "", count: imageRows) }
            lines.append(kindsLine())
            if session.showMap, let mapNote { lines.append(mapNote) }
        } else {
            lines.append("")
            lines.append("Nothing to review: every flagged frame is decided" + (held > 0 ? " or with another reviewer." : "."))
            lines.append("New flags arrive as the line runs; q quits.")
        }
        while lines.count < rows - 2 { lines.append("") }
        lines = Array(lines.prefix(rows - 2))
        lines.append(dim("p pass  1-9 kinds  n name a kind  enter confirm  u unsure  s skip  z undo  m map  ? help  q quit"))
        lines.append(session.message)
        term.write("\u{1B}[H")
        for (i, l) in lines.enumerated() {
            term.write(clip(l, cols) + "\u{1B}[0m\u{1B}[K" + (i < lines.count - 1 ? "\r\n" : ""))
        }
        if let raw = image.raw {
            term.write("\u{1B}[4;1H" + raw)
        }
        term.flush()
    }

    static let time: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss zzz"
        return f
    }()

    static let help = [
        "", "Keys", "  p        the part is good (pass)",
        "  1-9      toggle a defect kind; the toggles start at the model's call",
        "  enter    confirm the selected kinds (none selected = good)",
        "  n        type a kind's name: a known kind toggles; a new kind (y confirms it) is",
        "           recorded with the label, then anyone may use it",
        "  u        unsure: the flag leaves your queue for someone who can tell",
        "  s        skip: back in your next session", "  z        undo your last decision",
        "  m        show or hide where stage 1 looked (its map, the hot spot boxed)",
        "  q        quit; run `linesight review` again to resume", "", "any key: back to the frame",
    ]

    func modelLine(_ f: FlaggedFrame) -> String {
        var s = "model: " + (f.decision == .pass ? "PASS" : f.decision == .fail ? "FAIL" : "NO VERDICT")
        if let p = f.stage1Score { s += String(format: "  p(defect) %.2f", p) }
        if let json = f.stage2Scores, let scores = try? JSONDecoder().decode([String: Double].self, from: Data(json.utf8)) {
            s += "  " + scores.sorted { $0.value > $1.value }.prefix(4).map { String(format: "%@ %.2f", $0.key, $0.value) }.joined(separator: "  ")
        } else if !f.defects.isEmpty {
            s += "  " + f.defects
        }
        return s
    }

    func kindsLine() -> String {
        guard !session.kinds.isEmpty else { return dim("no defect kinds known yet: p labels good") }
        let beyond = session.kinds.dropFirst(9).filter(session.selected.contains)  // chosen with n
        return (session.kinds.prefix(9).enumerated().map { i, k in
            session.selected.contains(k) ? "\u{1B}[7m[\(i + 1)] \(k)\u{1B}[0m" : "[\(i + 1)] \(k)"
        } + beyond.map { "\u{1B}[7m[n] \($0)\u{1B}[0m" }).joined(separator: " ")
    }

    func render(_ f: FlaggedFrame, cols: Int, rows: Int) -> (lines: [String], raw: String?) {
        let path = f.path.hasPrefix("/") ? f.path : framesDirectory + "/" + f.path
        guard let bytes = FileManager.default.contents(atPath: path) else { return (["(frame file \(path) is missing)"], nil) }
        do {
            guard let decoder else { return (["(the JPEG decoder could not start)"], nil) }
            var image = try decoder.decode([UInt8](bytes), layout: .rgb)
            // The region the daemon judged, as the model saw it (and as export and retrain cut it).
            if let r = f.roi.map({ Rect(x: $0.x, y: $0.y, width: $0.width, height: $0.height) }), r.fits(width: image.width, height: image.height) {
                image = try image.cropped(to: r)
            }
            mapNote = nil
            if session.showMap {
                do {
                    if let l = try locate(image, f) {
                        image = heatOverlay(image, values: l.map.values, mapWidth: l.map.width, mapHeight: l.map.height, box: l.box)
                    } else {
                        mapNote = "no map: the stage-1 model's head draws none"
                    }
                } catch {
                    mapNote = "no map: \(error)"
                }
            }
            switch graphics {
            case .halfblock: return (try FrameRenderer.halfBlocks(image, cols: min(cols, 120), rows: rows), nil)
            case .sixel: return ([], try FrameRenderer.sixel(image, maxWidth: min(cols, 120) * 8, maxHeight: rows * 16))
            case .kitty: return ([], try FrameRenderer.kitty(image, cols: min(cols, 120), rows: rows))
            }
        } catch {
            return (["(frame \(path) cannot be decoded: \(error))"], nil)
        }
    }

    func bold(_ s: String) -> String { "\u{1B}[1m" + s + "\u{1B}[0m" }
    func dim(_ s: String) -> String { "\u{1B}[2m" + s + "\u{1B}[0m" }

    /// Cuts a line with escape sequences to `cols` visible characters.
    func clip(_ s: String, _ cols: Int) -> String {
        var out = "", visible = 0, inEscape = false
        for c in s {
            if inEscape { out.append(c); if c.isLetter { inEscape = false }; continue }
            if c == "\u{1B}" { inEscape = true; out.append(c); continue }
            if visible >= cols { continue }
            out.append(c)
            visible += 1
        }
        return out
    }
}
