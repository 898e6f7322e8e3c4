import Foundation
import GRDB
import Imaging
import TestSupport

/// The fake V4L2 camera of Tests/FakeV4L2 as an LD_PRELOAD object (Tests/Chaos/preload.c),
/// compiled for one test run, and the files through which a test drives and reads it.
struct PreloadedCamera {
    let device: String
    let library: String
    let controlPath: String
    let statsPath: String
    let jpegPath: String
    var fps = 30
    var width = 160, height = 120

    /// Compiles the preload into `dir` with cc from PATH (else the Swift toolchain's clang).
    init(dir: String) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        library = dir + "/fakev4l2.so"
        device = dir + "/video-fake0"
        controlPath = dir + "/fakev4l2.control"
        statsPath = dir + "/fakev4l2.stats"
        jpegPath = dir + "/part.jpg"
        let args = ["-shared", "-fPIC", "-O2", "-I", root + "/Tests/FakeV4L2/include", "-o", library,
                    root + "/Tests/FakeV4L2/fakev4l2.c", root + "/Tests/Chaos/preload.c", "-ldl", "-lpthread"]
        var built = try Child.run(URL(fileURLWithPath: "/usr/bin/env"), ["cc"] + args, within: 120)
        if built.status != 0 { built = try Child.run(URL(fileURLWithPath: "/opt/swift/usr/bin/clang"), args, within: 120) }
        guard built.status == 0 else { throw ChaosError.setup("cannot build the preload: \(built.err)") }
        var image = Image(width: width, height: height, layout: .gray)
        for y in 0..<height { for x in 0..<width { image[x, y, 0] = UInt8((x * 3 + y * 5) & 0xFF) } }
        try Data(try JPEGEncoder().encode(image, quality: 85)).write(to: URL(fileURLWithPath: jpegPath))
        FileManager.default.createFile(atPath: controlPath, contents: nil)
    }

    /// What `linesight serve` needs in its environment to see the fake at `device`.
    var environment: [String: String] {
        ["LD_PRELOAD": library, "FAKEV4L2_DEVICE": device, "FAKEV4L2_FORMATS": "MJPG", "FAKEV4L2_SIZE": "\(width)x\(height)",
         "FAKEV4L2_FPS": "\(fps)", "FAKEV4L2_JPEG": jpegPath, "FAKEV4L2_CONTROL": controlPath, "FAKEV4L2_STATS": statsPath]
    }

    /// The camera table for the line config, with pinned controls.
    func cameraTable(exposure: Int, gain: Int) -> String {
        """
        [[cameras]]
        id = "line1"
        source = "v4l2"
        device = "\(device)"
        formats = ["MJPG"]
        width = \(width)
        height = \(height)
        fps = \(fps)
        stall_seconds = 5
        controls = { exposure_time_absolute = \(exposure), gain = \(gain) }
        """
    }

    /// Appends one command to the control file (present 0|1, unplug-midframe, fail N).
    func command(_ line: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: controlPath))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((line + "\n").utf8))
    }

    /// The counters the preload last wrote (opens, streamons, frames, exposure, gain, present,
    /// double_closes, failed_dequeues, unplugged_at_ms, plugged_at_ms, streamon_at_ms).
    func stats() -> [String: Int64] {
        guard let text = try? String(contentsOfFile: statsPath, encoding: .utf8) else { return [:] }
        var values: [String: Int64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let v = Int64(parts[1]) { values[String(parts[0])] = v }
        }
        return values
    }
}

enum ChaosError: Error, CustomStringConvertible {
    case setup(String)
    var description: String { switch self { case .setup(let m): m } }
}

/// What a database holds after a crash: SQLite's verdict on it and the verdict rows.
struct DatabaseCheck {
    let integrity: String
    let verdicts: Int
    let distinctSequences: Int
    let lastCapturedAt: Double?
    /// Kept-frame rows whose JPEG is not on disk.
    let missingFrames: Int

    init(database: String, frames: String) throws {
        let db = try DatabaseQueue(path: database)
        (integrity, verdicts, distinctSequences, lastCapturedAt, missingFrames) = try db.read { db in
            let ok = try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "none"
            let n = try Int.fetchOne(db, sql: "SELECT count(*) FROM verdicts") ?? 0
            let distinct = try Int.fetchOne(db, sql: "SELECT count(DISTINCT frame_sequence) FROM verdicts") ?? 0
            let last = try Double.fetchOne(db, sql: "SELECT max(captured_at) FROM verdicts")
            let paths = try String.fetchAll(db, sql: "SELECT path FROM frames WHERE deleted_at IS NULL")
            let missing = paths.filter { !FileManager.default.fileExists(atPath: frames + "/" + $0) }.count
            return (ok, n, distinct, last, missing)
        }
        try db.close()
    }
}

/// A small tmpfs mounted for one test (root only); unmounted by `unmount()`.
struct SmallFilesystem {
    let path: String

    /// A failure with the reason when mounting is not permitted here.
    static func mount(_ path: String, megabytes: Int) throws -> Result<SmallFilesystem, ChaosError> {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let r = try Child.run(URL(fileURLWithPath: "/usr/bin/env"), ["mount", "-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path], within: 30)
        return r.status == 0 ? .success(SmallFilesystem(path: path)) : .failure(.setup("mount -t tmpfs: \(r.err)"))
    }

    func unmount() { _ = try? Child.run(URL(fileURLWithPath: "/usr/bin/env"), ["umount", path], within: 30) }

    /// Writes `name` until the filesystem is full; the bytes written.
    func fill(_ name: String) -> Int {
        let fd = open(path + "/" + name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        let block = [UInt8](repeating: 0xA5, count: 16384)
        var total = 0
        while true {
            let n = write(fd, block, block.count)
            if n <= 0 { break }
            total += n
        }
        // the last partial page: one byte at a time until ENOSPC
        while write(fd, block, 1) == 1 { total += 1 }
        return total
    }
}

