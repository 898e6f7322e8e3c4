import Foundation
import Testing
@testable import Neural

@Suite("Network specs and the zoo")
struct SpecTests {
    @Test("zoo specs survive a JSON round trip and build", arguments: [
        Zoo.resnet18(input: Shape(3, 64, 64), classes: 4),
        Zoo.smallResNet(input: Shape(1, 28, 28), classes: 10, depth: 10, width: 16),
        Zoo.smallResNet(input: Shape(3, 128, 96), classes: 2),
        Zoo.lightNet(input: Shape(3, 96, 96), classes: 6),
    ])
    func roundTrip(_ spec: NetworkSpec) throws {
        let decoded = try JSONDecoder().decode(NetworkSpec.self, from: try JSONEncoder().encode(spec))
        #expect(decoded == spec)
        let net = try Network(decoded)
        #expect(net.outputShape.count == (spec.layers.last.flatMap { if case .linear(let out, _) = $0 { out } else { nil } } ?? -1))
    }

    @Test("ResNet18 has torchvision's 11,689,512 parameters at 1000 classes")
    func resnet18Size() throws {
        let net = try Network(Zoo.resnet18(input: Shape(3, 224, 224), classes: 1000))
        #expect(net.parameterCount == 11_689_512)
        #expect(net.namedBuffers.count == 40)   // 20 batch norms x (mean, var)
    }

    @Test("unknown layer types and unknown keys are refused")
    func strictDecoding() {
        let unknownType = #"{"name":"x","input":{"channels":1,"height":4,"width":4},"layers":[{"type":"conv3d","out":2}]}"#
        let unknownKey = #"{"name":"x","input":{"channels":1,"height":4,"width":4},"layers":[{"type":"conv","out":2,"kernel":3,"dilation":2}]}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(NetworkSpec.self, from: Data(unknownType.utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(NetworkSpec.self, from: Data(unknownKey.utf8)) }
    }

    @Test("impossible specs are refused when built, with the layer's path")
    func invalid() {
        #expect(throws: NeuralError.invalidSpec("conv at 0: kernel 7 is larger than the padded input 1x4x4")) {
            try Network(NetworkSpec(name: "x", input: Shape(1, 4, 4), layers: [.conv(out: 2, kernel: 7)]))
        }
        #expect(throws: NeuralError.self) {
            try Network(NetworkSpec(name: "x", input: Shape(3, 8, 8), layers: [.conv(out: 4, kernel: 3, groups: 2)]))
        }
        #expect(throws: NeuralError.self) {
            try Network(NetworkSpec(name: "x", input: Shape(2, 8, 8), layers: [
                .residual(body: [.conv(out: 4, kernel: 3, padding: 1)], shortcut: []),
            ]))
        }
        #expect(throws: NeuralError.self) {
            try Network(NetworkSpec(name: "x", input: Shape(2, 8, 8), layers: [.dropout(1.5)]))
        }
    }

    @Test("the same seed gives the same weights; another seed does not")
    func seeded() throws {
        let spec = Zoo.smallResNet(input: Shape(1, 12, 12), classes: 3, width: 4)
        let a = try Network(spec, seed: 1), b = try Network(spec, seed: 1), c = try Network(spec, seed: 2)
        #expect(a.parameters.map(\.value.array) == b.parameters.map(\.value.array))
        #expect(a.parameters.map(\.value.array) != c.parameters.map(\.value.array))
    }

    @Test("a parameter's or buffer's layer is its name up to the last dot")
    func layerPrefix() throws {
        #expect(Network.layerPrefix(of: "3.body.0.weight") == "3.body.0.")
        #expect(Network.layerPrefix(of: "0.running_mean") == "0.")
        #expect(Network.layerPrefix(of: "weight") == "")
        let net = try Network(Zoo.smallResNet(input: Shape(1, 12, 12), classes: 3, width: 4))
        let layers = Set(net.namedParameters.map { Network.layerPrefix(of: $0.0) })
        #expect(layers.allSatisfy { $0.hasSuffix(".") && !$0.hasSuffix("..") })
        #expect(net.namedBuffers.allSatisfy { layers.contains(Network.layerPrefix(of: $0.0)) },
                "every running statistic belongs to a layer that has parameters")
    }
}

@Suite("Optimizers and schedules")
struct OptimTests {
    @Test("cosine: warm-up then anneal to the minimum")
    func cosine() {
        let s = CosineSchedule(base: 1, totalSteps: 110, warmupSteps: 10, minimum: 0.01, warmupStart: 0.1)
        #expect(abs(s.rate(at: 0) - 0.1) < 1e-6)
        #expect(abs(s.rate(at: 10) - 1) < 1e-6)
        #expect(abs(s.rate(at: 60) - 0.505) < 1e-4)
        #expect(abs(s.rate(at: 110) - 0.01) < 1e-6)
    }

