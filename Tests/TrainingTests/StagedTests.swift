import Foundation
import Imaging
import Neural
import TestSupport
import Testing
@testable import Training

@Suite("Staged training pieces")
struct StagedTests {
    @Test func thresholdsKeepTheTargetRecallAndTheFailBudget() {
        let defects = (1...100).map { Double($0) / 100 }           // 0.01 ... 1.00
        let good = (0..<200).map { Double($0) / 400 }              // 0.000 ... 0.4975
        let t = PickedThresholds.pick(defectScores: defects, goodScores: good, targetRecall: 0.95, failBudget: 0.01)
        #expect(defects.filter { $0 > t.pass }.count >= 95, "at most 5% of defects at or below pass")
        #expect(defects.filter { $0 > t.pass }.count == 95)
        #expect(good.filter { $0 >= t.fail }.count <= 2, "at most 1% of good parts at or above fail")
        #expect(t.pass <= t.fail)
        let r = StageOneReport(defectScores: defects, goodScores: good, thresholds: t)
        #expect(r.escapes == 5 && r.escapeRate == 0.05 && r.escapeRateCI[0] < 0.05 && r.escapeRateCI[1] > 0.05)
    }

    @Test func theLineLetsStageTwoSettleOnlyTheUnsureParts() {
        let t = PickedThresholds(pass: 0.1, fail: 0.9)
        // stage 1:  pass   pass   unsure  unsure  unsure  fail   fail   unsure
        let s1 =    [0.05,  0.10,  0.50,   0.50,   0.50,   0.95,  0.90,  0.30]
        // stage 2 (two kinds, thresholds 0.6 and 0.3): what it says only counts for the unsure
        let s2: [[Float]] = [[0.9, 0.9], [0, 0], [0.7, 0], [0, 0.2], [0, 0.35], [0, 0], [0, 0], [0.59, 0.29]]
        let truth = [false, true, true, true, false, false, true, false]
        let r = LineDecisionReport(stage1: s1, stage2: s2, kindThresholds: [0.6, 0.3], defective: truth, thresholds: t)
        #expect(r.defective == 4 && r.good == 4 && r.settledByStage2 == 4)
        // escapes: part 1 (passed by stage 1 at the threshold), part 3 (stage 2 below both thresholds)
        #expect(r.escapes == 2 && r.escapeRate == 0.5)
        // false rejects: part 4 (stage 2 over the second kind's threshold), part 5 (stage 1 fail)
        #expect(r.falseRejects == 2 && r.falseRejectRate == 0.5)
        #expect(r.escapeRateCI[0] < 0.5 && r.escapeRateCI[1] > 0.5)
    }

    @Test func theInputFilterGoesInFrontOfBothStagesButNotOfTorchvisionWeights() throws {
        var o = StagedOptions()
        #expect(o.networkSpec(input: Shape(3, 64, 64), classes: 2).layers.first == .conv(out: o.width, kernel: 3, stride: 2, padding: 1))
        o.inputFilter = .both
        o.highPassSigma = 4
        let spec = o.networkSpec(input: Shape(3, 64, 64), classes: 5)
        #expect(spec.layers.first == .highPass(sigma: 4, keepInput: true))
        let net = try Network(spec)
        #expect(net.namedParameters.first?.1.dims == [o.width, 6, 3, 3])   // the stem sees the high-pass and the image
        o.anomalyMap = true
        let mapped = o.networkSpec(input: Shape(3, 64, 64), classes: 5)
        #expect(Array(mapped.layers.prefix(2)) == [.anomalyMap, .highPass(sigma: 4, keepInput: true)])
        #expect(try Network(mapped).namedParameters.first?.1.dims == [o.width, 8, 3, 3])   // the high-pass and the image, each with the map
        o.torchvisionWeights = "weights.pth"
        o.architecture = .resnet18
        #expect(o.networkSpec(input: Shape(3, 64, 64), classes: 2) == Zoo.resnet18(input: Shape(3, 64, 64), classes: 2))
    }

    @Test func aFixedInputFilterTrainsWithFlipsAndTurnsAlone() {
        var o = StagedOptions()
        let plain = o.networkSpec(input: Shape(3, 64, 64), classes: 2)
        #expect(StagedRecipe.augmentation(for: plain) == StagedRecipe.augmentation)
        #expect(StagedRecipe.augmentation.noiseStd > 0 && StagedRecipe.augmentation.cropPadding > 0, "parts keep shifts and noise")
        o.inputFilter = .both
        #expect(StagedRecipe.augmentation(for: o.networkSpec(input: Shape(3, 64, 64), classes: 2)) == StagedRecipe.surfaceAugmentation)
        o.inputFilter = .image
        o.anomalyMap = true
        let surface = StagedRecipe.augmentation(for: o.networkSpec(input: Shape(3, 64, 64), classes: 2))
        #expect(surface == StagedRecipe.surfaceAugmentation)
        #expect(surface.noiseStd == 0 && surface.cropPadding == 0 && surface.brightness == 0 && surface.channelGain == 0)
        #expect(surface.horizontalFlip && surface.verticalFlip && surface.quarterTurns)
    }

