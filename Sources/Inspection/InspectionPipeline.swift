import Capture
import Foundation
import Imaging
import LinesightCore
import Logging
import Neural
import Store

/// Tuning of one pipeline's threads and queue.
public struct PipelineSettings: Equatable, Sendable {
    /// Frames waiting between capture and the models; beyond it frames are dropped.
    public var queueCapacity = 8
    /// A frame older than this (seconds since capture) is not judged: no-verdict "timeout".
    public var maxFrameAge = 2.0
    /// How long one read waits for the camera before checking for shutdown.
    public var readTimeout = 0.25
    /// Threads judging frames from the queue, each with its own copy of the models (one
    /// per core suits a fast line; verdicts of neighbouring frames may then commit out of order).
    public var workers = 1
    /// Kept frames that failed (flagged or not) also keep stage 1's class map as judged (one
    /// more stage-1 pass, without flips, before the verdict is out).
    public var keepMaps = false
    /// The drift watch (`[drift]`): each camera's recent frames against the stage-1 model's training data.
    public var drift = DriftSettings()
    public init() {}
}

/// One line of the live feed.
public struct LiveVerdict: Sendable {
    public var camera: String
    public var sequence: UInt64
    /// When the camera took the frame.
    public var capturedAt: Date
    public var decision: Decision
    public var stage1Score: Double?
    public var defects: [String]
    public var flags: [FlagReason]
    public var totalMs: Double
    public var error: String?
    /// The part the frame was taken for (a station's camera), nil when free-running.
    public var part: Int64?
    /// The product whose models judged it (nil when none is named).
    public var product: String?
    /// With `InspectionPipeline.keepsLiveFrames`: the frame itself and the region judged.
    public var frame: Frame?
    public var roi: Rect?
}

/// One camera's inspection: a capture thread feeding a bounded queue, and a worker that
/// judges each frame (stage 1, stage 2 when needed), flags it, keeps its JPEG when asked
/// and hands the verdict to the store. Every frame the source delivers ends as exactly
/// one verdict: judged, or a no-verdict with the reason (dropped, timeout, unreadable).
public final class InspectionPipeline: @unchecked Sendable {
    public let camera: String
    private let source: FrameSource
    private let sink: @Sendable (VerdictBundle) -> Void
    private let saver: FrameSaver?
    private let policy: FlagPolicy
    private let settings: PipelineSettings
    private let queue: FrameQueue
    private let logger: Logger
    private let lock = NSLock()
    private var classifiers: [StagedClassifier]
    private var pending: [StagedClassifier?]
    private let policyLock = NSLock()
    /// The drift watch (under `policyLock`), against the reference of the stage-1 model it was made for.
    private var drift: (model: String, monitor: DriftMonitor)?
    private var current = PipelineStats()
    private var stopRequested = false
    private let finished = DispatchGroup()
    private var saveFailing = false
    /// Called from the worker thread after every verdict.
    public var onVerdict: (@Sendable (LiveVerdict) -> Void)?
    /// Hand each verdict's frame to `onVerdict`, and a failing frame's defect map to
    /// `onDefectMap` after its verdict is out, for a live screen. Set before `start()`.
    public var keepsLiveFrames = false
    /// Where stage 1 saw the defect in a failing frame (camera, frame sequence, the map over
    /// the region judged, strongest cell 1), with `keepsLiveFrames`.
    public var onDefectMap: (@Sendable (String, UInt64, ClassMap) -> Void)?
    /// For a station's camera: which frames are judged (the rest are skipped unjudged).
    public var gate: FrameGate?
    /// Presence gating on this camera: every frame scored, `onPresence` called as a part
    /// arrives (capture thread). Set before `start()`.
    var presence: PresenceDetector?
    var onPresence: (() -> Void)?
    /// Called after the verdict of a frame taken for a part (before `onVerdict`).
    var onPartFrame: (@Sendable (_ part: Int64, _ decision: Decision, _ defects: [String], _ error: String?) -> Void)?

    /// - Parameter classifiers: one per worker (`settings.workers`).
    public init(camera: String, source: FrameSource, classifiers: [StagedClassifier], flags: FlagSettings,
                saver: FrameSaver?, settings: PipelineSettings = PipelineSettings(), logger: Logger,
                sink: @escaping @Sendable (VerdictBundle) -> Void) {
        precondition(classifiers.count == max(1, settings.workers), "one classifier per worker")
        self.camera = camera
        self.source = source
        self.classifiers = classifiers
        self.pending = Array(repeating: nil, count: classifiers.count)
        self.policy = FlagPolicy(flags)
        self.saver = saver
        self.settings = settings
        self.sink = sink
        self.logger = logger
        queue = FrameQueue(capacity: settings.queueCapacity)
    }

