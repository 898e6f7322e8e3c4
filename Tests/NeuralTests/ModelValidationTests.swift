import Foundation
import Testing
@testable import Neural

/// Model files written by someone else: every field and tensor is checked before use, and a
/// bad one is refused naming the field, never a trap or a request for terabytes.
@Suite("Model file validation")
struct ModelValidationTests {
    /// The error `ModelFile.decode` gives for these bytes, or nil when they load.
    static func refusal(_ data: Data) -> NeuralError? {
        do { _ = try ModelFile.decode(data, path: "m.safetensors"); return nil } catch let e as NeuralError { return e } catch {
            Issue.record("not a NeuralError: \(error)")
            return nil
        }
    }

    /// The metadata field a file with `meta` (and the sample's tensors) is refused for.
    static func refusedField(_ meta: ModelMetadata, _ net: Network? = nil) throws -> String? {
        let net = try net ?? ModelFileTests.sample().0
        switch refusal(ModelFile.encode(net, meta)) {
        case .invalidMetadata(_, let field, _)?: return field
        case nil: return nil
        case let other?: return "other error: \(other)"
        }
    }

    static func validated(_ meta: ModelMetadata) -> String? {
        do { try meta.validate(); return nil } catch NeuralError.invalidMetadata(_, let field, _) { return field } catch {
            return "other error: \(error)"
        }
    }