    @Test func inputSizesAreSquareOrWidthByHeight() {
        #expect(InputSize(parsing: "128") == InputSize(width: 128, height: 128))
        #expect(InputSize(parsing: "256x192") == InputSize(width: 256, height: 192))
        #expect(InputSize(parsing: "256X192")?.description == "256x192")
        #expect(InputSize(parsing: "96")?.description == "96")
        for bad in ["", "x", "256x", "x192", "256x192x3", "12.5", "wide"] { #expect(InputSize(parsing: bad) == nil, "\(bad)") }
    }

    @Test func automaticInputKeepsTheAspectRatioAndCapsTheLongSide() {
        #expect(InputSize.fitting(width: 256, height: 192) == InputSize(width: 256, height: 192))
        #expect(InputSize.fitting(width: 1024, height: 1024) == InputSize(width: 256, height: 256))
        #expect(InputSize.fitting(width: 640, height: 480) == InputSize(width: 256, height: 192))
        #expect(InputSize.fitting(width: 500, height: 1250) == InputSize(width: 104, height: 256), "tall: 102.4 rounds to 104")
        #expect(InputSize.fitting(width: 64, height: 48) == InputSize(width: 64, height: 48), "never enlarged")
        #expect(InputSize.fitting(width: 4000, height: 100) == InputSize(width: 256, height: 16), "at least 16 pixels")
        #expect(InputSize.fitting(width: 640, height: 480, longSide: 128) == InputSize(width: 128, height: 96))
    }

    @Test func theTypicalImageSizeIsTheMostCommonOne() throws {
        let dir = try TemporaryDirectory.make("typical")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let encoder = try JPEGEncoder()
        var items: [LabeledImage] = []
        for (i, (w, h)) in [(40, 30), (20, 20), (40, 30), (40, 30), (33, 17)].enumerated() {
            try Data(try encoder.encode(Image(width: w, height: h, layout: .gray), quality: 90)).write(to: URL(fileURLWithPath: "\(dir)/\(i).jpg"))
            items.append(LabeledImage(file: "\(i).jpg", label: "good", defects: []))
        }
        try Data("not a jpeg".utf8).write(to: URL(fileURLWithPath: "\(dir)/bad.jpg"))
        items.append(LabeledImage(file: "bad.jpg", label: "good", defects: []))
        let size = try ImageFolder.typicalSize(dir, items)
        #expect(size.width == 40 && size.height == 30)
        #expect(throws: TrainingError.self) { try ImageFolder.typicalSize(dir, [items.last!]) }
    }

    @Test("a pre-split tree (train/, val/ or valid/, test/) keeps its own splits; the good parts' folder and colour are found")
    func presplitTrees() throws {
        try TemporaryDirectory.with("presplit") { dir in
            let encoder = try JPEGEncoder()
            func write(_ path: String, _ layout: PixelLayout) throws {
                try FileManager.default.createDirectory(atPath: (dir + "/" + path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try Data(try encoder.encode(Image(width: 8, height: 8, layout: layout), quality: 90)).write(to: URL(fileURLWithPath: dir + "/" + path))
            }
            for split in ["train", "valid", "test"] {
                try write("\(split)/ok/a.jpg", .gray)
                try write("\(split)/pit/b.jpg", .gray)
            }
            let folders = try #require(ImageFolder.presplit(dir))
            #expect(folders == PresplitFolders(train: "train", validation: "valid", test: "test"))
            #expect(ImageFolder.passClass(dir, requested: nil) == "ok")
            #expect(ImageFolder.passClass(dir, requested: "good") == "good")
            let items = try ImageFolder.scan(dir, folders, passClass: "ok")
            #expect(items.map(\.file) == ["train/ok/a.jpg", "train/pit/b.jpg", "valid/ok/a.jpg", "valid/pit/b.jpg", "test/ok/a.jpg", "test/pit/b.jpg"])
            #expect(items.map(\.defects) == [[], ["pit"], [], ["pit"], [], ["pit"]])
            #expect(try !ImageFolder.hasColour(dir, items))
            // retraining reads the same trees: the split folders stand for the hash buckets
            let tree = try ImageFolder.scanTree(dir)
            #expect(tree.items == items && tree.folders == folders)
            #expect(items.map { ImageFolder.bucket($0.file, in: folders) } == [0, 0, 7, 7, 9, 9])
            #expect(ImageFolder.bucket("ok/a.jpg", in: nil) == ImageFolder.bucket("ok/a.jpg"))
            try write("train/ok/c.jpg", .rgb)
            #expect(try ImageFolder.hasColour(dir, try ImageFolder.scan(dir, folders, passClass: "ok")))
            // a plain tree is not pre-split; both good and ok present: the default name
            #expect(ImageFolder.presplit(dir + "/train") == nil)
            try write("train/good/d.jpg", .gray)
            #expect(ImageFolder.passClass(dir, requested: nil) == "good")
        }
    }

    @Test("the line's operating point: the fewest false rejects within the escapes allowed, stage 2 held back by a floor where its own thresholds would fail the good parts it settles")
    func lineOperatingPoint() {
        let stage1 = [0.9, 0.8, 0.6, 0.1, 0.2, 0.5, 0.55, 0.65]
        let defective = [true, true, true, false, false, false, false, false]
        let stage2: [[Float]] = defective.map { $0 ? [0.95] : [0.4] }   // stage 2 scores every good part 0.4 >= its own 0.3
        let c = LineOperatingPoint.pick(stage1: stage1, stage2: stage2, kindThresholds: [0.3], defective: defective, targetRecall: 1)
        #expect(c.escapes == 0 && c.falseRejects == 0)
        #expect(c.floor == 0.5 && c.kindThresholds == [0.5])
        #expect(abs(c.thresholds.pass - 0.6) < 1e-5 && abs(c.thresholds.fail - 0.65) < 1e-5, "\(c.thresholds)")
        // the daemon's rule at the choice agrees with the counts
        let t = c.thresholds
        let fails = zip(stage1, stage2).map { LineDecisionReport.fails(stage1: $0, stage2: $1, kindThresholds: c.kindThresholds, t) }
        #expect(fails == defective)
        // an escape allowed (recall 0.5 of 3 defects: one) buys no false reject here, so none is spent
        let loose = LineOperatingPoint.pick(stage1: stage1, stage2: stage2, kindThresholds: [0.3], defective: defective, targetRecall: 0.5)
        #expect(loose.falseRejects == 0 && loose.escapes == 0)
        // a good part scored above every defect by both stages: failing it is the price of no escapes
        let hard = LineOperatingPoint.pick(stage1: stage1 + [0.95], stage2: stage2 + [[0.99]], kindThresholds: [0.3], defective: defective + [false], targetRecall: 1)
        #expect(hard.escapes == 0 && hard.falseRejects == 1)
    }

    @Test func wilsonIntervalsMatchTheTextbook() {
        let a = wilson(0, 10), b = wilson(5, 10)
        #expect(abs(a[0]) < 1e-12 && abs(a[1] - 0.2775) < 1e-3)
        #expect(abs(b[0] - 0.2366) < 1e-3 && abs(b[1] - 0.7634) < 1e-3)
        #expect(wilson(0, 0) == [0, 1])
    }

    @Test func theSplitIsByFileHashStableAndNearSevenTwoOne() {
        let names = (0..<3000).map { "good/\(String(format: "%06d", $0)).jpg" }
        let buckets = names.map(ImageFolder.bucket)
        #expect(buckets == names.map(ImageFolder.bucket), "deterministic")
        let train = buckets.filter { $0 <= 6 }.count, val = buckets.filter { $0 == 7 || $0 == 8 }.count
        #expect(abs(Double(train) / 3000 - 0.7) < 0.04 && abs(Double(val) / 3000 - 0.2) < 0.04, "\(train) / \(val)")
    }

    @Test func labelsCSVIsParsedAndBadRowsNamed() throws {
        let items = try ImageFolder.parseCSV("file,label,defects\nb/2.jpg,scratch,scratch+dent\na/1.jpg,good,\n", path: "l.csv", passClass: "good")
        #expect(items == [LabeledImage(file: "a/1.jpg", label: "good", defects: []),
                          LabeledImage(file: "b/2.jpg", label: "scratch", defects: ["scratch", "dent"])])
        #expect(throws: TrainingError.dataset(path: "l.csv", reason: "line 3: expected 3 columns")) {
            _ = try ImageFolder.parseCSV("file,label,defects\na.jpg,good,\nbroken\n", path: "l.csv", passClass: "good")
        }
        #expect(throws: TrainingError.self) { _ = try ImageFolder.parseCSV("name,class\n", path: "l.csv", passClass: "good") }
    }

