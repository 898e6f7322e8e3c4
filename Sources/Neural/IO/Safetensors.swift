import Foundation

/// The safetensors format (used by Hugging Face and readable by PyTorch's `safetensors`):
/// 8 bytes little-endian header length N, N bytes of JSON
/// `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}`,
/// then the raw little-endian tensor bytes. Only F32 tensors are read and written here.
public enum Safetensors {
    public struct Entry: Sendable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]

        public init(name: String, shape: [Int], values: [Float]) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    /// Largest header accepted: protects against a corrupt length asking for gigabytes.
    public static let maximumHeaderBytes = 64 << 20

    public static func encode(_ entries: [Entry], metadata: [String: String]) -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for e in entries {
            let bytes = e.values.count * 4
            header[e.name] = ["dtype": "F32", "shape": e.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8)
        while (8 + json.count) % 8 != 0 { json.append(0x20) }   // pad with spaces, as the reference writer
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for e in entries {
            e.values.withUnsafeBufferPointer { buf in
                buf.withMemoryRebound(to: UInt32.self) { words in
                    for w in words { withUnsafeBytes(of: w.littleEndian) { out.append(contentsOf: $0) } }
                }
            }
        }
        return out
    }

    /// Parses and validates a whole file image. Never traps on bad input: every
    /// inconsistency is a `NeuralError.modelFile` naming `path`.
    ///
    /// With `foreign` (a file another tool wrote, e.g. a PyTorch state dict): F16, BF16 and
    /// F64 tensors are read as floats too, and integer or boolean tensors (a batch norm's
    /// `num_batches_tracked`) are checked for their place in the data but left out.
    public static func decode(_ data: Data, path: String, foreign: Bool = false) throws -> (entries: [Entry], metadata: [String: String]) {
        func bad(_ why: String) -> NeuralError { .modelFile(path: path, reason: why) }
        guard data.count >= 8 else { throw bad("file is \(data.count) bytes, too short for a safetensors header") }
        let n = data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard n <= UInt64(maximumHeaderBytes), Int(n) <= data.count - 8 else {
            throw bad("header length \(n) does not fit in a file of \(data.count) bytes (truncated or corrupt)")
        }
        let headerData = data.subdata(in: data.startIndex + 8 ..< data.startIndex + 8 + Int(n))
        guard let object = try? JSONSerialization.jsonObject(with: headerData), let header = object as? [String: Any] else {
            throw bad("header is not a JSON object (corrupt)")
        }
        let bodyStart = 8 + Int(n), bodyCount = data.count - bodyStart
        var metadata: [String: String] = [:]
        var spans: [Span] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: String] else { throw bad("__metadata__ must map strings to strings") }
                metadata = m
                continue
            }
            spans.append(try span(name, value, bodyCount: bodyCount, foreign: foreign, bad))
        }
        // Where every tensor lies is checked before any is read: overlapping entries could
        // otherwise each ask for a copy of the whole data section.
        spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var cursor = 0
        for s in spans {
            guard s.begin == cursor else { throw bad("tensor '\(s.name)' overlaps another or leaves a gap in the data") }
            cursor = s.end
        }
        guard cursor == bodyCount else { throw bad("data section has \(bodyCount - cursor) bytes not described by the header") }
        let entries = data.withUnsafeBytes { raw in
            spans.compactMap { s -> Entry? in
                let base = raw.baseAddress! + bodyStart + s.begin
                let values: [Float]
                switch s.dtype {
                case "F32": values = (0..<s.count).map { Float(bitPattern: UInt32(littleEndian: (base + $0 * 4).loadUnaligned(as: UInt32.self))) }
                case "F64": values = (0..<s.count).map { Float(Double(bitPattern: UInt64(littleEndian: (base + $0 * 8).loadUnaligned(as: UInt64.self)))) }
                case "F16": values = (0..<s.count).map { Float(Float16(bitPattern: UInt16(littleEndian: (base + $0 * 2).loadUnaligned(as: UInt16.self)))) }
                case "BF16": values = (0..<s.count).map { Float(bitPattern: UInt32(UInt16(littleEndian: (base + $0 * 2).loadUnaligned(as: UInt16.self))) << 16) }
                default: return nil
                }
                return Entry(name: s.name, shape: s.shape, values: values)
            }
        }
        return (entries, metadata)
    }

    /// One tensor's header entry, checked: F32, a shape whose size does not overflow, and
    /// offsets inside the data section that hold exactly that many floats.
    private struct Span {
        var name: String, dtype: String, shape: [Int], count: Int, begin: Int, end: Int
    }

    /// Bytes per element of the dtypes a foreign file may hold.
    static let elementBytes: [String: Int] = ["F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
                                              "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1]

    private static func span(_ name: String, _ value: Any, bodyCount: Int, foreign: Bool, _ bad: (String) -> NeuralError) throws -> Span {
        guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
              let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2 else {
            throw bad("tensor '\(name)' has a malformed header entry")
        }
        guard dtype == "F32" || foreign else { throw bad("tensor '\(name)' is \(dtype); only F32 is supported") }
        guard let size = elementBytes[dtype] else { throw bad("tensor '\(name)' has the unknown dtype \(dtype)") }
        guard shape.count <= 8, shape.allSatisfy({ $0 >= 0 }) else { throw bad("tensor '\(name)' has a bad shape \(shape)") }
        var count = 1, overflow = false
        for d in shape + [size] where !overflow { (count, overflow) = count.multipliedReportingOverflow(by: d) }
        let begin = offsets[0], end = offsets[1]
        guard !overflow, begin >= 0, end >= begin, end <= bodyCount, end - begin == count else {
            throw bad("tensor '\(name)' has data offsets \(offsets) that do not match shape \(shape) within \(bodyCount) data bytes")
        }
        return Span(name: name, dtype: dtype, shape: shape, count: count / size, begin: begin, end: end)
    }

    public static func read(path: String, foreign: Bool = false) throws -> (entries: [Entry], metadata: [String: String]) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw NeuralError.io(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
        return try decode(data, path: path, foreign: foreign)
    }
}

/// Writes `data` to `path` atomically: a temporary file in the same folder, fsync,
/// rename over the target, fsync of the folder. A crash leaves the old file or the new one.
public func writeAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let dir = url.deletingLastPathComponent().path
    let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw NeuralError.io(path: path, reason: "cannot create \(tmp): \(String(cString: strerror(errno)))") }
    var ok = data.withUnsafeBytes { raw -> Bool in
        var off = 0
        while off < raw.count {
            let w = write(fd, raw.baseAddress! + off, raw.count - off)
            if w <= 0 { return false }
            off += w
        }
        return true
    }
    ok = ok && fsync(fd) == 0
    close(fd)
    guard ok, rename(tmp, path) == 0 else {
        let why = String(cString: strerror(errno))
        unlink(tmp)
        throw NeuralError.io(path: path, reason: "cannot write: \(why)")
    }
    let dfd = open(dir, O_RDONLY)
    if dfd >= 0 { fsync(dfd); close(dfd) }
}
