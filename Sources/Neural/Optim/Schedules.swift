import Foundation

/// A learning rate as a function of the optimizer step (0-based).
public protocol LearningRateSchedule: Sendable {
    func rate(at step: Int) -> Float
}

/// Linear warm-up from `base * warmupStart` to `base` over `warmupSteps`, then cosine
/// annealing to `minimum` at `totalSteps` (SGDR without restarts).
public struct CosineSchedule: LearningRateSchedule {
    public var base: Float, minimum: Float
    public var warmupSteps: Int, totalSteps: Int
    public var warmupStart: Float

    public init(base: Float, totalSteps: Int, warmupSteps: Int = 0, minimum: Float = 0, warmupStart: Float = 0.1) {
        self.base = base; self.minimum = minimum
        self.warmupSteps = warmupSteps; self.totalSteps = totalSteps; self.warmupStart = warmupStart
    }

    public func rate(at step: Int) -> Float {
        if step < warmupSteps {
            let f = Float(step) / Float(max(1, warmupSteps))
            return base * (warmupStart + (1 - warmupStart) * f)
        }
        let span = max(1, totalSteps - warmupSteps)
        let t = min(1, Float(step - warmupSteps) / Float(span))
        return minimum + (base - minimum) * 0.5 * (1 + cos(Float.pi * t))
    }
}

/// Multiply by `gamma` every `every` steps (PyTorch's StepLR).
public struct StepSchedule: LearningRateSchedule {
    public var base: Float, gamma: Float, every: Int

    public init(base: Float, every: Int, gamma: Float = 0.1) {
        self.base = base; self.every = every; self.gamma = gamma
    }

    public func rate(at step: Int) -> Float { base * pow(gamma, Float(step / max(1, every))) }
}

/// One-cycle (Smith): cosine up from `peak / divFactor` to `peak` over `pctStart` of
/// the run, then cosine down to `peak / (divFactor * finalDivFactor)`, as PyTorch's OneCycleLR.
public struct OneCycleSchedule: LearningRateSchedule {
    public var peak: Float, totalSteps: Int, pctStart: Float, divFactor: Float, finalDivFactor: Float

    public init(peak: Float, totalSteps: Int, pctStart: Float = 0.3, divFactor: Float = 25, finalDivFactor: Float = 1e4) {
        self.peak = peak; self.totalSteps = totalSteps; self.pctStart = pctStart
        self.divFactor = divFactor; self.finalDivFactor = finalDivFactor
    }

    public func rate(at step: Int) -> Float {
        let initial = peak / divFactor, final = initial / finalDivFactor
        let up = max(1, Int(pctStart * Float(totalSteps)) - 1)
        let down = max(1, totalSteps - 1 - up)
        func anneal(_ a: Float, _ b: Float, _ t: Float) -> Float { b + (a - b) / 2 * (1 + cos(Float.pi * min(1, t))) }
        if step <= up { return anneal(initial, peak, Float(step) / Float(up)) }
        return anneal(peak, final, Float(step - up) / Float(down))
    }
}