    @Test func perKindThresholdsMaximizeValidationF1() {
        // Kind 0 is scored high when present (best cut near 0.5); kind 1 only reaches 0.2-0.3.
        let probs: [[Float]] = [[0.9, 0.25, 0.1], [0.8, 0.3, 0.1], [0.1, 0.05, 0.1], [0.2, 0.1, 0.1], [0.7, 0.22, 0.1], [0.3, 0.02, 0.1]]
        let masks: [UInt32] = [0b11, 0b11, 0, 0, 0b11, 0]
        let t = MultiLabelScores.pick(probs, masks, classes: 3)
        #expect(t[0] > 0.3 && t[0] <= 0.7, "\(t)")
        #expect(t[1] > 0.1 && t[1] <= 0.22, "\(t)")
        #expect(t[2] == 0.5, "no positives: the default")
        let at = MultiLabelScores(probs, masks, thresholds: t)
        #expect(at.f1[0] == 1 && at.f1[1] == 1 && at.macroF1 == 1)
        let flat = MultiLabelScores(probs, masks, thresholds: [0.5, 0.5, 0.5])
        #expect(flat.recall[1] == 0 && flat.macroF1 == 0.5, "at 0.5 kind 1 is never named: its F1 is 0")
    }

    @Test func aRecallFloorKeepsThresholdsLowEnoughToHoldRecall() {
        // Positives at 0.9, 0.8 and 0.3; negatives at 0.5, 0.45, 0.4, 0.35 and 0.1. The best
        // F1 cuts at 0.8 (recall 2/3); holding recall 1 needs a cut at or below 0.3.
        let probs: [[Float]] = [[0.9], [0.8], [0.3], [0.5], [0.45], [0.4], [0.35], [0.1]]
        let masks: [UInt32] = [1, 1, 1, 0, 0, 0, 0, 0]
        let free = MultiLabelScores.pick(probs, masks, classes: 1)
        #expect(free[0] > 0.5 && free[0] <= 0.8, "\(free)")
        let held = MultiLabelScores.pick(probs, masks, classes: 1, recallFloor: [1])
        #expect(held == [0.3], "the highest cut that still catches all three")
        #expect(MultiLabelScores(probs, masks, thresholds: held).recall[0] == 1)
        let loose = MultiLabelScores.pick(probs, masks, classes: 1, recallFloor: [0.5])
        #expect(loose == free, "a floor the free pick already meets changes nothing")
        // A floor no threshold reaches (one positive under 0.05): the highest cut with the
        // best recall there is.
        let low = MultiLabelScores.pick([[0.04], [0.6], [0.3]], [1, 1, 0], classes: 1, recallFloor: [1])
        #expect(low == [0.6], "\(low)")
    }

