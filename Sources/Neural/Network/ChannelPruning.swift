/// Structured channel pruning: the inner channels of each residual block (the first conv's
/// outputs, which only its batch norm and the second conv read) ranked, the weakest removed,
/// the network rebuilt narrower with the survivors' weights. The channels a block adds to
/// its shortcut stay: removing them would change every block of the stage at once.
///
/// Which channels go: `bn`, the smallest |gamma| of the batch norm after the first conv (a
/// channel the norm scales towards zero contributes little, Liu et al. 2017, "network
/// slimming"), or `l1`, the smallest sum of |w| of the first conv's filter (Li et al. 2017).
/// How many: `ratio` of each block's inner channels, the count kept rounded to a multiple
/// of `multiple` (8 or 16 keep the channel-blocked kernels, which take outputs in blocks of
/// 16 and a last block of 8).
public enum ChannelPruning {
    public enum Criterion: String, Sendable, CaseIterable {
        case bn, l1
    }

    /// One pruned block: its path (a residual layer's index), inner channels before and after.
    public struct Block: Sendable, Equatable {
        public let path: String
        public let before: Int, after: Int
    }

    public struct Result {
        public let network: Network
        public let blocks: [Block]
    }

    /// `net` with the inner channels of its residual blocks pruned. Blocks with too few
    /// channels to lose a whole `multiple` keep them all. Throws if the network has no
    /// block of the form conv, batch norm, activation, conv (nothing to prune).
    public static func prune(_ net: Network, ratio: Double, criterion: Criterion, multiple: Int = 16) throws -> Result {
        guard ratio > 0, ratio < 1 else { throw NeuralError.invalidSpec("pruning ratio \(ratio) must lie in (0, 1)") }
        guard multiple >= 1 else { throw NeuralError.invalidSpec("the channel multiple must be at least 1") }
        let params = Dictionary(net.namedParameters.map { ($0.0, $0.1.value) }, uniquingKeysWith: { a, _ in a })
        let buffers = Dictionary(net.namedBuffers.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        var layers = net.spec.layers
        var kept: [String: Survivors] = [:]  // block prefix ("3.body.") -> its surviving inner channels
        var blocks: [Block] = []
        var found = 0
        for (i, layer) in layers.enumerated() {
            guard case let .residual(body, shortcut) = layer, body.count >= 4,
                  case let .conv(inner, k, s, p, 1, bias) = body[0], case .batchNorm = body[1], case .activation = body[2],
                  case let .conv(_, k2, _, _, 1, _) = body[3] else { continue }
            found += 1
            let prefix = "\(i).body."
            guard let w = params[prefix + "0.weight"] else { throw NeuralError.invalidSpec("block \(i): no weights at \(prefix)0") }
            let target = Int((Double(inner) * (1 - ratio) / Double(multiple)).rounded()) * multiple
            let keep = min(inner, max(multiple, target))
            guard keep < inner else { continue }
            let scores: [Float]
            switch criterion {
            case .bn:
                guard let gamma = params[prefix + "1.weight"] else { throw NeuralError.invalidSpec("block \(i): no batch norm at \(prefix)1") }
                scores = (0..<inner).map { abs(gamma[$0]) }
            case .l1:
                let per = w.count / inner
                scores = (0..<inner).map { o in (0..<per).reduce(Float(0)) { $0 + abs(w[o * per + $1]) } }
            }
            // the strongest `keep`, ties to the lower index, in their original order; a NaN
            // score (a broken channel) ranks last
            let ranked = scores.map { $0.isNaN ? -Float.infinity : $0 }
            let order = (0..<inner).sorted { ranked[$0] != ranked[$1] ? ranked[$0] > ranked[$1] : $0 < $1 }
            kept[prefix] = Survivors(keep: order.prefix(keep).sorted(), inner: inner, taps: k2 * k2)
            var newBody = body
            newBody[0] = .conv(out: keep, kernel: k, stride: s, padding: p, groups: 1, bias: bias)
            layers[i] = .residual(body: newBody, shortcut: shortcut)
            blocks.append(Block(path: "\(i)", before: inner, after: keep))
        }
        guard found > 0 else {
            throw NeuralError.invalidSpec("\(net.spec.name) has no residual block of conv, batch norm, activation, conv: nothing to prune")
        }
        var spec = net.spec
        spec.layers = layers
        let pruned = try Network(spec)
        for (name, p) in pruned.namedParameters {
            guard let src = params[name] else { throw NeuralError.invalidSpec("pruning lost \(name)") }
            copy(name, from: src, into: p.value, kept)
        }
        for (name, t) in pruned.namedBuffers {
            guard let src = buffers[name] else { throw NeuralError.invalidSpec("pruning lost \(name)") }
            copy(name, from: src, into: t, kept)
        }
        return Result(network: pruned, blocks: blocks)
    }

    /// The surviving inner channels of one block, of how many, and the second conv's taps.
    struct Survivors {
        let keep: [Int], inner: Int, taps: Int
    }

    /// Copies a tensor, keeping only the surviving inner channels where `name` holds them:
    /// the first conv's output rows (and bias), its batch norm's entries, the second conv's
    /// input columns.
    private static func copy(_ name: String, from src: Tensor, into dst: Tensor, _ kept: [String: Survivors]) {
        let layer = Network.layerPrefix(of: name)
        if src.count != dst.count, let (prefix, sv) = kept.first(where: { layer.hasPrefix($0.key) }).map({ ($0.key, $0.value) }) {
            switch layer.dropFirst(prefix.count) {
            case "0.", "1.":
                // [inner, rest...] -> [keep, rest...]: a conv's rows, its bias, a batch norm's vectors
                let rest = src.count / sv.inner
                for (j, o) in sv.keep.enumerated() { (dst.data + j * rest).update(from: src.data + o * rest, count: rest) }
                return
            case "3.":
                // [out, inner, taps] -> [out, keep, taps]
                let out = src.count / (sv.inner * sv.taps)
                for o in 0..<out {
                    for (j, c) in sv.keep.enumerated() {
                        (dst.data + (o * sv.keep.count + j) * sv.taps).update(from: src.data + (o * sv.inner + c) * sv.taps, count: sv.taps)
                    }
                }
                return
            default: break
            }
        }
        precondition(src.count == dst.count, "pruning: \(name) changed size outside a pruned block")
        dst.data.update(from: src.data, count: dst.count)
    }
}
