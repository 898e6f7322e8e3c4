import Foundation

/// The one golden-file switch: tests compare output with a file kept in the repository
/// (`Golden/` beside the test file); `LINESIGHT_UPDATE_GOLDEN=1 swift test --filter X`
/// rewrites the files from the current output instead, for a reviewed change of format.
public enum Golden {
    /// True when the run rewrites golden files instead of comparing.
    public static var updating: Bool { ProcessInfo.processInfo.environment["LINESIGHT_UPDATE_GOLDEN"] == "1" }

    /// Compares `text` with `Golden/<name>` next to `testFile` (pass `#filePath`); returns nil
    /// when they match (or the file was rewritten), else what differs, for `#expect(... == nil)`.
    public static func mismatch(_ text: String, _ name: String, besides testFile: String) throws -> String? {
        let folder = URL(fileURLWithPath: testFile).deletingLastPathComponent().appendingPathComponent("Golden")
        let path = folder.appendingPathComponent(name).path
        if updating {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return nil
        }
        let expected = try String(contentsOfFile: path, encoding: .utf8)
        if text == expected { return nil }
        let got = text.split(separator: "\n", omittingEmptySubsequences: false)
        let want = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let line = (0..<min(got.count, want.count)).first { got[$0] != want[$0] } ?? min(got.count, want.count)
        let g = line < got.count ? String(got[line]) : "<end>", w = line < want.count ? String(want[line]) : "<end>"
        return "\(name) differs from \(path) at line \(line + 1): got '\(g)', expected '\(w)' (LINESIGHT_UPDATE_GOLDEN=1 rewrites it)"
    }
}
