import Foundation
import Imaging
import Neural

/// One labeled image of an ImageFolder tree.
public struct LabeledImage: Equatable, Sendable {
    /// Path relative to the dataset folder.
    public var file: String
    /// The folder (primary) label: the pass class or a defect kind.
    public var label: String
    /// Every defect on the part (empty for a good part).
    public var defects: [String]
    /// Where the defects are, in the image's pixels, when the labels say (`labels.csv`'s
    /// `boxes` column, as `linesight synth` writes it): one box per defect drawn, so two
    /// scratches give two boxes and one kind.
    public var boxes: [Rect]

    public init(file: String, label: String, defects: [String], boxes: [Rect] = []) {
        self.file = file
        self.label = label
        self.defects = defects
        self.boxes = boxes
    }
}

/// The split folders of a pre-split tree (`ImageFolder.presplit`).
public struct PresplitFolders: Equatable, Sendable {
    public var train: String
    public var validation: String
    public var test: String?
    public var all: [String] { [train, validation] + (test.map { [$0] } ?? []) }
}

/// ImageFolder datasets: `DIR/<class>/*.jpg`, optionally with `DIR/labels.csv`
/// (`file,label,defects,...`, defects joined by '+') for parts with several defects,
/// as `linesight synth` and `linesight labels export` write them.
public enum ImageFolder {
    public static let imageExtensions: Set<String> = ["jpg", "jpeg"]

