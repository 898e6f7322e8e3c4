import Capture
import Foundation
import Imaging
import Logging
import Neural
import Store

/// The inspection service: the store and its group committer, one pipeline per camera,
/// model reloads, retention, and what the status line, the watchdog and /metrics read.
/// The executable adds signals, systemd and HTTP around it.
public final class InspectionService: @unchecked Sendable {
    public let config: LineConfig
    public let store: Store
    public let committer: GroupCommitter
    public let pipelines: [InspectionPipeline]
    public let startedAt = Date()
    private let logger: Logger
    private let lock = NSLock()
    private var reloading = false
    private var modelStamps: [String: String]
    private var reloadCounts = (ok: 0, refused: 0)
    private var reloadError: String?
    private var retention: RetentionReport?

    /// Model reloads so far, by result (read from any thread).
    public var reloads: (ok: Int, refused: Int) { lock.withLock { reloadCounts } }
    public var lastReloadError: String? { lock.withLock { reloadError } }
    public var lastRetention: RetentionReport? { lock.withLock { retention } }
    private var lastRetentionAt = Date.distantPast
    /// Judges images posted to /api/v1/classify (whole image, no ROI); guarded by `apiLock`,
    /// which nothing else takes: a slow request never holds up a pipeline, /metrics or a reload.
    private var apiClassifier: StagedClassifier
    private let apiLock = NSLock()
    private var verdictObserver: (@Sendable (LiveVerdict) -> Void)?
    /// The engine's threads and kernels for every model this service loads, reloads included.
    private let compute: Compute

