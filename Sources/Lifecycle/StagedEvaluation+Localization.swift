import Foundation
import Imaging
import Inspection
import Training

extension StagedEvaluation {
    /// Whether the class maps point at the defects, on the images whose labels say where
    /// they are (`linesight synth` writes the boxes): for every defective image the line
    /// failed, stage 1's map and stage 2's map of each true kind it knows. A map hits when its
    /// strongest cell covers part of one of the image's defect boxes (a cell is the finest a
    /// map can point). Stage 2's maps are checked on images of one kind (whose boxes are all
    /// of that kind).
    public struct Localization: Codable, Equatable, Sendable {
        public struct Figures: Codable, Equatable, Sendable {
            /// Maps checked, maps whose peak cell touched a defect box, and the share.
            public var checked: Int, hits: Int, share: Double
            /// Of the checked, maps with no cell pushing toward a defect (a miss, no peak).
            public var blank: Int
        }
        /// Defective images with boxes that the line failed.
        public var detected: Int
        public var stage1: Figures
        /// Stage 2's map of the image's true kind, per kind the model knows.
        public var perKind: [String: Figures]
        /// The cells of stage 1's map, width x height.
        public var cells: [Int]
    }

    /// The localization figures of `judged`, reading each detected defect's image again;
    /// nil when no image has boxes, or the model's head draws no map.
    static func localize(_ classifier: StagedClassifier, root: String?, _ judged: [(item: LabeledImage, j: Judgement)]) -> Localization? {
        let detected = judged.filter { !$0.item.boxes.isEmpty && !$0.item.defects.isEmpty && $0.j.decision == .fail }
        guard !detected.isEmpty, let decoder = try? JPEGDecoder() else { return nil }
        var stage1: (checked: Int, hits: Int, blank: Int) = (0, 0, 0)
        var kinds: [String: (checked: Int, hits: Int, blank: Int)] = [:]
        var cells: [Int] = []
        let known = Set(classifier.stage2?.defectKinds ?? [])
        func touches(_ a: Rect, _ b: Rect) -> Bool {
            a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
        }
        for (item, _) in detected {
            guard let bytes = FileManager.default.contents(atPath: root.map { $0 + "/" + item.file } ?? item.file),
                  let image = try? decoder.decode([UInt8](bytes), layout: .rgb) else { continue }
            func check(_ kind: String?, _ boxes: [Rect]) -> (hit: Bool, blank: Bool)? {
                let found = try? image.pixels.withUnsafeBytes { raw in
                    try classifier.locate(FrameView(bytes: raw, format: .rgb24, width: image.width, height: image.height), kind: kind)
                }
                guard let location = found ?? nil else { return nil }
                if kind == nil { cells = [location.map.width, location.map.height] }
                guard let area = location.peakArea else { return (false, true) }
                return (boxes.contains { touches(area, $0) }, false)
            }
            if let r = check(nil, item.boxes) {
                stage1 = (stage1.checked + 1, stage1.hits + (r.hit ? 1 : 0), stage1.blank + (r.blank ? 1 : 0))
            }
            // a kind's own boxes are known when the image has one kind
            if item.defects.count == 1, let kind = item.defects.first, known.contains(kind), let r = check(kind, item.boxes) {
                let k = kinds[kind] ?? (0, 0, 0)
                kinds[kind] = (k.checked + 1, k.hits + (r.hit ? 1 : 0), k.blank + (r.blank ? 1 : 0))
            }
        }
        guard stage1.checked > 0 else { return nil }
        func figures(_ t: (checked: Int, hits: Int, blank: Int)) -> Localization.Figures {
            .init(checked: t.checked, hits: t.hits, share: Double(t.hits) / Double(max(1, t.checked)), blank: t.blank)
        }
        return Localization(detected: detected.count, stage1: figures(stage1), perKind: kinds.mapValues(figures), cells: cells)
    }
}
