import Foundation
import Neural
import TestSupport
import Testing

/// `linesight prune` as a process: a trained set pruned, fine-tuned and written, with what it saved.
@Suite("linesight prune", .serialized)
struct PruneCLITests {
    /// Synthetic parts in `dir`/parts and a model set trained on them (one epoch, 32 px) in `dir`/`out`.
    static func trainedSet(_ dir: String, out: String, count: Int, seed: Int, width: Int) throws {
        #expect(try CLI.run(["synth", "--out", dir + "/parts", "--count", "\(count)", "--size", "64x48", "--seed", "\(seed)"]).status == 0)
        let train = try CLI.run(["train", "--data", dir + "/parts", "--input-size", "32", "--epochs", "1", "--width", "\(width)",
                                 "--out", dir + "/" + out, "--threads", "1"])
        try #require(train.status == 0, "\(train.err)")
    }

    @Test("prunes both stages' blocks, fine-tunes and calibrates them, and says what it saved")
    func pruneAndFineTune() throws {
        try TemporaryDirectory.with("prune") { dir in
            let small = ["--threads", "1"]
            try Self.trainedSet(dir, out: "models", count: 160, seed: 5, width: 16)
            let r = try CLI.run(["prune", "--models", dir + "/models", "--data", dir + "/parts", "--out", dir + "/pruned",
                                 "--epochs", "1", "--multiple", "8", "--criterion", "l1"] + small)
            try #require(r.status == 0, "\(r.out)\(r.err)")
            #expect(r.out.contains("stage1: blocks 16->8 32->16 64->32; multiply-adds"), "\(r.out)")
            #expect(r.out.contains("% fewer") && r.out.contains("one frame"), "\(r.out)")
            for stage in ["stage1", "stage2"] {
                let (before, _) = try ModelFile.load(path: "\(dir)/models/\(stage).safetensors")
                let (after, meta) = try ModelFile.load(path: "\(dir)/pruned/\(stage).safetensors")
                #expect(after.parameterCount < before.parameterCount * 6 / 10, "\(stage): \(before.parameterCount) -> \(after.parameterCount)")
                #expect(try after.spec.plan().multiplyAdds < before.spec.plan().multiplyAdds * 7 / 10)
                #expect(meta.provenance.notes?.contains("pruned: 50 % of each residual block's inner channels by l1, kept in multiples of 8\nfine-tuned 1 epochs") == true,
                        "\(meta.provenance.notes ?? "")")
                let staged = try ModelFile.load(path: "\(dir)/pruned/pruned/\(stage).safetensors").metadata
                #expect(staged.provenance.notes?.contains("(not fine-tuned: its thresholds are the unpruned model's)") == true)
                #expect(FileManager.default.fileExists(atPath: "\(dir)/pruned/pruned/\(stage).safetensors"), "the pruned set before fine-tuning stays")
            }
            let (_, meta1) = try ModelFile.load(path: dir + "/pruned/stage1.safetensors")
            #expect(meta1.thresholds["pass"] != nil, "\(meta1.thresholds)")
            #expect(FileManager.default.fileExists(atPath: dir + "/pruned/report.json"))
            // the pruned set serves like any other: evaluate reads it
            let eval = try CLI.run(["evaluate", "--models", dir + "/pruned", "--data", dir + "/parts"] + small)
            #expect(eval.status == 0, "\(eval.err)")
            // the set it wrote is not overwritten, and the pruned/ folder is no source for its own parent
            let again = try CLI.run(["prune", "--models", dir + "/models", "--data", dir + "/parts", "--out", dir + "/pruned"] + small)
            #expect(again.status != 0 && again.err.contains("already holds a model set"), "\(again.err)")
            let parent = try CLI.run(["prune", "--models", dir + "/pruned/pruned", "--data", dir + "/parts", "--out", dir + "/pruned"] + small)
            #expect(parent.status != 0 && parent.err.contains("--out must differ from --models"), "\(parent.err)")
        }
    }

    @Test("refuses what it cannot do, with the reason")
    func refusals() throws {
        try TemporaryDirectory.with("prune-refusals") { dir in
            try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
            let cases: [([String], String)] = [
                (["--models", dir + "/empty", "--data", dir, "--out", dir + "/o"], "no stage1.safetensors"),
                (["--models", dir + "/empty", "--data", dir, "--out", dir + "/o", "--ratio", "1"], "--ratio must lie strictly between 0 and 1"),
                (["--models", dir + "/empty", "--data", dir, "--out", dir + "/o", "--ratio", "nan"], "--ratio must lie strictly between 0 and 1"),
                (["--models", dir + "/empty", "--data", dir, "--out", dir + "/o", "--multiple", "0"], "--multiple must be between 1 and 64"),
                (["--models", dir + "/empty", "--data", dir, "--out", dir + "/o", "--criterion", "random"], "criterion"),
                (["--models", dir + "/empty", "--data", dir, "--out", dir + "/empty"], "no stage1.safetensors"),
                (["--models", dir + "/fake", "--data", dir, "--out", dir + "/fake"], "--out must differ from --models"),
                (["--models", dir + "/fake", "--data", dir + "/nowhere", "--out", dir + "/o"], "--data \(dir)/nowhere: no such folder"),
            ]
            try FileManager.default.createDirectory(atPath: dir + "/fake", withIntermediateDirectories: true)
            try Data().write(to: URL(fileURLWithPath: dir + "/fake/stage1.safetensors"))
            for (args, message) in cases {
                let r = try CLI.run(["prune"] + args)
                #expect(r.status != 0 && (r.err + r.out).contains(message), "\(args): \(r.err)")
            }
        }
    }
}

