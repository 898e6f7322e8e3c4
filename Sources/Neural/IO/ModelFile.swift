import Foundation

/// What a model file says about its network besides the weights.
public struct ModelMetadata: Codable, Equatable, Sendable {
    /// Per-channel input normalization: x' = (x - mean) / std, with x in [0, 1].
    public struct Normalization: Codable, Equatable, Sendable {
        public var mean: [Float]
        public var std: [Float]
        public init(mean: [Float], std: [Float]) { self.mean = mean; self.std = std }
    }

    /// Where the model came from.
    public struct Provenance: Codable, Equatable, Sendable {
        public var created: String
        public var dataHash: String?
        public var parent: String?
        public var metrics: [String: Double]
        public var notes: String?
        public init(created: String, dataHash: String? = nil, parent: String? = nil,
                    metrics: [String: Double] = [:], notes: String? = nil) {
            self.created = created; self.dataHash = dataHash; self.parent = parent
            self.metrics = metrics; self.notes = notes
        }
    }

    /// "multiclass" (softmax over classes) or "multilabel" (one sigmoid per class).
    public enum Task: String, Codable, Sendable { case multiclass, multilabel }

    public static let currentFormat = 1

    public var format: Int
    public var spec: NetworkSpec
    public var task: Task
    public var classes: [String]
    public var normalization: Normalization
    public var thresholds: [String: Double]

    /// Stage-2 thresholds per class, stored as "defect.<class>" in `thresholds`.
    public var perKindDefectThresholds: [String: Double] {
        var out: [String: Double] = [:]
        for (key, value) in thresholds where key.hasPrefix("defect.") { out[String(key.dropFirst(7))] = value }
        return out
    }
    /// Softmax temperature fitted on validation data (calibration): probabilities are
    /// softmax(logits / temperature). Nil means 1 (uncalibrated).
    public var temperature: Double?
    /// Test-time flip averaging: the model's logits are the mean over the input and its
    /// three mirror images (`Flip`), at four times the compute; the temperature and the
    /// thresholds were fitted on those averaged logits. Nil means false (one pass).
    public var flipAverage: Bool?
    /// Int8 inference: the calibrated ranges of the int8 network's tensors. Nil: fp32.
    public var quantization: Quantization?
    /// What the model's training inputs looked like (a stage-1 model's): the daemon's drift
    /// watch compares the camera's recent frames with it. Nil: models made before it.
    public var inputReference: InputReference?
    public var provenance: Provenance

    public init(spec: NetworkSpec, task: Task = .multiclass, classes: [String], normalization: Normalization,
                thresholds: [String: Double] = [:], provenance: Provenance) {
        format = Self.currentFormat
        self.spec = spec; self.task = task; self.classes = classes
        self.normalization = normalization; self.thresholds = thresholds; self.provenance = provenance
    }
}

/// What a model's training inputs looked like: per statistic (brightness, contrast,
/// sharpness; `InputStatistics` in Imaging) the mean and standard deviation over the training
/// images, and the distribution of the calibrated P(defect) of the good validation parts (the
/// share in each tenth of 0...1).
public struct InputReference: Codable, Equatable, Sendable {
    public struct Moments: Codable, Equatable, Sendable {
        public var mean: Double
        public var std: Double
        public init(mean: Double, std: Double) { (self.mean, self.std) = (mean, std) }
    }

    public var statistics: [String: Moments]
    public var goodScores: [Double]
    public var images: Int
    /// How many good validation parts `goodScores` came from.
    public var goodParts: Int
    /// The good validation parts' embeddings (nil: models made before it, or a network
    /// without one).
    public var embedding: EmbeddingReference?

    public init(statistics: [String: Moments], goodScores: [Double], images: Int, goodParts: Int, embedding: EmbeddingReference? = nil) {
        (self.statistics, self.goodScores, self.images, self.goodParts) = (statistics, goodScores, images, goodParts)
        self.embedding = embedding
    }