    /// A safetensors image with this header and `body` zero bytes.
    static func raw(_ header: String, body: Int) -> Data {
        var json = Data(header.utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        return out + json + Data(count: body)
    }

    @Test("tensor offsets: overflowing shapes, overlaps, gaps and out-of-range offsets are refused", arguments: [
        #"{"t":{"dtype":"F32","shape":[1073741824,1073741824,2],"data_offsets":[0,8]}}"#,
        #"{"t":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}}"#,
        #"{"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
        #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}"#,
        #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
        #"{"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
        #"{"t":{"dtype":"F32","shape":[-2,-1],"data_offsets":[0,8]}}"#,
    ])
    func offsets(header: String) {
        #expect(throws: NeuralError.self) { try Safetensors.decode(Self.raw(header, body: 8), path: "x") }
    }

    static let hostile: [NetworkSpec] = {
        func net(_ input: Shape, _ layers: [LayerSpec]) -> NetworkSpec { NetworkSpec(name: "hostile", input: input, layers: layers) }
        var nested: [LayerSpec] = [.relu]
        for _ in 0..<20 { nested = [.residual(body: nested, shortcut: [])] }
        return [
            net(Shape(1, 8, 8), [.conv(out: 1 << 40, kernel: 3)]),
            net(Shape(1, 8, 8), [.flatten, .linear(out: 1 << 40)]),
            net(Shape(1, 8, 8), [.conv(out: 4, kernel: .max, padding: .max)]),
            net(Shape(1, 8, 8), [.conv(out: 4, kernel: 3, padding: .max)]),
            net(Shape(1, 8, 8), [.conv(out: 4, kernel: 3, stride: .max)]),
            net(Shape(1, 8, 8), [.conv(out: 4, kernel: 3, stride: 0)]),
            net(Shape(1, 32, 32), [.conv(out: 4, kernel: 16)]),
            net(Shape(1, 32, 32), [.conv(out: 4, kernel: 3, stride: 9)]),
            net(Shape(1, 32, 32), [.conv(out: 4, kernel: 3, padding: 3)]),
            net(Shape(4, 8, 8), [.conv(out: 4, kernel: 3, groups: .min)]),
            net(Shape(1, 8, 8), [.maxPool(kernel: .max, stride: .max, padding: .max)]),
            net(Shape(1, 8, 8), [.avgPool(kernel: 4, stride: 1, padding: -1)]),
            net(Shape(.max, .max, 2), []),
            net(Shape(1 << 20, 1, 1), []),
            net(Shape(1, 0, 8), []),
            net(Shape(3, 4096, 4096), [.conv(out: 64, kernel: 3, padding: 1)]),
            net(Shape(3, 1024, 1024), [.flatten, .linear(out: 4096)]),
            net(Shape(4096, 64, 64), [.conv(out: 4096, kernel: 15, padding: 7)]),
            net(Shape(1, 8, 8), nested),
            net(Shape(1, 8, 8), Array(repeating: .relu, count: 2000)),
            net(Shape(1, 8, 8), [.dropout(.nan)]),
            net(Shape(1, 8, 8), [.highPass(sigma: .nan)]),
            net(Shape(1, 8, 8), [.highPass(sigma: 0)]),
            net(Shape(1, 8, 8), [.highPass(sigma: 1e9)]),
        ]
    }()

    @Test("hostile specs are refused by the plan, by Network and in a model file", arguments: hostile)
    func hostileSpecs(spec: NetworkSpec) throws {
        #expect(throws: NeuralError.self) { try spec.plan() }
        #expect(throws: NeuralError.self) { try Network(spec) }
        guard (try? JSONEncoder().encode(spec)) != nil else { return }   // NaN has no JSON form
        var (_, meta) = try ModelFileTests.sample()
        meta.spec = spec
        #expect(try Self.refusedField(meta) == "spec")
    }

    @Test("a spec that needs more values than the file holds is refused before it is built")
    func countedBeforeBuilt() throws {
        let (net, meta) = try ModelFileTests.sample()
        var big = meta   // 16.8 M parameters: within the limits, but the file holds a few thousand values
        big.spec = NetworkSpec(name: "big", input: Shape(1, 64, 64), layers: [.flatten, .linear(out: 4096)])
        big.classes = (0..<4096).map { "c\($0)" }
        big.thresholds = [:]
        let e = Self.refusal(ModelFile.encode(net, big))
        guard case .modelFile(_, let why)? = e else { Issue.record("\(String(describing: e))"); return }
        #expect(why.contains("needs 16781312 parameters"))
        #expect(try Network(big.spec).plan.parameters == 16_781_312)
    }

    @Test("the plan counts what Network allocates", arguments: [
        Zoo.resnet18(input: Shape(3, 64, 64), classes: 4),
        Zoo.smallResNet(input: Shape(1, 28, 28), classes: 10, depth: 10, width: 16),
        Zoo.smallResNet(input: Shape(1, 32, 32), classes: 3, depth: 8, width: 4, stemPool: true, globalPool: .max),
        Zoo.smallResNet(input: Shape(3, 96, 64), classes: 3, depth: 8, width: 4, stemPool: true, globalPool: .avgmax),
        Zoo.lightNet(input: Shape(3, 96, 96), classes: 6),
    ])
    func planMatchesNetwork(spec: NetworkSpec) throws {
        let net = try Network(spec)
        #expect(net.plan.parameters == net.parameterCount)
        #expect(net.plan.buffers == net.namedBuffers.reduce(0) { $0 + $1.1.count })
        #expect(net.plan.output == net.outputShape)
    }

    @Test("temperature: a finite number in 0.05...20, or none", arguments: [0, -1, 1e-45, 1e39, 0.04, 21])
    func temperature(t: Double) throws {
        var (_, meta) = try ModelFileTests.sample()
        meta.temperature = t
        #expect(try Self.refusedField(meta) == "temperature")
    }

    @Test("temperatures inside the range load; NaN and infinity are refused")
    func temperatureEdges() throws {
        var (_, meta) = try ModelFileTests.sample()
        for t in [nil, 0.05, 1, 20] as [Double?] {
            meta.temperature = t
            #expect(try Self.refusedField(meta) == nil, "\(String(describing: t))")
        }
        for t in [Double.nan, .infinity, -.infinity] {
            meta.temperature = t
            #expect(Self.validated(meta) == "temperature")
        }
    }

    @Test("thresholds: known keys, numbers in 0...1, pass <= fail, defect.<kind> naming a class", arguments: [
        (["pass": 1.5], "thresholds.pass"),
        (["fail": -0.1], "thresholds.fail"),
        (["pass": 0.8, "fail": 0.2], "thresholds.pass"),
        (["defect.rust": 0.5], "thresholds.defect.rust"),
        (["defect.Dent": 0.5], "thresholds.defect.Dent"),
        (["stage1.fail": 0.3], "thresholds.stage1.fail"),
        (["defect": 2], "thresholds.defect"),
        (["pass": 0.3, "fail": 0.7, "defect": 0.5, "defect.dent": 0.4, "defect.scratch": 1], nil),
    ] as [([String: Double], String?)])
    func thresholds(values: [String: Double], field: String?) throws {
        var (_, meta) = try ModelFileTests.sample()
        meta.thresholds = values
        #expect(try Self.refusedField(meta) == field)
        meta.thresholds = ["fail": .nan]
        #expect(Self.validated(meta) == "thresholds.fail")
    }

    @Test("normalization: one finite mean in -10...10 and std >= 0.001 per input channel", arguments: [
        ([0.5, 0.5], [0.25, 0.25], "normalization"),
        ([0.5], [], "normalization"),
        ([0.5], [0], "normalization.std[0]"),
        ([0.5], [1e-4], "normalization.std[0]"),
        ([0.5], [-0.25], "normalization.std[0]"),
        ([11], [0.25], "normalization.mean[0]"),
        ([-10.5], [0.25], "normalization.mean[0]"),
        ([-10], [0.001], nil),
    ] as [([Float], [Float], String?)])
    func normalization(mean: [Float], std: [Float], field: String?) throws {
        var (_, meta) = try ModelFileTests.sample()
        meta.normalization = .init(mean: mean, std: std)
        #expect(try Self.refusedField(meta) == field)
        for bad in [Float.nan, .infinity] {
            meta.normalization = .init(mean: [0.5], std: [bad])
            #expect(Self.validated(meta) == "normalization.std[0]")
            meta.normalization = .init(mean: [bad], std: [0.25])
            #expect(Self.validated(meta) == "normalization.mean[0]")
        }
    }

    @Test("class names: 1 to 64 of [A-Za-z0-9_-], unique ignoring case", arguments: [
        (["ok", "a/b", "dent"], "classes[1]"),
        (["ok", "..", "dent"], "classes[1]"),
        (["ok", "a\"b", "dent"], "classes[1]"),
        (["ok", "a,b", "dent"], "classes[1]"),
        (["ok", "a+b", "dent"], "classes[1]"),
        (["ok", "a b", "dent"], "classes[1]"),
        (["ok", "tab\t", "dent"], "classes[1]"),
        (["ok", "nul\u{0}", "dent"], "classes[1]"),
        (["ok", "é", "dent"], "classes[1]"),
        (["ok", "", "dent"], "classes[1]"),
        (["ok", String(repeating: "x", count: 65), "dent"], "classes[1]"),
        (["ok", "Dent", "dent"], "classes[2]"),
        (["ok", "t-shirt", String(repeating: "x", count: 64)], nil),
        (["OK", "scratch_2", "Dent-3"], nil),
    ] as [([String], String?)])
    func classNames(names: [String], field: String?) throws {
        var (_, meta) = try ModelFileTests.sample()
        meta.classes = names
        #expect(try Self.refusedField(meta) == field)
    }

    @Test("the output is one value per class: (classes, 1, 1), not any shape of that size")
    func outputShape() throws {
        let spec = NetworkSpec(name: "columns", input: Shape(1, 3, 1), layers: [.relu])
        var (_, meta) = try ModelFileTests.sample()
        meta.spec = spec
        #expect(try Self.refusedField(meta, Network(spec)) == "classes")
        meta.classes = ["ok", "dent"]
        #expect(try Self.refusedField(meta) == "classes")
    }

    @Test("format: 1 up to the current one", arguments: [-1, 0, 2, Int.max])
    func format(format: Int) throws {
        var (_, meta) = try ModelFileTests.sample()
        meta.format = format
        #expect(try Self.refusedField(meta) == "format")
    }

    @Test("provenance and spec name: bounded text without control characters, finite metrics")
    func provenance() throws {
        let (_, meta) = try ModelFileTests.sample()
        var m = meta
        m.provenance.notes = "trained\u{1B}[2J on line 3"
        #expect(try Self.refusedField(m) == "provenance.notes")
        m.provenance.notes = "two\nlines\tand a tab"
        #expect(try Self.refusedField(m) == nil)
        m.provenance.created = String(repeating: "9", count: 65)
        #expect(try Self.refusedField(m) == "provenance.created")
        m = meta
        m.provenance.metrics["val.ece"] = .nan
        #expect(Self.validated(m) == "provenance.metrics.val.ece")
        m = meta
        m.spec.name = "resnet\r\n"
        #expect(try Self.refusedField(m) == "spec.name")
    }

    @Test("running variances must be >= 0 and every tensor finite")
    func tensors() throws {
        let (net, meta) = try ModelFileTests.sample()
        let (entries, raw) = try Safetensors.decode(ModelFile.encode(net, meta), path: "in-memory")
        let v = try #require(entries.firstIndex { $0.name.hasSuffix("running_var") })
        for bad in [Float(-0.5), .nan, -.infinity] {
            var changed = entries
            changed[v].values[1] = bad
            let e = Self.refusal(Safetensors.encode(changed, metadata: raw))
            guard case .modelFile(_, let why)? = e else { Issue.record("\(bad): \(String(describing: e))"); continue }
            #expect(why.contains(entries[v].name), "\(why)")
        }
        #expect(Self.refusal(Safetensors.encode(entries, metadata: raw)) == nil)
    }

    @Test("decode reads the same as load; a file over the size limit is refused unread")
    func decodeAndRead() throws {
        let (net, meta) = try ModelFileTests.sample()
        let path = ModelFileTests.temp("decode.safetensors")
        try ModelFile.save(net, meta, to: path)
        let fromBytes = try ModelFile.decode(try Data(contentsOf: URL(fileURLWithPath: path)), path: path)
        let fromFile = try ModelFile.load(path: path)
        #expect(fromBytes.metadata == fromFile.metadata)
        #expect(fromBytes.network.parameters.map(\.value.array) == fromFile.network.parameters.map(\.value.array))
        let huge = ModelFileTests.temp("huge.safetensors")
        #expect(FileManager.default.createFile(atPath: huge, contents: nil))
        #expect(truncate(huge, off_t(ModelFile.maximumFileBytes + 1)) == 0)   // sparse: no disk used
        defer { unlink(huge) }
        #expect { try ModelFile.read(path: huge) } throws: { error in
            guard case NeuralError.modelFile(huge, let why) = error else { return false }
            return why.contains("at most")
        }
    }
}

@Suite("Fuzz seeds")
struct FuzzSeedTests {
    @Test("the model fuzzer's seed is a valid model file, so mutations start from one")
    func seedLoads() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let seed = root.appendingPathComponent("Fuzz/corpus/model/seed.safetensors").path
        let (net, meta) = try ModelFile.load(path: seed)
        #expect(meta.classes == ["good", "defect"] && net.plan.layers == 11)
        let json = try String(contentsOf: root.appendingPathComponent("Fuzz/corpus/model/seed-metadata.json"), encoding: .utf8)
        #expect(try JSONDecoder().decode(ModelMetadata.self, from: Data(json.utf8)) == meta)
    }
}
