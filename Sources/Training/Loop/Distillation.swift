import Foundation
import Neural

/// Knowledge distillation (Hinton, Vinyals & Dean, 2015): the student learns the labels and,
/// beside them, the teacher's softened beliefs on the very batch it sees (augmented the
/// same way). With student logits s, teacher logits t and temperature T,
///
///     loss = (1 - w) * hard + w * T^2 * KL(softmax(t / T) || softmax(s / T))
///
/// averaged over the batch; its gradient in s adds w * T * (softmax(s / T) - softmax(t / T)) / N
/// to (1 - w) times the hard loss's. T^2 keeps the soft term's gradient on the scale of the
/// hard one's as T grows. The teacher runs in inference form on the batch, renormalized to
/// its own input normalization when the student's differs.
///
/// Multi-label training (stage 2: one sigmoid per defect kind) distils each kind on its own:
/// with p = sigmoid(t / T) and q = sigmoid(s / T),
///
///     loss = (1 - w) * hard + w * T^2 * mean over outputs of KL(Bernoulli(p) || Bernoulli(q))
///
/// averaged over the batch and the kinds as the binary cross-entropy is; its gradient in s
/// adds w * T * (q - p) / (N * C).
public final class Distillation {
    public let teacher: InferenceNetwork
    public let teacherNormalization: Normalization
    public let temperature: Float
    public let weight: Float
    private var renormalized: Tensor?

    public init(teacher: Network, normalization: Normalization, temperature: Float, weight: Float) throws {
        guard temperature.isFinite, temperature >= 1, temperature <= 20 else {
            throw TrainingError.invalidConfig("distillation temperature \(temperature) must lie in 1...20")
        }
        guard weight.isFinite, weight > 0, weight <= 1 else {
            throw TrainingError.invalidConfig("distillation weight \(weight) must lie in (0, 1]")
        }
        guard normalization.mean.count == teacher.spec.input.channels, normalization.std.allSatisfy({ $0 > 0 }) else {
            throw TrainingError.invalidConfig("the teacher's normalization does not fit its \(teacher.spec.input.channels) input channels")
        }
        self.teacher = InferenceNetwork(teacher)
        teacherNormalization = normalization
        self.temperature = temperature
        self.weight = weight
    }

    /// Refuses a student the teacher cannot teach: other inputs or other classes.
    func check(student: Network) throws {
        guard teacher.inputShape == student.spec.input else {
            throw TrainingError.invalidConfig("the teacher takes \(teacher.inputShape) images, the student \(student.spec.input): train both on the same input size and colour")
        }
        guard teacher.outputShape == student.outputShape else {
            throw TrainingError.invalidConfig("the teacher gives \(teacher.outputShape.count) outputs, the student \(student.outputShape.count): distillation needs the same classes")
        }
    }

    /// Mixes the soft term into `hard` (the label loss of `logits`) and into `grad` (its
    /// gradient, overwritten with the mixture); `input` is the batch as the student saw it,
    /// normalized with `normalization`. Returns the mixed loss.
    func mix(hard: Float, logits: Tensor, grad: Tensor, input: Tensor, normalization: Normalization) -> Float {
        let t = teacherLogits(input, normalization)
        let n = logits.batch, c = logits.sampleCount, temp = Double(temperature), w = Float(weight)
        var kl = 0.0
        var ps = [Double](repeating: 0, count: c), pt = [Double](repeating: 0, count: c)
        for i in 0..<n {
            Self.softmax(logits.data + i * c, c, temp, &ps)
            Self.softmax(t.data + i * c, c, temp, &pt)
            for k in 0..<c {
                if pt[k] > 0 { kl += pt[k] * (log(pt[k]) - log(max(ps[k], 1e-30))) }
                let g = grad.data + i * c + k
                g.pointee = (1 - w) * g.pointee + w * Float(temp * (ps[k] - pt[k]) / Double(n))
            }
        }
        return (1 - w) * hard + w * Float(temp * temp * kl / Double(n))
    }

    /// `mix` for multi-label training: each output's sigmoid distilled on its own (see above).
    func mixMultiLabel(hard: Float, logits: Tensor, grad: Tensor, input: Tensor, normalization: Normalization) -> Float {
        let t = teacherLogits(input, normalization)
        let count = logits.count, temp = Double(temperature), w = Float(weight)
        var kl = 0.0
        for i in 0..<count {
            let q = Self.sigmoid(Double(logits.data[i]) / temp), p = Self.sigmoid(Double(t.data[i]) / temp)
            kl += Self.bernoulliKL(p, q)
            grad.data[i] = (1 - w) * grad.data[i] + w * Float(temp * (q - p) / Double(count))
        }
        return (1 - w) * hard + w * Float(temp * temp * kl / Double(count))
    }

    static func sigmoid(_ x: Double) -> Double { x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) }

    /// KL(Bernoulli(p) || Bernoulli(q)), with 0 log 0 = 0 and q kept off 0 and 1.
    static func bernoulliKL(_ p: Double, _ q: Double) -> Double {
        let q = min(max(q, 1e-15), 1 - 1e-15)
        var kl = 0.0
        if p > 0 { kl += p * (log(p) - log(q)) }
        if p < 1 { kl += (1 - p) * (log(1 - p) - log(1 - q)) }
        return kl
    }

    /// The teacher's logits on the student's batch, renormalized to the teacher's input first.
    func teacherLogits(_ input: Tensor, _ student: Normalization) -> Tensor {
        guard student != teacherNormalization else { return teacher.predict(input) }
        let x = renormalized.flatMap { $0.batch == input.batch ? $0 : nil } ?? Tensor(input.shape, batch: input.batch)
        renormalized = x
        let plane = input.shape.height * input.shape.width, channels = input.shape.channels
        for b in 0..<input.batch {
            for ch in 0..<channels {
                // back to pixels / 255, then the teacher's normalization
                let a = student.std[ch] / teacherNormalization.std[ch]
                let o = (student.mean[ch] - teacherNormalization.mean[ch]) / teacherNormalization.std[ch]
                let base = (b * channels + ch) * plane
                for k in 0..<plane { x.data[base + k] = input.data[base + k] * a + o }
            }
        }
        return teacher.predict(x)
    }

    /// softmax(z / T) in Double.
    static func softmax(_ z: UnsafePointer<Float>, _ c: Int, _ temperature: Double, _ out: inout [Double]) {
        var m = -Double.infinity
        for k in 0..<c { m = max(m, Double(z[k]) / temperature) }
        var total = 0.0
        for k in 0..<c { out[k] = exp(Double(z[k]) / temperature - m); total += out[k] }
        for k in 0..<c { out[k] /= total }
    }
}
