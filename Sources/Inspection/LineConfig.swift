import Capture
import Config
import Foundation
import Imaging
import LinesightCore
import Store

/// The line's part of the config file (store, models, thresholds, flagging, drift, pipeline,
/// retention, cameras), with the defaults a new line starts with. `deploy/linesight.toml`
/// documents every key; the HTTP API ([http]) and the shifts ([stats]) are read by the
/// executable and Reports from the same file, and the file's reader rejects keys nobody
/// knows, with the file and line.
public struct LineConfig: Sendable {
    public enum SourceKind: String, Sendable, CaseIterable { case v4l2, replay, synthetic }

    public struct Camera: Sendable {
        public var id: String
        public var source: SourceKind
        public var roi: Rect?
        public var v4l2: V4L2Config?
        public var replay: ReplayConfig?
        public var synthetic: SyntheticConfig?
        /// Synthetic camera rate (frames per second).
        public var fps: Double = 10
    }

    /// Where a station's triggers come from.
    public enum TriggerSource: String, Sendable, CaseIterable {
        /// POST /api/v1/trigger
        case api
        /// `<topic>/trigger/<station>` on the [outputs.mqtt] broker
        case mqtt
        /// an edge of [outputs.modbus] trigger_input, a bit of the PLC
        case modbus
        /// an edge of [outputs.gpio] trigger_line, a line of the line PC
        case gpio
        /// a part appearing in a camera's region (presence gating, no sensor)
        case presence
    }

    /// A station: one trigger makes one part, judged from the frames of its cameras (views).
    public struct Station: Sendable, Equatable {
        public var id: String
        public var triggers: [TriggerSource] = [.api]
        /// Its views: cameras that then judge only the frames a trigger asks for.
        public var cameras: [String]
        /// Frames taken per view and trigger (a burst); the view fails if any judged fails.
        public var framesPerView = 1
        /// Judge only the sharpest frame of each view's burst (a part moving past the camera).
        public var sharpest = false
        /// Frames judged per view and trigger.
        public var judgedPerView: Int { sharpest ? 1 : framesPerView }
        /// With triggers = ["presence"]: the camera that watches for parts (default the first
        /// view) and when a part counts as present.
        public var presenceCamera: String?
        public var presence = PresenceSettings()
        /// A part without every view's verdict this long after its trigger is rejected (seconds).
        public var deadline = 1.0
    }

    /// Presence gating: a part arrives when its camera's region differs from the empty scene
    /// by `threshold` (mean absolute difference, 0-1) for `frames` frames; the next part may
    /// come once it fell below `release`.
    public struct PresenceSettings: Sendable, Equatable {
        public var threshold = 0.1
        public var release = 0.05
        public var frames = 2
    }

    public var database = "linesight-data/inspection.sqlite"
    public var framesDirectory = "linesight-data/frames"
    public var jpegQuality = 90
    public var models = ModelPaths(stage1: "linesight-data/models/stage1.safetensors")
    /// Reload the models when their files change (also on SIGHUP).
    public var watchModels = true
    public var flags = FlagSettings()
    public var pipeline = PipelineSettings()
    public var retention = RetentionPolicy()
    public var retentionEveryMinutes = 10.0
    /// No verdict for this long on a running camera: stop pinging the systemd watchdog.
    public var stallSeconds = 15.0
    /// Commit verdicts at least this often (group commit), seconds.
    public var commitInterval = 0.1
    public var cameras: [Camera] = []
    public var stations: [Station] = []
    /// The products this line makes, each with its model set: `[models]` (named by its
    /// `product` key) first, then every `[[products]]` table. Their config thresholds are
    /// `[thresholds]`'s; each model file's own fitted thresholds win, as for `[models]`.
    public var products: [Product] { [Product(id: mainProduct, models: models)] + otherProducts }
    /// The id of `[models]`'s set (`[models] product`).
    public var mainProduct = LineConfig.defaultProduct
    /// The `[[products]]` tables' sets.
    public var otherProducts: [Product] = []

    public struct Product: Sendable, Equatable {
        public var id: String
        public var models: ModelPaths
    }

    /// The name of `[models]`'s set when its `product` key is left out.
    public static let defaultProduct = "default"

    /// The model set of product `id`, nil for one the config does not name.
    public func product(_ id: String) -> Product? { products.first { $0.id == id } }

