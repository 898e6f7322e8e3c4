import Foundation
import Imaging
import Inspection
import LinesightCore
import Neural
import Training

/// A staged model set judged on a labelled folder as the daemon judges frames
/// (`linesight evaluate --models DIR --data DIR`): every image through `StagedClassifier`
/// at the models' own thresholds, then the line's escapes and false rejects with Wilson
/// intervals, per-kind precision/recall/F1 of the kinds the line names, the confusion of
/// truth against the line's call, stage 1's ROC and precision-recall curves, the operating
/// points stage 1 could run at, and its calibration (ECE and reliability bins).
public struct StagedEvaluation {
    public struct KindFigures: Codable, Equatable, Sendable {
        public var kind: String
        public var support: Int
        public var precision: Double, recall: Double, f1: Double
    }

    /// Stage 1 alone at another pass threshold: what it would let through and reject.
    public struct OperatingPoint: Codable, Equatable, Sendable {
        /// False rejects of good parts allowed (of those rejected by stage 1 alone).
        public var falseRejectBudget: Double
        public var threshold: Double
        public var escapeRate: Double
        public var falseRejectRate: Double
    }

    public struct ReliabilityBin: Codable, Equatable, Sendable {
        public var lower: Double, upper: Double
        public var count: Int
        /// Mean predicted P(defect) and the share actually defective.
        public var meanScore: Double, defectiveShare: Double
    }

    /// One image's truth and the line's call on it.
    public struct ImageCall: Codable, Equatable, Sendable {
        public var file: String
        public var defects: [String]
        /// Stage 1's calibrated P(defect), as the daemon computes it.
        public var pDefect: Double
        public var call: String
        /// The kinds the line names (on a fail).
        public var named: [String]
    }

    public var data: String
    public var split: String
    public var calls: [ImageCall]
    public var images: Int
    public var skipped: [String]
    public var kinds: [String]
    public var thresholds: Thresholds
    public var line: LineDecisionFigures
    public var perKind: [KindFigures]
    public var macroF1: Double
    /// Rows: truth ("good" then the kinds); columns: the line's call ("pass", each kind, "fail: no kind named").
    public var confusion: [[Int]]
    public var confusionColumns: [String]
    public var auroc: Double?
    public var roc: [(fpr: Double, tpr: Double)]
    /// Precision-recall of stage 1's score, defect recall rising.
    public var precisionRecall: [(recall: Double, precision: Double)]
    public var operatingPoints: [OperatingPoint]
    /// Expected calibration error of stage 1's P(defect) as the probability of a defect (10
    /// bins over P(defect)), as a fraction (x100: percentage points). Training reports the
    /// top-label ECE (bins over the winning class's probability); the two differ.
    public var ece: Double
    public var reliability: [ReliabilityBin]
    /// Whether the class maps point at the defects, when the labels give boxes.
    public var localization: Localization?

    /// The line's call on every image against the truth.
    public struct LineDecisionFigures: Codable, Equatable, Sendable {
        public var defective: Int, good: Int
        public var escapes: Int, falseRejects: Int
        public var escapeRate: Double, escapeRateCI: [Double]
        public var falseRejectRate: Double, falseRejectRateCI: [Double]
        /// Images inside stage 1's unsure band (stage 2 settled them).
        public var unsure: Int
    }

    /// Judges the images of `data` (`split`: a pre-split tree's folder; nil: its test/,
    /// else val/, or a plain tree's every image). `progress(done, total)` after each image.
    public static func run(models: String, data: String, split: String? = nil, passClass: String? = nil,
                           compute: Compute = .current(), progress: (Int, Int) -> Void = { _, _ in }) throws -> StagedEvaluation {
        let s1 = models + "/stage1.safetensors", s2 = models + "/stage2.safetensors"
        guard FileManager.default.fileExists(atPath: s1) else {
            throw LifecycleError.invalidInput("\(models) has no stage1.safetensors: give the folder `linesight train` wrote (--out) or a line's models folder")
        }
        var paths = ModelPaths(stage1: s1, stage2: FileManager.default.fileExists(atPath: s2) ? s2 : nil)
        paths.unsure = .stage2
        let classifier = try StagedClassifier(paths, roi: nil, compute: compute)
        let (root, chosen) = try folder(data, split: split)
        let pass = ImageFolder.passClass(root, requested: passClass)
        let items = try ImageFolder.scan(root, passClass: pass)
        let (judged, skipped) = judgeAll(classifier, root: root, items, progress: progress)
        guard !judged.isEmpty else { throw LifecycleError.invalidInput("no image of \(root) could be judged") }
        var e = StagedEvaluation(data: root, split: chosen, judged: judged, skipped: skipped, kinds: classifier.stage2?.metadata.classes ?? [],
                                 thresholds: classifier.thresholds)
        e.localization = localize(classifier, root: root, judged)
        return e
    }