    @Test func aMultiLabelModelLearnsIndependentLabels() throws {
        // 4x4 images; label 0 iff the top-left pixel is bright, label 1 iff the bottom-right one is.
        var rng = SeededGenerator(seed: 7)
        var pixels: [UInt8] = [], masks: [UInt32] = []
        for _ in 0..<256 {
            var img = (0..<16).map { _ in UInt8(rng.below(60)) }
            var m: UInt32 = 0
            if rng.below(2) == 1 { img[0] = 250; m |= 1 }
            if rng.below(2) == 1 { img[15] = 250; m |= 2 }
            pixels += img
            masks.append(m)
        }
        let data = ImageDataset(shape: Shape(1, 4, 4), classNames: ["tl", "br"], pixels: pixels,
                                labels: masks.map { Int32($0 & 1) }, multiLabels: masks)
        let spec = NetworkSpec(name: "linear", input: Shape(1, 4, 4), layers: [.flatten, .linear(out: 2)])
        let net = try Network(spec, seed: 1)
        let config = TrainingConfig(epochs: 30, batchSize: 32, optimizer: .adam(learningRate: 0.05, weightDecay: 0), schedule: .constant,
                                    loss: .binaryCrossEntropy(positiveWeights: [1, 1]), normalization: .identity(channels: 1))
        let summary = try Trainer(network: net, config: config, train: data, validation: data).run()
        let ev = evaluateMultiLabel(net, on: data, normalization: .identity(channels: 1))
        #expect(ev.exactMatch > 0.95 && ev.recall(0) > 0.95 && ev.recall(1) > 0.95, "\(ev.exactMatch)")
        #expect((summary.bestValidationAccuracy ?? 0) > 0.95)
        #expect(throws: TrainingError.self, "softmax losses refuse multi-label data") {
            _ = try Trainer(network: net, config: TrainingConfig(epochs: 1, batchSize: 8, optimizer: .adam(learningRate: 0.01, weightDecay: 0),
                                                                 schedule: .constant, normalization: .identity(channels: 1)), train: data, validation: nil)
        }
    }

    /// Thresholds are fitted on training's flip-averaged logits, so the daemon's inference
    /// network must produce the very same numbers from the same bytes.
    /// With the anomaly map in front, both run it once per image and mirror its output;
    /// that must equal the mean over the four mirror images run whole.
    @Test(arguments: [false, true])
    func flipAveragedLogitsAgreeBetweenTrainingAndInference(anomalyMap: Bool) throws {
        let shape = Shape(1, 10, 14)
        var rng = SeededGenerator(seed: 11)
        let pixels = (0..<(3 * shape.count)).map { _ in UInt8(rng.below(256)) }
        let data = ImageDataset(shape: shape, classNames: ["good", "defect"], pixels: pixels, labels: [0, 1, 0])
        let plainSpec = Zoo.smallResNet(input: shape, classes: 2, depth: 8, width: 4)
        let net = try Network(anomalyMap ? Zoo.withAnomalyMap(plainSpec) : plainSpec, seed: 2)
        #expect(net.root.layers[0].commutesWithMirroring == anomalyMap)
        let norm = Normalization(mean: [0.5], std: [0.25])
        let averaged = logits(net, on: data, normalization: norm, flipAverage: true)
        let plain = logits(net, on: data, normalization: norm, flipAverage: false)
        let each = Flip.allCases.map { logits(net, on: data.flipped($0), normalization: norm, flipAverage: false) }
        let fast = InferenceNetwork(net)
        for i in 0..<data.count {
            let whole = (0..<2).map { j in each.map { $0[i][j] }.reduce(0, +) / 4 }
            #expect(zip(whole, averaged[i]).allSatisfy { abs($0 - $1) < 1e-4 }, "sample \(i): \(whole) vs \(averaged[i])")
            let x = data.pixels[(i * shape.count)..<((i + 1) * shape.count)].map { (Float($0) / 255 - 0.5) / 0.25 }
            let z = fast.predictFlipAveraged(sample: x)
            #expect(zip(z, averaged[i]).allSatisfy { abs($0 - $1) < 1e-4 }, "sample \(i): \(z) vs \(averaged[i])")
            #expect(zip(z, plain[i]).contains { abs($0 - $1) > 1e-5 }, "sample \(i): averaging changed nothing")
        }
        #expect(data.flipped(.horizontal).flipped(.horizontal).pixels == data.pixels)
        #expect(data.flipped(.both).pixels != data.pixels && data.flipped(.both).labels == data.labels)
    }
}