    public init(config: LineConfig, logger: Logger, compute: Compute = .current()) throws {
        self.compute = compute
        self.config = config
        self.logger = logger
        try FileManager.default.createDirectory(atPath: (config.database as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        store = try Store(path: config.database)
        for cam in config.cameras { try store.register(camera: cam.id, source: cam.source.rawValue) }
        committer = GroupCommitter(store: store, interval: config.commitInterval, logger: logger)
        let saver = try FrameSaver(root: config.framesDirectory, quality: config.jpegQuality)
        var built: [InspectionPipeline] = []
        for cam in config.cameras {
            let classifiers = try (0..<max(1, config.pipeline.workers)).map { _ in
                try StagedClassifier(config.models, roi: cam.roi, compute: compute)
            }
            let source = try Self.source(for: cam, logger: logger)
            let committer = committer
            let p = InspectionPipeline(camera: cam.id, source: source, classifiers: classifiers, flags: config.flags,
                                       saver: saver,
                                       settings: config.pipeline, logger: logger) { committer.submit($0) }
            built.append(p)
        }
        pipelines = built
        apiClassifier = try StagedClassifier(config.models, roi: nil, compute: compute)
        modelStamps = Self.stamps(config.models)
        for p in pipelines { p.onVerdict = { [weak self] v in self?.observer?(v) } }
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

    public func start() {
        for p in pipelines { p.start() }
        let t = apiLock.withLock { apiClassifier.thresholds }
        logger.info("inspection started", metadata: ["cameras": "\(pipelines.map(\.camera).joined(separator: ","))",
                                                      "model.stage1": "\(pipelines.first?.modelVersions.0 ?? "")",
                                                      "thresholds": "fail=\(t.fail) pass=\(t.pass) defect=\(t.defect) per-kind=\(t.defectPerKind.count)",
                                                      "thresholds.source": "\(config.models.overrideModel ? "config overrides the model files" : "model files first")"])
    }

    /// Drains every pipeline and commits what is pending.
    public func stop() {
        for p in pipelines { p.stop() }
        let flushed = committer.flush(timeout: 30)
        committer.close()
        logger.info("inspection stopped", metadata: ["committed": "\(committer.stats.committed)", "flushed": "\(flushed)"])
    }

    // MARK: Models

    /// What a reload did.
    public enum ReloadOutcome: Sendable, Equatable {
        case reloaded
        /// Another reload was running.
        case busy
        /// The files were refused (the reason); the running models stay.
        case refused(String)
    }

    /// Loads the configured model files again for every camera; swaps only if all load.
    @discardableResult
    public func reloadModels(reason: String) -> ReloadOutcome {
        lock.lock()
        guard !reloading else { lock.unlock(); return .busy }
        reloading = true
        lock.unlock()
        defer { lock.withLock { reloading = false } }
        do {
            let fresh = try config.cameras.map { cam in
                try (0..<max(1, config.pipeline.workers)).map { _ in try StagedClassifier(config.models, roi: cam.roi, compute: compute) }
            }
            let api = try StagedClassifier(config.models, roi: nil, compute: compute)
            for (p, c) in zip(pipelines, fresh) { p.swap(c) }
            apiLock.withLock { apiClassifier = api }
            lock.withLock {
                reloadCounts.ok += 1
                reloadError = nil
                modelStamps = Self.stamps(config.models)
            }
            logger.notice("models reloaded", metadata: ["reason": "\(reason)", "model.stage1": "\(api.stage1.version)",
                                                       "model.stage2": "\(api.stage2?.version ?? "-")"])
            return .reloaded
        } catch {
            lock.withLock {
                reloadCounts.refused += 1
                reloadError = "\(error)"
                modelStamps = Self.stamps(config.models)  // do not retry the same broken file every poll
            }
            logger.error("new model refused, keeping the running one", metadata: ["reason": "\(reason)", "error": "\(error)"])
            return .refused("\(error)")
        }
    }

    /// Reloads when a model file changed (size or modification time) since the last load.
    public func checkModelFiles() {
        guard config.watchModels else { return }
        let now = Self.stamps(config.models)
        let changed = lock.withLock { now != modelStamps }
        if changed { reloadModels(reason: "model file changed") }
    }

    static func stamps(_ m: ModelPaths) -> [String: String] {
        var out: [String: String] = [:]
        for path in [m.stage1, m.stage2].compactMap({ $0 }) {
            let a = try? FileManager.default.attributesOfItem(atPath: path)
            let size = (a?[.size] as? NSNumber)?.int64Value ?? -1
            let mtime = (a?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            out[path] = "\(size)@\(mtime)"
        }
        return out
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

    // MARK: Housekeeping

    /// Applies retention when it is due. Called from one housekeeping thread.
    public func housekeeping(now: Date = Date()) {
        guard now.timeIntervalSince(lastRetentionAt) >= config.retentionEveryMinutes * 60 else { return }
        lastRetentionAt = now
        do {
            let r = try store.applyRetention(config.retention, framesDirectory: config.framesDirectory,
                                             now: now.timeIntervalSince1970)
            lock.withLock { retention = r }
            if r.bytesOverBudget > 0 {
                logger.warning("frame budget exceeded by frames under review", metadata: [
                    "bytes.over_budget": "\(r.bytesOverBudget)",
                    "hint": "review the flagged frames, raise retention.frame_budget_mb, or set retention.keep_frames_under_review = false"])
            }
            if r.framesDeleted > 0 || r.verdictsDeleted > 0 {
                logger.info("retention applied", metadata: ["frames.deleted": "\(r.framesDeleted)", "bytes.freed": "\(r.bytesFreed)",
                                                           "verdicts.deleted": "\(r.verdictsDeleted)", "bytes.over_budget": "\(r.bytesOverBudget)",
                                                           "file.errors": "\(r.fileErrors)"])
            }
        } catch {
            logger.error("retention failed", metadata: ["error": "\(error)"])
        }
    }

    /// True while every camera is producing verdicts (or is known to be away and
    /// reconnecting, which a restart would not fix); systemd's watchdog is fed only then.
    public func isAdvancing(now: Double = monotonicSeconds()) -> Bool {
        pipelines.allSatisfy { p in
            let s = p.stats
            if [.reconnecting, .failed, .ended].contains(s.sourceState) { return true }
            guard let last = s.lastVerdictAt else { return now - processStart < config.stallSeconds * 2 }
            return now - last < config.stallSeconds
        }
    }

    private let processStart = monotonicSeconds()

    /// Cameras whose frames cannot be judged as configured (`SourceState.failed`): not ready.
    public var failedCameras: [String] { pipelines.filter { $0.stats.sourceState == .failed }.map(\.camera) }

    /// The systemd STATUS= line: rate, totals and the last verdict.
    public func statusLine(rate: Double) -> String {
        let all = pipelines.map(\.stats)
        let total = all.reduce(0) { $0 + $1.verdicts }
        let fails = all.reduce(0) { $0 + $1.fails }, nv = all.reduce(0) { $0 + $1.noVerdicts }
        let last = all.compactMap(\.lastDecision).last.map { "\($0.rawValue)" } ?? "none yet"
        return String(format: "%.1f fps, %llu verdicts (%llu fail, %llu no-verdict), last: %@", rate, total, fails, nv, last)
    }
}

