import Foundation
import Neural

/// A real model file whose output ignores the image: the last layer's weights are zero
/// and its bias holds `logits`, so a test knows exactly what the model will say.
public func constantModel(_ path: String, classes: [String], logits: [Float], task: ModelMetadata.Task = .multiclass,
                   thresholds: [String: Double] = [:], temperature: Double? = nil, input: Shape = Shape(1, 32, 32),
                   inputReference: InputReference? = nil) throws {
    let net = try Network(Zoo.lightNet(input: input, classes: classes.count, width: 4), seed: 3)
    guard let last = net.allLayers.compactMap({ $0 as? Linear }).last else { throw NeuralError.invalidSpec("no linear layer") }
    for i in 0..<last.weight.value.count { last.weight.value[i] = 0 }
    for (i, z) in logits.enumerated() { last.bias!.value[i] = z }
    var meta = ModelMetadata(spec: net.spec, task: task, classes: classes,
                             normalization: .init(mean: [0.5], std: [0.25]), thresholds: thresholds,
                             provenance: .init(created: "2026-11-29", notes: "test constant model"))
    meta.temperature = temperature
    meta.inputReference = inputReference
    try ModelFile.save(net, meta, to: path)
}

/// Stage-1 model with a fixed P(defect). It carries a drift reference wide enough never to
/// alarm (a spread of 1 in every statistic, no score reference), so every daemon test also
/// runs the drift watch on every frame, without changing what it asserts.
public func stage1(_ path: String, pDefect: Double, thresholds: [String: Double] = [:]) throws {
    try constantModel(path, classes: ["good", "defect"], logits: [0, Float(log(pDefect / (1 - pDefect)))], thresholds: thresholds,
                      inputReference: calmReference)
}

/// A drift reference no camera drifts from (see `stage1`).
public let calmReference = InputReference(statistics: ["brightness": .init(mean: 0.5, std: 1), "contrast": .init(mean: 0.2, std: 1),
                                                       "sharpness": .init(mean: 0.1, std: 1)],
                                          goodScores: Array(repeating: 0, count: 10), images: 1, goodParts: 0)

/// Stage-2 multilabel model with fixed per-kind probabilities.
public func stage2(_ path: String, _ scores: [(String, Double)], thresholds: [String: Double] = [:]) throws {
    try constantModel(path, classes: scores.map(\.0), logits: scores.map { Float(log($0.1 / (1 - $0.1))) }, task: .multilabel,
                      thresholds: thresholds)
}


/// A stage-1 model whose defect map is the image's brightness (a 1x1 conv averaging the
/// channels, a ReLU, mean pool, a linear layer reading it toward "defect") and that fails
/// every image: its map's peak is the brightest spot, so a test knows where it points.
public func brightnessModel(_ path: String, input: Shape) throws {
    let spec = NetworkSpec(name: "bright", input: input, layers: [.conv(out: 1, kernel: 1), .activation(.relu), .globalAvgPool, .flatten, .linear(out: 2)])
    let net = try Network(spec, seed: 1)
    guard let conv = net.allLayers.compactMap({ $0 as? Conv2d }).first, let linear = net.allLayers.compactMap({ $0 as? Linear }).first else {
        throw NeuralError.invalidSpec("the brightness model lost its layers")
    }
    for c in 0..<input.channels { conv.weight.value[c] = 1 / Float(input.channels) }
    for i in 0..<2 { linear.weight.value[i] = Float(i) }   // good reads 0, defect reads the brightness
    (linear.bias!.value[0], linear.bias!.value[1]) = (0, 12)
    let meta = ModelMetadata(spec: spec, classes: ["good", "defect"], normalization: .init(mean: [Float](repeating: 0.5, count: input.channels), std: [Float](repeating: 0.25, count: input.channels)),
                             thresholds: ["pass": 0.3, "fail": 0.7], provenance: .init(created: "2026-12-06", notes: "brightness map"))
    try ModelFile.save(net, meta, to: path)
}