@Suite("Calibration")
struct CalibrationTests {
    @Test func temperatureScalingRecoversAKnownTemperature() {
        var rng = SeededGenerator(seed: 11)
        var logits: [[Float]] = [], labels: [Int32] = []
        for _ in 0..<4000 {
            let s = Float(rng.below(12001)) / 1000 - 6  // -6 ... 6
            let p = 1 / (1 + exp(-Double(s) / 2.5))       // the data's real temperature is 2.5
            logits.append([0, s])
            labels.append(Double(rng.below(1_000_000)) / 1e6 < p ? 1 : 0)
        }
        let t = TemperatureScaling.fit(logits, labels)
        #expect(abs(t - 2.5) < 0.25, "fitted \(t)")
        #expect(TemperatureScaling.nll(logits, labels, temperature: t) < TemperatureScaling.nll(logits, labels, temperature: 1))
        #expect(TemperatureScaling.expectedCalibrationError(logits, labels, temperature: t)
                < TemperatureScaling.expectedCalibrationError(logits, labels, temperature: 1))
    }

    @Test("ECE by hand: two images at 90 % confidence both right, two at 60 % one right -> 0.1 (10 percentage points)")
    func expectedCalibrationErrorByHand() {
        let logits: [[Float]] = [[Float(log(9.0)), 0], [Float(log(9.0)), 0], [Float(log(1.5)), 0], [Float(log(1.5)), 0]]
        // bin 0.9: accuracy 1.0 vs confidence 0.9 (weight 1/2); bin 0.6: accuracy 0.5 vs 0.6 (weight 1/2)
        let ece = TemperatureScaling.expectedCalibrationError(logits, [0, 0, 0, 1], temperature: 1)
        #expect(abs(ece - 0.1) < 1e-6, "\(ece)")
        #expect(TemperatureScaling.expectedCalibrationError(logits, [1, 1, 1, 1], temperature: 1) <= 1)
    }

    @Test("a temperature that would raise the ECE is not used: the calibration falls back to T = 1 and says so")
    func calibrationFallsBack() {
        // scores already calibrated in their bins but one confident mistake pulls the NLL fit to a high T
        var logits: [[Float]] = [], labels: [Int32] = []
        for i in 0..<100 {
            logits.append([0, i < 50 ? -4 : 4])   // P(defect) 0.018 / 0.982
            labels.append(i < 50 ? 0 : 1)
        }
        logits.append([0, 12]); labels.append(0)   // one good part scored as certain defect
        let fit = StageOneCalibration.fit(logits, labels, targetRecall: 0.99, failBudget: 0.01)
        let fitted = TemperatureScaling.fit(logits, labels)
        let worse = TemperatureScaling.expectedCalibrationError(logits, labels, temperature: fitted)
            > TemperatureScaling.expectedCalibrationError(logits, labels, temperature: 1)
        #expect(worse, "the case is built so the fitted T decalibrates")
        #expect(fit.fellBack == worse)
        #expect(fit.fellBack ? fit.temperature == 1 : fit.temperature == fitted)
        #expect(fit.ece.after <= fit.ece.before)
    }

    @Test("ROC AUC: a perfect ranking 1, a reversed one 0, ties half, NaN ranks lowest; the curve runs (0,0) to (1,1)")
    func rocAUC() {
        #expect(ROC.auc(defect: [0.9, 0.8], good: [0.1, 0.2, 0.3]) == 1)
        #expect(ROC.auc(defect: [0.1], good: [0.5, 0.6]) == 0)
        #expect(ROC.auc(defect: [0.5], good: [0.5]) == 0.5)
        // 3 of 4 pairs ordered right: (0.7 > 0.2), (0.7 > 0.6), (0.4 > 0.2), (0.4 < 0.6)
        #expect(ROC.auc(defect: [0.7, 0.4], good: [0.2, 0.6]) == 0.75)
        #expect(ROC.auc(defect: [.nan], good: [0.1]) == 0)
        #expect(ROC.auc(defect: [], good: [0.1]) == nil)
        let curve = ROC.curve(defect: [0.7, 0.4], good: [0.2, 0.6])
        #expect(curve.first!.fpr == 0 && curve.first!.tpr == 0 && curve.last!.fpr == 1 && curve.last!.tpr == 1)
        #expect(curve.map(\.tpr) == [0, 0.5, 0.5, 1, 1])
    }
}

