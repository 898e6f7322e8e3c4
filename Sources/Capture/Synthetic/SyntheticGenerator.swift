import Imaging

/// Settings of the synthetic part generator. Every field has a realistic default.
public struct SyntheticConfig: Equatable, Sendable, Codable {
    public var width = 640
    public var height = 480
    public var layout: PixelLayout = .gray
    public var seed: UInt64 = 1
    /// Share of parts with at least one defect (most parts on a line are good).
    public var defectRate = 0.08
    /// Of the defective parts, the share with a second defect.
    public var multiDefectRate = 0.15
    /// Of the defects, the share drawn with low contrast.
    public var subtleRate = 0.35
    public var kinds: [DefectKind] = DefectKind.allCases
    /// Relative frequency of each of `kinds` (nil: all equally often). Real lines have a
    /// few common defects and rare ones.
    public var kindWeights: [Double]?
    public var textures: [SurfaceTexture] = SurfaceTexture.allCases
    /// A conveyor: each part stays in view for `partFrames` frames, then the empty belt shows
    /// for `gapFrames` (first the belt); nil: a part in every frame.
    public struct Belt: Equatable, Sendable, Codable {
        public var partFrames: Int
        public var gapFrames: Int
        public init(partFrames: Int, gapFrames: Int) { (self.partFrames, self.gapFrames) = (partFrames, gapFrames) }
    }
    public var belt: Belt?
    /// The lighting changes after this many frames: every pixel times `gain` (a lamp dims,
    /// a shade opens), for rehearsing the drift alarm.
    public struct LightingChange: Equatable, Sendable, Codable {
        public var afterFrames: Int
        public var gain: Double
        public init(afterFrames: Int, gain: Double) { (self.afterFrames, self.gain) = (afterFrames, gain) }
    }
    public var lightingChange: LightingChange?

    public init() {}

    public func validate() throws {
        guard (16...4096).contains(width), (16...4096).contains(height) else {
            throw CaptureError.invalidConfig("synthetic size \(width)x\(height) is outside 16...4096")
        }
        for (name, v) in [("defect rate", defectRate), ("multi-defect rate", multiDefectRate), ("subtle rate", subtleRate)]
        where !(0...1).contains(v) {
            throw CaptureError.invalidConfig("\(name) \(v) is outside 0...1")
        }
        if let b = belt, !(1...10_000).contains(b.partFrames) || !(1...10_000).contains(b.gapFrames) {
            throw CaptureError.invalidConfig("belt frames \(b.partFrames) and \(b.gapFrames) must be 1...10000")
        }
        if let l = lightingChange, l.afterFrames < 0 || !(0.05...4).contains(l.gain) {
            throw CaptureError.invalidConfig("lighting change after \(l.afterFrames) frames with gain \(l.gain): frames must be >= 0, gain 0.05-4")
        }
        guard !kinds.isEmpty, !textures.isEmpty else {
            throw CaptureError.invalidConfig("synthetic generator needs at least one defect kind and texture")
        }
        if let w = kindWeights {
            guard w.count == kinds.count, w.allSatisfy({ $0 >= 0 && $0.isFinite }), w.contains(where: { $0 > 0 }) else {
                throw CaptureError.invalidConfig("defect kind weights must be one non-negative number per kind, not all zero")
            }
        }
    }
}

/// One generated part: the picture and what is wrong with it.
public struct SyntheticSample: Sendable {
    public var index: Int
    public var image: Image
    public var texture: SurfaceTexture
    public var defects: [DefectTruth]

    public var isGood: Bool { defects.isEmpty }
    /// The sorted, distinct defect kinds (the multi-label target).
    public var kinds: [DefectKind] { Array(Set(defects.map(\.kind))).sorted() }
}

/// Procedural images of machined plates with defects and ground truth. Sample `i`
/// depends only on the config and `i`, so datasets are reproducible and any sample can
/// be regenerated alone.
public struct SyntheticGenerator: Sendable {
    public let config: SyntheticConfig

    public init(_ config: SyntheticConfig) throws {
        try config.validate()
        self.config = config
    }

    public func sample(_ index: Int) -> SyntheticSample {
        let c = config
        var dice = Dice(c.seed, UInt64(index) << 2)
        var kinds: [DefectKind] = []
        func pick() -> DefectKind {
            guard let w = c.kindWeights else { return c.kinds[dice.int(0, c.kinds.count - 1)] }
            var r = Double(dice.next() >> 11) / Double(1 << 53) * w.reduce(0, +)
            for (k, weight) in zip(c.kinds, w) {
                if r < weight { return k }
                r -= weight
            }
            return c.kinds[w.lastIndex { $0 > 0 }!]
        }
        if dice.chance(c.defectRate) {
            kinds.append(pick())
            if dice.chance(c.multiDefectRate) { kinds.append(pick()) }
        }
        return render(index, kinds: kinds)
    }

    /// Draws sample `index` with exactly `kinds` (in order). The part, texture and
    /// lighting depend only on the index, so the same index with and without a
    /// defect differs only where the defect is.
    func render(_ index: Int, kinds requested: [DefectKind]) -> SyntheticSample {
        let c = config
        var partDice = Dice(c.seed, UInt64(index) << 2 | 1)
        var defectDice = Dice(c.seed, UInt64(index) << 2 | 2)
        var lightDice = Dice(c.seed, UInt64(index) << 2 | 3)
        let texture = c.textures[partDice.int(0, c.textures.count - 1)]
        let tint: SIMD3<Float> = c.layout == .gray ? SIMD3(repeating: 1)
            : SIMD3(partDice.uniform(0.92, 1.08), partDice.uniform(0.92, 1.05), partDice.uniform(0.9, 1.1))
        let part = PartLayout.make(width: c.width, height: c.height, dice: &partDice)
        var kinds: [DefectKind] = []
        for k in requested where !(k == .missingFeature && kinds.contains(.missingFeature)) { kinds.append(k) }
        let missingHole = kinds.contains(.missingFeature) ? defectDice.int(0, part.holes.count - 1) : nil
        let surfaceSeed = mix(c.seed, UInt64(index), 0x5AFE)

        var canvas = Canvas(width: c.width, height: c.height, channels: c.layout.channels)
        paintPart(&canvas, part, texture: texture, tint: tint, missingHole: missingHole, seed: surfaceSeed)
        var defects: [DefectTruth] = []
        for kind in kinds {
            let subtle = kind != .missingFeature && defectDice.chance(c.subtleRate)
            let box: Rect
            switch kind {
            case .scratch: box = paintScratch(&canvas, part, &defectDice, subtle: subtle)
            case .crack: box = paintCrack(&canvas, part, &defectDice, subtle: subtle)
            case .dent: box = paintDent(&canvas, part, &defectDice, subtle: subtle)
            case .stain: box = paintStain(&canvas, part, &defectDice, subtle: subtle, seed: surfaceSeed ^ 0x57A1)
            case .pit: box = paintPits(&canvas, part, &defectDice, subtle: subtle)
            case .missingFeature:
                box = missingFeatureBox(part, hole: missingHole!, width: c.width, height: c.height)
            }
            defects.append(DefectTruth(kind: kind, box: box, subtle: subtle))
        }
        applyLighting(&canvas, dice: &lightDice, seed: surfaceSeed)
        return SyntheticSample(index: index, image: canvas.image(), texture: texture, defects: defects)
    }
}