    /// The line on `paths` (a line's models and its config's thresholds) judging the golden
    /// set's images (their stored paths), as its daemon would.
    public static func golden(paths: ModelPaths, items: [LabeledImage], compute: Compute = .current()) throws -> StagedEvaluation {
        let classifier = try StagedClassifier(paths, roi: nil, compute: compute)
        let (judged, skipped) = judgeAll(classifier, root: nil, items)
        guard !judged.isEmpty else { throw LifecycleError.invalidInput("none of the \(items.count) golden images could be judged") }
        return StagedEvaluation(data: "golden set", split: "golden", judged: judged, skipped: skipped, kinds: classifier.stage2?.metadata.classes ?? [],
                                thresholds: classifier.thresholds)
    }

    /// Every image of `items` (under `root`, or at its own path) through `classifier`; the
    /// files that cannot be read or judged are named in `skipped`.
    static func judgeAll(_ classifier: StagedClassifier, root: String?, _ items: [LabeledImage],
                         progress: (Int, Int) -> Void = { _, _ in }) -> (judged: [(item: LabeledImage, j: Judgement)], skipped: [String]) {
        var judged: [(item: LabeledImage, j: Judgement)] = [], skipped: [String] = []
        for (n, item) in items.enumerated() {
            defer { progress(n + 1, items.count) }
            guard let bytes = FileManager.default.contents(atPath: root.map { $0 + "/" + item.file } ?? item.file) else { skipped.append(item.file); continue }
            let j: Judgement? = [UInt8](bytes).withUnsafeBytes { raw in
                try? classifier.judge(FrameView(bytes: raw, format: .mjpeg, width: 0, height: 0), everyStage2: true)
            }
            guard let j else { skipped.append(item.file); continue }
            judged.append((item, j))
        }
        return (judged, skipped)
    }

    /// The folder to judge: a pre-split tree's `split` (default test/, else its validation folder).
    static func folder(_ data: String, split: String?) throws -> (String, String) {
        if let folders = ImageFolder.presplit(data) {
            let name = split ?? folders.test ?? folders.validation
            guard folders.all.contains(name) else {
                throw LifecycleError.invalidInput("\(data) has the splits \(folders.all.joined(separator: ", ")); --split \(name) is none of them")
            }
            return (data + "/" + name, name)
        }
        if let split { throw LifecycleError.invalidInput("\(data) is not split into train/, val/, test/: --split \(split) does not apply") }
        return (data, "all images of a tree that is not split: judge images the models did not train on")
    }

    /// Where one part counts in the confusion matrix (rows: good, then `kinds`; columns: pass,
    /// then `kinds`, then "fail: no kind named"). A good part counts once, under the kind the
    /// line named first (or pass, or no kind). A defective part counts once per true kind stage
    /// 2 knows: under that kind when the line named it, else under what it named instead (a
    /// kind the part does not have first), else pass or no kind. Kinds stage 2 does not know
    /// have no row.
    static func confusionCells(truth: [String], decision: Decision, named: [String], kinds: [String]) -> [(row: Int, column: Int)] {
        let noKind = kinds.count + 1
        let column = { (kind: String?) -> Int in kind.flatMap { kinds.firstIndex(of: $0).map { $0 + 1 } } ?? noKind }
        guard decision == .fail else {
            return truth.isEmpty ? [(0, 0)] : truth.uniqued().compactMap { k in kinds.firstIndex(of: k).map { ($0 + 1, 0) } }
        }
        guard !truth.isEmpty else { return [(0, column(named.first))] }
        return truth.uniqued().compactMap { k in
            kinds.firstIndex(of: k).map { row in
                (row + 1, named.contains(k) ? column(k) : column(named.first { !truth.contains($0) } ?? named.first))
            }
        }
    }