@Suite("Stage-2 retraining data")
struct StageTwoRetrainDataTests {
    /// Stage 2's retrain picks its thresholds on the first training's validation split and
    /// replays its training split: never the golden set, never an image of the other split.
    @Test func oldValidationAndReplayComeFromDisjointSplits() throws {
        let dir = try TemporaryDirectory.make("s2data")
        try FileManager.default.createDirectory(atPath: dir + "/new", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var csv = "file,label,defects\n"
        for i in 0..<400 { csv += i % 2 == 0 ? "good/\(i).jpg,good,\n" : "dent/\(i).jpg,dent,dent\n" }
        try csv.write(toFile: dir + "/labels.csv", atomically: true, encoding: .utf8)
        let golden = (0..<400).map { i in "\(i % 2 == 0 ? "good" : "dent")/\(i).jpg" }.filter { ImageFolder.bucket($0) == 9 }
            .map { LabeledImage(file: dir + "/" + $0, label: "x", defects: []) }
        var inp = Retrainer.Inputs(championPath: "", newData: dir + "/new", golden: golden)
        inp.replayData = dir
        let val = StageTwoRetrainer.oldValidation(inp)
        let replay = StageTwoRetrainer.withEveryOldDefect([], inp)
        let relative = { (items: [LabeledImage]) in items.map { String($0.file.dropFirst(dir.count + 1)) } }
        #expect(!val.isEmpty && relative(val).allSatisfy { (7...8).contains(ImageFolder.bucket($0)) })
        #expect(val.contains { $0.defects.isEmpty } && val.contains { !$0.defects.isEmpty }, "good and defective parts")
        #expect(!replay.isEmpty && relative(replay).allSatisfy { ImageFolder.bucket($0) <= 6 })
        #expect(Set(val.map(\.file)).isDisjoint(with: golden.map(\.file)) && Set(replay.map(\.file)).isDisjoint(with: val.map(\.file)))
        // New labels in the first training's own folder: its buckets 0-7 train this round.
        inp.newData = dir
        #expect(StageTwoRetrainer.oldValidation(inp).isEmpty)
    }
}

@Suite("Stage-1 retraining thresholds")
struct StageOneRetrainThresholdTests {
    /// A one-kind stage 2 that names every bright part "dent": its logit is 40 x (mean pixel - 0.5).
    static func brightIsDent(_ path: String, input: Shape) throws {
        let net = try Network(NetworkSpec(name: "bright", input: input, layers: [.globalAvgPool, .flatten, .linear(out: 1)]))
        net.namedParameters[0].1.value.data[0] = 40
        net.namedParameters[1].1.value.data[0] = -20
        try ModelFile.save(net, ModelMetadata(spec: net.spec, task: .multilabel, classes: ["dent"], normalization: .init(mean: [0], std: [1]),
                                              thresholds: ["defect.dent": 0.5], provenance: .init(created: "t")), to: path)
    }

