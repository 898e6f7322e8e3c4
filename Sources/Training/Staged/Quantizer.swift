import Foundation
import Neural

/// Post-training int8 quantization of a stage model (`linesight quantize`): the ranges of
/// every tensor the int8 network stores are calibrated on real frames (a folder, or the
/// frames the daemon kept), and the int8 model is checked against the fp32 one on frames
/// held out of the calibration: how often the top class agrees, how far the scores move,
/// and the time of a frame in each.
public struct Quantizer {
    public var method: Quantization.Method = .percentile
    public var percentile = 99.99
    /// At most this many frames are read, spread evenly over the folder's (sorted) files.
    public var maximumFrames = 500
    public var onLoad: ((Int, Int) -> Void)?
    public var onStage: ((String) -> Void)?
    public var onProgress: ((String, Int, Int) -> Void)?

    public init() {}

    public struct Report: Sendable {
        public var calibrated: Int
        /// Frames the int8 model was compared on (held out of the calibration when there
        /// were enough; else the calibration frames themselves).
        public var checked: Int
        public var heldOut: Bool
        public var skipped: [String]
        /// Share of checked frames whose top class is the same in int8 and fp32.
        public var topClassAgreement: Double
        /// Largest and mean absolute difference of the scores (softmax over the temperature,
        /// or sigmoid for multilabel), over every class of every checked frame.
        public var maximumScoreChange: Double
        public var meanScoreChange: Double
        /// Median milliseconds of one frame, batch 1, fp32 (the compiled network) and int8.
        public var fp32Milliseconds: Double
        public var int8Milliseconds: Double
        public var isa: Int8ISA
    }

    /// The model's metadata with the calibrated ranges, and the report.
    public func run(_ network: Network, _ metadata: ModelMetadata, frames directory: String, source: String) throws -> (ModelMetadata, Report) {
        let shape = network.spec.input
        var items = try Pretrainer.frames(directory)
        if items.count > maximumFrames {
            let all = items
            items = (0..<maximumFrames).map { all[$0 * all.count / maximumFrames] }
        }
        onStage?("reading \(items.count) frames from \(directory) at \(shape.width)x\(shape.height) \(shape.channels == 3 ? "RGB" : "gray")")
        let loaded = try ImageFolder.load(directory, items, shape: shape, workers: Compute.current().threads) { [onLoad, count = items.count] in onLoad?($0, count) }
        guard !loaded.kept.isEmpty else { throw TrainingError.dataset(path: directory, reason: "none of its \(items.count) images could be read") }
        let per = shape.count, plane = shape.height * shape.width, n = metadata.normalization
        let samples: [[Float]] = (0..<loaded.kept.count).map { i in
            (0..<per).map { k in (Float(loaded.pixels[i * per + k]) / 255 - n.mean[k / plane]) / n.std[k / plane] }
        }
        let files = loaded.kept.map(\.file)
        let heldOutIndex = files.count >= 20 ? files.indices.filter { ImageFolder.bucket(files[$0]) == Self.heldOutBucket } : []
        let held = Set(heldOutIndex)
        let calibration = samples.indices.filter { !held.contains($0) }.map { samples[$0] }
        let check = heldOutIndex.isEmpty ? samples : heldOutIndex.map { samples[$0] }
        onStage?("calibrating on \(calibration.count) frames (\(method.rawValue)\(method == .percentile ? " \(percentile)" : ""))"
                 + (heldOutIndex.isEmpty ? "; too few to hold some out: checked on the same frames" : "; \(check.count) held out to check"))
        let calibrator = Calibrator(method: method, percentile: percentile)
        let q = try calibrator.calibrate(network, frames: calibration, batch: 16, source: source) { [onProgress] in onProgress?($0, $1, $2) }
        var meta = metadata
        meta.quantization = q
        let report = try compare(network, meta, check)
        if let e = meta.inputReference?.embedding {
            // the drift watch compares the int8 network's embeddings with a reference made in fp32
            let moved = try Self.int8Reference(e, network, meta, samples)
            meta.inputReference?.embedding = moved
            onStage?("the drift watch's embedding reference moved to the int8 network's (\(samples.count) frames)")
        }
        var p = meta.provenance
        p.metrics["int8.top_class_agreement"] = report.topClassAgreement
        p.metrics["int8.max_score_change"] = report.maximumScoreChange
        let note = "int8: \(method.rawValue) calibration on \(calibration.count) frames of \(source)"
        p.notes = [p.notes, note].compactMap { $0 }.joined(separator: "\n").suffix(4096).description
        meta.provenance = p
        return (meta, Report(calibrated: calibration.count, checked: check.count, heldOut: !heldOutIndex.isEmpty, skipped: loaded.skipped,
                             topClassAgreement: report.topClassAgreement, maximumScoreChange: report.maximumScoreChange,
                             meanScoreChange: report.meanScoreChange, fp32Milliseconds: report.fp32Milliseconds,
                             int8Milliseconds: report.int8Milliseconds, isa: report.isa))
    }