    init(data: String, split: String, judged: [(item: LabeledImage, j: Judgement)], skipped: [String], kinds: [String], thresholds: Thresholds) {
        (self.data, self.split, self.images, self.skipped, self.kinds, self.thresholds) = (data, split, judged.count, skipped, kinds, thresholds)
        calls = judged.map { ImageCall(file: $0.item.file, defects: $0.item.defects, pDefect: $0.j.stage1Score, call: $0.j.decision.rawValue, named: $0.j.defects) }
        let truth = judged.map { !$0.item.defects.isEmpty }
        let fails = judged.map { $0.j.decision == .fail }
        let defective = truth.filter { $0 }.count, good = truth.count - defective
        let escapes = zip(truth, fails).filter { $0 && !$1 }.count, falseRejects = zip(truth, fails).filter { !$0 && $1 }.count
        line = LineDecisionFigures(defective: defective, good: good, escapes: escapes, falseRejects: falseRejects,
                                   escapeRate: defective == 0 ? 0 : Double(escapes) / Double(defective), escapeRateCI: wilson(escapes, defective),
                                   falseRejectRate: good == 0 ? 0 : Double(falseRejects) / Double(good), falseRejectRateCI: wilson(falseRejects, good),
                                   unsure: judged.filter(\.j.unsure).count)
        // the kinds the line names on each image (none on a pass) against the true kinds
        perKind = kinds.map { kind in
            let named = judged.map { $0.j.defects.contains(kind) }, real = judged.map { $0.item.defects.contains(kind) }
            let tp = zip(named, real).filter { $0 && $1 }.count
            let p = Double(tp) / Double(max(1, named.filter { $0 }.count)), r = Double(tp) / Double(max(1, real.filter { $0 }.count))
            return KindFigures(kind: kind, support: real.filter { $0 }.count, precision: p, recall: r, f1: p + r == 0 ? 0 : 2 * p * r / (p + r))
        }
        let present = perKind.filter { $0.support > 0 }
        macroF1 = present.isEmpty ? 0 : present.map(\.f1).reduce(0, +) / Double(present.count)
        let truthRows = ["good"] + kinds
        confusionColumns = ["pass"] + kinds + ["fail: no kind named"]
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: confusionColumns.count), count: truthRows.count)
        for (item, j) in judged {
            for (row, column) in Self.confusionCells(truth: item.defects, decision: j.decision, named: j.defects, kinds: kinds) { confusion[row][column] += 1 }
        }
        self.confusion = confusion
        let scores = judged.map(\.j.stage1Score)
        let d = zip(scores, truth).filter(\.1).map(\.0), g = zip(scores, truth).filter { !$0.1 }.map(\.0)
        auroc = ROC.auc(defect: d, good: g)
        roc = ROC.curve(defect: d, good: g)
        precisionRecall = roc.compactMap { pt in
            let tp = pt.tpr * Double(d.count), fp = pt.fpr * Double(g.count)
            return tp + fp == 0 ? nil : (pt.tpr, tp / (tp + fp))
        }
        operatingPoints = [0.005, 0.01, 0.02, 0.05, 0.10].map { budget in
            // the lowest pass threshold that rejects at most `budget` of the good parts
            let sorted = g.sorted(by: >)
            let allowed = Int((Double(sorted.count) * budget).rounded(.down))
            let threshold = sorted.isEmpty ? 0.5 : sorted[min(allowed, sorted.count - 1)]
            return OperatingPoint(falseRejectBudget: budget, threshold: threshold,
                                  escapeRate: d.isEmpty ? 0 : Double(d.filter { $0 <= threshold }.count) / Double(d.count),
                                  falseRejectRate: g.isEmpty ? 0 : Double(g.filter { $0 > threshold }.count) / Double(g.count))
        }
        (ece, reliability) = Self.calibration(scores, truth)
    }

    /// ECE of P(defect) as a probability of the defect class (10 equal bins over 0...1).
    static func calibration(_ p: [Double], _ truth: [Bool], bins: Int = 10) -> (Double, [ReliabilityBin]) {
        var out: [ReliabilityBin] = []
        var ece = 0.0
        for b in 0..<bins {
            let lo = Double(b) / Double(bins), hi = Double(b + 1) / Double(bins)
            let inBin = p.indices.filter { p[$0] >= lo && (p[$0] < hi || (b == bins - 1 && p[$0] <= hi)) }
            guard !inBin.isEmpty else { continue }
            let mean = inBin.map { p[$0] }.reduce(0, +) / Double(inBin.count)
            let share = Double(inBin.filter { truth[$0] }.count) / Double(inBin.count)
            ece += abs(mean - share) * Double(inBin.count) / Double(max(1, p.count))
            out.append(ReliabilityBin(lower: lo, upper: hi, count: inBin.count, meanScore: mean, defectiveShare: share))
        }
        return (ece, out)
    }

    /// The whole evaluation as JSON (sorted keys).
    public func json() throws -> String {
        func obj<T: Encodable>(_ v: T) throws -> Any {
            let encoder = JSONEncoder()
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            return try JSONSerialization.jsonObject(with: encoder.encode(v))
        }
        var o: [String: Any] = [
            "data": data, "split": split, "images": images, "skipped": skipped, "kinds": kinds,
            "thresholds": ["pass": thresholds.pass, "fail": thresholds.fail, "defect_per_kind": thresholds.defectPerKind],
            "line": try obj(line), "images_judged": try obj(calls), "per_kind": try obj(perKind), "macro_f1": macroF1,
            "confusion": ["rows": ["good"] + kinds, "columns": confusionColumns, "counts": confusion],
            "stage1": ["auroc": auroc as Any, "roc": roc.map { [$0.fpr, $0.tpr] }, "pr": precisionRecall.map { [$0.recall, $0.precision] },
                       "operating_points": try obj(operatingPoints), "ece": ece, "ece_unit": "fraction (x100: percentage points)", "ece_kind": "P(defect), 10 bins",
                       "reliability": try obj(reliability)],
        ]
        if let localization { o["localization"] = try obj(localization) }
        return String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self)
    }
}

fileprivate extension Array where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