    @Test("a retrained stage 1's pass and fail thresholds are picked with the live stage 2 settling the band, as the first training picks them")
    func theLiveStageTwoSettlesTheBand() throws {
        let dir = try TemporaryDirectory.make("line-thresholds")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shape = Shape(1, 2, 2)
        try Self.brightIsDent(dir + "/stage2.safetensors", input: shape)
        // 20 good parts (dark) scored 0.10-0.67 by stage 1, 20 defective (bright) 0.40-0.97: they overlap
        let n = 40
        let labels = (0..<n).map { Int32($0 % 2) }
        let pixels: [UInt8] = labels.flatMap { l -> [UInt8] in [UInt8](repeating: l == 0 ? 30 : 220, count: 4) }
        let calib = ImageDataset(shape: shape, classNames: ["good", "defect"], pixels: pixels, labels: labels)
        let stage1: [Double] = (0..<n).map { i -> Double in (i % 2 == 0 ? 0.10 : 0.40) + Double(i / 2) * 0.03 }
        // the line may let 4 of the 20 defects escape (recall 0.8)
        let t = try #require(try Retrainer.lineThresholds(stageTwo: dir + "/stage2.safetensors", calib, stage1: stage1, passIndex: 0, targetRecall: 0.8))
        // the daemon's rule on every part: fail at or above fail, pass at or below pass, else stage 2 (bright: dent)
        func line(_ t: PickedThresholds) -> (escapes: Int, falseRejects: Int) {
            var escapes = 0, falseRejects = 0
            for i in 0..<n {
                let fails = stage1[i] >= t.fail || (stage1[i] > t.pass && labels[i] == 1)
                if labels[i] == 1 && !fails { escapes += 1 }
                if labels[i] == 0 && fails { falseRejects += 1 }
            }
            return (escapes, falseRejects)
        }
        #expect(line(t) == (0, 0), "the overlap is left to stage 2, which settles it without an escape or a false reject")
        // stage 1 alone spends the escapes it is allowed: its pass threshold lets the lowest defects through
        let defectScores = (0..<n).filter { labels[$0] == 1 }.map { stage1[$0] }, goodScores = (0..<n).filter { labels[$0] == 0 }.map { stage1[$0] }
        let alone = PickedThresholds.pick(defectScores: defectScores, goodScores: goodScores, targetRecall: 0.8, failBudget: 0.02)
        #expect(line(alone).escapes >= 3, "stage 2 would have caught them")
        // a stage 2 of another input cannot judge these images: nil, and the retrainer keeps stage 1's own pick
        try Self.brightIsDent(dir + "/other.safetensors", input: Shape(1, 4, 4))
        #expect(try Retrainer.lineThresholds(stageTwo: dir + "/other.safetensors", calib, stage1: stage1, passIndex: 0, targetRecall: 1) == nil)
        #expect(throws: (any Error).self) { try Retrainer.lineThresholds(stageTwo: dir + "/missing.safetensors", calib, stage1: stage1, passIndex: 0, targetRecall: 1) }
    }

    @Test("a live stage 2 in int8 scores the images in int8, as the daemon runs it, not in fp32")
    func anInt8LiveStageTwoScoresInInt8() throws {
        let dir = try TemporaryDirectory.make("live-int8")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shape = Shape(1, 8, 8)
        let net = try Network(NetworkSpec(name: "kinds", input: shape, layers: [.conv(out: 8, kernel: 3, padding: 1), .batchNorm, .relu,
                                                                                  .globalAvgPool, .flatten, .linear(out: 2)]), seed: 7)
        var rng = SeededGenerator(seed: 3)
        let pixels = (0..<12 * shape.count).map { _ in UInt8(rng.below(256)) }
        let data = ImageDataset(shape: shape, classNames: ["good", "defect"], pixels: pixels, labels: (0..<12).map { Int32($0 % 2) })
        let frames = (0..<12).map { i in (0..<shape.count).map { (Float(pixels[i * shape.count + $0]) / 255 - 0.5) / 0.25 } }
        let q = try Calibrator(method: .minmax).calibrate(net, frames: frames)
        var meta = ModelMetadata(spec: net.spec, task: .multilabel, classes: ["dent", "pit"], normalization: .init(mean: [0.5], std: [0.25]),
                                 thresholds: ["defect": 0.5], provenance: .init(created: "t"))
        meta.flipAverage = true
        try ModelFile.save(net, meta, to: dir + "/fp32.safetensors")
        meta.quantization = q
        try ModelFile.save(net, meta, to: dir + "/int8.safetensors")
        let fp32 = try #require(try LiveStageTwo(path: dir + "/fp32.safetensors", input: shape)).scores(data)
        let int8 = try #require(try LiveStageTwo(path: dir + "/int8.safetensors", input: shape)).scores(data)
        // the daemon's int8 network on each image, flip-averaged
        let qn = try QuantizedNetwork(net, quantization: q)
        let daemon = frames.map { f in f.withUnsafeBufferPointer { qn.predictFlipAveraged(sample: $0.baseAddress!) }.map { 1 / (1 + exp(-$0)) } }
        #expect(int8.count == 12 && int8 == daemon, "the int8 file's scores are not its int8 network's")
        #expect(int8 != fp32, "an int8 file scored like its fp32 twin: scored in fp32?")
        let worst = zip(int8.joined(), fp32.joined()).map { abs($0 - $1) }.max() ?? 1
        #expect(worst < 0.05, "int8 and fp32 scores differ by \(worst): not the same network")
    }
}

@Suite("Transfer learning")
struct TransferTests {
    @Test func warmStartCopiesTheBodyAndHeadOnlyTrainingLeavesItAlone() throws {
        let dir = try TemporaryDirectory.make("warm")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shape = Shape(1, 16, 16)
        let base = try Network(Zoo.lightNet(input: shape, classes: 2, width: 4), seed: 5)
        try ModelFile.save(base, ModelMetadata(spec: base.spec, classes: ["good", "defect"], normalization: .init(mean: [0.5], std: [0.25]),
                                              provenance: .init(created: "t")), to: dir + "/stage1.safetensors")
        var spec = base.spec
        spec.layers[spec.layers.count - 1] = .linear(out: 3)
        let (net, head, copied) = try warmStart(spec, from: dir + "/stage1.safetensors", seed: 9)
        #expect(copied == base.namedParameters.count - 2 && head.count == 2, "everything but the 3-class head")
        let first = net.namedParameters.first!.1.value.array
        #expect(first == base.namedParameters.first!.1.value.array)
        var rng = SeededGenerator(seed: 1)
        let data = ImageDataset(shape: shape, classNames: ["a", "b", "c"], pixels: (0..<(48 * 256)).map { _ in UInt8(rng.below(256)) },
                                labels: (0..<48).map { Int32($0 % 3) })
        var config = TrainingConfig(epochs: 1, batchSize: 16, optimizer: .adam(learningRate: 0.01, weightDecay: 0), schedule: .constant,
                                    normalization: .identity(channels: 1))
        #expect(head == headParameterNames(net) && head.allSatisfy { $0.hasPrefix("\(spec.layers.count - 1).") })
        config.trainOnly = head
        let headBefore = net.namedParameters.last!.1.value.array
        let statistics = net.namedBuffers.map(\.1.array)
        #expect(!statistics.isEmpty, "the net has batch norm")
        _ = try Trainer(network: net, config: config, train: data, validation: nil).run()
        #expect(net.namedParameters.first!.1.value.array == first, "the body is frozen")
        #expect(net.namedParameters.last!.1.value.array != headBefore, "the head learned")
        #expect(net.namedBuffers.map(\.1.array) == statistics, "frozen layers keep their running statistics")
        config.trainOnly = nil
        _ = try Trainer(network: net, config: config, train: data, validation: nil).run()
        #expect(net.namedBuffers.map(\.1.array) != statistics, "layers that train update theirs")
        config.trainOnly = ["no.such.parameter"]
        #expect(throws: TrainingError.self) { _ = try Trainer(network: net, config: config, train: data, validation: nil) }
    }