    /// The labeled images, sorted by file. `passClass` names the good parts' folder.
    public static func scan(_ dir: String, passClass: String) throws -> [LabeledImage] {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw TrainingError.dataset(path: dir, reason: "no such folder")
        }
        if let csv = try? String(contentsOfFile: dir + "/labels.csv", encoding: .utf8) {
            return try parseCSV(csv, path: dir + "/labels.csv", passClass: passClass)
        }
        var items: [LabeledImage] = []
        for label in try fm.contentsOfDirectory(atPath: dir).sorted() where !label.hasPrefix(".") {
            var sub: ObjCBool = false
            guard fm.fileExists(atPath: dir + "/" + label, isDirectory: &sub), sub.boolValue else { continue }
            for file in try fm.contentsOfDirectory(atPath: dir + "/" + label).sorted()
            where imageExtensions.contains((file as NSString).pathExtension.lowercased()) {
                items.append(LabeledImage(file: label + "/" + file, label: label, defects: label == passClass ? [] : [label]))
            }
        }
        guard !items.isEmpty else { throw TrainingError.dataset(path: dir, reason: "no images in class folders (DIR/<class>/*.jpg)") }
        return items
    }

    static func parseCSV(_ text: String, path: String, passClass: String) throws -> [LabeledImage] {
        var lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard let header = lines.first?.split(separator: ",", omittingEmptySubsequences: false).map(String.init),
              let fi = header.firstIndex(of: "file"), let li = header.firstIndex(of: "label") else {
            throw TrainingError.dataset(path: path, reason: "the header must name the columns 'file' and 'label'")
        }
        let di = header.firstIndex(of: "defects"), bi = header.firstIndex(of: "boxes")
        lines.removeFirst()
        return try lines.enumerated().map { n, line in
            let cols = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard cols.count > max(fi, li, di ?? 0), !cols[fi].isEmpty, !cols[li].isEmpty else {
                throw TrainingError.dataset(path: path, reason: "line \(n + 2): expected \(header.count) columns")
            }
            let defects = di.map { cols[$0].split(separator: "+").map(String.init) } ?? (cols[li] == passClass ? [] : [cols[li]])
            let boxes = try bi.flatMap { cols.indices.contains($0) ? cols[$0] : nil }.map { try Self.boxes($0, at: path, line: n + 2) } ?? []
            return LabeledImage(file: cols[fi], label: cols[li], defects: defects, boxes: boxes)
        }.sorted { $0.file < $1.file }
    }

    /// A `boxes` cell: "x y width height" per defect, joined by '+' (empty: none given).
    static func boxes(_ cell: String, at path: String, line: Int) throws -> [Rect] {
        guard !cell.isEmpty else { return [] }
        return try cell.split(separator: "+", omittingEmptySubsequences: false).map { part -> Rect in
            let tokens = part.split(separator: " "), v = tokens.compactMap { Int($0) }
            guard tokens.count == 4, v.count == 4, v[0] >= 0, v[1] >= 0, v[2] > 0, v[3] > 0, v[2] <= 1 << 16, v[3] <= 1 << 16, v[0] <= 1 << 16, v[1] <= 1 << 16 else {
                throw TrainingError.dataset(path: path, reason: "line \(line): a box is 'x y width height' in whole pixels, got '\(part)'")
            }
            return Rect(x: v[0], y: v[1], width: v[2], height: v[3])
        }
    }

    /// The split folders of a tree that comes already split (`DIR/train`, `DIR/val` and
    /// optionally `DIR/test`, each an ImageFolder tree of its own), as public datasets
    /// usually are; nil for a plain tree, which is split by `bucket`. `valid` and
    /// `validation` are accepted for `val`.
    public static func presplit(_ dir: String) -> PresplitFolders? {
        func isDir(_ p: String) -> Bool {
            var d: ObjCBool = false
            return FileManager.default.fileExists(atPath: dir + "/" + p, isDirectory: &d) && d.boolValue
        }
        guard isDir("train"), let val = ["val", "valid", "validation"].first(where: isDir) else { return nil }
        return PresplitFolders(train: "train", validation: val, test: isDir("test") ? "test" : nil)
    }

    /// Every labeled image of a pre-split tree, each file named from `dir` (`train/ok/1.jpg`).
    public static func scan(_ dir: String, _ folders: PresplitFolders, passClass: String) throws -> [LabeledImage] {
        try folders.all.flatMap { sub in
            try scan(dir + "/" + sub, passClass: passClass).map { LabeledImage(file: sub + "/" + $0.file, label: $0.label, defects: $0.defects) }
        }
    }

    /// Every labeled image of a tree, plain or pre-split (`scan` either way), with its good
    /// parts' folder found by `passClass` unless `requested`.
    public static func scanTree(_ dir: String, passClass requested: String? = nil) throws -> (items: [LabeledImage], folders: PresplitFolders?) {
        let pass = passClass(dir, requested: requested)
        if let folders = presplit(dir) { return (try scan(dir, folders, passClass: pass), folders) }
        return (try scan(dir, passClass: pass), nil)
    }

    /// The split bucket of a file of a tree: `bucket(file)` for a plain tree; for a
    /// pre-split one its folder's, as the hash buckets mean them (train 0, validation 7, test 9).
    public static func bucket(_ file: String, in folders: PresplitFolders?) -> Int {
        guard let folders else { return bucket(file) }
        if file.hasPrefix(folders.train + "/") { return 0 }
        if file.hasPrefix(folders.validation + "/") { return 7 }
        return 9
    }

    /// The pass class of a tree: `requested` when given; else whichever of the usual names of
    /// good parts (`good`, `ok`, `pass`, `normal`) is a class folder (of `train/` in a
    /// pre-split tree); `good` when none or several are.
    public static func passClass(_ dir: String, requested: String?) -> String {
        if let requested { return requested }
        let root = presplit(dir).map { dir + "/" + $0.train } ?? dir
        let present = ["good", "ok", "pass", "normal"].filter {
            var d: ObjCBool = false
            return FileManager.default.fileExists(atPath: root + "/" + $0, isDirectory: &d) && d.boolValue
        }
        return present.count == 1 ? present[0] : "good"
    }

    /// Whether the tree's images are colour: any of up to `sample` JPEGs spread over `items`
    /// is not a grayscale JPEG (a gray image stored as RGB counts as colour: its channels
    /// may still differ).
    public static func hasColour(_ dir: String, _ items: [LabeledImage], sample: Int = 32) throws -> Bool {
        let decoder = try JPEGDecoder()
        let step = max(1, items.count / max(1, sample))
        for i in stride(from: 0, to: items.count, by: step) {
            guard let data = FileManager.default.contents(atPath: dir + "/" + items[i].file),
                  let h = try? data.withUnsafeBytes({ try decoder.header($0) }) else { continue }
            if !h.isGray { return true }
        }
        return false
    }

    /// Which split a file belongs to, from a hash of its path: stable when data is added.
    /// 0...6 train, 7...8 validation, 9 test (7:2:1).
    public static func bucket(_ file: String) -> Int { Int(bucketHash(file) % 10) }

    /// FNV-1a of the path: the stable per-file number behind splits and subsamples.
    public static func bucketHash(_ file: String) -> UInt64 {
        FNV1a.hash(file.utf8)
    }

    /// The most common width x height among up to `sample` images spread over `items`
    /// (read from their JPEG headers; unreadable ones are passed over).
    public static func typicalSize(_ dir: String, _ items: [LabeledImage], sample: Int = 32) throws -> (width: Int, height: Int) {
        let decoder = try JPEGDecoder()
        let step = max(1, items.count / max(1, sample))
        var counts: [Int: Int] = [:]  // width << 32 | height
        for i in stride(from: 0, to: items.count, by: step) {
            guard let data = FileManager.default.contents(atPath: dir + "/" + items[i].file),
                  let h = try? data.withUnsafeBytes({ try decoder.header($0) }) else { continue }
            counts[h.width << 32 | h.height, default: 0] += 1
        }
        guard let top = counts.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }) else {
            throw TrainingError.dataset(path: dir, reason: "none of the images sampled for their size could be read as JPEG")
        }
        return (top.key >> 32, top.key & 0xFFFF_FFFF)
    }

    /// Decodes and resizes every image to `shape` (1 channel: gray, 3: RGB), on `workers`
    /// threads. Unreadable files are skipped and returned by name.
    public static func load(_ dir: String, _ items: [LabeledImage], shape: Shape, workers: Int = 2,
                            progress: @escaping @Sendable (Int) -> Void = { _ in }) throws
        -> (pixels: [UInt8], kept: [LabeledImage], skipped: [String]) {
        let per = shape.count
        let geometry = InputGeometry(width: shape.width, height: shape.height, layout: shape.channels == 1 ? .gray : .rgb, method: .area)
        nonisolated(unsafe) var pixels = [UInt8](repeating: 0, count: items.count * per)
        nonisolated(unsafe) var ok = [Bool](repeating: false, count: items.count)
        nonisolated(unsafe) var done = 0
        let lock = NSLock()
        pixels.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            DispatchQueue.concurrentPerform(iterations: max(1, workers)) { w in
                guard let pre = try? Preprocessor(geometry: geometry) else { return }
                var floats = [Float](repeating: 0, count: per)
                var i = w
                while i < items.count {
                    if let data = FileManager.default.contents(atPath: dir + "/" + items[i].file) {
                        let bytes = [UInt8](data)
                        let good: Bool = bytes.withUnsafeBytes { raw in
                            (try? floats.withUnsafeMutableBufferPointer {
                                try pre.process(FrameView(bytes: raw, format: .mjpeg, width: 0, height: 0), into: $0.baseAddress!)
                            }) != nil
                        }
                        if good {
                            for k in 0..<per { base[i * per + k] = UInt8(min(255, max(0, floats[k] * 255 + 0.5))) }
                            ok[i] = true
                        }
                    }
                    lock.lock(); done += 1; progress(done); lock.unlock()
                    i += max(1, workers)
                }
            }
        }
        var keptPixels: [UInt8] = []
        keptPixels.reserveCapacity(pixels.count)
        var kept: [LabeledImage] = [], skipped: [String] = []
        for (i, item) in items.enumerated() {
            if ok[i] {
                kept.append(item)
                keptPixels.append(contentsOf: pixels[(i * per)..<((i + 1) * per)])
            } else {
                skipped.append(item.file)
            }
        }
        return (keptPixels, kept, skipped)
    }
}
