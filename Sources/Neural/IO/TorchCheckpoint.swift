import Foundation

/// Reads the float tensors of a PyTorch `torch.save` file (the zip format of PyTorch 1.6
/// and later, `.pth`/`.pt`): a state dict, or a checkpoint holding one under `state_dict`
/// or `model`. Only what a state dict needs is understood: the pickle's dicts, tuples,
/// numbers and strings, `OrderedDict`, and tensors rebuilt from their storages. Nothing in
/// the file is executed: any other object is kept as an opaque value and ignored, and every
/// offset, size and stride is checked against the data before a byte is read.
enum TorchCheckpoint {
    static func read(_ data: Data, path: String) throws -> [Safetensors.Entry] {
        func bad(_ why: String) -> NeuralError { .modelFile(path: path, reason: why) }
        let archive = try ZipStore(data, bad)
        guard let pkl = archive.names.sorted().first(where: { $0 == "data.pkl" || $0.hasSuffix("/data.pkl") }) else {
            throw bad("a zip without data.pkl: not a torch.save file")
        }
        let prefix = String(pkl.dropLast("data.pkl".count))
        var vm = Unpickler(bytes: try archive.contents(pkl), bad: bad)
        var root = try vm.run()
        // a checkpoint that wraps the state dict
        if case .dict(let d) = root {
            for key in ["state_dict", "model", "model_state_dict"] {
                if let inner = vm.value(in: d, for: key), case .dict = inner { root = inner; break }
            }
        }
        guard case .dict(let dict) = root else { throw bad("the pickle holds no state dict (a dict of tensors)") }
        var out: [Safetensors.Entry] = []
        var storages: [String: Data] = [:], total = 0
        for (k, v) in vm.dicts[dict] {
            guard case .string(let name) = k, case .tensor(let t) = v else { continue }
            guard let size = Self.elementBytes[t.dtype] else { continue }  // integer tensors: skipped
            guard t.shape.count <= 8, t.stride.count == t.shape.count else { throw bad("tensor '\(name)' has a bad layout") }
            let storage: Data
            if let known = storages[t.key] { storage = known } else {
                storage = try archive.contents(prefix + "data/" + t.key)
                storages[t.key] = storage
            }
            let elements = storage.count / size
            // A state dict's tensor addresses only elements of its storage, each once at most
            // (no broadcast views): checked before anything is allocated or read.
            var count = 1, last = t.offset
            guard t.offset >= 0, t.offset <= elements else { throw bad("tensor '\(name)' starts outside its storage") }
            for (d, s) in zip(t.shape, t.stride) {
                guard d >= 0, d <= elements, s >= 0, s <= elements else { throw bad("tensor '\(name)' has a bad shape \(t.shape) or stride \(t.stride)") }
                let (c, o1) = count.multipliedReportingOverflow(by: d)
                let (step, o2) = (d > 0 ? d - 1 : 0).multipliedReportingOverflow(by: s)
                let (l, o3) = last.addingReportingOverflow(step)
                guard !o1, !o2, !o3 else { throw bad("tensor '\(name)' has a shape \(t.shape) too large") }
                (count, last) = (c, l)
            }
            guard count <= elements, count == 0 || last < elements else {
                throw bad("tensor '\(name)' needs more data than its storage holds (truncated or corrupt)")
            }
            total += count
            guard total <= data.count else { throw bad("the tensors share their storages more than a state dict does") }
            var values = [Float](repeating: 0, count: count)
            var contiguous = 1, isContiguous = true
            for (d, s) in zip(t.shape, t.stride).reversed() where d > 1 {
                if s != contiguous { isContiguous = false }
                contiguous *= d
            }
            storage.withUnsafeBytes { raw in
                if isContiguous {
                    for j in 0..<count { values[j] = Self.float(raw.baseAddress! + (t.offset + j) * size, t.dtype) }
                    return
                }
                var index = [Int](repeating: 0, count: t.shape.count)
                for j in 0..<count {
                    var at = t.offset
                    for (i, s) in zip(index, t.stride) { at += i * s }
                    values[j] = Self.float(raw.baseAddress! + at * size, t.dtype)
                    var a = t.shape.count - 1
                    while a >= 0 { index[a] += 1; if index[a] < t.shape[a] { break }; index[a] = 0; a -= 1 }
                }
            }
            out.append(Safetensors.Entry(name: name, shape: t.shape, values: values))
        }
        return out
    }

