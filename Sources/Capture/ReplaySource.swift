import Foundation
import Imaging

/// Settings of a replay source.
public struct ReplayConfig: Equatable, Sendable {
    /// A folder of JPEG files (searched recursively, played in path order) or one
    /// concatenated MJPEG stream file.
    public var path: String
    /// Frames per second; 0 plays as fast as the reader asks.
    public var fps: Double = 10
    /// Start again after the last frame (demos) or end (re-inspection).
    public var loop = true

    public init(path: String, fps: Double = 10, loop: Bool = true) {
        self.path = path
        self.fps = fps
        self.loop = loop
    }
}

/// Plays recorded frames as if a camera sent them: for demos, benchmarks and
/// re-inspecting what the line saw. Unreadable or corrupt frames are counted and
/// skipped, like a camera's.
public final class ReplaySource: FrameSource {
    public let name: String
    public private(set) var counters = CaptureCounters()
    public private(set) var state: SourceState = .idle
    private let config: ReplayConfig
    private let items: [Item]
    private var position = 0
    private var sequence: UInt64 = 0
    private var pacer: Pacer
    private let decoder: JPEGDecoder

    private enum Item {
        case file(String)
        case slice(Int, Int)
    }
    private let stream: [UInt8]

    public init(_ config: ReplayConfig) throws {
        guard config.fps >= 0, config.fps <= 10_000 else {
            throw CaptureError.invalidConfig("replay rate \(config.fps) fps is outside 0...10000")
        }
        self.config = config
        self.name = "replay:" + (config.path as NSString).lastPathComponent
        self.pacer = Pacer(fps: config.fps)
        self.decoder = try JPEGDecoder()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: config.path, isDirectory: &isDirectory) else {
            throw CaptureError.invalidConfig("replay path \(config.path) does not exist")
        }
        if isDirectory.boolValue {
            items = try ReplaySource.jpegFiles(in: config.path).map(Item.file)
            stream = []
        } else {
            let data = try ReplaySource.readFile(config.path)
            stream = data
            items = splitMJPEG(data).map { Item.slice($0.lowerBound, $0.upperBound) }
        }
        guard !items.isEmpty else { throw CaptureError.noFrames(config.path) }
    }

    /// Frames this source will play per pass.
    public var frameCount: Int { items.count }

    public func read(timeout: Double) throws -> CaptureResult {
        var attempts = 0
        while attempts < items.count {
            if position == items.count {
                guard config.loop, state != .ended else { state = .ended; return .ended }
                position = 0
            }
            if state == .ended { return .ended }
            guard pacer.wait(timeout: timeout) else { return .timeout }
            let item = items[position]
            position += 1
            attempts += 1
            sequence += 1
            if let frame = load(item) {
                counters.frames += 1
                state = .streaming
                return .frame(frame)
            }
            counters.corrupt += 1
        }
        return .timeout  // a whole pass of unreadable frames: report nothing rather than spin
    }

    public func close() { state = .ended }

    private func load(_ item: Item) -> Frame? {
        let bytes: [UInt8]
        let origin: String
        switch item {
        case .file(let path):
            guard let data = try? ReplaySource.readFile(path) else { return nil }
            bytes = data
            origin = path
        case .slice(let a, let b):
            bytes = Array(stream[a..<b])
            origin = "\(config.path)@\(a)"
        }
        guard let head = try? bytes.withUnsafeBytes({ try decoder.header($0) }) else { return nil }
        return Frame(sequence: sequence, format: .mjpeg, width: head.width, height: head.height,
                     bytes: bytes, origin: origin)
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CaptureError.invalidConfig("cannot read \(path)")
        }
        return [UInt8](data)
    }

    /// JPEG files under `root`, in path order.
    static func jpegFiles(in root: String) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: root) else {
            throw CaptureError.invalidConfig("cannot list \(root)")
        }
        var files: [String] = []
        while let relative = walker.nextObject() as? String {
            let ext = (relative as NSString).pathExtension.lowercased()
            if ext == "jpg" || ext == "jpeg" { files.append(relative) }
        }
        return files.sorted().map { (root as NSString).appendingPathComponent($0) }
    }
}

/// Splits a concatenated MJPEG stream into frames: each runs from an SOI marker
/// (FF D8) to the EOI (FF D9) that is followed by the next SOI or the end.
public func splitMJPEG(_ data: [UInt8]) -> [Range<Int>] {
    var frames: [Range<Int>] = []
    var start: Int? = nil
    var i = 0
    let n = data.count
    while i + 1 < n {
        if data[i] == 0xFF {
            let m = data[i + 1]
            if m == 0xD8 && start == nil {
                start = i
            } else if m == 0xD9, let s = start {
                let end = i + 2
                if end == n || (end + 1 < n && data[end] == 0xFF && data[end + 1] == 0xD8) {
                    frames.append(s..<end)
                    start = nil
                    i = end
                    continue
                }
            }
        }
        i += 1
    }
    return frames
}
