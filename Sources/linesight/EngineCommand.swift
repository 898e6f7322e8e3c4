import ArgumentParser
import Foundation
import Logging
import Neural

struct EngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Show which OpenBLAS kernels run on this CPU, check that they compute correctly, time a model layer by layer.",
        discussion: """
        OpenBLAS 0.3.21 does not recognise some recent CPUs and silently falls back to slow \
        generic kernels. Linesight notices and restarts itself with OPENBLAS_CORETYPE set to \
        the best family the CPU supports (unless you set OPENBLAS_CORETYPE yourself). Every \
        compute command then multiplies test matrices with the chosen kernels and compares \
        them with a plain reference before it starts.

        With --profile MODEL it also compiles a model file as the daemon does (batch norm \
        folded, each conv on the kernel chosen for the batch size) and prints the time of \
        every layer and of a whole prediction: where the time of a frame goes.

          linesight engine --profile models/stage1.safetensors
          linesight engine --profile models/stage2.safetensors --batch 8 --threads 1
          linesight engine --profile models/stage1.int8.safetensors     # an int8 model, step by step
        """)

    @OptionGroup var compute: ComputeOptions

    @Option(help: "A model file to time layer by layer on random input, as the daemon runs it.")
    var profile: String?

    @Option(help: "Batch size for --profile (the daemon judges one frame at a time: 1).")
    var batch = 1

    func validate() throws {
        guard (1...4096).contains(batch) else { throw ValidationError("--batch must be between 1 and 4096") }
    }

    func run() throws {
        let logger = Logger(label: "linesight.engine")
        try compute.apply(logger)
        let cpu = OpenBLASBootstrap.cpuFeatures()
        let env = ProcessInfo.processInfo.environment
        print("cpu            \(cpu.modelName.isEmpty ? "unknown" : cpu.modelName)")
        print("vector units   \(cpu.hasAVX512 ? "AVX-512" : cpu.hasAVX2 ? "AVX2+FMA" : "SSE (no AVX2)")")
        print("fp32 kernels   \(FloatISA.current) (chosen at start; LINESIGHT_FP32_KERNELS=baseline|avx2|avx512 picks a slower one)")
        print("int8 kernels   \(Int8ISA.best) (chosen at start; linesight quantize makes int8 models)")
        print("openblas       \(BLASRuntime.configuration)")
        print("core in use    \(BLASRuntime.coreName)")
        if let switched = env[OpenBLASBootstrap.guardVariable] {
            print("core choice    switched to \(switched) at start (OpenBLAS picked a generic core)")
        } else if let user = env["OPENBLAS_CORETYPE"] {
            print("core choice    OPENBLAS_CORETYPE=\(user), set by you")
        } else if case .keep(let reason) = OpenBLASBootstrap.decision() {
            print("core choice    kept: \(reason)")
        }
        print("threads        \(BLASRuntime.threads) (OpenBLAS), \(Compute.current().threads) (engine)")
        print("kernel check   passed (sgemm vs naive reference, all transposes)")
        print(String(format: "sgemm speed    %.1f GFLOP/s (1024^3, %d worker%@)", Self.gemmSpeed(), Compute.current().threads,
                     Compute.current().threads == 1 ? "" : "s"))
        if let profile { try Self.profile(model: profile, batch: batch) }
    }

    /// Per-layer and whole-prediction medians of a model file's inference network.
    static func profile(model: String, batch: Int) throws {
        let (network, meta) = try ModelFile.load(path: model)
        var rng = SeededGenerator(seed: 1)
        let x = Tensor(network.inputShape, batch: batch)
        for i in 0..<x.count { x[i] = rng.normal() }
        let rows: [(String, Double)], predict: () -> Void, precision: String, flipAveraged: () -> Void
        let frame = Array(UnsafeBufferPointer(start: x.data, count: network.inputShape.count))
        if let q = meta.quantization {
            let net = try QuantizedNetwork(network, quantization: q)
            rows = net.profile(x, repeats: 20)
            predict = { _ = net.predict(x) }
            flipAveraged = { _ = frame.withUnsafeBufferPointer { net.predictFlipAveraged(sample: $0.baseAddress!) } }
            precision = "int8, \(net.isa)"
        } else {
            let net = InferenceNetwork(network)
            rows = net.profile(x, repeats: 20).map { ($0.layer, $0.seconds) }
            predict = { _ = net.predict(x) }
            flipAveraged = { _ = frame.withUnsafeBufferPointer { net.predictFlipAveraged(sample: $0.baseAddress!) } }
            precision = "fp32"
        }
        func median(_ body: () -> Void) -> Double {
            var times: [Double] = []
            for _ in 0..<20 {
                let start = Date()
                body()
                times.append(Date().timeIntervalSince(start))
            }
            return times.sorted()[times.count / 2]
        }
        let whole = median(predict)
        let s = network.inputShape
        print("")
        print("profile        \(model): \(meta.spec.name) (\(precision)), input \(s.channels)x\(s.height)x\(s.width), batch \(batch), median of 20 runs")
        for (step, seconds) in rows { print(String(format: "  %9.3f ms  ", seconds * 1000) + step) }
        print(String(format: "prediction     %.3f ms (%.1f images/s)", whole * 1000, Double(batch) / whole))
        if meta.flipAverage == true {
            // as the daemon judges a frame of this model: four mirror images, the fixed filters in front once
            let frameTime = median(flipAveraged)
            print(String(format: "flip-averaged  %.3f ms per frame (the model averages four mirror images; fixed filters in front run once)", frameTime * 1000))
        }
    }

    /// GFLOP/s of a 1024^3 single-precision GEMM with the engine's threading, best of 5.
    static func gemmSpeed() -> Double {
        let n = 1024
        let a = [Float](repeating: 0.5, count: n * n)
        var c = a
        var best = Double.infinity
        for _ in 0..<5 {
            let start = Date()
            sgemm(false, false, n, n, n, 1, a, n, a, n, 0, &c, n)
            best = min(best, Date().timeIntervalSince(start))
        }
        return 2 * Double(n * n * n) / best / 1e9
    }
}