    /// The registry key of product `id` (nil: `[models]`'s set): '' for `[models]`'s own
    /// product, else the id; with its model paths. An id the config does not name is refused.
    public func registryProduct(_ id: String?) throws -> (key: String, models: ModelPaths) {
        guard let id, id != mainProduct else { return ("", models) }
        guard let p = product(id) else {
            throw InspectionError.config("no product '\(id)' in the config (its products: \(products.map(\.id).joined(separator: ", ")))")
        }
        return (id, p.models)
    }

    /// The live files of registry set `key` ('' is `[models]`'s) that an earlier product's set
    /// also loads, by stage, with that product's id: the files it borrows. Products may share
    /// a live file (one stage 2 for several parts, say); its owner is the first product in
    /// the config that names it (`[models]` first). Only the owner writes it: its training,
    /// retraining, promotions and rollbacks change every sharer's model, and a sharer's
    /// writes to it are refused (`ModelRegistry.checkWritable`).
    public func borrowedLiveFiles(of key: String) -> [Stage: String] {
        func same(_ a: String?, _ b: String?) -> Bool {
            guard let a, let b else { return false }
            return URL(fileURLWithPath: a).standardizedFileURL.resolvingSymlinksInPath().path
                == URL(fileURLWithPath: b).standardizedFileURL.resolvingSymlinksInPath().path
        }
        let id = key.isEmpty ? mainProduct : key
        guard let mine = products.firstIndex(where: { $0.id == id }) else { return [:] }
        var out: [Stage: String] = [:]
        let paths = products[mine].models
        for earlier in products[..<mine] {
            if out[.one] == nil, same(paths.stage1, earlier.models.stage1) { out[.one] = earlier.id }
            if out[.two] == nil, same(paths.stage2, earlier.models.stage2) { out[.two] = earlier.id }
        }
        return out
    }

    /// Whether a frame judged for `product` belongs to the registry set `key` ('' is
    /// `[models]`'s, which also takes frames judged before products were named).
    public func belongs(_ product: String?, to key: String) -> Bool { key.isEmpty ? product == nil || product == mainProduct : product == key }

    public init() {}

    /// Each camera's region of interest now (nil: the whole frame): the framing a training set
    /// from the database keeps (`LabelExport.Framing.current`).
    public var currentFraming: [String: Rect?] {
        Dictionary(cameras.map { ($0.id, $0.roi) }, uniquingKeysWith: { a, _ in a })
    }

