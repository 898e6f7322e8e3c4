import Foundation

/// Post-training calibration: runs the fp32 network on real frames, measures every tensor
/// the int8 network will store (`QuantizedPlan.storedTensors`) and picks each one's range
/// by the method: min/max, a percentile on each side of zero, or the clip of least KL
/// divergence (entropy). Two passes over the frames: the extremes, then a histogram of
/// 2048 bins between them.
public struct Calibrator {
    public var method: Quantization.Method
    /// For `.percentile`: the share of values kept, e.g. 99.99.
    public var percentile: Double
    public static let bins = 2048

    public init(method: Quantization.Method, percentile: Double = 99.99) {
        self.method = method
        self.percentile = percentile
    }

    /// Ranges for `network` from `frames` (normalized samples, C*H*W floats each), batched
    /// by `batch`. `progress` is told each pass's done and total frames.
    public func calibrate(_ network: Network, frames: [[Float]], batch: Int = 16, compute: Compute = .current(), source: String? = nil,
                          progress: (String, Int, Int) -> Void = { _, _, _ in }) throws -> Quantization {
        guard !frames.isEmpty else { throw NeuralError.invalidSpec("calibration needs at least one frame") }
        let s = network.spec.input
        for (i, f) in frames.enumerated() where f.count != s.count {
            throw NeuralError.invalidSpec("calibration frame \(i) has \(f.count) values; the network takes \(s.count)")
        }
        let plan = try QuantizedPlan(network)
        let wanted = plan.storedTensors
        let watch = Set(wanted.map(\.fp32Output))
        // pass 1: extremes
        var lo = [String: Float](), hi = [String: Float]()
        try forEachOutput(network, frames, batch: batch, compute: compute, watch: watch, progress: { progress("ranges", $0, $1) }) { path, t in
            var a = lo[path] ?? 0, b = hi[path] ?? 0
            for i in 0..<t.count {
                let v = t.data[i]
                guard v.isFinite else { continue }
                a = min(a, v); b = max(b, v)
            }
            lo[path] = a; hi[path] = b
        }
        // pass 2: histograms between the extremes (zero inside)
        var histograms = [String: [Double]]()
        if method != .minmax {
            try forEachOutput(network, frames, batch: batch, compute: compute, watch: watch, progress: { progress("histograms", $0, $1) }) { path, t in
                let a = lo[path] ?? 0, b = hi[path] ?? 0, width = max(b - a, 1e-12)
                var h = histograms[path] ?? [Double](repeating: 0, count: Self.bins)
                let scale = Float(Self.bins) / width
                for i in 0..<t.count {
                    let v = t.data[i]
                    guard v.isFinite else { continue }
                    h[min(Self.bins - 1, max(0, Int((v - a) * scale)))] += 1
                }
                histograms[path] = h
            }
        }
        var ranges = [String: [Float]]()
        let unclipped = Self.readByMaximum(plan)
        for (name, path) in wanted {
            let a = lo[path] ?? 0, b = hi[path] ?? 0
            if b - a <= 0 { ranges[name] = [0, 1e-3]; continue }   // a tensor that never varies
            switch unclipped == name ? .minmax : method {
            case .minmax: ranges[name] = [a, b]
            case .percentile: ranges[name] = Self.percentileRange(histograms[path]!, lo: a, hi: b, keep: percentile)
            case .entropy: ranges[name] = Self.entropyRange(histograms[path]!, lo: a, hi: b)
            }
            if ranges[name]![1] - ranges[name]![0] <= 0 { ranges[name] = [min(a, 0), max(b, 1e-3)] }
        }
        return Quantization(method: method, percentile: method == .percentile ? percentile : nil, frames: frames.count, ranges: ranges, source: source)
    }

    /// The tensor a global maximum (or peak) pooling reads, which is never clipped: its
    /// largest values are the signal (a defect a few pixels wide), not outliers.
    static func readByMaximum(_ plan: QuantizedPlan) -> String? {
        let lastIsMaxPool: Bool
        if case let .pool(_, layer)? = plan.body.last { lastIsMaxPool = layer is MaxPool2d } else { lastIsMaxPool = false }
        let first = plan.tail.first
        guard lastIsMaxPool || first is GlobalAvgMaxPool || first is GlobalAvgPeakPool else { return nil }
        return plan.storedTensors.last?.name
    }

    /// Runs the fp32 network in batches and hands `body` the output of every watched layer
    /// path ("" is the network's input); ResNet blocks' sums under the block's path.
    func forEachOutput(_ network: Network, _ frames: [[Float]], batch: Int, compute: Compute, watch: Set<String>,
                       progress: (Int, Int) -> Void, _ body: (String, Tensor) -> Void) throws {
        let s = network.spec.input
        var done = 0
        try compute.run {
            while done < frames.count {
                let n = min(batch, frames.count - done)
                let x = Tensor(s, batch: n)
                for i in 0..<n { frames[done + i].withUnsafeBufferPointer { x.data.advanced(by: i * s.count).update(from: $0.baseAddress!, count: s.count) } }
                if watch.contains("") { body("", x) }
                _ = try run(network.root, x, path: "", watch: watch, body)
                done += n
                progress(done, frames.count)
            }
        }
    }

