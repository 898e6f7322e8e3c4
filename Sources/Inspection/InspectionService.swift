import Capture
import Foundation
import Imaging
import LinesightCore
import Logging
import Neural
import Store

/// The inspection line as a library object: the store and its group committer, one pipeline
/// per camera, and the classifier /api/v1/classify uses. It offers plain blocking verbs
/// (start and stop the cameras, close the store, reload the models, apply retention) and the
/// readings the status line, the watchdog and /metrics need; the executable runs each as a
/// service (Sources/linesight/Serve/Daemon.swift). Models: +Models, retention:
/// +Housekeeping, health: +Health.
public final class InspectionService: @unchecked Sendable {
    public let config: LineConfig
    public let store: Store
    public let committer: GroupCommitter
    public let pipelines: [InspectionPipeline]
    public let startedAt = Date()
    let logger: Logger
    let lock = NSLock()
    var reloading = false
    var modelStamps: [String: String]
    var reloadCounts = (ok: 0, refused: 0)
    var reloadError: String?
    var retention: RetentionReport?
    var lastRetentionAt = Date.distantPast
    let processStart = monotonicSeconds()
    /// Judges images posted to /api/v1/classify (whole image, no ROI); guarded by `apiLock`,
    /// which nothing else takes: a slow request never holds up a pipeline, /metrics or a reload.
    var apiClassifier: StagedClassifier
    let apiLock = NSLock()
    private var verdictObserver: (@Sendable (LiveVerdict) -> Void)?
    private var mapObserver: (@Sendable (String, UInt64, ClassMap) -> Void)?
    private var partVerdictObserver: (@Sendable (PartVerdict) -> Void)?
    /// Triggers to parts, for the cameras that serve a station.
    let assembler: PartAssembler
    /// The engine's threads and kernels for every model this service loads, reloads included.
    let compute: Compute
    /// The product the line makes now, since when, and changeovers since start (under `lock`).
    var product: (id: String, since: Double)
    var changeovers = 0
    /// Told the new product after each changeover (the MQTT output announces it).
    public var productObserver: (@Sendable (String) -> Void)? {
        get { lock.withLock { productListener } }
        set { lock.withLock { productListener = newValue } }
    }
    var productListener: (@Sendable (String) -> Void)?