    static let heldOutBucket = 9

    /// An fp32 embedding reference moved to the int8 network: each dimension's mean by the
    /// mean difference int8 - fp32 over `frames` (the quantization's systematic bias), so a
    /// healthy line on the int8 model lies where it lay on the fp32 one. Spreads and the good
    /// parts' distances stay as measured (widening the spreads by the quantization noise
    /// would pull every distance in and hide drift).
    static func int8Reference(_ e: EmbeddingReference, _ network: Network, _ meta: ModelMetadata, _ frames: [[Float]]) throws -> EmbeddingReference {
        let fp32 = InferenceNetwork(network)
        let int8 = try QuantizedNetwork(network, quantization: meta.quantization!)
        let flips = meta.flipAverage == true, d = e.mean.count
        var sum = [Double](repeating: 0, count: d), n = 0.0
        for f in frames {
            guard let a = f.withUnsafeBufferPointer({ fp32.predictWithEmbedding(sample: $0.baseAddress!, flipAveraged: flips).embedding }),
                  let b = f.withUnsafeBufferPointer({ int8.predictWithEmbedding(sample: $0.baseAddress!, flipAveraged: flips).embedding }),
                  a.count == d, b.count == d else { continue }
            for k in 0..<d { sum[k] += Double(b[k] - a[k]) }
            n += 1
        }
        guard n > 0 else { return e }
        var out = e
        for k in 0..<d where (sum[k] / n).isFinite { out.mean[k] += sum[k] / n }
        return out
    }

    /// Logits of `net` in int8 (`quantization`'s ranges) on every image of `data`.
    static func int8Logits(_ net: Network, _ quantization: Quantization, _ data: ImageDataset, _ norm: Normalization,
                           flipAverage: Bool) throws -> [[Float]] {
        int8Logits(try QuantizedNetwork(net, quantization: quantization), data, norm, flipAverage: flipAverage)
    }

    /// Logits of the int8 network `q` on every image of `data`.
    static func int8Logits(_ q: QuantizedNetwork, _ data: ImageDataset, _ norm: Normalization, flipAverage: Bool) -> [[Float]] {
        let per = data.shape.count, plane = data.shape.height * data.shape.width
        var x = [Float](repeating: 0, count: per)
        return (0..<data.count).map { i in
            for k in 0..<per { x[k] = (Float(data.pixels[i * per + k]) / 255 - norm.mean[k / plane]) / norm.std[k / plane] }
            return x.withUnsafeBufferPointer { flipAverage ? q.predictFlipAveraged(sample: $0.baseAddress!) : q.predict(sample: $0.baseAddress!) }
        }
    }