    /// Reads the line's sections of a config file ([store], [models], [thresholds], [flagging],
    /// [drift], [pipeline], [retention], [[cameras]]); relative paths in them are taken from
    /// `baseDirectory`. Other parts of the program read the file's other sections (the
    /// executable [http], Reports [stats]); whoever reads the file calls `root.finish()` once
    /// all have read theirs, so a key nobody knows is refused with its line.
    public static func read(_ root: ConfigSection, baseDirectory: String = "") throws -> LineConfig {
        var c = LineConfig()
        func resolve(_ p: String) -> String { p.hasPrefix("/") || baseDirectory.isEmpty ? p : baseDirectory + "/" + p }
        let store = try root.section("store")
        c.database = resolve(try store.string("database", default: c.database))
        c.framesDirectory = resolve(try store.string("frames", default: c.framesDirectory))
        c.jpegQuality = try store.int("jpeg_quality", default: c.jpegQuality, in: 1...100)
        c.commitInterval = try store.int("commit_interval_ms", default: 100, in: 5...5000).asSeconds

        let models = try root.section("models")
        c.models = ModelPaths(stage1: resolve(try models.string("stage1", default: c.models.stage1)),
                              stage2: try models.optionalString("stage2").map(resolve))
        let mainProduct = try models.string("product", default: defaultProduct)
        guard LineID.isValid(mainProduct) else { throw models.bad("product", "'\(mainProduct)' is not a product id (\(LineID.rule))") }
        c.watchModels = try models.bool("watch", default: true)

        let t = try root.section("thresholds")
        c.models.fail = try t.optionalDouble("fail", in: 0...1)
        c.models.pass = try t.optionalDouble("pass", in: 0...1)
        c.models.defect = try t.optionalDouble("defect", in: 0...1)
        c.models.stage2Confident = try t.optionalDouble("stage2_confident", in: 0...1)
        c.models.unsure = try t.choice("unsure", default: Thresholds.UnsureRule.stage2)
        c.models.overrideModel = try t.bool("override_model", default: false)
        if let f = c.models.fail, let p = c.models.pass, p > f { throw t.bad("pass", "pass (\(p)) must not exceed fail (\(f))") }
        // every product's models share [thresholds]
        c.mainProduct = mainProduct
        for (i, p) in try root.sections("products").enumerated() {
            guard let id = try p.optionalString("id") else { throw ConfigError.missingKey(file: p.file, line: p.line, key: p.qualified("id")) }
            guard LineID.isValid(id) else { throw p.bad("id", "'\(id)' is not a product id (\(LineID.rule))") }
            guard c.product(id) == nil else { throw root.bad("products", "product id '\(id)' is used twice (products[\(i)], or [models] product)") }
            var paths = c.models
            guard let stage1 = try p.optionalString("stage1") else { throw ConfigError.missingKey(file: p.file, line: p.line, key: p.qualified("stage1")) }
            paths.stage1 = resolve(stage1)
            paths.stage2 = try p.optionalString("stage2").map(resolve)
            c.otherProducts.append(Product(id: id, models: paths))
        }

        let fl = try root.section("flagging")
        c.flags.auditShare = try fl.double("audit_share", default: c.flags.auditShare, in: 0...1)
        for (key, reason) in [("max_uncertain_per_hour", FlagReason.uncertain), ("max_low_stage2_per_hour", .lowStage2Confidence),
                              ("max_audit_per_hour", .audit), ("max_no_verdict_per_hour", .noVerdict), ("max_drift_per_hour", .drift)] {
            c.flags.hourlyCaps[reason] = try fl.int(key, default: c.flags.hourlyCaps[reason]!, in: 0...1_000_000)
        }
        c.flags.failedFramesPerHour = try fl.int("max_failed_frames_per_hour", default: c.flags.failedFramesPerHour, in: 0...10_000_000)
        c.pipeline.keepMaps = try fl.bool("keep_maps", default: c.pipeline.keepMaps)
        c.flags.seed = UInt64(try fl.int("seed", default: Int(c.flags.seed), in: 0...Int.max))
        c.flags.reviewOrder = try fl.choice("review_order", default: c.flags.reviewOrder)

        let dr = try root.section("drift")
        c.pipeline.drift.enabled = try dr.bool("enabled", default: c.pipeline.drift.enabled)
        c.pipeline.drift.window = try dr.int("window", default: c.pipeline.drift.window, in: 10...100_000)
        c.pipeline.drift.maxShift = try dr.double("max_shift", default: c.pipeline.drift.maxShift, in: 0.1...100)
        c.pipeline.drift.maxPSI = try dr.double("max_psi", default: c.pipeline.drift.maxPSI, in: 0.01...10)

        let p = try root.section("pipeline")
        c.pipeline.queueCapacity = try p.int("queue", default: c.pipeline.queueCapacity, in: 1...1000)
        c.pipeline.workers = try p.int("workers", default: c.pipeline.workers, in: 1...64)
        c.pipeline.maxFrameAge = try p.int("max_frame_age_ms", default: 2000, in: 1...600_000).asSeconds
        c.stallSeconds = try p.double("stall_seconds", default: c.stallSeconds, in: 1...3600)

        let r = try root.section("retention")
        c.retention.frameBudgetBytes = Int64(try r.int("frame_budget_mb", default: Int(c.retention.frameBudgetBytes >> 20), in: 1...100_000_000)) << 20
        c.retention.verdictDays = try r.double("verdict_days", default: c.retention.verdictDays, in: 1...36500)
        c.retentionEveryMinutes = try r.double("every_minutes", default: c.retentionEveryMinutes, in: 1...10080)
        c.retention.keepFramesUnderReview = try r.bool("keep_frames_under_review", default: true)

        for cam in try root.sections("cameras") { c.cameras.append(try camera(cam, resolve)) }
        guard !c.cameras.isEmpty else {
            throw ConfigError.missingKey(file: root.file, line: root.line, key: "cameras (at least one [[cameras]] table)")
        }
        var seen = Set<String>()
        for (i, cam) in c.cameras.enumerated() where !seen.insert(cam.id).inserted {
            throw root.bad("cameras", "camera id '\(cam.id)' is used twice (cameras[\(i)])")
        }
        var stationIds = Set<String>(), viewed = Set<String>()
        for s in try root.sections("stations") {
            let st = try station(s, cameras: seen)
            guard stationIds.insert(st.id).inserted else { throw s.bad("id", "station id '\(st.id)' is used twice") }
            for cam in st.cameras where !viewed.insert(cam).inserted {
                throw s.bad("cameras", "camera '\(cam)' already serves another station")
            }
            // the sharpest of a burst is held until the burst ends: it must still be judged in time
            for cam in c.cameras where st.sharpest && st.cameras.contains(cam.id) {
                let fps = cam.v4l2?.fps ?? cam.fps
                guard fps > 0 else { continue }
                let burst = Double(st.framesPerView) / fps
                if burst >= min(c.pipeline.maxFrameAge, st.deadline) * 0.8 {
                    throw s.bad("frames", "a burst of \(st.framesPerView) frames of '\(cam.id)' at \(fps) fps takes \(Int(burst * 1000)) ms, too close to deadline_ms (\(Int(st.deadline * 1000))) or max_frame_age_ms (\(Int(c.pipeline.maxFrameAge * 1000))) for its sharpest frame to be judged in time")
                }
            }
            c.stations.append(st)
        }
        return c
    }