    private func run(_ layer: Layer, _ x: Tensor, path: String, watch: Set<String>, _ body: (String, Tensor) -> Void) throws -> Tensor {
        let prefix = path.isEmpty ? "" : path + "."
        switch layer {
        case let seq as Sequential:
            var h = x
            for (name, child) in seq.children { h = try run(child, h, path: prefix + name, watch: watch, body) }
            return h
        case let r as Residual:
            let b = try run(r.body, x, path: prefix + "body", watch: watch, body)
            let sum = Tensor(b.shape, batch: b.batch)
            sum.data.update(from: b.data, count: b.count)
            let s = r.shortcut.layers.isEmpty ? x : try run(r.shortcut, x, path: prefix + "shortcut", watch: watch, body)
            for i in 0..<sum.count { sum.data[i] += s.data[i] }
            if watch.contains(path) { body(path, sum) }
            return sum
        default:
            let y = layer.forward(x, mode: .eval)
            if watch.contains(path) { body(path, y) }
            return y
        }
    }

    /// The `keep` percentile of the values above zero and of those below (zero inside).
    static func percentileRange(_ h: [Double], lo: Float, hi: Float, keep: Double) -> [Float] {
        let width = (hi - lo) / Float(h.count)
        let zeroBin = min(h.count - 1, max(0, Int((0 - lo) / width)))
        func edge(_ bins: [Int], _ value: (Int) -> Float) -> Float {
            let total = bins.reduce(0.0) { $0 + h[$1] }
            guard total > 0 else { return 0 }
            var seen = 0.0
            for b in bins {
                seen += h[b]
                if seen >= total * keep / 100 { return value(b) }
            }
            return value(bins.last!)
        }
        // the bin holding zero is left out: after a ReLU its exact zeros would dilute the tail
        let up = edge(Array((zeroBin + 1)..<max(zeroBin + 1, h.count))) { lo + Float($0 + 1) * width }
        let down = zeroBin > 0 ? edge(Array((0..<zeroBin).reversed())) { lo + Float($0) * width } : 0
        return [min(0, down), max(0, up)]
    }

    /// Per side of zero, the clip whose 8-bit image loses the least information
    /// (KL divergence of the clipped histogram from its quantized copy).
    static func entropyRange(_ h: [Double], lo: Float, hi: Float) -> [Float] {
        let width = (hi - lo) / Float(h.count)
        let zeroBin = min(h.count - 1, max(0, Int((0 - lo) / width)))
        // the bin holding zero is left out: after a ReLU it holds most values, all exact in
        // any clip, and spreading it over its group would favour the narrowest clip
        var upBins = Array(h[zeroBin...])
        upBins[0] = 0
        let downBins = Array(h[..<zeroBin].reversed())
        let share = Float(upBins.count) / Float(h.count)
        let levelsUp = max(2, Int((255 * share).rounded())), levelsDown = max(2, 255 - levelsUp)
        let up = Float(bestClip(upBins, levels: levelsUp)) * width
        let down = downBins.isEmpty ? 0 : Float(bestClip(downBins, levels: levelsDown)) * width
        return [min(0, -down), max(0, up)]
    }

    /// The number of bins (from zero outward) to keep, by least KL divergence.
    static func bestClip(_ h: [Double], levels: Int) -> Int {
        let n = h.count
        guard n > levels, h.reduce(0, +) > 0 else { return n }
        var best = n, bestKL = Double.infinity
        let step = max(1, (n - levels) / 256)
        for i in stride(from: levels, through: n, by: step) {
            var p = Array(h[..<i])
            p[i - 1] += h[i...].reduce(0, +)
            // q: the bins inside the clip (without the clipped mass p carries) merged into `levels`
            // groups, each group's mass spread back over its non-empty bins
            var q = [Double](repeating: 0, count: i)
            for g in 0..<levels {
                let a = g * i / levels, b = (g + 1) * i / levels
                let mass = h[a..<b].reduce(0, +), filled = h[a..<b].filter { $0 > 0 }.count
                guard filled > 0 else { continue }
                for j in a..<b where h[j] > 0 { q[j] = mass / Double(filled) }
            }
            let ps = p.reduce(0, +), qs = q.reduce(0, +)
            guard ps > 0, qs > 0 else { continue }
            var kl = 0.0
            for j in 0..<i where p[j] > 0 {
                let pj = p[j] / ps, qj = q[j] / qs
                kl += qj > 0 ? pj * log(pj / qj) : pj * 30   // a bin q lost: a heavy penalty
            }
            if kl < bestKL { bestKL = kl; best = i }
        }
        return best
    }
}
