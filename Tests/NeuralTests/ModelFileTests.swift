import Foundation
import TestSupport
import Testing
@testable import Neural

@Suite("Model files (safetensors)")
struct ModelFileTests {
    static func sample() throws -> (Network, ModelMetadata) {
        let spec = Zoo.smallResNet(input: Shape(1, 16, 16), classes: 3, depth: 8, width: 4)
        let net = try Network(spec, seed: 7)
        for (_, b) in net.namedBuffers { for i in 0..<b.count { b[i] = Float(i % 5) * 0.1 + 0.5 } }
        let meta = ModelMetadata(spec: spec, classes: ["ok", "scratch", "dent"],
                                 normalization: .init(mean: [0.5], std: [0.25]), thresholds: ["fail": 0.35],
                                 provenance: .init(created: "2026-11-29T00:00:00Z", dataHash: "sha256:abc", parent: "v3",
                                                   metrics: ["val.accuracy": 0.97]))
        return (net, meta)
    }

    static let directory = try! TemporaryDirectory.make("model-files")

    static func temp(_ name: String) -> String { directory + "/" + name }

    @Test("save then load gives the same weights, buffers, metadata and outputs")
    func roundTrip() throws {
        let (net, meta) = try Self.sample()
        let path = Self.temp("round.safetensors")
        try ModelFile.save(net, meta, to: path)
        let (loaded, loadedMeta) = try ModelFile.load(path: path)
        #expect(loadedMeta == meta)
        for ((n1, p1), (n2, p2)) in zip(net.namedParameters, loaded.namedParameters) {
            #expect(n1 == n2 && p1.value.array == p2.value.array)
        }
        for ((_, b1), (_, b2)) in zip(net.namedBuffers, loaded.namedBuffers) { #expect(b1.array == b2.array) }
        var rng = SeededGenerator(seed: 1)
        let x = randomTensor(batch: 2, net.inputShape, &rng)
        #expect(net.forward(x, mode: .eval).array == loaded.forward(x, mode: .eval).array)
    }

    @Test("the header is standard safetensors: 8-byte length, JSON, F32 entries, 8-byte aligned data")
    func format() throws {
        let (net, meta) = try Self.sample()
        let data = ModelFile.encode(net, meta)
        let n = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        #expect((8 + n) % 8 == 0)
        let header = try #require(try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as? [String: Any])
        let w = try #require(header["0.weight"] as? [String: Any])
        #expect(w["dtype"] as? String == "F32")
        #expect(w["shape"] as? [Int] == [4, 1, 3, 3])
        let m = try #require(header["__metadata__"] as? [String: String])
        #expect(m["linesight"]?.contains("\"classes\"") == true)
    }

    @Test("a truncated file is refused with a clear error at every length")
    func truncated() throws {
        let (net, meta) = try Self.sample()
        let data = ModelFile.encode(net, meta)
        let path = Self.temp("trunc.safetensors")
        for cut in [0, 4, 8, 20, 200, data.count / 2, data.count - 4, data.count - 1] {
            try data.prefix(cut).write(to: URL(fileURLWithPath: path))
            #expect(throws: NeuralError.self, "cut at \(cut)") { try ModelFile.load(path: path) }
        }
    }

    @Test("random corruption never crashes: the file is refused or loads with finite weights")
    func fuzz() throws {
        let (net, meta) = try Self.sample()
        let data = ModelFile.encode(net, meta)
        let path = Self.temp("fuzz.safetensors")
        var rng = SeededGenerator(seed: 99)
        var refused = 0
        for _ in 0..<150 {
            var bad = data
            for _ in 0..<(1 + rng.below(4)) {
                let i = rng.below(min(bad.count, rng.below(2) == 0 ? 4096 : bad.count))
                bad[i] = UInt8(truncatingIfNeeded: rng.next())
            }
            try bad.write(to: URL(fileURLWithPath: path))
            do {
                let (loaded, _) = try ModelFile.load(path: path)
                #expect(loaded.parameters.allSatisfy { $0.value.array.allSatisfy(\.isFinite) })
            } catch is NeuralError {
                refused += 1
            }
        }
        #expect(refused > 0)
    }

    @Test("a file whose tensors do not fit its architecture is refused, naming the tensor")
    func mismatched() throws {
        let (net, meta) = try Self.sample()
        let path = Self.temp("mismatch.safetensors")
        var wider = meta
        wider.spec = Zoo.smallResNet(input: Shape(1, 16, 16), classes: 3, depth: 8, width: 8)
        try writeAtomically(ModelFile.encode(net, wider), to: path)
        #expect { try ModelFile.load(path: path) } throws: { error in   // counted before the wider network is built
            guard case NeuralError.modelFile(path, let why) = error else { return false }
            return why.hasPrefix("the file holds \(net.plan.parameters + net.plan.buffers) values")
        }
        let (entries, raw) = try Safetensors.decode(ModelFile.encode(net, meta), path: "in-memory")
        var reshaped = entries
        let first = try #require(reshaped.firstIndex { $0.name == "0.weight" })
        reshaped[first].shape = [4, 9, 1, 1]   // as many values, the wrong shape
        try writeAtomically(Safetensors.encode(reshaped, metadata: raw), to: path)
        #expect(throws: NeuralError.shapeMismatch(path: path, name: "0.weight", expected: [4, 1, 3, 3], found: [4, 9, 1, 1])) {
            try ModelFile.load(path: path)
        }
        try writeAtomically(Safetensors.encode(Array(entries.dropFirst()), metadata: raw), to: path)
        #expect(throws: NeuralError.self) { try ModelFile.load(path: path) }
        try writeAtomically(Safetensors.encode(entries + [.init(name: "extra", shape: [1], values: [1])], metadata: raw), to: path)
        #expect(throws: NeuralError.self) { try ModelFile.load(path: path) }   // one value too many
        try writeAtomically(Safetensors.encode(entries + [.init(name: "extra", shape: [0], values: [])], metadata: raw), to: path)
        #expect(throws: NeuralError.unexpectedTensor(path: path, name: "extra")) { try ModelFile.load(path: path) }
        var nan = entries
        nan[0].values[0] = .nan
        try writeAtomically(Safetensors.encode(nan, metadata: raw), to: path)
        #expect(throws: NeuralError.self) { try ModelFile.load(path: path) }
        try writeAtomically(Safetensors.encode(entries, metadata: [:]), to: path)
        #expect(throws: NeuralError.modelFile(path: path, reason: "no Linesight metadata (not a Linesight model?)")) {
            try ModelFile.load(path: path)
        }
        #expect(throws: NeuralError.self) { try ModelFile.load(path: Self.temp("does-not-exist")) }
    }
}