    public init(config: LineConfig, logger: Logger, compute: Compute = .current()) throws {
        self.compute = compute
        self.config = config
        self.logger = logger
        try FileManager.default.createDirectory(atPath: (config.database as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        store = try Store(path: config.database)
        for cam in config.cameras { try store.register(camera: cam.id, source: cam.source.rawValue) }
        committer = GroupCommitter(store: store, interval: config.commitInterval, logger: logger)
        // the product the line was on when it stopped, if the config still names it
        let last = try store.productChanges(limit: 1).first
        let start = last.flatMap { config.product($0.product) } ?? config.products[0]
        product = (start.id, last?.product == start.id ? last!.at : Date().timeIntervalSince1970)
        if last?.product != start.id, config.products.count > 1 || last != nil {
            try store.recordProductChange(start.id, by: "config", at: product.since)
        }
        let saver = try FrameSaver(root: config.framesDirectory, quality: config.jpegQuality)
        var built: [InspectionPipeline] = []
        var gates: [String: FrameGate] = [:]
        for cam in config.cameras {
            let classifiers = try (0..<max(1, config.pipeline.workers)).map { _ in
                try StagedClassifier(start.models, roi: cam.roi, compute: compute, product: start.id)
            }
            let source = try Self.source(for: cam, logger: logger)
            let committer = committer
            let p = InspectionPipeline(camera: cam.id, source: source, classifiers: classifiers, flags: config.flags,
                                       saver: saver,
                                       settings: config.pipeline, logger: logger) { committer.submit($0) }
            if let station = config.station(of: cam.id) {
                let meter = station.sharpest ? try FocusMeter(roi: cam.roi) : nil
                let gate = FrameGate(focus: meter.map { m in { m.score($0) } })
                p.gate = gate
                gates[cam.id] = gate
            }
            built.append(p)
        }
        pipelines = built
        let firstPart = try store.nextPartId()
        nonisolated(unsafe) weak var weakSelf: InspectionService?
        assembler = PartAssembler(stations: config.stations, gates: gates, firstId: firstPart, logger: logger) { [committer] v in
            committer.submit(part: PartRecord(id: v.id, station: v.station, triggeredAt: v.triggeredAt.timeIntervalSince1970,
                                              serial: v.serial, decision: v.decision, defects: v.defects, views: v.views.count,
                                              frames: v.frames, decidedMs: v.decidedMs, error: v.error))
            weakSelf?.partObserver?(v)
        }
        apiClassifier = try StagedClassifier(start.models, roi: nil, compute: compute, product: start.id)
        modelStamps = Self.stamps(start.models)
        for p in pipelines {
            p.onVerdict = { [weak self] v in self?.observer?(v) }
            p.onDefectMap = { [weak self] camera, sequence, map in self?.defectMapObserver?(camera, sequence, map) }
            if p.gate != nil {
                let assembler = assembler, camera = p.camera
                p.onPartFrame = { part, decision, defects, error in
                    assembler.judged(part: part, camera: camera, decision: decision, defects: defects, error: error)
                }
            }
        }
        weakSelf = self
        for station in config.stations where station.triggers.contains(.presence) {
            guard let camera = station.presenceCamera, let p = pipelines.first(where: { $0.camera == camera }) else { continue }
            let s = station.presence
            p.presence = try PresenceDetector(roi: config.cameras.first { $0.id == camera }?.roi,
                                              settings: .init(threshold: s.threshold, release: s.release, frames: s.frames))
            let (id, log) = (station.id, logger)
            p.onPresence = { [weak self] in
                do { _ = try self?.trigger(station: id, serial: nil, source: .presence) } catch {
                    log.error("trigger refused", metadata: ["station": "\(id)", "source": "presence", "error": "\(error)"])
                }
            }
        }
    }

    /// Called for every decided part (triggers at a station), from the thread that decided it.
    public var partObserver: (@Sendable (PartVerdict) -> Void)? {
        get { lock.withLock { partVerdictObserver } }
        set { lock.withLock { partVerdictObserver = newValue } }
    }

    /// A trigger at `station` (nil: the only one): a new part, judged from the next frames of
    /// its views. Returns at once with the part's id and deadline (seconds); the verdict comes
    /// through `partObserver` and the store.
    public func trigger(station: String?, serial: String?,
                        source: LineConfig.TriggerSource = .api) throws(InspectionError) -> (id: Int64, station: String, deadline: Double) {
        try assembler.trigger(station: station, serial: serial, source: source)
    }

    /// Each station's part counts.
    public var partStats: [String: PartStats] { assembler.counts() }

    /// Every verdict carries its frame (`LiveVerdict.frame`), and each failing frame's defect
    /// map goes to `defectMapObserver`: for the operator screen. Set before `start()`.
    public var keepsLiveFrames: Bool {
        get { pipelines.first?.keepsLiveFrames ?? false }
        set { for p in pipelines { p.keepsLiveFrames = newValue } }
    }

    /// With `keepsLiveFrames`: where stage 1 saw the defect in a failing frame (camera, frame
    /// sequence, map), from the pipeline's thread after the frame's verdict went out.
    public var defectMapObserver: (@Sendable (String, UInt64, ClassMap) -> Void)? {
        get { lock.withLock { mapObserver } }
        set { lock.withLock { mapObserver = newValue } }
    }

    /// Called for every verdict, from the pipelines' threads (the live feed, server-sent events).
    public var observer: (@Sendable (LiveVerdict) -> Void)? {
        get { lock.withLock { verdictObserver } }
        set { lock.withLock { verdictObserver = newValue } }
    }

    static func source(for cam: LineConfig.Camera, logger: Logger) throws -> FrameSource {
        switch cam.source {
        case .v4l2: return try V4L2Camera(cam.v4l2!, logger: logger)
        case .replay: return try ReplaySource(cam.replay!)
        case .synthetic: return try SyntheticSource(cam.synthetic!, fps: cam.fps, name: cam.id)
        }
    }

    /// Starts every camera's capture and judging threads. A camera that fails later is retried
    /// by its pipeline (and counted), never ends the others.
    public func start() {
        for p in pipelines { p.start() }
        let (t, precision) = apiLock.withLock { (apiClassifier.thresholds, [apiClassifier.stage1.precision] + (apiClassifier.stage2.map { [$0.precision] } ?? [])) }
        logger.info("inspection started", metadata: ["cameras": "\(pipelines.map(\.camera).joined(separator: ","))",
                                                      "model.stage1": "\(pipelines.first?.modelVersions.0 ?? "")",
                                                      "model.precision": "\(precision.joined(separator: ", "))",
                                                      "thresholds": "fail=\(t.fail) pass=\(t.pass) defect=\(t.defect) per-kind=\(t.defectPerKind.count)",
                                                      "thresholds.source": "\(config.models.overrideModel ? "config overrides the model files" : "model files first")"])
    }

    /// Calls `body` once every started camera's source has ended and its frames are judged
    /// (replays played once); never, while a camera runs.
    public func whenEveryCameraEnded(_ body: @escaping @Sendable () -> Void) {
        let all = DispatchGroup()
        for p in pipelines {
            all.enter()
            p.whenEnded { all.leave() }
        }
        all.notify(queue: .global(), execute: body)
    }

    /// Stops reading the cameras and judges every frame already queued; its verdicts are then
    /// with the committer. Blocks up to 30 s per camera.
    public func stopCameras() {
        for p in pipelines { p.stop() }
        assembler.stop()  // parts still waiting for a view are decided (rejected) now
        logger.info("cameras stopped", metadata: ["verdicts": "\(pipelines.reduce(0) { $0 + $1.stats.verdicts })"])
    }

    /// Commits every verdict handed over so far and stops the writer. Call after `stopCameras`.
    public func closeStore() {
        let flushed = committer.flush(timeout: 30)
        committer.close()
        logger.info("inspection stopped", metadata: ["committed": "\(committer.stats.committed)", "flushed": "\(flushed)"])
    }

    /// Drains every pipeline and commits what is pending (`stopCameras`, then `closeStore`).
    public func stop() {
        stopCameras()
        closeStore()
    }

    /// The staged verdict for one posted JPEG, with the model versions that gave it.
    /// Blocks its caller for the judging: call it from a thread of its own, not a shared pool.
    public func classify(jpeg: [UInt8]) throws -> (Judgement, stage1: String, stage2: String?) {
        try apiLock.withLock {
            let j = try jpeg.withUnsafeBytes { raw in
                try apiClassifier.judge(FrameView(bytes: raw, format: .mjpeg, width: 0, height: 0))
            }
            return (j, apiClassifier.stage1.version, apiClassifier.stage2?.version)
        }
    }
}