    /// A stage-1 model in fp32 and in int8 (`int8`: its metadata with the calibrated ranges)
    /// on the golden images, each judged as the daemon does (flips, temperature, the model's
    /// thresholds): the gate figures of both.
    public static func goldenFigures(_ network: Network, fp32: ModelMetadata, int8: ModelMetadata, golden: [LabeledImage],
                                     passClass: String) throws -> (fp32: GateFigures, int8: GateFigures) {
        guard let q = int8.quantization else { throw TrainingError.dataset(path: "golden set", reason: "the int8 model has no calibrated ranges") }
        guard let passIndex = fp32.classes.firstIndex(of: passClass) else {
            throw TrainingError.dataset(path: "golden set", reason: "the model has no pass class '\(passClass)' (classes \(fp32.classes))")
        }
        let shape = network.spec.input
        let loaded = try ImageFolder.load("", golden, shape: shape, workers: Compute.current().threads)
        guard !loaded.kept.isEmpty else { throw TrainingError.dataset(path: "golden set", reason: "none of its \(golden.count) images could be read") }
        let per = shape.count, plane = shape.height * shape.width, n = fp32.normalization
        let reference = InferenceNetwork(network), quantized = try QuantizedNetwork(network, quantization: q)
        let flips = fp32.flipAverage == true
        var z32: [[Float]] = [], z8: [[Float]] = []
        var x = [Float](repeating: 0, count: per)
        for i in 0..<loaded.kept.count {
            for k in 0..<per { x[k] = (Float(loaded.pixels[i * per + k]) / 255 - n.mean[k / plane]) / n.std[k / plane] }
            x.withUnsafeBufferPointer { p in
                z32.append(flips ? reference.predictFlipAveraged(sample: p.baseAddress!) : reference.predict(sample: p.baseAddress!))
                z8.append(flips ? quantized.predictFlipAveraged(sample: p.baseAddress!) : quantized.predict(sample: p.baseAddress!))
            }
        }
        return (GateFigures.measure(z32, fp32, loaded.kept, Int32(passIndex)), GateFigures.measure(z8, int8, loaded.kept, Int32(passIndex)))
    }

    private struct Comparison {
        var topClassAgreement = 0.0, maximumScoreChange = 0.0, meanScoreChange = 0.0
        var fp32Milliseconds = 0.0, int8Milliseconds = 0.0
        var isa = Int8ISA.baseline
    }

    private func compare(_ network: Network, _ meta: ModelMetadata, _ frames: [[Float]]) throws -> Comparison {
        let fp32 = InferenceNetwork(network)
        let int8 = try QuantizedNetwork(network, quantization: meta.quantization!)
        let flips = meta.flipAverage == true
        func scores(_ z: [Float]) -> [Double] {
            if meta.task == .multilabel { return z.map { 1 / (1 + exp(-Double($0))) } }
            let t = meta.temperature ?? 1, m = Double(z.max() ?? 0)
            let e = z.map { exp((Double($0) - m) / t) }, total = e.reduce(0, +)
            return e.map { $0 / total }
        }
        var c = Comparison(isa: int8.isa)
        var agree = 0, changes: [Double] = [], t32: [Double] = [], t8: [Double] = []
        for f in frames {
            let (a, ta) = Self.timed { f.withUnsafeBufferPointer { flips ? fp32.predictFlipAveraged(sample: $0.baseAddress!) : fp32.predict(sample: $0.baseAddress!) } }
            let (b, tb) = Self.timed { f.withUnsafeBufferPointer { flips ? int8.predictFlipAveraged(sample: $0.baseAddress!) : int8.predict(sample: $0.baseAddress!) } }
            t32.append(ta); t8.append(tb)
            if a.indices.max(by: { a[$0] < a[$1] }) == b.indices.max(by: { b[$0] < b[$1] }) { agree += 1 }
            changes += zip(scores(a), scores(b)).map { abs($0 - $1) }
        }
        c.topClassAgreement = Double(agree) / Double(max(1, frames.count))
        c.maximumScoreChange = changes.max() ?? 0
        c.meanScoreChange = changes.reduce(0, +) / Double(max(1, changes.count))
        c.fp32Milliseconds = t32.sorted()[t32.count / 2] * 1000
        c.int8Milliseconds = t8.sorted()[t8.count / 2] * 1000
        return c
    }

    /// `body`'s result and its wall time in seconds (also `Pruner`'s frame timing).
    static func timed<T>(_ body: () -> T) -> (T, Double) {
        let start = DispatchTime.now().uptimeNanoseconds
        let v = body()
        return (v, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
}