    /// Ten bins of 0...1: the share of `scores` in each.
    public static func histogram(_ scores: [Double]) -> [Double] {
        var bins = [Double](repeating: 0, count: 10)
        let finite = scores.filter(\.isFinite)
        for s in finite { bins[min(9, max(0, Int(s * 10)))] += 1 }
        return finite.isEmpty ? bins : bins.map { $0 / Double(finite.count) }
    }

    func check() -> String? {
        for (name, m) in statistics where !(m.mean.isFinite && m.std.isFinite && m.std >= 0) { return "statistic \(name) is not a finite mean and non-negative spread" }
        guard goodScores.count == 10, goodScores.allSatisfy({ $0.isFinite && $0 >= 0 }),
              goodParts == 0 ? goodScores.allSatisfy({ $0 == 0 }) : abs(goodScores.reduce(0, +) - 1) < 1e-6 else {
            return "goodScores must be ten shares summing to 1 (all 0 when goodParts is 0)"
        }
        if let e = embedding, let why = e.check() { return "embedding: " + why }
        return images >= 0 && goodParts >= 0 ? nil : "images and goodParts must not be negative"
    }
}

/// What the good parts a model was checked on look like to it: the mean and spread of each
/// embedding dimension (`Embedding`), and how far their embeddings lie from that mean
/// (`distance`). A frame the model has not seen the like of lies farther out: the drift
/// watch compares the line's median distance with the good parts'.
public struct EmbeddingReference: Codable, Equatable, Sendable {
    public var mean: [Double]
    public var std: [Double]
    /// The mean and spread of the good parts' own distances.
    public var distance: InputReference.Moments
    /// Their median distance (what the drift watch compares a window's median with).
    public var medianDistance: Double
    public var parts: Int

    public static let maximumDimensions = 8192

    public init(mean: [Double], std: [Double], distance: InputReference.Moments, medianDistance: Double, parts: Int) {
        (self.mean, self.std, self.distance, self.medianDistance, self.parts) = (mean, std, distance, medianDistance, parts)
    }

    /// Fewest good parts a reference is measured from: with fewer, new good parts lie
    /// measurably farther out than the reference's own and a healthy line would alarm.
    public static let minimumParts = 30

    /// The reference of `rows` (those of the first row's length with finite values; nil
    /// below `minimumParts` of them). Each part's own distance is measured out of sample,
    /// against the mean and spread of the other parts (leave-one-out): measured against
    /// statistics it helped make, a part lies closer than a new good part from the same
    /// line does, and the healthy line would drift.
    public static func measure(_ rows: [[Float]]) -> EmbeddingReference? {
        guard let d = rows.first?.count, d > 0, d <= maximumDimensions else { return nil }
        let kept = rows.filter { $0.count == d && $0.allSatisfy(\.isFinite) }
        guard kept.count >= minimumParts else { return nil }
        let n = Double(kept.count)
        var sum = [Double](repeating: 0, count: d), sq = sum
        for r in kept { for k in 0..<d { let v = Double(r[k]); sum[k] += v; sq[k] += v * v } }
        let mean = sum.map { $0 / n }
        let std = (0..<d).map { k in max(0, sq[k] / n - mean[k] * mean[k]).squareRoot() }
        var ref = EmbeddingReference(mean: mean, std: std, distance: .init(mean: 0, std: 0), medianDistance: 0, parts: kept.count)
        let floor = ref.spreadFloor
        let ds: [Double] = kept.map { r in
            var z2 = 0.0
            for k in 0..<d {
                let v = Double(r[k]), m = (sum[k] - v) / (n - 1)
                let s = max(0, (sq[k] - v * v) / (n - 1) - m * m).squareRoot()
                let z = (v - m) / max(s, floor)
                z2 += z * z
            }
            return (z2 / Double(d)).squareRoot()
        }
        let m = ds.reduce(0, +) / n
        let spread = ds.map { ($0 - m) * ($0 - m) }.reduce(0, +) / n
        ref.distance = .init(mean: m, std: spread.squareRoot())
        ref.medianDistance = median(ds)
        return ref
    }