    @Test("growing stage 2's head keeps every old kind's output and starts the new rows at the old mean bias")
    func growingTheHeadKeepsTheOldKinds() throws {
        let shape = Shape(1, 16, 16)
        let base = try Network(Zoo.lightNet(input: shape, classes: 3, width: 4), seed: 5)
        // give the old head distinct biases, so "kept" and "the mean" are both checked
        let bias = base.namedParameters.last!.1
        for k in 0..<3 { bias.value.data[k] = Float(k) - 0.7 }
        let (grown, spec) = try growHead(base, spec: base.spec, to: 5, seed: 11)
        #expect(grown.outputShape.count == 5 && spec.layers.last == .linear(out: 5, bias: true))
        var rng = SeededGenerator(seed: 3)
        let x = Tensor(shape, batch: 2)
        for i in 0..<(2 * 256) { x[i] = Float(rng.below(256)) / 128 - 1 }
        let before = base.forward(x, mode: .eval).array, after = grown.forward(x, mode: .eval).array
        for i in 0..<2 {
            for k in 0..<3 { #expect(abs(after[i * 5 + k] - before[i * 3 + k]) <= 1e-5, "sample \(i) kind \(k) unchanged") }
        }
        let b = grown.namedParameters.last!.1.value.array
        #expect(abs(b[3] - 0.3) < 1e-6 && abs(b[4] - 0.3) < 1e-6, "new rows start at the old kinds' mean bias: \(b)")
        #expect(after[3] != after[4], "the new rows' weights are freshly drawn, not copies")
        #expect(throws: TrainingError.self) { _ = try growHead(base, spec: base.spec, to: 2, seed: 1) }
    }

    @Test("each new kind keeps parts on both sides of the retraining split")
    func newKindsAreHeldOut() {
        let items = (0..<6).map { LabeledImage(file: "burr/\($0).jpg", label: "burr", defects: ["burr"]) }
            + (0..<4).map { LabeledImage(file: "good/\($0).jpg", label: "good", defects: []) }
        // every burr in training: the one nearest the edge moves to validation
        let (t1, v1) = StageTwoRetrainer.holdingOut(["burr"], train: Array(0..<10), validation: [], items)
        #expect(v1.count == 1 && items[v1[0]].defects == ["burr"] && t1.count == 9 && !t1.contains(v1[0]))
        // every burr held out: one moves to training
        let (t2, v2) = StageTwoRetrainer.holdingOut(["burr"], train: [6, 7, 8, 9], validation: Array(0..<6), items)
        #expect(t2.count == 5 && v2.count == 5 && items[t2.last!].defects == ["burr"])
        // both sides already have one: nothing moves
        let (t3, v3) = StageTwoRetrainer.holdingOut(["burr"], train: [0, 1, 6], validation: [2, 7], items)
        #expect(t3 == [0, 1, 6] && v3 == [2, 7])
    }
}