    static func station(_ s: ConfigSection, cameras: Set<String>) throws -> Station {
        guard let id = try s.optionalString("id") else { throw ConfigError.missingKey(file: s.file, line: s.line, key: s.qualified("id")) }
        guard LineID.isValid(id) else {
            throw s.bad("id", "'\(id)' must be 1-64 letters, digits, '.', '_' or '-' (it names topics and metrics)")
        }
        let views = try s.strings("cameras", default: [])
        guard !views.isEmpty else { throw s.bad("cameras", "a station needs at least one camera (its views)") }
        for v in views where !cameras.contains(v) {
            throw s.bad("cameras", "'\(v)' is not a camera id (known: \(cameras.sorted().joined(separator: ", ")))")
        }
        guard Set(views).count == views.count else { throw s.bad("cameras", "a camera is named twice") }
        var st = Station(id: id, cameras: views)
        st.framesPerView = try s.int("frames", default: st.framesPerView, in: 1...32)
        switch try s.string("select", default: "all") {
        case "all": st.sharpest = false
        case "sharpest": st.sharpest = true
        case let other: throw s.bad("select", "'\(other)' is not all (judge every frame of the burst) or sharpest (judge the one in best focus)")
        }
        st.deadline = Double(try s.int("deadline_ms", default: 1000, in: 10...600_000)) / 1000
        let triggers = try s.strings("triggers", default: ["api"])
        st.triggers = try triggers.map { name in
            guard let t = TriggerSource(rawValue: name) else {
                throw s.bad("triggers", "'\(name)' is not one of \(TriggerSource.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return t
        }
        guard !st.triggers.isEmpty else { throw s.bad("triggers", "a station needs a trigger source (api, mqtt, modbus, gpio, presence)") }
        let presenceKeys = ["presence_camera", "presence_threshold", "presence_release", "presence_frames"]
        if st.triggers.contains(.presence) {
            let watcher = try s.string("presence_camera", default: views[0])
            guard views.contains(watcher) else { throw s.bad("presence_camera", "'\(watcher)' is not one of the station's cameras (\(views.joined(separator: ", ")))") }
            st.presenceCamera = watcher
            st.presence.threshold = try s.double("presence_threshold", default: st.presence.threshold, in: 0.001...1)
            st.presence.release = try s.double("presence_release", default: st.presence.threshold / 2, in: 0.0005...1)
            guard st.presence.release < st.presence.threshold else {
                throw s.bad("presence_release", "must be below presence_threshold (\(st.presence.threshold)): the score must fall before the next part")
            }
            st.presence.frames = try s.int("presence_frames", default: st.presence.frames, in: 1...100)
        } else if let key = presenceKeys.first(where: { s.has($0) }) {
            throw s.bad(key, "needs triggers to include \"presence\"")
        }
        return st
    }

    /// The station a camera serves, if any (its frames are then judged only when triggered).
    public func station(of camera: String) -> Station? { stations.first { $0.cameras.contains(camera) } }

    static func camera(_ s: ConfigSection, _ resolve: (String) -> String) throws -> Camera {
        guard let id = try s.optionalString("id") else { throw ConfigError.missingKey(file: s.file, line: s.line, key: s.qualified("id")) }
        guard LineID.isValid(id) else {
            throw s.bad("id", "'\(id)' must be 1-64 letters, digits, '.', '_' or '-' (it names folders and metrics)")
        }
        var cam = Camera(id: id, source: try s.choice("source", default: SourceKind.synthetic))
        let roi = try s.ints("roi", default: [])
        if !roi.isEmpty {
            guard roi.count == 4, roi.allSatisfy({ (0...65535).contains($0) }), roi[2] > 0, roi[3] > 0 else {
                throw s.bad("roi", "expected [x, y, width, height] in camera pixels: 0-65535, with a positive size")
            }
            cam.roi = Rect(x: roi[0], y: roi[1], width: roi[2], height: roi[3])
        }
        switch cam.source {
        case .v4l2:
            guard let device = try s.optionalString("device") else {
                throw ConfigError.missingKey(file: s.file, line: s.line, key: s.qualified("device"))
            }
            var v = V4L2Config(path: device)
            v.width = try s.int("width", default: v.width, in: 1...16384)
            v.height = try s.int("height", default: v.height, in: 1...16384)
            v.fps = try s.double("fps", default: v.fps, in: 0.1...1000)
            v.buffers = try s.int("buffers", default: v.buffers, in: 2...32)
            v.stallTimeout = try s.double("stall_seconds", default: v.stallTimeout, in: 0.5...600)
            let formats = try s.strings("formats", default: v.formats.map(\.description))
            v.formats = try formats.map { name in
                guard let f = CameraFormat(name: name) else {
                    throw s.bad("formats", "'\(name)' is not one of \(CameraFormat.allCases.map(\.description).joined(separator: ", "))")
                }
                return f
            }
            let controls = try s.section("controls")
            for key in controls.keys { v.controls[key] = try controls.int(key, default: 0, in: Int(Int32.min)...Int(Int32.max)) }
            if let r = cam.roi, !r.fits(width: v.width, height: v.height) {
                throw s.bad("roi", "[\(r.x), \(r.y), \(r.width), \(r.height)] does not fit the \(v.width)x\(v.height) frame asked for")
            }
            v.roi = cam.roi
            cam.v4l2 = v
        case .replay:
            guard let path = try s.optionalString("path") else {
                throw ConfigError.missingKey(file: s.file, line: s.line, key: s.qualified("path"))
            }
            // fps 0: as fast as the pipeline takes them; below 0.01 the frame interval overflows.
            let fps = try s.double("fps", default: 10, in: 0...1000)
            guard fps == 0 || fps >= 0.01 else { throw s.bad("fps", "must be 0 (as fast as possible) or 0.01-1000") }
            cam.replay = ReplayConfig(path: resolve(path), fps: fps,
                                      loop: try s.bool("loop", default: true))
        case .synthetic:
            var g = SyntheticConfig()
            g.width = try s.int("width", default: g.width, in: 16...4096)
            g.height = try s.int("height", default: g.height, in: 16...4096)
            g.seed = UInt64(try s.int("seed", default: Int(g.seed), in: 0...Int.max))
            g.defectRate = try s.double("defect_rate", default: g.defectRate, in: 0...1)
            g.layout = try s.choice("layout", default: g.layout)
            if let part = try s.optionalInt("belt_part_frames", in: 1...10_000) {
                g.belt = .init(partFrames: part, gapFrames: try s.int("belt_gap_frames", default: part, in: 1...10_000))
            } else if s.has("belt_gap_frames") {
                throw s.bad("belt_gap_frames", "needs belt_part_frames (how long each part stays in view)")
            }
            if let after = try s.optionalInt("lighting_change_after", in: 0...100_000_000) {
                g.lightingChange = .init(afterFrames: after, gain: try s.double("lighting_gain", default: 0.5, in: 0.05...4))
            } else if s.has("lighting_gain") {
                throw s.bad("lighting_gain", "needs lighting_change_after (the frame the lighting changes at)")
            }
            cam.fps = try s.double("fps", default: cam.fps, in: 0...1000)
            guard cam.fps == 0 || cam.fps >= 0.01 else { throw s.bad("fps", "must be 0 (as fast as possible) or 0.01-1000") }
            if let r = cam.roi, !r.fits(width: g.width, height: g.height) {
                throw s.bad("roi", "[\(r.x), \(r.y), \(r.width), \(r.height)] does not fit the \(g.width)x\(g.height) frame")
            }
            cam.synthetic = g
        }
        return cam
    }
}

extension Int {
    var asSeconds: Double { Double(self) / 1000 }
}