    /// The least spread a dimension counts with: a thousandth of the mean spread (a channel
    /// the good parts never light must not make any light on it infinite).
    public var spreadFloor: Double { max(1e-9, std.reduce(0, +) / Double(max(1, std.count)) * 1e-3) }

    /// How far `e` lies from the good parts: the root mean square over the dimensions of
    /// (e - mean) / spread, each spread at least a thousandth of the mean spread (a channel
    /// the good parts never light must not make any light on it infinite). Nil for an
    /// embedding of another length or not finite.
    public func distance(_ e: [Float]) -> Double? {
        guard e.count == mean.count, !mean.isEmpty else { return nil }
        let floor = spreadFloor
        var sum = 0.0
        for k in 0..<e.count {
            let z = (Double(e[k]) - mean[k]) / max(std[k], floor)
            sum += z * z
        }
        let d = (sum / Double(e.count)).squareRoot()
        return d.isFinite ? d : nil
    }

    /// The median of `values` (the mean of the middle two for an even count; 0 for none).
    public static func median(_ values: [Double]) -> Double {
        let s = values.sorted(), n = s.count
        return n == 0 ? 0 : n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
    }

    func check() -> String? {
        guard !mean.isEmpty, mean.count <= Self.maximumDimensions, std.count == mean.count else {
            return "mean and std must hold the same number of values, 1 to \(Self.maximumDimensions)"
        }
        guard mean.allSatisfy(\.isFinite), std.allSatisfy({ $0.isFinite && $0 >= 0 }) else { return "mean and std must be finite, std not negative" }
        guard distance.mean.isFinite, distance.std.isFinite, distance.mean >= 0, distance.std >= 0, medianDistance.isFinite, medianDistance >= 0, parts >= 1 else {
            return "distance must be a finite non-negative mean, spread and median, over at least one part"
        }
        return nil
    }
}

// MARK: Validation

extension ModelMetadata {
    /// Temperatures a calibration can give (`TemperatureScaling` searches this range).
    public static let temperatures = 0.05...20
    /// Threshold keys besides "defect.<class>".
    public static let thresholdKeys: Set<String> = ["pass", "fail", "defect"]
    /// Longest class name: names become folder names, CSV cells and JSON keys.
    public static let maximumClassName = 64

    /// Checks every field before any is used, naming the first bad one: the format, the spec
    /// (shapes and `SpecLimits`) and its output of one value per class, the class names,
    /// the normalization, the thresholds, the temperature and the provenance. Returns the
    /// spec's plan. `path` only names the file in errors.
    @discardableResult
    public func validate(path: String = "<metadata>") throws -> NetworkPlan {
        func bad(_ field: String, _ why: String) -> NeuralError { .invalidMetadata(path: path, field: field, reason: why) }
        guard (1...Self.currentFormat).contains(format) else {
            throw bad("format", "is \(format); this build reads 1...\(Self.currentFormat)")
        }
        guard (1...128).contains(spec.name.count), !spec.name.hasControlCharacters(allowing: []) else {
            throw bad("spec.name", "must be 1 to 128 printable characters")
        }
        let plan: NetworkPlan
        do { plan = try spec.plan() } catch NeuralError.invalidSpec(let why) { throw bad("spec", why) }
        guard plan.output == Shape(classes.count, 1, 1) else {
            throw bad("classes", "names \(classes.count) classes; the network's output is \(plan.output), not \(classes.count)x1x1")
        }
        try validateClasses(bad)
        try validateNormalization(bad)
        try validateThresholds(bad)
        if let t = temperature, !Self.temperatures.contains(t) {   // NaN is in no range
            throw bad("temperature", "is \(t); it must be a number in \(Self.temperatures)")
        }
        try provenance.validate(bad)
        try quantization?.validate(bad)
        if let why = inputReference?.check() { throw bad("inputReference", why) }
        return plan
    }

