import Foundation
import LinesightCore
import Store

extension InspectionService {
    /// Model reloads so far, by result (read from any thread).
    public var reloads: (ok: Int, refused: Int) { lock.withLock { reloadCounts } }
    public var lastReloadError: String? { lock.withLock { reloadError } }

    // MARK: Models (SIGHUP, POST /api/v1/models/reload, changed files)

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
                                                       "model.stage2": "\(api.stage2?.version ?? "-")",
                                                       "model.precision": "\(api.stage1.precision), \(api.stage2?.precision ?? "-")"])
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
    /// Whether a watched model file changed since the last load (two stat calls, cheap).
    public func modelFilesChanged() -> Bool {
        guard config.watchModels else { return false }
        let now = Self.stamps(config.models)
        return lock.withLock { now != modelStamps }
    }

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
}