    public var stats: PipelineStats {
        lock.lock()
        defer { lock.unlock() }
        var s = current
        s.queueDepth = queue.depth
        s.gated = gate != nil
        return s
    }

    public convenience init(camera: String, source: FrameSource, classifier: StagedClassifier, flags: FlagSettings,
                            saver: FrameSaver?, settings: PipelineSettings = PipelineSettings(), logger: Logger,
                            sink: @escaping @Sendable (VerdictBundle) -> Void) {
        var one = settings
        one.workers = 1
        self.init(camera: camera, source: source, classifiers: [classifier], flags: flags, saver: saver, settings: one,
                  logger: logger, sink: sink)
    }

    public var workers: Int { classifiers.count }

    /// Model versions in use: stage 1, stage 2.
    public var modelVersions: (String, String?) {
        lock.lock()
        defer { lock.unlock() }
        let c = pending[0] ?? classifiers[0]
        return (c.stage1.version, c.stage2?.version)
    }

    /// The product whose models this pipeline runs (the next frame's, during a changeover).
    public var product: String {
        lock.withLock { (pending[0] ?? classifiers[0]).product }
    }

    public func start() {
        finished.enter()
        let capture = Thread { [self] in captureLoop(); finished.leave() }
        capture.name = "capture-\(camera)"
        capture.start()
        for i in 0..<classifiers.count {
            finished.enter()
            let worker = Thread { [self] in workerLoop(i); finished.leave() }
            worker.name = "inspect-\(camera)-\(i)"
            worker.start()
        }
    }

    /// Calls `body` (on a global queue) once the source has ended and every frame is judged;
    /// right away when the pipeline was never started.
    public func whenEnded(_ body: @escaping @Sendable () -> Void) {
        finished.notify(queue: .global(), execute: body)
    }

    /// Stops reading the camera, judges every frame already queued, then returns.
    public func stop(timeout: Double = 30) {
        lock.lock()
        stopRequested = true
        lock.unlock()
        _ = finished.wait(timeout: .now() + timeout)
        source.close()
    }

    /// Uses `next` (one per worker) from the next frame on; frames being judged finish on the old models.
    public func swap(_ next: [StagedClassifier]) {
        precondition(next.count == classifiers.count, "one classifier per worker")
        lock.lock()
        pending = next.map { $0 }
        lock.unlock()
    }

    public func swap(_ next: StagedClassifier) { swap([next]) }

    // MARK: Threads