    @Test("step and one-cycle schedules")
    func others() {
        let step = StepSchedule(base: 0.1, every: 30, gamma: 0.1)
        #expect(step.rate(at: 29) == 0.1 && abs(step.rate(at: 30) - 0.01) < 1e-7)
        let one = OneCycleSchedule(peak: 1, totalSteps: 100, pctStart: 0.3)
        #expect(abs(one.rate(at: 0) - 0.04) < 1e-6)
        #expect(abs(one.rate(at: 29) - 1) < 1e-6)
        #expect(one.rate(at: 99) < 1e-5)
        #expect((1..<100).allSatisfy { one.rate(at: $0) <= 1 + 1e-6 })
    }

    @Test("gradient clipping scales to the max norm and reports the norm before")
    func clip() {
        let p = Parameter(name: "w", Shape(2), count: 1)
        p.grad[0] = 3; p.grad[1] = 4
        #expect(abs(clipGradientNorm([p], maxNorm: 1) - 5) < 1e-5)
        #expect(abs(p.grad[0] - 0.6) < 1e-4 && abs(p.grad[1] - 0.8) < 1e-4)
        #expect(abs(clipGradientNorm([p], maxNorm: 10) - 1) < 1e-4)
        #expect(abs(p.grad[0] - 0.6) < 1e-4)
    }

    @Test("AdamW decays weights independently of the gradient; weight decay can skip norms and biases")
    func adamW() {
        let w = Parameter(name: "w", Shape(1), count: 1), b = Parameter(name: "b", Shape(1), count: 1, isNormOrBias: true)
        w.value[0] = 2; b.value[0] = 2
        let opt = Adam.adamW(learningRate: 0.1, weightDecay: .init(0.5, skipNormAndBias: true))
        opt.step([("w", w), ("b", b)])   // zero gradients: only decay moves w
        #expect(abs(w.value[0] - 2 * (1 - 0.05)) < 1e-6)
        #expect(b.value[0] == 2)
    }

    @Test("optimizer state round-trips through stateTensors/load")
    func state() throws {
        let p = Parameter(name: "w", Shape(3), count: 1)
        let a = SGD(learningRate: 0.1, momentum: 0.9), b = SGD(learningRate: 0.1, momentum: 0.9)
        for i in 0..<3 { p.grad[i] = Float(i + 1) }
        a.step([("w", p)])
        try b.load(state: Dictionary(uniqueKeysWithValues: a.stateTensors()))
        let q = Parameter(name: "w", Shape(3), count: 1)
        q.value.copy(from: p.value); q.grad.copy(from: p.grad)
        a.step([("w", p)]); b.step([("w", q)])
        #expect(p.value.array == q.value.array)
    }
}

@Suite("OpenBLAS core choice")
struct CoreChoiceTests {
    let avx512 = CPUFeatures(flags: ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"])
    let avx2 = CPUFeatures(flags: ["avx2", "fma", "sse4_2"])
    let old = CPUFeatures(flags: ["sse4_2", "avx"])

    @Test("a generic core on a capable CPU is switched; a fitting or user-set core is kept")
    func decisions() {
        #expect(chooseOpenBLASCore(current: "Prescott", cpu: avx512, userSetting: nil)
                == .switchTo(core: "SkylakeX", reason: "CPU has AVX-512 but OpenBLAS picked Prescott"))
        #expect(chooseOpenBLASCore(current: "Haswell", cpu: avx512, userSetting: nil)
                == .switchTo(core: "SkylakeX", reason: "CPU has AVX-512 but OpenBLAS picked Haswell"))
        #expect(chooseOpenBLASCore(current: "Prescott", cpu: avx2, userSetting: nil)
                == .switchTo(core: "Haswell", reason: "CPU has AVX2/FMA but OpenBLAS picked Prescott"))
        #expect(chooseOpenBLASCore(current: "Zen", cpu: avx2, userSetting: nil) == .keep(reason: "OpenBLAS picked Zen, which matches this CPU"))
        #expect(chooseOpenBLASCore(current: "SkylakeX", cpu: avx512, userSetting: nil) == .keep(reason: "OpenBLAS picked SkylakeX, which matches this CPU"))
        #expect(chooseOpenBLASCore(current: "Prescott", cpu: old, userSetting: nil) == .keep(reason: "OpenBLAS picked Prescott, which matches this CPU"))
        #expect(chooseOpenBLASCore(current: "Prescott", cpu: avx512, userSetting: "Haswell") == .keep(reason: "OPENBLAS_CORETYPE=Haswell set by the user"))
    }

    @Test("/proc/cpuinfo parsing")
    func parse() {
        let text = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8488C\nflags\t\t: fpu sse avx2 fma avx512f avx512bw avx512vl avx512dq amx_int8\n\nprocessor\t: 1\nflags\t\t: fpu\n"
        let cpu = CPUFeatures.parse(cpuinfo: text)
        #expect(cpu.hasAVX512 && cpu.hasAVX2 && cpu.flags.contains("amx_int8"))
        #expect(cpu.modelName == "Intel(R) Xeon(R) Platinum 8488C")
        #expect(!CPUFeatures.parse(cpuinfo: "").hasAVX2)
    }

    @Test("the OpenBLAS core this machine loaded computes correct results")
    func verify() throws {
        #expect(!BLASRuntime.coreName.isEmpty)
        try BLASRuntime.verifyKernels()
    }
}
