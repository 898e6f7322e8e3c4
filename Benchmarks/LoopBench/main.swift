// `make bench-loop`: fewer labels for the same quality. A simulation of the line's learning
// loop on a labelled ImageFolder tree (train/ val/ test/): the labels of train/ are hidden,
// a small random seed of them is revealed, and then, round after round, stage 1 is trained
// (warm-started from the previous round, as `retrain` does), scores the unlabelled pool, a
// sampler picks the frames a reviewer labels next, and their labels are revealed. Three
// samplers, same seed set, same training: random; uncertainty only (the frames nearest the
// decision); and the daemon's review order (`ReviewSampler`: the most uncertain four times
// over, then a k-center pick on stage 1's embeddings weighted by uncertainty). After every
// round: stage 1's ROC AUC on test/, and escapes and false rejects on test/ at a threshold
// picked on val/ for 98 % defect recall. Writes loop.csv, loop.json, and loop.svg (AUC
// against labels) to --out.
import Foundation
import LinesightCore
import Neural
import Reports
import Training

struct Options {
    var data = ""
    var out = ".build/bench-loop"
    var seedLabels = 100
    var step = 100
    var budget = 1000
    var firstEpochs = 30
    var roundEpochs = 8
    /// Every round trains at least this many optimizer steps (more epochs on a small labelled
    /// set), so a round with few labels is not also a round with little training: the curve
    /// then measures labels, not compute. 0: the epochs alone.
    var minSteps = 0
    /// Also report the labels each sampler needs to reach this test AUC (and stay there).
    var targetAUC: Double?
    var size = 128
    var width = 16
    /// The network's input filter and anomaly map, and the synthetic defects painted on good
    /// parts, as `train --data` takes them (the defaults: the image, no map, 0.5).
    var inputFilter = Zoo.InputFilter.image
    var anomalyMap = false
    var syntheticDefects: Float = 0.5
    var seeds = 1
    /// The first seed's number (seeds `firstSeed..<firstSeed + seeds`): more seeds of a run in another process.
    var firstSeed = 0
    /// `loop.json` files of earlier runs (other seeds, other samplers) to summarize and plot
    /// together into `out`, training nothing.
    var merge: [String] = []
    var samplers = ["random", "uncertainty", "diverse"]
    var threads = 2
    var poolFactor = 4
    /// Keep this share of defective parts in the pool (all its good parts, defective ones
    /// drawn at random): a line's prevalence instead of the tree's. Nil: the tree's.
    var poolDefectRate: Double?