    private var shouldStop: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopRequested
    }

    private func captureLoop() {
        var failing = false
        while !shouldStop {
            let result: CaptureResult
            do {
                result = try source.read(timeout: settings.readTimeout)
                if failing { logger.notice("source working again", metadata: ["camera": "\(camera)"]); failing = false }
            } catch {
                if !failing { logger.error("source failed", metadata: ["camera": "\(camera)", "error": "\(error)"]) }
                failing = true
                updateCapture()
                Thread.sleep(forTimeInterval: 1)
                continue
            }
            updateCapture()
            switch result {
            case .frame(var frame):
                if let presence {
                    let arrived = presence.observe(frame)
                    lock.withLock { current.presenceScore = presence.score }
                    if arrived { onPresence?() }  // this frame came before the trigger: the next ones are the part's
                }
                if let gate {
                    lock.withLock { current.lastFrameAt = monotonicSeconds() }
                    guard let taken = gate.admit(frame) else { continue }  // no part waits for it (or its burst goes on)
                    frame = taken
                }
                lock.lock()
                current.received += 1
                lock.unlock()
                if !queue.push(frame) { record(frame, judgement: nil, error: "dropped: inspection is behind the camera", dropped: true) }
            case .timeout:
                continue
            case .ended:
                logger.info("source ended", metadata: ["camera": "\(camera)"])
                queue.close()
                return
            }
        }
        queue.close()
    }

    private func updateCapture() {
        lock.lock()
        current.capture = source.counters
        current.sourceState = source.state
        lock.unlock()
    }

    private func workerLoop(_ w: Int) {
        while let frame = queue.pop() {
            lock.lock()
            if let next = pending[w] {
                classifiers[w] = next
                pending[w] = nil
                if w == 0 { current.modelSwaps += 1 }
            }
            let classifier = classifiers[w]
            lock.unlock()
            let age = Double(monotonicNow() &- frame.monotonicNanos) / 1e9
            if age > settings.maxFrameAge {
                record(frame, judgement: nil, error: "timeout: waited \(Int(age * 1000)) ms", classifier: classifier, timedOut: true)
                continue
            }
            do {
                let j = try frame.withView { try classifier.judge($0) }
                let reading = watchDrift(classifier, j)
                let kept = record(frame, judgement: j, error: nil, classifier: classifier, drift: reading)
                // after the verdict is out (store, part, outputs): where stage 1 saw the defect
                if keepsLiveFrames, j.decision == .fail, let map = kept ?? classifier.lastDefectMap() {
                    onDefectMap?(camera, frame.sequence, map)
                }
            } catch {
                record(frame, judgement: nil, error: "\(error)", classifier: classifier)
            }
        }
    }

    // MARK: Drift

    /// Feeds the drift watch this frame; returns its reading when the frame is a sample to
    /// review. A new stage-1 model starts a new watch against its own reference (none: the
    /// watch is off, and its last reading is cleared).
    private func watchDrift(_ classifier: StagedClassifier, _ j: Judgement) -> DriftReading? {
        guard settings.drift.enabled else { return nil }
        guard let reference = classifier.stage1.metadata.inputReference else {
            lock.withLock { current.drift = nil }
            return nil
        }
        let stats = classifier.lastInputStatistics()
        let step = policyLock.withLock { () -> (reading: DriftReading, sample: Bool, was: Bool) in
            if drift?.model != classifier.stage1.version {
                drift = (classifier.stage1.version, DriftMonitor(reference: reference, settings: settings.drift, failThreshold: classifier.thresholds.fail))
            }
            let monitor = drift!.monitor
            let was = monitor.reading?.alarm ?? false
            let r = monitor.observe(stats, score: j.stage1Score, embedding: classifier.stage1.lastEmbedding)
            return (r.reading, r.sample, was)
        }
        let reading = step.reading
        lock.withLock {
            // with several workers a slower one must not put back an older reading
            if (current.drift?.observed ?? 0) < reading.observed || current.drift?.model != reading.model { current.drift = reading }
            if reading.alarm && !step.was { current.driftAlarms += 1 }
        }
        if reading.alarm && !step.was {
            logger.warning("input drift", metadata: ["camera": "\(camera)", "drift": "\(reading.summary)"])
        } else if !reading.alarm && step.was {
            logger.notice("input drift cleared", metadata: ["camera": "\(camera)", "drift": "\(reading.summary)"])
        }
        return step.sample ? reading : nil
    }

    // MARK: Verdicts

    /// Records one frame's verdict; returns stage 1's map when it was kept with the frame.
    @discardableResult
    private func record(_ frame: Frame, judgement j: Judgement?, error: String?, classifier: StagedClassifier? = nil,
                        dropped: Bool = false, timedOut: Bool = false, drift: DriftReading? = nil) -> ClassMap? {
        let outcome: FlagPolicy.Outcome
        let models: (String, String?)
        if let classifier {
            outcome = policyLock.withLock { policy.evaluate(j, thresholds: classifier.thresholds, at: frame.timestamp, drift: drift != nil) }
            models = (classifier.stage1.version, classifier.stage2?.version)
        } else {
            outcome = FlagPolicy.Outcome(flags: [], keep: nil)  // drops are counted, not reviewed
            models = modelVersions
        }
        // The region judged, when the frame holds it (a frame it does not fit was not judged by it).
        let roi = classifier?.roi.flatMap { $0.fits(width: frame.width, height: frame.height) ? $0 : nil }
        var saved = outcome.keep.flatMap { keep(frame, $0, roi: roi) }
        // stage 1's view of a frame for review: the queue's order spreads over these
        if let keep = outcome.keep, keep != .failed, let e = classifier?.stage1.lastEmbedding, j != nil {
            let blob = EmbeddingCodec.encode(e)
            if blob.count <= FrameRecord.maxEmbeddingBytes {
                saved?.embedding = blob
                saved?.embeddingModel = classifier?.stage1.version
            }
        }
        var keptMap: ClassMap?
        if settings.keepMaps, saved != nil, j?.decision == .fail, let map = classifier?.lastDefectMap() {
            let json = map.json
            if json.utf8.count <= FrameRecord.maxDefectMapBytes { saved?.defectMap = json }  // a map too fine to keep is left out
            keptMap = map
        }
        let totalMs = Double(monotonicNow() &- frame.monotonicNanos) / 1e6
        let scores = j?.stage2Scores.flatMap(Self.json)
        let verdict = VerdictRecord(cameraId: camera, capturedAt: frame.timestamp, frameSequence: Int64(frame.sequence),
                                    stage1Score: j?.stage1Score, stage2Scores: scores, decision: j?.decision ?? .noVerdict,
                                    defects: j?.defects ?? [], stage1Model: models.0,
                                    stage2Model: j?.stage2Scores == nil ? nil : models.1,
                                    stage1Ms: j?.stage1Ms, stage2Ms: j?.stage2Ms, totalMs: totalMs,
                                    flags: outcome.flags, error: error)
        var row = verdict
        row.partId = frame.part
        let product = classifier?.product ?? self.product
        row.product = product.isEmpty ? nil : product
        var bundle = VerdictBundle(verdict: row, frame: saved)
        if let drift, outcome.flags.contains(.drift) { bundle.flagNotes[.drift] = "input drift: " + drift.summary }
        sink(bundle)
        if let part = frame.part { onPartFrame?(part, verdict.decision, verdict.defectList, error) }
        lock.lock()
        switch verdict.decision {
        case .pass: current.passes += 1
        case .fail: current.fails += 1
        case .noVerdict: current.noVerdicts += 1
        }
        if dropped { current.dropped += 1 }
        if timedOut { current.timedOut += 1 }
        if let truth = frame.truth { current.truth.record(defective: !truth.isEmpty, decision: verdict.decision) }
        for d in j?.defects ?? [] { current.defects[d, default: 0] += 1 }
        for f in outcome.flags { current.flags[f, default: 0] += 1 }
        current.flagsCapped = policyLock.withLock { policy.capped }
        current.lastVerdictAt = monotonicSeconds()
        current.lastDecision = verdict.decision
        current.latency.record(totalMs)
        if let ms = j?.stage1Ms { current.stage1Latency.record(ms) }
        if let ms = j?.stage2Ms { current.stage2Latency.record(ms) }
        let droppedSoFar = current.dropped
        lock.unlock()
        if dropped, droppedSoFar == 1 || droppedSoFar % 100 == 0 {
            logger.warning("frames dropped", metadata: ["camera": "\(camera)", "dropped": "\(droppedSoFar)"])
        }
        var live = LiveVerdict(camera: camera, sequence: frame.sequence, capturedAt: Date(timeIntervalSince1970: frame.timestamp),
                               decision: verdict.decision, stage1Score: j?.stage1Score, defects: j?.defects ?? [], flags: outcome.flags,
                               totalMs: totalMs, error: error, part: frame.part, product: row.product)
        if keepsLiveFrames, !frame.bytes.isEmpty {
            (live.frame, live.roi) = (frame, roi)
        }
        onVerdict?(live)
        return keptMap
    }

    private func keep(_ frame: Frame, _ reason: FrameRecord.KeptBecause, roi: Rect?) -> FrameRecord? {
        guard let saver, !frame.bytes.isEmpty else { return nil }
        do {
            let r = try saver.save(frame, camera: camera, keptBecause: reason, roi: roi)
            let recovered = lock.withLock { current.framesSaved += 1; defer { saveFailing = false }; return saveFailing }
            if recovered { logger.notice("saving frames works again", metadata: ["camera": "\(camera)"]) }
            return r
        } catch is ImagingError {
            return nil  // a raw frame too broken to encode: its verdict says why, there is nothing to show
        } catch {
            let first = lock.withLock { current.saveErrors += 1; defer { saveFailing = true }; return !saveFailing }
            if first { logger.error("cannot save frames", metadata: ["camera": "\(camera)", "error": "\(error)"]) }
            return nil
        }
    }

    /// One encoder for every pipeline (encode keeps no state between calls).
    nonisolated(unsafe) static let scoresEncoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        return e
    }()

    /// Stage-2 scores as a JSON object, keys sorted, 4 decimals; written by an encoder, so
    /// any kind name is escaped (a non-finite score never gets here: the classifier throws).
    static func json(_ scores: [String: Double]) -> String? {
        let rounded = scores.filter { $0.value.isFinite }.mapValues { ($0 * 10_000).rounded() / 10_000 }
        return (try? scoresEncoder.encode(rounded)).map { String(decoding: $0, as: UTF8.self) }
    }
}
