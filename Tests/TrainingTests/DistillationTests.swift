import Foundation
import Neural
import Testing
@testable import Training

@Suite("Knowledge distillation")
struct DistillationTests {
    static func teacher(seed: UInt64, classes: Int = 3) throws -> Network {
        try Network(NetworkSpec(name: "t", input: Shape(1, 4, 4), layers: [.flatten, .linear(out: classes)]), seed: seed)
    }

    /// Central differences of `loss` against the gradient it returns, logit by logit.
    static func expectGradient(_ logits: Tensor, _ loss: (Tensor) -> (Float, [Float])) {
        let (_, analytic) = loss(logits)
        for i in 0..<logits.count {
            let h: Float = 1e-2, keep = logits[i]
            logits[i] = keep + h; let up = loss(logits).0
            logits[i] = keep - h; let down = loss(logits).0
            logits[i] = keep
            #expect(abs((up - down) / (2 * h) - analytic[i]) < 2e-3, "logit \(i): numeric \((up - down) / (2 * h)), analytic \(analytic[i])")
        }
    }

    @Test("the mixed loss's gradient equals its finite differences, at several temperatures and weights",
          arguments: [(Float(1), Float(0.5)), (4, 0.5), (2, 1), (8, 0.9)])
    func gradient(_ temperature: Float, _ weight: Float) throws {
        let norm = Normalization(mean: [0.5], std: [0.25])
        let kd = try Distillation(teacher: try Self.teacher(seed: 2), normalization: Normalization(mean: [0.4], std: [0.3]),
                                  temperature: temperature, weight: weight)
        var rng = SeededGenerator(seed: 9)
        let input = Tensor(Shape(1, 4, 4), batch: 3)
        for i in 0..<input.count { input[i] = rng.normal() }
        let logits = Tensor(Shape(3), batch: 3)
        for i in 0..<logits.count { logits[i] = rng.normal() * 2 }
        let labels: [Int32] = [0, 2, 1]
        let ce = SoftmaxCrossEntropy()
        func loss(_ z: Tensor) -> (Float, [Float]) {
            let g = Tensor(Shape(3), batch: 3)
            let hard = ce(z, labels, grad: g)
            return (kd.mix(hard: hard, logits: z, grad: g, input: input, normalization: norm), g.array)
        }
        Self.expectGradient(logits, loss)
    }

    @Test("multi-label: the mixed loss's gradient equals its finite differences; the soft term is zero where student and teacher agree",
          arguments: [(Float(1), Float(0.5)), (4, 0.7), (3, 1)])
    func multiLabelGradient(_ temperature: Float, _ weight: Float) throws {
        let norm = Normalization(mean: [0.5], std: [0.25])
        let teacherNet = try Self.teacher(seed: 3)
        let kd = try Distillation(teacher: teacherNet, normalization: norm, temperature: temperature, weight: weight)
        var rng = SeededGenerator(seed: 4)
        let input = Tensor(Shape(1, 4, 4), batch: 3)
        for i in 0..<input.count { input[i] = rng.normal() }
        let logits = Tensor(Shape(3), batch: 3)
        for i in 0..<logits.count { logits[i] = rng.normal() * 3 }
        let targets: [Float] = [1, 0, 0, 0, 1, 1, 0, 0, 0]
        let bce = SigmoidBinaryCrossEntropy(positiveWeights: [1, 2, 3])
        func loss(_ z: Tensor) -> (Float, [Float]) {
            let g = Tensor(Shape(3), batch: 3)
            let hard = bce(z, targets, grad: g)
            return (kd.mixMultiLabel(hard: hard, logits: z, grad: g, input: input, normalization: norm), g.array)
        }
        Self.expectGradient(logits, loss)
        // the student saying what the teacher says: only the hard term is left
        let same = teacherNet.forward(input, mode: .eval)
        let g = Tensor(Shape(3), batch: 3), h = Tensor(Shape(3), batch: 3)
        let hard = bce(same, targets, grad: g)
        _ = bce(same, targets, grad: h)
        let mixed = kd.mixMultiLabel(hard: hard, logits: same, grad: g, input: input, normalization: norm)
        #expect(abs(mixed - (1 - weight) * hard) < 1e-5, "\(mixed) vs \((1 - weight) * hard)")
        #expect(zip(g.array, h.array).allSatisfy { abs($0 - (1 - weight) * $1) < 1e-6 })
    }

    @Test("the teacher sees the batch in its own normalization")
    func renormalized() throws {
        let teacherNet = try Self.teacher(seed: 5)
        let student = Normalization(mean: [0.5], std: [0.25]), own = Normalization(mean: [0.3], std: [0.6])
        let kd = try Distillation(teacher: teacherNet, normalization: own, temperature: 4, weight: 0.5)
        var rng = SeededGenerator(seed: 2)
        let pixels = (0..<32).map { _ in Float(rng.below(256)) / 255 }
        let x = Tensor(Shape(1, 4, 4), batch: 2), y = Tensor(Shape(1, 4, 4), batch: 2)
        for i in 0..<32 { x[i] = (pixels[i] - 0.5) / 0.25; y[i] = (pixels[i] - 0.3) / 0.6 }
        let want = teacherNet.forward(y, mode: .eval).array
        let got = kd.teacherLogits(x, student).array
        #expect(zip(got, want).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) }, "renormalized: \(got) vs \(want)")
        #expect(want != teacherNet.forward(x, mode: .eval).array, "the two normalizations differ in effect")
    }