/// `linesight train --teacher` as a process: a light student learns beside a ResNet teacher's logits.
@Suite("linesight train --teacher", .serialized)
struct DistillCLITests {
    @Test("a student trains with a teacher's soft targets; options that do not fit are refused")
    func distill() throws {
        try TemporaryDirectory.with("distill") { dir in
            let small = ["--threads", "1"]
            try PruneCLITests.trainedSet(dir, out: "teacher", count: 120, seed: 6, width: 8)
            let student = try CLI.run(["train", "--data", dir + "/parts", "--input-size", "32", "--epochs", "1", "--arch", "light", "--width", "4",
                                       "--teacher", dir + "/teacher", "--distill-temperature", "3", "--out", dir + "/student"] + small)
            try #require(student.status == 0, "\(student.out)\(student.err)")
            #expect(student.out.contains("stage1: distilling from \(dir)/teacher/stage1.safetensors (resnet8-w8-gavgmax, temperature 3.0, soft-target weight 0.5)"), "\(student.out)")
            #expect(student.out.contains("stage2: distilling from \(dir)/teacher/stage2.safetensors (resnet8-w8-gavgmax, each kind's sigmoid at temperature 3.0"), "\(student.out)")
            let (_, meta2) = try ModelFile.load(path: dir + "/student/stage2.safetensors")
            #expect(meta2.provenance.notes?.contains("distilled from \(dir)/teacher/stage2.safetensors") == true, "\(meta2.provenance.notes ?? "")")
            // a teacher given as its stage-1 file teaches stage 1 only, and says so
            let fileOnly = try CLI.run(["train", "--data", dir + "/parts", "--input-size", "32", "--epochs", "1", "--arch", "light", "--width", "4",
                                        "--teacher", dir + "/teacher/stage1.safetensors", "--out", dir + "/student1"] + small)
            #expect(fileOnly.status == 0 && fileOnly.out.contains("stage 2: no teacher") && fileOnly.out.contains("learns from its labels alone"), "\(fileOnly.out)\(fileOnly.err)")
            let (net, meta) = try ModelFile.load(path: dir + "/student/stage1.safetensors")
            #expect(net.spec.name.hasPrefix("light"), "the student keeps its own architecture: \(net.spec.name)")
            #expect(meta.provenance.notes?.contains("distilled from \(dir)/teacher (temperature 3.0, soft-target weight 0.5)") == true, "\(meta.provenance.notes ?? "")")

            let refusals: [([String], String)] = [
                (["--distill-weight", "0.3"], "apply to --teacher only"),
                (["--teacher", dir + "/nowhere"], "no model there"),
                (["--teacher", dir + "/teacher", "--distill-temperature", "0"], "--distill-temperature must lie in 1...20"),
                (["--teacher", dir + "/teacher", "--distill-weight", "nan"], "--distill-weight must lie in (0, 1]"),
            ]
            for (args, message) in refusals {
                let r = try CLI.run(["train", "--data", dir + "/parts", "--out", dir + "/x"] + args)
                #expect(r.status != 0 && r.err.contains(message), "\(args): \(r.err)")
            }
            // a teacher of another input size is refused when training starts, with the reason
            let mismatch = try CLI.run(["train", "--data", dir + "/parts", "--input-size", "48", "--epochs", "1", "--arch", "light", "--width", "4",
                                        "--teacher", dir + "/teacher", "--out", dir + "/y"] + small)
            #expect(mismatch.status != 0 && mismatch.err.contains("the teacher takes"), "\(mismatch.err)")
        }
    }
}

/// `linesight --version` names the kernels it chose, and says so when LINESIGHT_FP32_KERNELS cannot be followed.
@Suite("Kernel choice at start")
struct KernelChoiceCLITests {
    @Test("--version names the chosen kernels; LINESIGHT_FP32_KERNELS picks a slower one, and a wrong name is said on stderr")
    func version() throws {
        let plain = try CLI.run(["--version"])
        #expect(plain.status == 0 && plain.out.contains("fp32 kernels: \(FloatISA.best),") && plain.err.isEmpty, "\(plain.out)\(plain.err)")
        let slow = try CLI.run(["--version"], env: ["LINESIGHT_FP32_KERNELS": "baseline"])
        #expect(slow.out.contains("fp32 kernels: \(FloatISA.baseline)"), "\(slow.out)")
        if FloatISA.best != .baseline { #expect(slow.out.contains("(LINESIGHT_FP32_KERNELS; the CPU has \(FloatISA.best))"), "\(slow.out)") }
        let typo = try CLI.run(["--version"], env: ["LINESIGHT_FP32_KERNELS": "avx3"])
        #expect(typo.status == 0 && typo.err.contains("LINESIGHT_FP32_KERNELS=avx3 names no variant") && typo.out.contains("fp32 kernels: \(FloatISA.best),"),
                "\(typo.out)\(typo.err)")
    }
}
