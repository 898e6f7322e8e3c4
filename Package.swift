// swift-tools-version:6.0
import PackageDescription

// One binary for every x86-64 line PC: Swift compiles for the x86-64-v2 baseline (Nehalem:
// SSE4.2, POPCNT; every Atom and Celeron since Silvermont), so nothing dies with SIGILL on
// a CPU without AVX2. The engine's multiply-add loops live in CKernels, compiled once per
// instruction set (baseline, AVX2 + FMA, AVX-512) and chosen at start (`FloatISA`,
// `Int8ISA`); OpenBLAS picks its own kernels at run time too. Swift's `-target-cpu` has no
// `x86-64-v2` name; `nehalem` is that level.
#if arch(x86_64)
let vectorFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "nehalem"])]
#else
let vectorFlags: [SwiftSetting] = []
#endif
// The numeric kernels hand raw buffer pointers to worker threads by design (each
// thread owns a disjoint slice); Swift 6's Sendable checking cannot express that, so
// the engine and training targets compile in the Swift 5 language mode.
let kernelFlags: [SwiftSetting] = vectorFlags + [.swiftLanguageMode(.v5)]

let package = Package(
    name: "Linesight",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "linesight", targets: ["linesight"]),
        .library(name: "Neural", targets: ["Neural"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Imaging", targets: ["Imaging"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // C libraries, as thin as possible.
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMosquitto", path: "Sources/CMosquitto", pkgConfig: "libmosquitto",
                       providers: [.apt(["libmosquitto-dev"])]),
        .systemLibrary(name: "CModbus", path: "Sources/CModbus", pkgConfig: "libmodbus",
                       providers: [.apt(["libmodbus-dev"])]),
        .systemLibrary(name: "CGPIOD", path: "Sources/CGPIOD", pkgConfig: "libgpiod",
                       providers: [.apt(["libgpiod-dev"])]),
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG", pkgConfig: "libturbojpeg",
                       providers: [.apt(["libturbojpeg0-dev"])]),

        // Per-ISA C kernels chosen at run time (int8 GEMM: plain, AVX2, AVX-VNNI, AVX512-VNNI) and
        // the CPU's features. Built for the baseline; each variant carries its target attribute.
        // No FMA contraction by default: every int8 variant's epilogue must store the same
        // bytes. The fp32 kernels (fconv_body.h) allow it in their own scope, so their AVX2
        // and AVX-512 variants fuse and differ from the baseline in the last bits.
        .target(name: "CKernels", path: "Sources/CKernels", cSettings: [.unsafeFlags(["-ffp-contract=off", "-O2"])]),
        // The engine: tensors, layers, losses, optimizers, schedules, model files.
        .target(name: "Neural", dependencies: ["CBLAS", "CKernels"], swiftSettings: kernelFlags),
        // Datasets, augmentation, the training loop, metrics.
        .target(name: "Training", dependencies: ["Neural", "Imaging", "CZlib"], swiftSettings: kernelFlags),

        // Pixels: JPEG decode/encode, raw camera formats, crop/resize/normalize. No ML.
        .target(name: "Imaging", dependencies: ["CTurboJPEG"], swiftSettings: vectorFlags),

        // The shared vocabulary: decisions, flag reasons, the monotonic clock, SHA-256 (swift-crypto).
        .target(name: "LinesightCore", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),

        // Frames in: V4L2 cameras, replay folders/streams, the synthetic part generator.
        .target(name: "Capture", dependencies: [
            "Imaging", "CV4L2", "LinesightCore", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: vectorFlags),
        .target(name: "CV4L2", path: "Sources/CV4L2", linkerSettings: [.linkedLibrary("v4lconvert")]),
        // The SQLite store: schema, migrations, group commit, retention. No ML.
        .target(name: "Store", dependencies: [
            "LinesightCore",
            .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Logging", package: "swift-log"),
        ]),

        // TOML with line numbers, and typed reads that reject unknown keys. No ML.
        .target(name: "Config"),
        // The staged classifier, flagging policy and per-camera pipeline: composes the engine,
        // imaging, capture and the store.
        .target(name: "Inspection", dependencies: [
            "Neural", "Imaging", "Capture", "Store", "Config", "LinesightCore", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: vectorFlags),

        // The model lifecycle: first training and registration, retrain-and-promote (the
        // promotion policy), label import/export and the label audit. Commands call it.
        .target(name: "Lifecycle", dependencies: [
            "Training", "Inspection", "Store", "Neural", "Imaging", "LinesightCore", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: vectorFlags),

        // The line's inputs and outputs: verdicts to MQTT (libmosquitto), to a PLC over Modbus TCP (libmodbus) and to GPIO lines (libgpiod). No ML.
        .target(name: "LineIO", dependencies: [
            "CMosquitto", "CModbus", "CGPIOD", "Config", "LinesightCore", .product(name: "Logging", package: "swift-log"),
        ]),

        // Statistics, SPC and agreement reports, charts as SVG and PNG. No ML.
        .target(name: "Reports", dependencies: ["Store", "Config", "CZlib"], swiftSettings: vectorFlags),

        .executableTarget(name: "linesight", dependencies: [
            "Neural", "Training", "Imaging", "Capture", "Store", "Inspection", "Config", "Reports", "Lifecycle", "LinesightCore", "LineIO",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: vectorFlags),

        // `make bench-engine`: the Swift half of the side-by-side benchmark.
        .target(name: "CPeak", path: "Benchmarks/CPeak", cSettings: [.unsafeFlags(["-O2"])]),
        .executableTarget(name: "linesight-bench", dependencies: ["Neural", "Training", "CPeak"],
                          path: "Benchmarks/EngineBench", swiftSettings: kernelFlags),

        // `make bench-loop`: the learning loop simulated on a labelled tree, by sampler.
        .executableTarget(name: "linesight-loop-bench", dependencies: ["Neural", "Training", "LinesightCore", "Reports"],
                          path: "Benchmarks/LoopBench", swiftSettings: kernelFlags),

        // `make bench-imaging`: the Swift half of the side-by-side benchmark with OpenCV.
        .executableTarget(name: "linesight-imaging-bench", dependencies: ["Imaging", "Capture", "LinesightCore"],
                          path: "Benchmarks/ImagingBench", swiftSettings: vectorFlags),

        // `make bench-pipeline`: the inspection pipeline at line speed into SQLite.
        .executableTarget(name: "linesight-pipeline-bench", dependencies: [
            "Inspection", "Capture", "Imaging", "Neural", "Store", .product(name: "Logging", package: "swift-log"),
        ], path: "Benchmarks/PipelineBench", swiftSettings: kernelFlags),
        // ... and its second half: trigger to reject signal through the shipped binary, a real
        // broker and a Modbus server.
        .executableTarget(name: "linesight-line-bench", dependencies: ["Neural", "TestSupport", "CMosquitto"],
                          path: "Benchmarks/LineBench", swiftSettings: kernelFlags),
        // The PLC of `make demo LINE=1`: the tests' Modbus server, as a program that prints what a PLC would do.
        .executableTarget(name: "linesight-demo-plc", dependencies: ["TestSupport"], path: "Benchmarks/DemoPLC"),

        .testTarget(name: "NeuralTests", dependencies: ["Neural", "CKernels", "TestSupport"],
                    resources: [.copy("Fixtures")], swiftSettings: kernelFlags),
        .testTarget(name: "CLITests", dependencies: ["linesight", "Neural", "Store", "Imaging", "TestSupport", "LinesightCore", "Config", "Reports", "LineIO",
                                                     .product(name: "GRDB", package: "GRDB.swift")], exclude: ["Golden"], swiftSettings: vectorFlags),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "TestSupport"],
                    resources: [.copy("Fixtures")], swiftSettings: vectorFlags),
        .testTarget(name: "CaptureTests", dependencies: ["Capture", "Imaging", "FakeV4L2", "LinesightCore", "TestSupport"], swiftSettings: vectorFlags),
        // Test-only: a fake V4L2 camera behind open/ioctl/close, linked into tests alone.
        .target(name: "FakeV4L2", path: "Tests/FakeV4L2"),
        .testTarget(name: "StoreTests", dependencies: ["Store", "TestSupport", "LinesightCore", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "LinesightCoreTests", dependencies: ["LinesightCore", "TestSupport"]),
        .testTarget(name: "ConfigTests", dependencies: ["Config"]),
        .testTarget(name: "LineIOTests", dependencies: ["LineIO", "LinesightCore", "Config", "TestSupport"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "Store", "Config", "CZlib", "TestSupport"], exclude: ["Golden"]),
        // Test-only helpers shared by test targets (model files with known outputs).
        .target(name: "TestSupport", dependencies: ["Neural", "CModbus"], path: "Tests/TestSupport"),
        .testTarget(name: "InspectionTests", dependencies: ["Inspection", "Config", "Neural", "TestSupport", "FakeV4L2", "Capture", "Imaging", "Store", "LinesightCore", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Logging", package: "swift-log")],
                    swiftSettings: vectorFlags),
        .testTarget(name: "LifecycleTests", dependencies: ["Lifecycle", "Inspection", "Store", "Training", "Neural", "Imaging", "TestSupport", "LinesightCore",
                                                          .product(name: "GRDB", package: "GRDB.swift")],
                    swiftSettings: vectorFlags),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Neural", "Imaging", "TestSupport"], swiftSettings: kernelFlags),
    ]
)