    static let elementBytes: [String: Int] = ["FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8]

    static func float(_ p: UnsafeRawPointer, _ dtype: String) -> Float {
        switch dtype {
        case "HalfStorage": Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))))
        case "BFloat16Storage": Float(bitPattern: UInt32(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))) << 16)
        case "DoubleStorage": Float(Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))))
        default: Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
        }
    }
}

/// The stored (uncompressed) members of a zip file, as `torch.save` writes them.
struct ZipStore {
    let data: Data
    private var members: [String: (offset: Int, size: Int)] = [:]
    var names: [String] { Array(members.keys) }
    let bad: (String) -> NeuralError

    init(_ data: Data, _ bad: @escaping (String) -> NeuralError) throws {
        self.data = data
        self.bad = bad
        let n = data.count
        func u16(_ o: Int) -> Int { Int(data[data.startIndex + o]) | Int(data[data.startIndex + o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        // the end-of-central-directory record, within the last 64 KiB + 22 bytes
        var eocd = -1
        var o = n - 22
        while o >= max(0, n - 22 - 65535) {
            if u32(o) == 0x0605_4B50 { eocd = o; break }
            o -= 1
        }
        guard eocd >= 0 else { throw bad("a zip without its central directory (truncated?)") }
        let entries = u16(eocd + 10), dirOffset = u32(eocd + 16)
        guard entries != 0xFFFF, dirOffset != 0xFFFF_FFFF else { throw bad("a zip64 archive (over 4 GiB) is not supported") }
        var p = dirOffset
        for _ in 0..<entries {
            guard p >= 0, p + 46 <= n, u32(p) == 0x0201_4B50 else { throw bad("a corrupt zip central directory") }
            let method = u16(p + 10), size = u32(p + 20), nameLength = u16(p + 28)
            let extra = u16(p + 30), comment = u16(p + 32), local = u32(p + 42)
            guard p + 46 + nameLength <= n else { throw bad("a corrupt zip central directory") }
            let name = String(decoding: data[(data.startIndex + p + 46)..<(data.startIndex + p + 46 + nameLength)], as: UTF8.self)
            guard local + 30 <= n, u32(local) == 0x0403_4B50 else { throw bad("zip member '\(name)' has no local header") }
            let start = local + 30 + u16(local + 26) + u16(local + 28)
            guard start <= n, size <= n - start else { throw bad("zip member '\(name)' runs past the end of the file (truncated)") }
            if method == 0 { members[name] = (start, size) }  // compressed members are not tensors torch writes
            p += 46 + nameLength + extra + comment
        }
    }

    func contents(_ name: String) throws -> Data {
        guard let m = members[name] else { throw bad("the zip has no stored member '\(name)'") }
        return data[(data.startIndex + m.offset)..<(data.startIndex + m.offset + m.size)]
    }
}

/// A pickle value, as far as a state dict needs. Containers are indices into the
/// unpickler's arenas, not nested values: a hostile pickle nested a million deep is then
/// a long array, not a chain whose release recurses off the end of the stack.
enum PickleValue {
    case none, bool(Bool), int(Int), float(Double), string(String), bytes(Data)
    case tuple(Int), list(Int), dict(Int)
    case global(String, String)
    case storage(key: String, dtype: String)
    case tensor(TensorRef)
    case opaque

    struct TensorRef { var key: String, dtype: String, offset: Int, shape: [Int], stride: [Int] }
}


/// A pickle reader for protocols 2-5 that builds values and never calls anything: `REDUCE`
/// knows `OrderedDict` and torch's tensor rebuilders, and yields an opaque value otherwise.
struct Unpickler {
    let bytes: Data
    let bad: (String) -> NeuralError
    var at = 0
    var stack: [PickleValue] = []
    var marks: [Int] = []
    var memo: [Int: PickleValue] = [:]
    var tuples: [[PickleValue]] = [], lists: [[PickleValue]] = [], dicts: [[(PickleValue, PickleValue)]] = []
    static let limit = 1 << 22  // stack and memo entries: far above any state dict's

    init(bytes: Data, bad: @escaping (String) -> NeuralError) {
        self.bytes = bytes
        self.bad = bad
    }

    mutating func byte() throws -> UInt8 {
        guard at < bytes.count else { throw bad("the pickle ends early (truncated)") }
        defer { at += 1 }
        return bytes[bytes.startIndex + at]
    }

    mutating func take(_ n: Int) throws -> Data {
        guard n >= 0, n <= bytes.count - at else { throw bad("the pickle ends early (truncated)") }
        defer { at += n }
        return bytes.subdata(in: (bytes.startIndex + at)..<(bytes.startIndex + at + n))
    }

    mutating func uint(_ n: Int) throws -> Int {
        let d = try take(n)
        return d.reversed().reduce(0) { $0 << 8 | Int($1) }
    }

    mutating func line() throws -> String {
        var out = [UInt8]()
        while true {
            let b = try byte()
            if b == 0x0A { return String(decoding: out, as: UTF8.self) }
            out.append(b)
            guard out.count < 4096 else { throw bad("a pickle name is too long") }
        }
    }

    mutating func pop() throws -> PickleValue {
        guard let v = stack.popLast() else { throw bad("a corrupt pickle (pop from an empty stack)") }
        return v
    }

    mutating func popMark() throws -> [PickleValue] {
        guard let m = marks.popLast(), m <= stack.count else { throw bad("a corrupt pickle (no mark)") }
        defer { stack.removeSubrange(m...) }
        return Array(stack[m...])
    }

    mutating func push(_ v: PickleValue) throws {
        guard stack.count < Self.limit else { throw bad("the pickle is too deep") }
        stack.append(v)
    }

    mutating func remember(_ key: Int) throws {
        guard let top = stack.last else { throw bad("a corrupt pickle (memo of nothing)") }
        guard memo.count < Self.limit else { throw bad("the pickle's memo is too large") }
        memo[key] = top
    }

    mutating func recall(_ key: Int) throws {
        guard let v = memo[key] else { throw bad("a corrupt pickle (memo \(key) unset)") }
        try push(v)
    }

    mutating func run() throws -> PickleValue {
        while true {
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()                                   // PROTO
            case 0x95: _ = try take(8)                                  // FRAME
            case 0x2E: return try pop()                                 // STOP
            case 0x28:                                                  // MARK
                guard marks.count < Self.limit else { throw bad("the pickle is too deep") }
                marks.append(stack.count)
            case 0x29: try push(try tuple([]))                          // EMPTY_TUPLE
            case 0x74: try push(try tuple(try popMark()))               // TUPLE
            case 0x85: try push(try tuple([try pop()]))                 // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); try push(try tuple([a, b]))
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); try push(try tuple([a, b, c]))
            case 0x7D: try push(try newDict())                          // EMPTY_DICT
            case 0x5D:                                                  // EMPTY_LIST
                try grow()
                lists.append([])
                try push(.list(lists.count - 1))
            case 0x61:                                                  // APPEND
                let v = try pop()
                guard case .list(let l) = stack.last else { throw bad("a corrupt pickle (append to a non-list)") }
                try grow()
                lists[l].append(v)
            case 0x65:                                                  // APPENDS
                let vs = try popMark()
                guard case .list(let l) = stack.last else { throw bad("a corrupt pickle (append to a non-list)") }
                try grow(vs.count)
                lists[l] += vs
            case 0x73:                                                  // SETITEM
                let v = try pop(), k = try pop()
                guard case .dict(let d) = stack.last else { throw bad("a corrupt pickle (setitem on a non-dict)") }
                try grow()
                dicts[d].append((k, v))
            case 0x75:                                                  // SETITEMS
                let vs = try popMark()
                guard vs.count % 2 == 0, case .dict(let d) = stack.last else { throw bad("a corrupt pickle (setitems)") }
                try grow(vs.count / 2)
                for i in stride(from: 0, to: vs.count, by: 2) { dicts[d].append((vs[i], vs[i + 1])) }
            case 0x71: try remember(Int(try byte()))                    // BINPUT
            case 0x72: try remember(try uint(4))                        // LONG_BINPUT
            case 0x94: try remember(memo.count)                         // MEMOIZE
            case 0x68: try recall(Int(try byte()))                      // BINGET
            case 0x6A: try recall(try uint(4))                          // LONG_BINGET
            case 0x4A: try push(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))   // BININT
            case 0x4B: try push(.int(Int(try byte())))                  // BININT1
            case 0x4D: try push(.int(try uint(2)))                      // BININT2
            case 0x8A:                                                  // LONG1
                let n = Int(try byte())
                guard n <= 8 else { _ = try take(n); try push(.opaque); break }
                let d = try take(n)
                var v = d.reversed().reduce(0) { $0 << 8 | Int($1) }
                if n > 0, n < 8, d.last! & 0x80 != 0 { v -= 1 << (8 * n) }
                try push(.int(v))
            case 0x47: try push(.float(Double(bitPattern: UInt64(bitPattern: Int64(try uint(8))).byteSwapped)))  // BINFLOAT (big-endian)
            case 0x58: let n = try uint(4); try push(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x8C: let n = Int(try byte()); try push(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x8D: let n = try uint(8); try push(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x55: let n = Int(try byte()); try push(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x54: let n = try uint(4); try push(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x43: let n = Int(try byte()); try push(.bytes(try take(n)))
            case 0x42: let n = try uint(4); try push(.bytes(try take(n)))
            case 0x4E: try push(.none)                                  // NONE
            case 0x88: try push(.bool(true))                            // NEWTRUE
            case 0x89: try push(.bool(false))                           // NEWFALSE
            case 0x63: let m = try line(), n = try line(); try push(.global(m, n))    // GLOBAL
            case 0x93:                                                  // STACK_GLOBAL
                guard case .string(let n) = try pop(), case .string(let m) = try pop() else { throw bad("a corrupt pickle (stack_global)") }
                try push(.global(m, n))
            case 0x51:                                                  // BINPERSID
                guard case .tuple(let t) = try pop(), case let pid = tuples[t], pid.count >= 3, case .string("storage") = pid[0],
                      case .global(_, let dtype) = pid[1], case .string(let key) = pid[2] else {
                    throw bad("a persistent id that is not a torch storage")
                }
                try push(.storage(key: key, dtype: dtype))
            case 0x52:                                                  // REDUCE
                let args = try pop(), callee = try pop()
                try push(try reduce(callee, args))
            case 0x81:                                                  // NEWOBJ
                let args = try pop(), cls = try pop()
                try push(try reduce(cls, args))
            case 0x62: _ = try pop()                                    // BUILD: state ignored
            default: throw bad(String(format: "an unsupported pickle opcode 0x%02x", op))
            }
        }
    }

    /// Every container the arenas hold, together: bounded like the stack.
    var containers: Int { tuples.count + lists.count + dicts.count }
    var entries = 0

    mutating func grow(_ n: Int = 1) throws {
        entries += n
        guard containers < Self.limit, entries < 4 * Self.limit else { throw bad("the pickle is too large for a state dict") }
    }

    mutating func tuple(_ items: [PickleValue]) throws -> PickleValue {
        try grow(items.count)
        tuples.append(items)
        return .tuple(tuples.count - 1)
    }

    mutating func newDict() throws -> PickleValue {
        try grow()
        dicts.append([])
        return .dict(dicts.count - 1)
    }

    /// The value under the string `key` in dict `d`.
    func value(in d: Int, for key: String) -> PickleValue? {
        dicts[d].first { if case .string(key) = $0.0 { return true } else { return false } }?.1
    }

    mutating func reduce(_ callee: PickleValue, _ args: PickleValue) throws -> PickleValue {
        guard case .global(let module, let name) = callee, case .tuple(let t) = args else { return .opaque }
        let a = tuples[t]
        switch (module, name) {
        case ("collections", "OrderedDict"), ("builtins", "dict"), ("__builtin__", "dict"):
            return try newDict()
        case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"):
            guard a.count >= 4, case .storage(let key, let dtype) = a[0], case .int(let offset) = a[1],
                  case .tuple(let sizeIndex) = a[2], case .tuple(let strideIndex) = a[3] else { return .opaque }
            let (size, stride) = (tuples[sizeIndex], tuples[strideIndex])
            let shape = size.compactMap { if case .int(let v) = $0 { v } else { nil } }
            let strides = stride.compactMap { if case .int(let v) = $0 { v } else { nil } }
            guard shape.count == size.count, strides.count == stride.count else { return .opaque }
            return .tensor(.init(key: key, dtype: dtype, offset: offset, shape: shape, stride: strides))
        case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
            return a.first ?? .opaque
        default:
            return .opaque
        }
    }
}
