import Foundation
import Testing
@testable import Neural

/// Weights a user brings: a randomly initialised torchvision resnet18 (its batch norms'
/// statistics randomised too) exported here by Debian's PyTorch
/// (scripts/make_torchvision_fixture.py), loaded into `Zoo.resnet18`: the logits equal
/// torchvision's to 1e-4 (relative to the largest), from `.pth`, `.safetensors` and F16.
@Suite("torchvision weights", .serialized)
struct TorchvisionImportTests {
    static let classes = 7, side = 64

    /// The exported files, made once per test run.
    static let fixture: Result<String, Error> = Result {
        // one folder, reused by later runs (45 MB per file: not one per test process)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("linesight-torchvision-fixture-v1").path
        if FileManager.default.fileExists(atPath: dir + "/io.safetensors") { return dir }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/make_torchvision_fixture.py").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = [script, dir, "--classes", "\(classes)", "--side", "\(side)"]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw NeuralError.io(path: script, reason: "exited \(p.terminationStatus): needs Debian's python3-torch and python3-torchvision (scripts/install-deps.sh)")
        }
        return dir
    }

    func io() throws -> (x: Tensor, logits: [Float], half: [Float]) {
        let dir = try Self.fixture.get()
        let (entries, _) = try Safetensors.read(path: dir + "/io.safetensors")
        let t = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0) })
        return (tensor(try #require(t["input"])), try #require(t["logits"]).values, try #require(t["logits_half"]).values)
    }

    func spec(channels: Int = 3, classes: Int = classes) -> NetworkSpec {
        Zoo.resnet18(input: Shape(channels, Self.side, Self.side), classes: classes)
    }

    @Test("logits equal torchvision's from .pth, .safetensors and F16 safetensors",
          arguments: [("resnet18.pth", false), ("resnet18.safetensors", false), ("resnet18-half.safetensors", true)])
    func logitsMatch(_ file: String, _ half: Bool) throws {
        let dir = try Self.fixture.get()
        let (x, logits, halfLogits) = try io()
        let loaded = try TorchvisionWeights.resnet18(spec(), from: dir + "/" + file)
        #expect(!loaded.freshHead && !loaded.grayStem)
        // every parameter and running statistic: 62 parameters and 40 buffers
        #expect(loaded.copied == loaded.network.namedParameters.count + loaded.network.namedBuffers.count)
        let y = loaded.network.forward(x, mode: .eval).array
        expectClose(y, half ? halfLogits : logits, tolerance: 1e-4, "\(file) logits")
        // the fixture is not degenerate: the classes' logits differ
        #expect(Set(y.map { ($0 * 1000).rounded() }).count > Self.classes)
    }

    @Test("another class count starts a fresh head on the same features")
    func freshHead() throws {
        let dir = try Self.fixture.get()
        let (x, _, _) = try io()
        let a = try TorchvisionWeights.resnet18(spec(classes: 2), from: dir + "/resnet18.pth", seed: 1)
        #expect(a.freshHead)
        #expect(a.copied == a.network.namedParameters.count - 2 + a.network.namedBuffers.count)
        // the features below the head are torchvision's: the full model's penultimate layer
        let full = try TorchvisionWeights.resnet18(spec(), from: dir + "/resnet18.pth")
        let cut = NetworkSpec(name: "features", input: spec().input, layers: Array(spec().layers.dropLast()))
        func features(_ source: Network) throws -> [Float] {
            let net = try Network(cut)
            let params = Dictionary(uniqueKeysWithValues: source.namedParameters.map { ($0.0, $0.1.value) })
            let buffers = Dictionary(uniqueKeysWithValues: source.namedBuffers)
            for (n, p) in net.namedParameters { p.value.data.update(from: try #require(params[n]).data, count: p.value.count) }
            for (n, b) in net.namedBuffers { b.data.update(from: try #require(buffers[n]).data, count: b.count) }
            return net.forward(x, mode: .eval).array
        }
        expectClose(try features(a.network), try features(full.network), tolerance: 1e-6, "features")
        // and the fresh head is not torchvision's (whose first two rows it would otherwise be)
        let y = full.network.forward(x, mode: .eval).array, k = Self.classes
        #expect(a.network.forward(x, mode: .eval).array != [y[0], y[1], y[k], y[k + 1]])
    }

    @Test("a gray input takes the stem summed over colour: gray g scores as RGB (g, g, g)")
    func grayStem() throws {
        let dir = try Self.fixture.get()
        let (x, _, _) = try io()
        let rgb = try TorchvisionWeights.resnet18(spec(), from: dir + "/resnet18.safetensors")
        let gray = try TorchvisionWeights.resnet18(spec(channels: 1), from: dir + "/resnet18.safetensors")
        #expect(gray.grayStem)
        let plane = Self.side * Self.side
        let g = Tensor(Shape(1, Self.side, Self.side), batch: 2), g3 = Tensor(Shape(3, Self.side, Self.side), batch: 2)
        for n in 0..<2 {
            for j in 0..<plane {
                g[n * plane + j] = x[n * 3 * plane + j]
                for c in 0..<3 { g3[(n * 3 + c) * plane + j] = x[n * 3 * plane + j] }
            }
        }
        expectClose(gray.network.forward(g, mode: .eval).array, rgb.network.forward(g3, mode: .eval).array, tolerance: 1e-4, "gray vs RGB")
    }

    /// A state dict of one float tensor "w" on storage "0", as torch.save pickles it;
    /// `offset` is the opcode bytes of the storage offset.
    static func tensorPickle(offset: [UInt8], size: [Int], stride: [Int]) -> Data {
        func text(_ s: String) -> [UInt8] { [0x8C, UInt8(s.utf8.count)] + Array(s.utf8) }
        func ints(_ v: [Int]) -> [UInt8] {
            [0x28] + v.flatMap { i -> [UInt8] in [0x4A] + (0..<4).map { UInt8((i >> (8 * $0)) & 0xFF) } } + [0x74]
        }
        let orderedDict = Array("ccollections\nOrderedDict\n".utf8) + [0x29, 0x52]
        var p: [UInt8] = [0x80, 0x02] + orderedDict + text("w")
        p += Array("ctorch._utils\n_rebuild_tensor_v2\n".utf8) + [0x28]
        p += [0x28] + text("storage") + Array("ctorch\nFloatStorage\n".utf8) + text("0") + text("cpu") + [0x4B, 64, 0x74, 0x51]
        p += offset + ints(size) + ints(stride) + [0x89] + orderedDict + [0x74, 0x52, 0x73, 0x2E]
        return Data(p)
    }

    /// A zip of stored members, as torch.save writes them.
    static func storedZip(_ members: [String: Data]) -> Data {
        var out = Data(), central = Data()
        func le(_ v: Int, _ n: Int) -> [UInt8] { (0..<n).map { UInt8((v >> (8 * $0)) & 0xFF) } }
        for (name, body) in members.sorted(by: { $0.key < $1.key }) {
            let offset = out.count, n = Array(name.utf8)
            out += le(0x0403_4B50, 4) + le(20, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(0, 4)
            out += le(body.count, 4) + le(body.count, 4) + le(n.count, 2) + le(0, 2) + n
            out += body
            central += le(0x0201_4B50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(0, 4)
            central += le(body.count, 4) + le(body.count, 4) + le(n.count, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2)
            central += le(0, 4) + le(offset, 4) + n
        }
        let dirOffset = out.count
        out += central
        out += le(0x0605_4B50, 4) + le(0, 2) + le(0, 2) + le(members.count, 2) + le(members.count, 2)
        out += le(central.count, 4) + le(dirOffset, 4) + le(0, 2)
        return out
    }

    @Test("hostile files get a clear error, never a crash")
    func hostile() throws {
        let dir = try Self.fixture.get()
        let pth = try Data(contentsOf: URL(fileURLWithPath: dir + "/resnet18.pth"))
        let st = try Data(contentsOf: URL(fileURLWithPath: dir + "/resnet18.safetensors"))
        let tmp = dir + "/hostile"
        let cases: [(String, Data)] = [
            ("empty", Data()), ("zip header only", Data([0x50, 0x4B, 0x03, 0x04])),
            ("pth cut in half", pth.prefix(pth.count / 2)), ("pth without its end", pth.prefix(pth.count - 30)),
            ("safetensors cut", st.prefix(st.count - 100)), ("text", Data("not a model".utf8)),
        ]
        for (what, bytes) in cases {
            try bytes.write(to: URL(fileURLWithPath: tmp))
            #expect(throws: NeuralError.self, "\(what)") { _ = try TorchvisionWeights.resnet18(spec(), from: tmp) }
        }
        // pickles a state dict never holds: nested a million deep, a string longer than the
        // file, an opcode outside the protocol
        let deep = Data([0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 1_000_000) + [0x2E])
        let long = Data([0x80, 0x02, 0x8D] + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F] + [0x2E])
        let unknown = Data([0x80, 0x02, 0x01, 0x2E])
        let negative = Data([0x80, 0x02, 0x47, 0xBF, 0xF0, 0, 0, 0, 0, 0, 0, 0x2E])  // BINFLOAT -1.0: its top bit set
        for (what, pickle) in [("nested", deep), ("long string", long), ("unknown opcode", unknown), ("a float", negative)] {
            try Self.storedZip(["hostile/data.pkl": pickle]).write(to: URL(fileURLWithPath: tmp))
            #expect(throws: NeuralError.self, "\(what)") { _ = try TorchvisionWeights.resnet18(spec(), from: tmp) }
        }
        // tensors that address outside their storage: an offset of Int.max (LONG1, 8 bytes),
        // and a broadcast view (stride 0) of 64 floats as 2^60
        let huge = TorchvisionImportTests.tensorPickle(offset: [0x8A, 8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
                                                      size: [64], stride: [1])
        let broadcast = TorchvisionImportTests.tensorPickle(offset: [0x4B, 0], size: [1 << 30, 1 << 30], stride: [0, 0])
        let fits = TorchvisionImportTests.tensorPickle(offset: [0x4B, 0], size: [8, 8], stride: [8, 1])
        let storage = Data((0..<64).flatMap { i in withUnsafeBytes(of: Float(i).bitPattern.littleEndian, Array.init) })
        for (what, pickle) in [("offset Int.max", huge), ("broadcast", broadcast)] {
            let zip = Self.storedZip(["t/data.pkl": pickle, "t/data/0": storage])
            #expect(throws: NeuralError.self, "\(what)") { _ = try TorchCheckpoint.read(zip, path: what) }
        }
        // the same pickle with a tensor that fits reads back its values: the hand-built pickle is sound
        let read = try TorchCheckpoint.read(Self.storedZip(["t/data.pkl": fits, "t/data/0": storage]), path: "fits")
        #expect(read.count == 1 && read[0].name == "w" && read[0].shape == [8, 8] && read[0].values == (0..<64).map(Float.init))
        // the strict model-file reader still refuses what only a foreign file may hold
        #expect(throws: NeuralError.self) { _ = try Safetensors.read(path: dir + "/resnet18-half.safetensors") }
        // single bytes of the pickle (data.pkl, the zip's first member) flipped: each either
        // loads (a flip in a harmless string) or is refused; most are refused, none crashes
        let start = try #require(pth.range(of: Data("data.pkl".utf8))).upperBound
        var refused = 0, tried = 0
        for k in stride(from: start + 64, to: min(pth.count, start + 4000), by: 331) {
            var flipped = pth
            flipped[k] ^= 0xFF
            try flipped.write(to: URL(fileURLWithPath: tmp))
            tried += 1
            do { _ = try TorchvisionWeights.resnet18(spec(), from: tmp) } catch is NeuralError { refused += 1 }
        }
        #expect(refused * 2 > tried, "\(refused) of \(tried) corrupt pickles refused")
        // a state dict of another network
        #expect(throws: NeuralError.self) {
            _ = try TorchvisionWeights.resnet18(Zoo.smallResNet(input: Shape(3, 64, 64), classes: 2, width: 16), from: dir + "/resnet18.pth")
        }
    }
}