    private func validateClasses(_ bad: (String, String) -> NeuralError) throws {
        var seen: [String: Int] = [:]
        for (i, name) in classes.enumerated() {
            guard (1...Self.maximumClassName).contains(name.utf8.count), name.utf8.allSatisfy(Self.isNameByte) else {
                throw bad("classes[\(i)]", "is \(String(reflecting: name)); a class name is 1 to \(Self.maximumClassName) of A-Z a-z 0-9 _ -")
            }
            if let j = seen.updateValue(i, forKey: name.lowercased()) {
                throw bad("classes[\(i)]", "'\(name)' repeats classes[\(j)] '\(classes[j])' (names are compared ignoring case)")
            }
        }
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D
    }

    private func validateNormalization(_ bad: (String, String) -> NeuralError) throws {
        let c = spec.input.channels, n = normalization
        guard n.mean.count == c, n.std.count == c else {
            throw bad("normalization", "has \(n.mean.count) means and \(n.std.count) stds for \(c) input channels")
        }
        for (i, m) in n.mean.enumerated() where !(abs(m) <= 10) {
            throw bad("normalization.mean[\(i)]", "is \(m); it must be a number in -10...10")
        }
        for (i, s) in n.std.enumerated() where !(s.isFinite && s >= 1e-3) {
            throw bad("normalization.std[\(i)]", "is \(s); it must be a finite number >= 0.001")
        }
    }

    private func validateThresholds(_ bad: (String, String) -> NeuralError) throws {
        for key in thresholds.keys.sorted() {
            let value = thresholds[key]!
            if key.hasPrefix("defect.") {
                let kind = String(key.dropFirst(7))
                guard classes.contains(kind) else { throw bad("thresholds.\(key)", "names no class of the model \(classes)") }
            } else {
                guard Self.thresholdKeys.contains(key) else {
                    throw bad("thresholds.\(key)", "is not a threshold; known: pass, fail, defect, defect.<class>")
                }
            }
            guard (0...1).contains(value) else { throw bad("thresholds.\(key)", "is \(value); it must be a number in 0...1") }
        }
        if let pass = thresholds["pass"], let fail = thresholds["fail"], pass > fail {
            throw bad("thresholds.pass", "\(pass) is above thresholds.fail \(fail)")
        }
    }
}

extension ModelMetadata.Provenance {
    func validate(_ bad: (String, String) -> NeuralError) throws {
        let texts: [(String, String?, Int, Set<Character>)] = [
            ("created", created, 64, []), ("dataHash", dataHash, 256, []), ("parent", parent, 256, []),
            ("notes", notes, 4096, ["\n", "\t"]),
        ]
        for (field, text, limit, allowed) in texts {
            guard let text else { continue }
            guard text.utf8.count <= limit, !text.hasControlCharacters(allowing: allowed) else {
                throw bad("provenance.\(field)", "must be at most \(limit) bytes without control characters")
            }
        }
        guard metrics.count <= 256 else { throw bad("provenance.metrics", "has \(metrics.count) entries; at most 256") }
        for (key, value) in metrics.sorted(by: { $0.key < $1.key }) {
            guard (1...128).contains(key.utf8.count), !key.hasControlCharacters(allowing: []) else {
                throw bad("provenance.metrics", "has a key that is empty, over 128 bytes or holds control characters")
            }
            guard value.isFinite else { throw bad("provenance.metrics.\(key)", "is \(value); it must be finite") }
        }
    }
}

extension String {
    /// Whether the text holds a C0/C1 control character or DEL other than those `allowed`.
    func hasControlCharacters(allowing allowed: Set<Character>) -> Bool {
        contains { c in !allowed.contains(c) && c.unicodeScalars.contains { $0.properties.generalCategory == .control } }
    }
}

