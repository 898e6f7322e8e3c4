import Foundation
import Neural

/// `linesight prune`'s first half: a stage model's residual blocks narrowed
/// (`ChannelPruning`), with what it saves: multiply-adds, parameters and the time of one
/// frame as the daemon runs it (flip-averaged when the model is). The second half is
/// fine-tuning the pruned network on labelled images (`StagedTrainer` with the pruned
/// models as `--init`), which also calibrates its thresholds again.
public enum Pruner {
    public struct Report: Sendable {
        public var blocks: [ChannelPruning.Block]
        public var multiplyAdds: (before: Int, after: Int)
        public var parameters: (before: Int, after: Int)
        /// The median time of one frame, fp32, in milliseconds.
        public var milliseconds: (before: Double, after: Double)
        /// The source carried int8 ranges (dropped: the pruned model is fp32).
        public var wasInt8: Bool
        /// What was pruned, for the provenance of the model once fine-tuned.
        public var note: String
    }

    /// The model at `path` pruned; its metadata keep everything but the spec and the int8
    /// ranges (whose tensors changed), and note the pruning in the provenance.
    public static func prune(path: String, ratio: Double, criterion: ChannelPruning.Criterion,
                             multiple: Int) throws -> (network: Network, metadata: ModelMetadata, report: Report) {
        let (net, meta) = try ModelFile.load(path: path)
        let result = try ChannelPruning.prune(net, ratio: ratio, criterion: criterion, multiple: multiple)
        var m = meta
        m.spec = result.network.spec
        m.quantization = nil
        var p = m.provenance
        let note = "pruned: \(Int((ratio * 100).rounded())) % of each residual block's inner channels by \(criterion.rawValue), kept in multiples of \(multiple)"
        p.notes = [p.notes, note + " (not fine-tuned: its thresholds are the unpruned model's)"].compactMap { $0 }
            .joined(separator: "\n").suffix(4096).description
        m.provenance = p
        let before = try net.spec.plan(), after = try result.network.spec.plan()
        let report = Report(blocks: result.blocks, multiplyAdds: (before.multiplyAdds, after.multiplyAdds),
                            parameters: (net.parameterCount, result.network.parameterCount),
                            milliseconds: (frameMilliseconds(net, flips: meta.flipAverage == true),
                                           frameMilliseconds(result.network, flips: meta.flipAverage == true)),
                            wasInt8: meta.quantization != nil, note: note)
        return (result.network, m, report)
    }

    /// The median time of one frame through the inference form of `net` (50 frames after 5 to warm up).
    public static func frameMilliseconds(_ net: Network, flips: Bool) -> Double {
        let infer = InferenceNetwork(net)
        var x = [Float](repeating: 0, count: net.spec.input.count)
        var rng = SeededGenerator(seed: 1)
        for i in x.indices { x[i] = rng.normal() }
        let times = (0..<55).map { _ in
            Quantizer.timed { x.withUnsafeBufferPointer { flips ? infer.predictFlipAveraged(sample: $0.baseAddress!) : infer.predict(sample: $0.baseAddress!) } }.1
        }.dropFirst(5).sorted()
        return times[times.count / 2] * 1000
    }
}
