import Foundation
import TestSupport
import Testing
@testable import Neural
@testable import Training

/// A learnable toy problem: class 0 is a bright top half, class 1 a bright bottom half,
/// class 2 a bright left half, with noise.
func stripes(count: Int, seed: UInt64) -> ImageDataset {
    var rng = SeededGenerator(seed: seed)
    var px: [UInt8] = [], labels: [Int32] = []
    for i in 0..<count {
        let c = i % 3
        labels.append(Int32(c))
        for y in 0..<8 {
            for x in 0..<8 {
                let on = c == 0 ? y < 4 : c == 1 ? y >= 4 : x < 4
                px.append(UInt8(max(0, min(255, (on ? 180 : 60) + Int(rng.normal() * 40)))))
            }
        }
    }
    return ImageDataset(shape: Shape(1, 8, 8), classNames: ["top", "bottom", "left"], pixels: px, labels: labels)
}

func toyConfig(epochs: Int) -> TrainingConfig {
    var c = TrainingConfig(epochs: epochs, batchSize: 16, optimizer: .adam(learningRate: 3e-3, weightDecay: 0),
                           schedule: .cosine(warmupEpochs: 0.5, minimumFactor: 0.05),
                           loss: .crossEntropy(labelSmoothing: 0.05),
                           augmentation: Augmentation(noiseStd: 0.02), normalization: .init(mean: [0.5], std: [0.25]), seed: 3)
    c.gradientClipNorm = 5
    return c
}

let toySpec = Zoo.smallResNet(input: Shape(1, 8, 8), classes: 3, depth: 8, width: 4)

@Suite("Training loop", .serialized)
struct TrainerTests {
    @Test("learns a toy problem to high validation accuracy and reports every epoch")
    func learns() throws {
        let net = try Network(toySpec, seed: 1)
        let trainer = try Trainer(network: net, config: toyConfig(epochs: 4), train: stripes(count: 240, seed: 1),
                                  validation: stripes(count: 60, seed: 2))
        var batches = 0, epochs: [EpochReport] = []
        trainer.onBatch = { p in batches += 1; #expect(p.loss.isFinite && p.etaSeconds >= 0) }
        trainer.onEpoch = { epochs.append($0) }
        let summary = try trainer.run()
        #expect(batches == 4 * 15 && epochs.count == 4)
        #expect(try #require(summary.history.last?.validationAccuracy) >= 0.95)
        #expect(summary.history.last!.trainLoss < summary.history.first!.trainLoss)
    }

    @Test("same seed, same config, same thread count: identical weights", arguments: [1, 2])
    func reproducible(workers: Int) throws {
        try Parallel.with(workers: workers) { try reproducibleRun() }
    }

    func reproducibleRun() throws {
        func train() throws -> [[Float]] {
            let net = try Network(toySpec, seed: 1)
            _ = try Trainer(network: net, config: toyConfig(epochs: 2), train: stripes(count: 96, seed: 1), validation: nil).run()
            return net.parameters.map(\.value.array)
        }
        #expect(try train() == train())
    }

    @Test("interrupted and resumed from the checkpoint == trained straight through")
    func resume() throws {
        let dir = try TemporaryDirectory.make("ckpt")
        defer { TemporaryDirectory.remove(dir) }
        let path = dir + "/checkpoint.safetensors"
        let data = stripes(count: 96, seed: 1)
        let straight = try Network(toySpec, seed: 1)
        _ = try Trainer(network: straight, config: toyConfig(epochs: 3), train: data, validation: nil).run()

        let first = try Network(toySpec, seed: 1)
        let interrupted = try Trainer(network: first, config: toyConfig(epochs: 3), train: data, validation: nil)
        interrupted.checkpointPath = path
        interrupted.shouldStop = { $0.epoch == 0 }
        let cut = try interrupted.run()
        #expect(cut.interrupted && cut.history.count == 1)

        let resumed = try Network(toySpec, seed: 99)   // another init: everything must come from the checkpoint
        let again = try Trainer(network: resumed, config: toyConfig(epochs: 3), train: data, validation: nil)
        again.checkpointPath = path
        let summary = try again.run()
        #expect(summary.resumedFromEpoch == 1 && summary.history.count == 3)
        #expect(resumed.parameters.map(\.value.array) == straight.parameters.map(\.value.array))
        #expect(resumed.namedBuffers.map(\.1.array) == straight.namedBuffers.map(\.1.array))

        var other = toyConfig(epochs: 3)
        other.batchSize = 8
        let mismatch = try Trainer(network: try Network(toySpec), config: other, train: data, validation: nil)
        mismatch.checkpointPath = path
        #expect(throws: TrainingError.self) { try mismatch.run() }
    }

    @Test("early stopping halts after the patience runs out and restores the best weights")
    func earlyStopping() throws {
        var config = toyConfig(epochs: 30)
        config.optimizer = .sgd(learningRate: 1e-9, momentum: 0, nesterov: false, weightDecay: 0)   // cannot improve
        config.earlyStoppingPatience = 2
        let net = try Network(toySpec, seed: 1)
        let summary = try Trainer(network: net, config: config, train: stripes(count: 48, seed: 1),
                                  validation: stripes(count: 30, seed: 2)).run()
        #expect(summary.stoppedEarly)
        #expect(summary.history.count == (summary.bestEpoch ?? 0) + 3)
    }

    @Test("class-balanced sampling draws each class about equally from a skewed set")
    func balanced() throws {
        var px: [UInt8] = [], labels: [Int32] = []
        for i in 0..<200 { labels.append(i < 180 ? 0 : 1); px += Array(repeating: 0, count: 64) }
        let skewed = ImageDataset(shape: Shape(1, 8, 8), classNames: ["ok", "defect"], pixels: px, labels: labels)
        var config = toyConfig(epochs: 1)
        config.balancedSampling = true
        let trainer = try Trainer(network: try Network(Zoo.smallResNet(input: Shape(1, 8, 8), classes: 2, width: 4)),
                                  config: config, train: skewed, validation: nil)
        let order = trainer.epochOrder(0)
        let defects = order.filter { labels[$0] == 1 }.count
        #expect(order.count == 200 && defects > 70 && defects < 130, "\(defects) defect draws of 200")
    }

    @Test("bad settings are refused before training starts")
    func invalid() throws {
        var config = toyConfig(epochs: 0)
        #expect(throws: TrainingError.invalidConfig("epochs must be at least 1")) {
            try Trainer(network: try Network(toySpec), config: config, train: stripes(count: 9, seed: 1), validation: nil)
        }
        config.epochs = 1
        config.classWeights = [1, 2]
        #expect(throws: TrainingError.self) {
            try Trainer(network: try Network(toySpec), config: config, train: stripes(count: 9, seed: 1), validation: nil)
        }
    }
}