/// A network with its metadata, saved as one safetensors file: tensors by their
/// PyTorch-style names, the metadata as JSON under `__metadata__["linesight"]`.
public enum ModelFile {
    public static func encode(_ network: Network, _ meta: ModelMetadata) -> Data {
        var entries: [Safetensors.Entry] = []
        for (name, p) in network.namedParameters {
            entries.append(.init(name: name, shape: p.dims, values: p.value.array))
        }
        for (name, t) in network.namedBuffers {
            entries.append(.init(name: name, shape: [t.count], values: t.array))
        }
        let json = (try? JSONEncoder.sorted.encode(meta)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
        return Safetensors.encode(entries, metadata: ["linesight": json, "format": "pt"])
    }

    public static func save(_ network: Network, _ meta: ModelMetadata, to path: String) throws {
        try writeAtomically(encode(network, meta), to: path)
    }

    /// The largest file read: the biggest header and the most parameters `SpecLimits` allows.
    public static let maximumFileBytes = 8 + Safetensors.maximumHeaderBytes + SpecLimits.parameters * 4

    /// Loads and checks a model file (see `decode`).
    public static func load(path: String) throws -> (network: Network, metadata: ModelMetadata) {
        try decode(try read(path: path), path: path)
    }

    /// The bytes of the file at `path`, read once into memory (not mapped: a file rewritten in
    /// place must not change under its hash). A file over `maximumFileBytes` is refused unread.
    public static func read(path: String) throws -> Data {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
        if let size, size > Int64(maximumFileBytes) {
            throw NeuralError.modelFile(path: path, reason: "file is \(size) bytes; a model file is at most \(maximumFileBytes)")
        }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw NeuralError.io(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
    }

    /// Decodes and checks a model file's bytes: every metadata field (`ModelMetadata.validate`),
    /// then the number of values against what the spec needs, before the network is built,
    /// then every tensor the architecture needs, with the right shape, finite, running
    /// variances >= 0, and nothing else. `path` only names the file in errors.
    public static func decode(_ data: Data, path: String) throws -> (network: Network, metadata: ModelMetadata) {
        let (entries, raw) = try Safetensors.decode(data, path: path)
        guard let json = raw["linesight"] else {
            throw NeuralError.modelFile(path: path, reason: "no Linesight metadata (not a Linesight model?)")
        }
        let meta: ModelMetadata
        do {
            meta = try JSONDecoder().decode(ModelMetadata.self, from: Data(json.utf8))
        } catch {
            throw NeuralError.modelFile(path: path, reason: "metadata does not decode: \(error)")
        }
        let plan = try meta.validate(path: path)
        let held = entries.reduce(0) { $0 + $1.values.count }   // at most the file's size / 4
        guard held == plan.parameters + plan.buffers else {
            throw NeuralError.modelFile(path: path, reason: "the file holds \(held) values; its architecture needs \(plan.parameters) "
                                        + "parameters and \(plan.buffers) running statistics")
        }
        let network = try Network(meta.spec)
        var byName = Dictionary(entries.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        func take(_ name: String, _ target: Tensor, _ dims: [Int]) throws {
            guard let e = byName.removeValue(forKey: name) else { throw NeuralError.missingTensor(path: path, name: name) }
            guard e.shape == dims, e.values.count == target.count else {
                throw NeuralError.shapeMismatch(path: path, name: name, expected: dims, found: e.shape)
            }
            guard e.values.allSatisfy(\.isFinite) else {
                throw NeuralError.modelFile(path: path, reason: "tensor '\(name)' holds NaN or infinite values")
            }
            if name.hasSuffix("running_var"), let v = e.values.first(where: { $0 < 0 }) {
                throw NeuralError.modelFile(path: path, reason: "tensor '\(name)' holds a negative variance \(v)")
            }
            e.values.withUnsafeBufferPointer { if let b = $0.baseAddress { target.data.update(from: b, count: target.count) } }
        }
        for (name, p) in network.namedParameters { try take(name, p.value, p.dims) }
        for (name, t) in network.namedBuffers { try take(name, t, [t.count]) }
        if let extra = byName.keys.sorted().first { throw NeuralError.unexpectedTensor(path: path, name: extra) }
        return (network, meta)
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}
