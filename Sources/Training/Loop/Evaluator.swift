import Neural

/// What a model did on a labeled set.
public struct Evaluation: Sendable {
    public var confusion: ConfusionMatrix
    public var loss: Double
    public var top5: Double
    /// Softmax probabilities per sample, in dataset order (kept only when asked for).
    public var probabilities: [[Float]]

    public var accuracy: Double { confusion.accuracy }
}

/// Runs a network in eval mode over a dataset, in batches. With `flipAverage` each image
/// is also judged mirrored left-right and the two softmax outputs are averaged (test-time
/// augmentation, for parts whose orientation does not matter).
public func evaluate(_ network: Network, on data: ImageDataset, normalization: Normalization,
                     batchSize: Int = 256, keepProbabilities: Bool = false, flipAverage: Bool = false) -> Evaluation {
    var confusion = ConfusionMatrix(classes: network.outputShape.count)
    var loss = 0.0
    var top5Hits = 0.0
    var probs: [[Float]] = []
    let ce = SoftmaxCrossEntropy()
    forEachBatch(network, data, normalization, batchSize) { start, end, logits, input in
        let labels = Array(data.labels[start..<end])
        loss += Double(ce(logits, labels, grad: nil)) * Double(end - start)
        var p = softmax(logits)
        if flipAverage {
            mirrorHorizontally(input)
            let q = softmax(network.forward(input, mode: .eval))
            p = zip(p, q).map { a, b in zip(a, b).map { ($0 + $1) / 2 } }
        }
        for (i, row) in p.enumerated() {
            confusion.add(truth: Int(labels[i]), predicted: argmax(row))
        }
        top5Hits += topKAccuracy(scores: p, labels: labels, k: min(5, network.outputShape.count)) * Double(end - start)
        if keepProbabilities { probs += p }
    }
    let n = Double(max(1, data.count))
    return Evaluation(confusion: confusion, loss: loss / n, top5: top5Hits / n, probabilities: probs)
}

/// Runs `network` in eval mode over `data` in batches, handing each batch's sample range,
/// output and (normalized, unaugmented) input to `body`.
func forEachBatch(_ network: Network, _ data: ImageDataset, _ normalization: Normalization, _ batchSize: Int,
                  _ body: (_ start: Int, _ end: Int, _ output: Tensor, _ input: Tensor) -> Void) {
    let all = Array(0..<data.count)
    let input = Tensor(data.shape, batch: min(batchSize, max(1, data.count)))
    var start = 0
    while start < data.count {
        let end = min(data.count, start + batchSize)
        input.resize(batch: end - start)
        assembleBatch(data, all[start..<end], into: input, augmentation: .none, normalization: normalization, seed: 0)
        body(start, end, network.forward(input, mode: .eval), input)
        start = end
    }
}

@inline(__always)
func argmax(_ row: [Float]) -> Int {
    var best = 0
    for i in 1..<row.count where row[i] > row[best] { best = i }
    return best
}

@inline(__always)
func argmax(_ row: UnsafePointer<Float>, _ n: Int) -> Int {
    var best = 0
    for i in 1..<n where row[i] > row[best] { best = i }
    return best
}

/// Mirrors every image of `t` left-right, in place.
public func mirrorHorizontally(_ t: Tensor) {
    let w = t.width
    for row in 0..<(t.batch * t.channels * t.height) {
        let r = t.data + row * w
        var i = 0, j = w - 1
        while i < j { let v = r[i]; r[i] = r[j]; r[j] = v; i += 1; j -= 1 }
    }
}