    static func parse(_ args: [String]) throws -> Options {
        var o = Options()
        var i = 0
        func value() throws -> String {
            i += 1
            guard i < args.count else { throw BenchError("\(args[i - 1]) needs a value") }
            return args[i]
        }
        func int(_ s: String, _ range: ClosedRange<Int>) throws -> Int {
            guard let v = Int(s), range.contains(v) else { throw BenchError("\(args[i - 1]) takes a whole number in \(range), not '\(s)'") }
            return v
        }
        while i < args.count {
            switch args[i] {
            case "--data": o.data = try value()
            case "--out": o.out = try value()
            case "--seed-labels": o.seedLabels = try int(try value(), 10...100_000)
            case "--step": o.step = try int(try value(), 1...100_000)
            case "--budget": o.budget = try int(try value(), 10...1_000_000)
            case "--first-epochs": o.firstEpochs = try int(try value(), 1...1000)
            case "--round-epochs": o.roundEpochs = try int(try value(), 1...1000)
            case "--min-steps": o.minSteps = try int(try value(), 0...1_000_000)
            case "--target-auc":
                let v = try value()
                guard let t = Double(v), t > 0.5, t <= 1 else { throw BenchError("--target-auc takes a ROC AUC in (0.5, 1], not '\(v)'") }
                o.targetAUC = t
            case "--size": o.size = try int(try value(), 16...1024)
            case "--width": o.width = try int(try value(), 2...256)
            case "--seeds": o.seeds = try int(try value(), 1...100)
            case "--first-seed": o.firstSeed = try int(try value(), 0...10_000)
            case "--merge": o.merge = try value().split(separator: ",").map(String.init)
            case "--input-filter":
                let v = try value()
                guard let f = Zoo.InputFilter(rawValue: v) else {
                    throw BenchError("--input-filter takes \(Zoo.InputFilter.allCases.map(\.rawValue).joined(separator: ", ")), not '\(v)'")
                }
                o.inputFilter = f
            case "--anomaly-map": o.anomalyMap = true
            case "--synthetic-defects":
                let v = try value()
                guard let r = Float(v), (0...1).contains(r) else { throw BenchError("--synthetic-defects takes a share in 0...1, not '\(v)'") }
                o.syntheticDefects = r
            case "--threads": o.threads = try int(try value(), 1...256)
            case "--pool-factor": o.poolFactor = try int(try value(), 1...100)
            case "--pool-defect-rate":
                let v = try value()
                guard let r = Double(v), r > 0, r < 1 else { throw BenchError("--pool-defect-rate takes a share in (0, 1), not '\(v)'") }
                o.poolDefectRate = r
            case "--samplers":
                o.samplers = try value().split(separator: ",").map(String.init)
                for s in o.samplers where !["random", "uncertainty", "diverse", "clusters"].contains(s) {
                    throw BenchError("unknown sampler '\(s)': random, uncertainty, diverse or clusters")
                }
            case "-h", "--help":
                print("""
                    usage: linesight-loop-bench --data DIR [--out DIR] [--seed-labels 100] [--step 100] [--budget 1000]
                             [--first-epochs 30] [--round-epochs 8] [--min-steps 0] [--target-auc A] [--size 128] [--width 16] [--seeds 1] [--first-seed 0]
                             [--input-filter image|highpass|both] [--anomaly-map] [--synthetic-defects 0.5]
                             [--samplers random,uncertainty,diverse] [--pool-factor 4] [--pool-defect-rate R] [--threads 2]
                           linesight-loop-bench --merge A/loop.json,B/loop.json --out DIR [--data DIR] [--target-auc A]
                             (earlier runs' rows summarized and plotted together, nothing trained)
                    DIR holds train/ val/ test/, one folder per class, the pass class ok/, good/ or normal/.
                    """)
                exit(0)
            default: throw BenchError("unknown argument '\(args[i])' (--help lists them)")
            }
            i += 1
        }
        guard !o.data.isEmpty || !o.merge.isEmpty else { throw BenchError("--data DIR is required (a tree with train/ val/ test/)") }
        guard o.seedLabels < o.budget else { throw BenchError("--seed-labels must be under --budget") }
        return o
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// One split as a pass/fail dataset (label 0 good, 1 defective).
func load(_ dir: String, _ items: [LabeledImage], passClass: String, shape: Shape, threads: Int) throws -> ImageDataset {
    let r = try ImageFolder.load(dir, items, shape: shape, workers: threads)
    if !r.skipped.isEmpty { FileHandle.standardError.write(Data("skipped \(r.skipped.count) unreadable images\n".utf8)) }
    return ImageDataset(shape: shape, classNames: ["good", "defect"], pixels: r.pixels,
                        labels: r.kept.map { $0.label == passClass ? 0 : 1 })
}

struct Row: Codable {
    var sampler: String
    var seed: Int
    var labels: Int
    var defectsLabelled: Int
    var auc: Double
    var escapeRate: Double
    var falseRejectRate: Double
    var seconds: Double
}

func defectProbabilities(_ net: Network, _ d: ImageDataset, _ norm: Normalization) -> [Double] {
    logits(net, on: d, normalization: norm).map { StageOneCalibration.defectProbability($0, temperature: 1) }
}

/// Escapes and false rejects on `test` at the highest threshold that keeps 98 % of val's
/// defective parts.
func operatingPoint(val: [Double], valLabels: [Int32], test: [Double], testLabels: [Int32]) -> (escape: Double, falseReject: Double) {
    let defects = zip(val, valLabels).filter { $0.1 != 0 }.map(\.0).sorted()
    guard !defects.isEmpty else { return (.nan, .nan) }
    let t = defects[Int((Double(defects.count) * 0.02).rounded(.down))]
    let bad = zip(test, testLabels).filter { $0.1 != 0 }, good = zip(test, testLabels).filter { $0.1 == 0 }
    let escape = Double(bad.filter { $0.0 < t }.count) / Double(max(1, bad.count))
    let fr = Double(good.filter { $0.0 >= t }.count) / Double(max(1, good.count))
    return (escape, fr)
}

func run(_ o: Options) throws {
    let (items, folders) = try ImageFolder.scanTree(o.data)
    guard let folders, folders.test != nil else { throw BenchError("\(o.data) needs train/ val/ test/ folders") }
    let pass = ImageFolder.passClass(o.data, requested: nil)
    let split = [0, 7, 9].map { b in items.filter { ImageFolder.bucket($0.file, in: folders) == b } }
    let colour = try ImageFolder.hasColour(o.data, items)
    let shape = Shape(colour ? 3 : 1, o.size, o.size)
    let clock = Date()
    var pool = try load(o.data, split[0], passClass: pass, shape: shape, threads: o.threads)
    if let rate = o.poolDefectRate {
        // a line's prevalence: every good part, and defective ones drawn to make `rate` of the pool
        let good = pool.labels.indices.filter { pool.labels[$0] == 0 }
        var bad = pool.labels.indices.filter { pool.labels[$0] != 0 }
        var rng = SeededGenerator(seed: 31)
        bad.shuffle(using: &rng)
        let keep = min(bad.count, Int((Double(good.count) * rate / (1 - rate)).rounded()))
        pool = pool.subset((good + bad.prefix(keep)).sorted())
    }
    let val = try load(o.data, split[1], passClass: pass, shape: shape, threads: o.threads)
    let test = try load(o.data, split[2], passClass: pass, shape: shape, threads: o.threads)
    print("pool \(pool.count) images (\(pool.classCounts[1]) defective, hidden), val \(val.count), test \(test.count); "
          + "input \(shape); loaded in \(Int(Date().timeIntervalSince(clock))) s")
    var recipe = StagedOptions()
    (recipe.width, recipe.inputFilter, recipe.anomalyMap, recipe.syntheticDefectRate) = (o.width, o.inputFilter, o.anomalyMap, o.syntheticDefects)
    let spec = recipe.networkSpec(input: shape, classes: 2)
    print("stage 1: \(spec.name), input filter \(o.inputFilter.rawValue)\(o.anomalyMap ? " + anomaly map" : ""), synthetic defects \(o.syntheticDefects); "
          + "first round \(o.firstEpochs) epochs, then \(o.roundEpochs) warm-started"
          + (o.minSteps > 0 ? ", each round at least \(o.minSteps) steps" : ""))
    let budget = min(o.budget, pool.count)
    var rows: [Row] = []
    try FileManager.default.createDirectory(atPath: o.out, withIntermediateDirectories: true)
    for seed in o.firstSeed..<(o.firstSeed + o.seeds) {
        var rng = SeededGenerator(seed: 1000 + UInt64(seed))
        var order = Array(0..<pool.count)
        order.shuffle(using: &rng)
        let seedSet = Array(order.prefix(o.seedLabels))
        for sampler in o.samplers {
            let started = Date()
            var labelled = seedSet
            var pickRng = SeededGenerator(seed: 5000 + UInt64(seed))
            let net = try Network(spec, seed: 77 + UInt64(seed))
            var round = 0
            while true {
                // as the trainer counts them: whole batches of min(batch size, images)
                let stepsAnEpoch = max(1, labelled.count / min(recipe.batchSize, labelled.count))
                let epochs = max(round == 0 ? o.firstEpochs : o.roundEpochs, (o.minSteps + stepsAnEpoch - 1) / stepsAnEpoch)
                var config = TrainingConfig.stageOne(epochs: epochs, batchSize: recipe.batchSize,
                                                     learningRate: recipe.learningRate, channels: shape.channels, seed: 9 + UInt64(round))
                if recipe.syntheticDefectRate > 0 { config.syntheticDefects = SyntheticDefects(rate: recipe.syntheticDefectRate) }
                config.augmentation = StagedRecipe.augmentation(for: spec)
                let trainer = try Trainer(network: net, config: config, train: pool.subset(labelled), validation: nil)
                _ = try trainer.run()
                let p = defectProbabilities(net, test, config.normalization)
                let v = defectProbabilities(net, val, config.normalization)
                let auc = ROC.auc(defect: zip(p, test.labels).filter { $0.1 != 0 }.map(\.0), good: zip(p, test.labels).filter { $0.1 == 0 }.map(\.0)) ?? .nan
                let point = operatingPoint(val: v, valLabels: val.labels, test: p, testLabels: test.labels)
                let defects = labelled.filter { pool.labels[$0] != 0 }.count
                let row = Row(sampler: sampler, seed: seed, labels: labelled.count, defectsLabelled: defects, auc: auc,
                              escapeRate: point.escape, falseRejectRate: point.falseReject, seconds: Date().timeIntervalSince(started))
                rows.append(row)
                print(String(format: "%-11@ seed %d  labels %4d (%3d defective)  test AUC %.3f  escapes %.1f %% / false rejects %.1f %%  %4.0f s",
                             sampler, seed, row.labels, defects, auc, point.escape * 100, point.falseReject * 100, row.seconds))
                if labelled.count >= budget { break }
                let want = min(o.step, budget - labelled.count)
                let taken = Set(labelled)
                let rest = (0..<pool.count).filter { !taken.contains($0) }
                let picked: [Int]
                switch sampler {
                case "random":
                    var r = rest
                    r.shuffle(using: &pickRng)
                    picked = Array(r.prefix(want))
                case "uncertainty":
                    let scores = defectProbabilities(net, pool.subset(rest), config.normalization)
                    picked = ReviewSampler.mostUncertain(scores.map { ReviewSampler.uncertainty($0, threshold: 0.5) }, count: want).map { rest[$0] }
                default:
                    // the most uncertain `poolFactor` times over, their embeddings on a common
                    // scale (each dimension over its spread on the pool), then the sampler's spread
                    let u = defectProbabilities(net, pool.subset(rest), config.normalization).map { ReviewSampler.uncertainty($0, threshold: 0.5) }
                    let doubted = ReviewSampler.mostUncertain(u, count: want * o.poolFactor)
                    let all = embeddings(net, on: pool, normalization: config.normalization, flipAverage: false)
                    let scale = ReviewSampler.spreads(all)
                    let scaled = all.map { zip($0, scale).map { $0 / $1 } }
                    let candidates = doubted.map { ReviewSampler.Candidate(uncertainty: u[$0], embedding: scaled[rest[$0]]) }
                    let known = labelled.map { scaled[$0] }
                    let order = sampler == "clusters"
                        ? ReviewSampler.clusterOrder(candidates, labelled: known, clusters: want, count: want, seed: 7 + UInt64(round))
                        : ReviewSampler.order(candidates, labelled: known, count: want)
                    picked = order.map { rest[doubted[$0]] }
                }
                labelled += picked
                round += 1
            }
        }
        try write(rows, o)
    }
    summarize(rows, o)
}

func write(_ rows: [Row], _ o: Options) throws {
    var csv = "sampler,seed,labels,defects_labelled,test_auc,test_escape_rate,test_false_reject_rate,seconds\n"
    for r in rows {
        csv += "\(r.sampler),\(r.seed),\(r.labels),\(r.defectsLabelled),\(r.auc),\(r.escapeRate),\(r.falseRejectRate),\(Int(r.seconds))\n"
    }
    try csv.write(toFile: o.out + "/loop.csv", atomically: true, encoding: .utf8)
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    try enc.encode(rows).write(to: URL(fileURLWithPath: o.out + "/loop.json"))
    // AUC against labels, the mean over seeds; both axes scaled to their ranges
    let samplers = o.samplers
    let labels = Set(rows.map(\.labels)).sorted()
    guard let lo = labels.first, let hi = labels.last, hi > lo else { return }
    let aucs = rows.map(\.auc).filter(\.isFinite)
    let yLo = ((aucs.min() ?? 0.5) * 20).rounded(.down) / 20, yHi = min(1, ((aucs.max() ?? 1) * 20).rounded(.up) / 20)
    let series = samplers.map { s in
        CurveChart.Series(name: s == "diverse" ? "uncertainty + k-center" : s == "clusters" ? "uncertainty + clusters" : s == "uncertainty" ? "uncertainty only" : "random",
                          points: labels.compactMap { n in
                              let a = rows.filter { $0.sampler == s && $0.labels == n }.map(\.auc).filter(\.isFinite)
                              return a.isEmpty ? nil : (x: Double(n - lo) / Double(hi - lo), y: (a.reduce(0, +) / Double(a.count) - yLo) / max(0.01, yHi - yLo))
                          }, markers: true)
    }
    var chart = CurveChart(title: "stage-1 test AUC against labels (\(o.data.split(separator: "/").last ?? ""))",
                           xLabel: "labels revealed (\(lo) ... \(hi))", yLabel: String(format: "test ROC AUC (%.2f ... %.2f)", yLo, yHi),
                           series: series, diagonal: false)
    chart.xRange = (Double(lo), Double(hi))
    chart.yRange = (yLo, yHi)
    let svg = SVGCanvas(width: 720, height: 480)
    chart.draw(on: svg)
    try svg.document.write(toFile: o.out + "/loop.svg", atomically: true, encoding: .utf8)
}

/// Per sampler: AUC at each label count (mean over seeds), and how many labels each needs to
/// reach what random sampling reaches with the whole budget.
func summarize(_ rows: [Row], _ o: Options) {
    let labels = Set(rows.map(\.labels)).sorted()
    func mean(_ s: String, _ n: Int, _ key: KeyPath<Row, Double>) -> Double? {
        let v = rows.filter { $0.sampler == s && $0.labels == n }.map { $0[keyPath: key] }.filter(\.isFinite)
        return v.isEmpty ? nil : v.reduce(0, +) / Double(v.count)
    }
    print("\nstage-1 test AUC (mean over \(o.seeds) seed\(o.seeds == 1 ? "" : "s")) against labels revealed")
    print("labels " + o.samplers.map { $0.padding(toLength: 12, withPad: " ", startingAt: 0) }.joined(separator: " "))
    for n in labels {
        print(String(format: "%6d ", n) + o.samplers.map { s in mean(s, n, \.auc).map { String(format: "%-12.3f", $0) } ?? "-           " }.joined(separator: " "))
    }
    guard let top = labels.last else { return }
    let randomFinal = mean("random", top, \.auc)
    for (target, title) in (randomFinal.map { [($0, String(format: "random sampling's AUC at %d labels (%.3f)", top, $0))] } ?? [])
        + (o.targetAUC.map { [($0, String(format: "a test AUC of %.3f", $0))] } ?? []) {
        print("\nlabels needed to reach \(title), and stay there:")
        // from where on it stays at or above the target
        let needed = o.samplers.map { s in labels.first { n in labels.filter { $0 >= n }.allSatisfy { (mean(s, $0, \.auc) ?? 0) >= target - 1e-9 } } }
        let randomNeeded = o.samplers.firstIndex(of: "random").flatMap { needed[$0] }
        for (s, reached) in zip(o.samplers, needed) {
            print("  \(s.padding(toLength: 12, withPad: " ", startingAt: 0)) " + (reached.map { n in
                "\(n)" + (randomNeeded.map { String(format: " (%.0f %% of random's)", Double(n) / Double($0) * 100) } ?? "")
            } ?? "not reached within \(top)"))
        }
    }
    print("  (written: \(o.out)/loop.csv, loop.json, loop.svg)")
}

setvbuf(stdout, nil, _IOLBF, 0)   // progress lines as they come, into a log too
/// Earlier runs' rows (`--merge`) summarized and plotted together: the samplers in the order
/// they first appear, the seeds those the rows hold.
func merge(_ o: Options) throws {
    var rows: [Row] = []
    for file in o.merge { rows += try JSONDecoder().decode([Row].self, from: Data(contentsOf: URL(fileURLWithPath: file))) }
    guard !rows.isEmpty else { throw BenchError("--merge: no rows in \(o.merge.joined(separator: ", "))") }
    var m = o
    m.samplers = rows.map(\.sampler).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    m.seeds = Set(rows.map(\.seed)).count
    try FileManager.default.createDirectory(atPath: m.out, withIntermediateDirectories: true)
    try write(rows, m)
    summarize(rows, m)
}

do {
    let o = try Options.parse(Array(CommandLine.arguments.dropFirst()))
    if !o.merge.isEmpty { try merge(o); exit(0) }
    try Compute(threads: o.threads).run { try run(o) }
} catch {
    FileHandle.standardError.write(Data("linesight-loop-bench: \(error)\n".utf8))
    exit(1)
}
