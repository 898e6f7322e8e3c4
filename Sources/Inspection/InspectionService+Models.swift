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

    /// Loads the current product's model files again for every camera; swaps only if all load.
    @discardableResult
    public func reloadModels(reason: String) -> ReloadOutcome {
        load(nil, reason: reason, changeover: nil)
    }

    /// The product the line makes now (`[[products]]`), and since when (Unix seconds).
    public var currentProduct: LineConfig.Product { lock.withLock { config.product(product.id)! } }
    public var productSince: Double { lock.withLock { product.since } }
    public var productChangeovers: Int { lock.withLock { changeovers } }

    /// What a changeover did.
    public enum ChangeoverOutcome: Sendable, Equatable {
        case changed
        /// The line already makes it: nothing loaded.
        case already
        /// Not a product of the config (the known ones).
        case unknown([String])
        case busy
        /// Its model files were refused (the reason); the running product's stay.
        case refused(String)
    }

    /// Changes the product the line makes without a restart: loads `id`'s model set for every
    /// camera, swaps them in only if all load (each worker between two frames: every verdict
    /// names the product whose models judged it), and records the changeover (the daemon
    /// starts on it next time). `by`: who asked ("api", "mqtt", a user).
    public func changeProduct(to id: String, by: String) -> ChangeoverOutcome {
        guard let next = config.product(id) else { return .unknown(config.products.map(\.id)) }
        if lock.withLock({ product.id == id }) { return .already }
        switch load(next, reason: "product changeover", changeover: by) {
        case .reloaded: return .changed
        case .busy: return .busy
        case .refused(let why): return .refused(why)
        }
    }

    /// Loads `requested`'s model set (nil: the current product's, read once no other load
    /// runs) for every camera and swaps it in if all load; with `changeover`, it becomes the
    /// current product.
    func load(_ requested: LineConfig.Product?, reason: String, changeover by: String?) -> ReloadOutcome {
        lock.lock()
        guard !reloading else { lock.unlock(); return .busy }
        reloading = true
        let p = requested ?? config.product(product.id)!
        lock.unlock()
        defer { lock.withLock { reloading = false } }
        do {
            let fresh = try config.cameras.map { cam in
                try (0..<max(1, config.pipeline.workers)).map { _ in try StagedClassifier(p.models, roi: cam.roi, compute: compute, product: p.id) }
            }
            let api = try StagedClassifier(p.models, roi: nil, compute: compute, product: p.id)
            if let by {
                // recorded first: a store that cannot take it leaves the line as it was
                try store.recordProductChange(p.id, by: by)
            }
            for (pipe, c) in zip(pipelines, fresh) { pipe.swap(c) }
            apiLock.withLock { apiClassifier = api }
            lock.withLock {
                reloadCounts.ok += 1
                reloadError = nil
                modelStamps = Self.stamps(p.models)
                if by != nil {
                    product = (p.id, Date().timeIntervalSince1970)
                    changeovers += 1
                }
            }
            if let by {
                lock.withLock { productListener }?(p.id)
                logger.notice("product changeover", metadata: ["product": "\(p.id)", "by": "\(by)", "model.stage1": "\(api.stage1.version)",
                                                              "model.stage2": "\(api.stage2?.version ?? "-")"])
            } else {
                logger.notice("models reloaded", metadata: ["reason": "\(reason)", "model.stage1": "\(api.stage1.version)",
                                                           "model.stage2": "\(api.stage2?.version ?? "-")",
                                                           "model.precision": "\(api.stage1.precision), \(api.stage2?.precision ?? "-")"])
            }
            return .reloaded
        } catch {
            lock.withLock {
                reloadCounts.refused += 1
                reloadError = "\(error)"
                if by == nil { modelStamps = Self.stamps(p.models) }  // do not retry the same broken file every poll
            }
            logger.error(by == nil ? "new model refused, keeping the running one" : "product changeover refused, keeping the running product",
                         metadata: ["reason": "\(reason)", "product": "\(p.id)", "error": "\(error)"])
            return .refused("\(error)")
        }
    }

    /// Reloads when a model file changed (size or modification time) since the last load.
    /// Whether a watched model file changed since the last load (two stat calls, cheap).
    public func modelFilesChanged() -> Bool {
        guard config.watchModels else { return false }
        // the product and the stamps it was loaded with, read together (a changeover in between
        // would compare one product's files with another's stamps)
        let (models, stamps) = lock.withLock { (config.product(product.id)!.models, modelStamps) }
        return Self.stamps(models) != stamps
    }

    public func checkModelFiles() {
        if modelFilesChanged() { reloadModels(reason: "model file changed") }
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