    @Test("with the soft targets alone the student learns the teacher, even against wrong labels")
    func learnsTheTeacher() throws {
        // 4x4 images: the teacher (a fixed linear map) decides the class; the labels say the opposite
        let teacherNet = try Self.teacher(seed: 4, classes: 2)
        let norm = Normalization(mean: [0.5], std: [0.25])
        var rng = SeededGenerator(seed: 3)
        var pixels: [UInt8] = []
        for _ in 0..<256 * 16 { pixels.append(UInt8(rng.below(256))) }
        let teacherSays = InferenceNetwork(teacherNet)
        var wrong: [Int32] = []
        for i in 0..<256 {
            let x = (0..<16).map { (Float(pixels[i * 16 + $0]) / 255 - 0.5) / 0.25 }
            let z = x.withUnsafeBufferPointer { teacherSays.predict(sample: $0.baseAddress!) }
            wrong.append(z[0] > z[1] ? 1 : 0)
        }
        let data = ImageDataset(shape: Shape(1, 4, 4), classNames: ["a", "b"], pixels: pixels, labels: wrong)
        let student = try Network(NetworkSpec(name: "s", input: Shape(1, 4, 4), layers: [.flatten, .linear(out: 2)]), seed: 8)
        let config = TrainingConfig(epochs: 30, batchSize: 32, optimizer: .adamW(learningRate: 0.05, weightDecay: 0),
                                    schedule: .constant, normalization: norm, seed: 1)
        let trainer = try Trainer(network: student, config: config, train: data, validation: nil)
        trainer.distillation = try Distillation(teacher: teacherNet, normalization: norm, temperature: 2, weight: 1)
        _ = try trainer.run()
        let agree = (0..<256).filter { i in
            let x = Tensor(Shape(1, 4, 4), batch: 1)
            for k in 0..<16 { x[k] = (Float(pixels[i * 16 + k]) / 255 - 0.5) / 0.25 }
            let z = student.forward(x, mode: .eval).array
            return (z[0] > z[1] ? 0 : 1) != wrong[i]
        }.count
        #expect(agree >= 230, "the student agrees with the teacher on \(agree) of 256 (the labels said otherwise on all)")
    }

    @Test("a teacher that does not fit, a temperature or weight out of range, or a defect map is refused")
    func refusals() throws {
        let norm = Normalization(mean: [0.5], std: [0.25])
        for (t, w) in [(Float(0.5), Float(0.5)), (4, 0), (4, 1.5), (.nan, 0.5), (4, .infinity), (25, 0.5)] {
            #expect(throws: TrainingError.self) { try Distillation(teacher: try Self.teacher(seed: 1), normalization: norm, temperature: t, weight: w) }
        }
        let data = ImageDataset(shape: Shape(1, 4, 4), classNames: ["a", "b"], pixels: [UInt8](repeating: 9, count: 64), labels: [0, 1, 0, 1])
        let config = TrainingConfig(epochs: 1, batchSize: 2, optimizer: .adamW(learningRate: 0.01, weightDecay: 0), schedule: .constant,
                                    normalization: norm)
        let student = try Network(NetworkSpec(name: "s", input: Shape(1, 4, 4), layers: [.flatten, .linear(out: 2)]))
        let trainer = try Trainer(network: student, config: config, train: data, validation: nil)
        trainer.distillation = try Distillation(teacher: try Self.teacher(seed: 1, classes: 3), normalization: norm, temperature: 4, weight: 0.5)
        #expect(throws: TrainingError.self) { try trainer.run() }
        let other = try Network(NetworkSpec(name: "t", input: Shape(1, 8, 8), layers: [.flatten, .linear(out: 2)]))
        trainer.distillation = try Distillation(teacher: other, normalization: norm, temperature: 4, weight: 0.5)
        #expect(throws: TrainingError.self) { try trainer.run() }
        var mapConfig = config
        mapConfig.loss = .defectMap(cellWeight: 1)
        let map = try Network(NetworkSpec(name: "m", input: Shape(1, 4, 4), layers: [.conv(out: 1, kernel: 1)]))
        let mapTrainer = try Trainer(network: map, config: mapConfig, train: data, validation: nil)
        mapTrainer.distillation = try Distillation(teacher: try Network(NetworkSpec(name: "t", input: Shape(1, 4, 4), layers: [.conv(out: 1, kernel: 1)])),
                                                   normalization: norm, temperature: 4, weight: 0.5)
        #expect(throws: TrainingError.self) { try mapTrainer.run() }
    }
}
