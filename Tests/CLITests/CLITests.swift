import Foundation
import Testing
import Neural
import TestSupport

/// Runs the real `linesight` binary (built next to this test bundle) as a user would.
struct CLI {
    static var binary: URL {
        var dir = Bundle.main.bundleURL
        for _ in 0..<3 where !FileManager.default.fileExists(atPath: dir.appendingPathComponent("linesight").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("linesight")
    }

    static func run(_ args: [String], env: [String: String] = [:], within seconds: Double = 900) throws -> (status: Int32, out: String, err: String) {
        var e = ProcessInfo.processInfo.environment
        e.removeValue(forKey: "OPENBLAS_CORETYPE")
        for (k, v) in env { e[k] = v }
        return try Child.run(binary, args, environment: e, within: seconds)
    }
}

@Suite("linesight command line")
struct CLITests {
    @Test("help teaches the commands")
    func help() throws {
        let r = try CLI.run(["--help"])
        #expect(r.status == 0)
        for word in ["train", "fashion-mnist", "evaluate", "engine"] { #expect(r.out.contains(word)) }
        for step in ["linesight capture", "linesight train --data", "linesight serve --config", "linesight review", "linesight retrain", "linesight stats", "make demo"] {
            #expect(r.out.contains(step), "the root help's first afternoon lacks \(step)")
        }
        let f = try CLI.run(["fashion-mnist", "--help"])
        for word in ["--epochs", "--arch", "--resume", "--checkpoint", "--limit", "--optimizer", "--threads", "resnet8", "linesight fashion-mnist --epochs"] {
            #expect(f.out.contains(word), "fashion-mnist --help lacks \(word)")
        }
        // train is the inspection trainer alone: none of the proving ground's options, nothing "with --data" only.
        let t = try CLI.run(["train", "--help"])
        for word in ["--data", "--labels", "--config", "--init", "--fine-tune", "--input-size", "--arch", "--colour", "--synthetic-defects", "--synthetic-kinds", "--unlabeled", "linesight train --data", "linesight fashion-mnist"] {
            #expect(t.out.contains(word), "train --help lacks \(word)")
        }
        for word in ["--resume", "--optimizer", "--checkpoint", "--limit", "--dataset", "With --data"] {
            #expect(!t.out.contains(word), "train --help still offers \(word)")
        }
        let e = try CLI.run(["evaluate", "--help"])
        #expect(e.status == 0 && !e.out.contains("--dataset") && e.out.contains("linesight evaluate --model") && e.out.contains("linesight evaluate --models"))
    }

    @Test("bad input gets a clear error and a non-zero exit")
    func errors() throws {
        for command in [["fashion-mnist"], ["train", "--data", "/nonexistent"]] {
            let epochs = try CLI.run(command + ["--epochs", "0"])
            #expect(epochs.status != 0 && epochs.err.contains("--epochs must be at least 1"), "\(command): \(epochs.err)")
        }
        // No option is silently ignored: the proving ground's options are refused by train.
        for option in [["--optimizer", "adam"], ["--resume"], ["--checkpoint", "c"], ["--limit", "5"]] {
            let r = try CLI.run(["train", "--data", "/nonexistent"] + option)
            #expect(r.status != 0 && r.err.contains("Unknown option"), "\(option): \(r.err)")
        }
        // train's --arch names the inspection networks, not the proving ground's; each refusal says what would do
        for (option, message) in [(["--arch", "resnet8"], "--arch must be small, small10, resnet18 or light"),
                                  (["--arch", "resnet18", "--width", "8"], "--width does not apply to --arch resnet18"),
                                  (["--arch", "light", "--global-pool", "max"], "--arch light has its own stem and pooling"),
                                  (["--colour", "cmyk"], "--colour must be rgb or gray"),
                                  (["--synthetic-defects", "1.5"], "--synthetic-defects must lie in 0...1"),
                                  (["--synthetic-kinds", "warp,dent"], "'dent' is no kind of synthetic defect (line, blob, spots, warp, patch)"),
                                  (["--synthetic-kinds", ","], "--synthetic-kinds: name at least one of"),
                                  (["--unlabeled", "/nonexistent"], "--unlabeled /nonexistent: no such folder"),
                                  (["--unlabeled", #filePath], "no such folder (give a folder of unlabeled JPEG frames)"),
                                  (["--synthetic-kinds", "warp", "--synthetic-defects", "0"], "--synthetic-kinds paints nothing with --synthetic-defects 0"),
                                  (["--init", "m", "--colour", "rgb"], "--colour with --init"),
                                  (["--torchvision", "/nonexistent.pth"], "--torchvision /nonexistent.pth: no readable file"),
                                  (["--torchvision", #filePath, "--arch", "small"], "leave out --arch small"),
                                  (["--torchvision", #filePath, "--init", "m"], "start from one of them"),
                                  (["--torchvision", #filePath, "--width", "8"], "--width with --torchvision"),
                                  (["--input-filter", "sobel"], "--input-filter must be image, highpass or both"),
                                  (["--high-pass-sigma", "0"], "--high-pass-sigma must lie in 0.5...32.0"),
                                  (["--high-pass-sigma", "nan"], "--high-pass-sigma must lie in"),
                                  (["--input-filter", "image", "--high-pass-sigma", "4"], "there is no high-pass to blur"),
                                  (["--high-pass-sigma", "4"], "give --input-filter highpass or both"),
                                  (["--torchvision", #filePath, "--input-filter", "both"], "--input-filter with --torchvision"),
                                  (["--init", "m", "--input-filter", "both"], "--input-filter with --init"),
                                  (["--init", "m", "--high-pass-sigma", "3"], "--high-pass-sigma with --init"),
                                  (["--init", "m", "--anomaly-map"], "--anomaly-map/--no-anomaly-map with --init"),
                                  (["--torchvision", #filePath, "--no-anomaly-map"], "--anomaly-map/--no-anomaly-map with --torchvision"),
                                  (["--torchvision", #filePath, "--high-pass-sigma", "3"], "--high-pass-sigma with --torchvision"),
                                  (["--pretrained", "/nonexistent.safetensors"], "--pretrained /nonexistent.safetensors: no readable file"),
                                  (["--pretrained", #filePath, "--init", "m"], "--init and --pretrained: start from one of them"),
                                  (["--pretrained", #filePath, "--arch", "light"], "--arch with --pretrained"),
                                  (["--pretrained", #filePath, "--input-size", "64", "--width", "8"], "--width, --input-size with --pretrained"),
                                  (["--pretrained", #filePath, "--input-filter", "both", "--high-pass-sigma", "3"], "--input-filter, --high-pass-sigma with --pretrained")] {
            let r = try CLI.run(["train", "--data", "/nonexistent"] + option)
            #expect(r.status != 0 && r.err.contains(message), "\(option): \(r.err)")
        }
        // pretrain: frames from one place; its network options are train's, refused the same way
        for (args, message) in [([String](), "give either --data DIR or --config FILE"),
                                (["--data", "d", "--config", "c.toml"], "give either --data DIR or --config FILE"),
                                (["--data", "d", "--epochs", "0"], "--epochs must be at least 1"),
                                (["--data", "d", "--lr", "nan"], "--lr must be a positive number"),
                                (["--data", "d", "--high-pass-sigma", "4"], "there is no high-pass to blur"),
                                (["--data", "d", "--arch", "resnet8"], "--arch must be small, small10, resnet18 or light"),
                                (["--data", "/nonexistent"], "/nonexistent: no such folder"),
                                (["--data", NSTemporaryDirectory(), "--out", "/proc/linesight/pretrained.safetensors"], "its folder cannot be created or written to"),
                                (["--data", NSTemporaryDirectory() + "/linesight-no-such-frames-\(getpid())"], "no such folder")] {
            let r = try CLI.run(["pretrain"] + args)
            #expect(r.status != 0 && r.err.contains(message), "\(args): \(r.err)")
        }
        let nothing = try CLI.run(["train"])
        #expect(nothing.status != 0 && nothing.err.contains("give either --data DIR or --labels"), "\(nothing.err)")
        let fineTune = try CLI.run(["train", "--data", "/nonexistent", "--fine-tune", "head"])
        #expect(fineTune.status != 0 && fineTune.err.contains("--fine-tune applies to --init and --torchvision only"), "\(fineTune.err)")
        let outAndConfig = try CLI.run(["train", "--data", "/nonexistent", "--config", "/nonexistent.toml", "--out", "x"])
        #expect(outAndConfig.status != 0 && outAndConfig.err.contains("leave out --out"), "\(outAndConfig.err)")
        // With --init the network is the init model's: its architecture options would do nothing.
        for option in [["--width", "8"], ["--global-pool", "max"], ["--no-stem-pool"], ["--lr", "0.01"]] {
            let r = try CLI.run(["train", "--data", "/nonexistent", "--init", "/nonexistent"] + option)
            #expect(r.status != 0 && r.err.contains("\(option[0]) with --init") || r.err.contains("--stem-pool/--no-stem-pool with --init"), "\(option): \(r.err)")
        }
        let stage2 = try CLI.run(["retrain", "--config", "/nonexistent.toml", "--stage1-only", "--stage2", "all"])
        #expect(stage2.status != 0 && stage2.err.contains("leave out --stage2"), "\(stage2.err)")
        let dataset = try CLI.run(["evaluate", "--model", "m.safetensors", "--dataset", "fashion-mnist"])
        #expect(dataset.status != 0 && dataset.err.contains("Unknown option"), "\(dataset.err)")
        for size in ["256x", "8x8", "640x480"] {
            let bad = try CLI.run(["train", "--data", "/nonexistent", "--input-size", size])
            #expect(bad.status != 0 && bad.err.contains("--input-size must be auto, N or WxH"), "\(size): \(bad.err)")
        }
        let missing = try CLI.run(["evaluate", "--model", "/nonexistent/model.safetensors"])
        #expect(missing.status != 0 && missing.err.contains("/nonexistent/model.safetensors"))
        let dir = URL(fileURLWithPath: try TemporaryDirectory.make("cli"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let junk = dir.appendingPathComponent("junk.safetensors")
        try Data("not a model at all".utf8).write(to: junk)
        let bad = try CLI.run(["evaluate", "--model", junk.path])
        #expect(bad.status != 0 && bad.err.contains("not a usable model file"))
    }

    @Test("engine reports the OpenBLAS core and a passed kernel check")
    func engine() throws {
        let r = try CLI.run(["engine", "--threads", "1"])
        #expect(r.status == 0)
        #expect(r.out.contains("core in use") && r.out.contains("kernel check   passed"))
        #expect(r.err.contains("OpenBLAS kernels verified"))
    }

    @Test("engine --profile times every layer of a model file and refuses a broken one")
    func engineProfile() throws {
        let dir = URL(fileURLWithPath: try TemporaryDirectory.make("cli-profile"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let net = try Network(Zoo.smallResNet(input: Shape(1, 32, 32), classes: 2, depth: 8, width: 8), seed: 1)
        let model = dir.appendingPathComponent("m.safetensors").path
        try ModelFile.save(net, ModelMetadata(spec: net.spec, classes: ["good", "defect"], normalization: .init(mean: [0.3], std: [0.25]),
                                              provenance: .init(created: "t")), to: model)
        let r = try CLI.run(["engine", "--threads", "1", "--profile", model, "--batch", "2"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("input 1x32x32, batch 2"))
        #expect(r.out.contains("channel-blocked 9 convs") && r.out.contains("conv k3 s1 8->8 at 32x32 +relu"), "\(r.out)")
        #expect(r.out.contains("Linear") && r.out.contains("prediction "))
        let junk = dir.appendingPathComponent("junk.safetensors").path
        try Data("no".utf8).write(to: URL(fileURLWithPath: junk))
        let bad = try CLI.run(["engine", "--threads", "1", "--profile", junk])
        #expect(bad.status != 0 && bad.err.contains("not a usable model file"))
        let zero = try CLI.run(["engine", "--threads", "1", "--profile", model, "--batch", "0"])
        #expect(zero.status != 0 && zero.err.contains("--batch must be between 1 and 4096"))
    }

    @Test("a generic OpenBLAS core on a capable CPU makes linesight re-execute itself with a better one")
    func reexec() throws {
        let cpu = CPUFeatures.parse(cpuinfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")
        guard case .switchTo(let core, _) = chooseOpenBLASCore(current: "Prescott", cpu: cpu, userSetting: nil) else {
            return   // a CPU without AVX2: Prescott is the right core, nothing to switch
        }
        let r = try CLI.run(["engine", "--threads", "1"], env: ["LINESIGHT_TEST_PRETEND_OPENBLAS_CORE": "Prescott"])
        #expect(r.status == 0)
        #expect(r.out.contains("core in use    \(core)"), "\(r.out)")
        #expect(r.out.contains("switched to \(core)"))
        #expect(r.err.contains("openblas.switched_to=\(core)"))
        let user = try CLI.run(["engine", "--threads", "1"],
                               env: ["LINESIGHT_TEST_PRETEND_OPENBLAS_CORE": "Prescott", "OPENBLAS_CORETYPE": "Prescott"])
        #expect(user.out.contains("core in use    Prescott") && user.out.contains("set by you"))
    }

    @Test("fashion-mnist then evaluate: a real model file, loaded back, with its metrics")
    func trainAndEvaluate() throws {
        let dir = URL(fileURLWithPath: try TemporaryDirectory.make("cli-train"))
        let model = dir.appendingPathComponent("m.safetensors").path
        let t = try CLI.run(["fashion-mnist", "--epochs", "1", "--limit", "512", "--test-limit", "500", "--width", "4",
                             "--batch-size", "64", "--threads", "2", "--out", model])
        #expect(t.status == 0, "\(t.err)")
        #expect(t.out.contains("test accuracy") && t.out.contains("model written to"))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("checkpoint.safetensors").path))
        let e = try CLI.run(["evaluate", "--model", model, "--test-limit", "500"])
        #expect(e.status == 0, "\(e.err)")
        #expect(e.out.contains("accuracy") && e.out.contains("ankle-boot") && e.out.contains("truth\\pred"))
        let (_, meta) = try ModelFile.load(path: model)
        #expect(meta.classes.count == 10 && meta.provenance.metrics["test.accuracy"] != nil)
    }
}

@Suite("linesight fashion-mnist, interrupted")
struct InterruptTests {
    @Test("Ctrl-C stops after the epoch with a checkpoint; --resume finishes the run")
    func interruptAndResume() throws {
        let dir = URL(fileURLWithPath: try TemporaryDirectory.make("cli-int"))
        let model = dir.appendingPathComponent("m.safetensors").path
        // 1024 images: the first epoch lasts seconds, long enough to be interrupted inside it
        let args = ["fashion-mnist", "--epochs", "2", "--limit", "1024", "--test-limit", "100", "--width", "4",
                    "--batch-size", "64", "--threads", "1", "--out", model]
        let child = Child(CLI.binary, args)
        try child.start()
        // wait for training to start, then interrupt once
        let deadline = Date().addingTimeInterval(60)
        var started = false
        while Date() < deadline && !started {
            Thread.sleep(forTimeInterval: 0.2)
            started = FileManager.default.fileExists(atPath: dir.path)
        }
        Thread.sleep(forTimeInterval: 0.3)
        kill(child.pid, SIGINT)
        let r = child.finish(within: 300)
        let o = r.out
        #expect(r.status == 0)
        #expect(o.contains("stopped after epoch 1 of 2"), "\(o)")
        #expect(!FileManager.default.fileExists(atPath: model))
        let resumed = try CLI.run(args + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.err)")
        #expect(resumed.out.contains("resumed after epoch 1") && resumed.out.contains("model written to"))
    }
}
