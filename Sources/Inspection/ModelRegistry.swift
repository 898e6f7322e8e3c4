import Foundation
import LinesightCore
import Neural
import Store

/// Model versions on disk and in the database. Every registered file is copied, immutable,
/// to `<models folder>/registry/<version>.safetensors`; promoting a version writes it
/// atomically (copy, fsync, rename) over the live path the daemon loads, which the daemon
/// notices and hot-swaps. A file that does not load as its stage is never promoted.
///
/// A registry serves one product's model set (`product`: '' for `[models]`, else a
/// `[[products]]` id): it registers, promotes and rolls back that set's versions only, onto
/// that set's live paths.
public struct ModelRegistry {
    public let store: Store
    public let paths: ModelPaths
    public let product: String

    /// The live files this set shares with an earlier product of the config, by stage, with
    /// that product's id (`LineConfig.borrowedLiveFiles`): writing them is refused.
    public var borrowed: [Stage: String] = [:]

    public init(store: Store, paths: ModelPaths, product: String = "") {
        self.store = store
        self.paths = paths
        self.product = product
    }

    /// The registry of a config's product `id` (nil: `[models]`'s set), knowing which of its
    /// live files another product owns.
    public init(store: Store, config: LineConfig, product id: String?) throws {
        let (key, paths) = try config.registryProduct(id)
        self.init(store: store, paths: paths, product: key)
        borrowed = config.borrowedLiveFiles(of: key)
    }

    /// Refuses, before anything changes, to write the live file of `stage` when it is another
    /// product's (the config gives both products that file): a promotion for this product
    /// would silently change the owner's model, and every other sharer's.
    public func checkWritable(_ stage: Stage) throws {
        guard let owner = borrowed[stage] else { return }
        let path = (try? livePath(stage)) ?? "?"
        throw InspectionError.config("the live \(stage) file of \(productName), \(path), is also product '\(owner)''s, which owns it (the config names it there first): a model promoted for \(productName) would replace '\(owner)''s too. Train, retrain and promote it as '\(owner)''s, or give \(productName) its own \(stage == .one ? "stage1" : "stage2") path in the config")
    }

    /// The set this registry serves, for messages.
    public var productName: String { Store.productName(product) }

    /// The live version of `stage` in this product's set.
    public func champion(_ stage: Stage) throws -> ModelRecord? { try store.champion(stage: stage.rawValue, product: product) }

    public var directory: String { ((paths.stage1 as NSString).deletingLastPathComponent as NSString).appendingPathComponent("registry") }

    public func livePath(_ stage: Stage) throws -> String {
        switch stage {
        case .one: return paths.stage1
        case .two:
            guard let p = paths.stage2 else { throw InspectionError.config("no stage-2 model path is configured") }
            return p
        }
    }

    /// Checks `file` as a model for `stage`, keeps a copy and records it.
    @discardableResult
    public func register(file: String, stage: Stage, status: ModelRecord.Status = .candidate, parent: String? = nil,
                         notes: String? = nil) throws -> ModelRecord {
        let data = try Self.read(file)
        let model = try StageModel(data: data, path: file, stage: stage)  // the full check, on the bytes that are kept
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let copy = directory + "/\(model.version).safetensors"
        if (try? Hashing.sha256(file: copy)) != model.sha256 { try Self.atomicWrite(data, to: copy) }
        let p = model.metadata.provenance
        return try store.registerModel(stage: stage.rawValue, file: copy, sha256: model.sha256, metrics: p.metrics,
                                       parent: parent ?? p.parent, dataHash: p.dataHash, notes: notes ?? p.notes ?? "",
                                       status: status, kinds: stage == .two ? model.defectKinds : nil, product: product)
    }

    /// Makes `version` the live model of its stage.
    @discardableResult
    public func promote(_ version: String, by who: String) throws -> (new: ModelRecord, old: ModelRecord?) {
        guard let m = try store.model(version: version) else { throw InspectionError.config("no model version '\(version)' in the registry") }
        guard let stage = Stage(rawValue: m.stage) else { throw InspectionError.config("model '\(version)' has an unknown stage \(m.stage)") }
        guard m.product == product else {
            throw InspectionError.config("model '\(m.version)' belongs to \(Store.productName(m.product)), not \(productName): \(m.product.isEmpty ? "leave out --product" : "give --product \(m.product)")")
        }
        // Refuse a damaged or replaced copy before anything changes: the bytes that are
        // checked, and whose hash must be the recorded one, are the bytes written live.
        let data = try Self.read(m.file)
        let model = try StageModel(data: data, path: m.file, stage: stage)
        guard model.sha256 == m.sha256 else {
            throw InspectionError.model(path: m.file, reason: "its SHA-256 is \(model.sha256), the registry recorded \(m.sha256)")
        }
        try checkWritable(stage)
        let live = try livePath(stage)
        try Self.atomicWrite(data, to: live)
        return try store.promote(version: m.version, by: who)
    }

    /// Makes the registry agree with the live files after an interruption: a promotion writes
    /// the file first and the database second, so a kill in between leaves the file right and
    /// the record behind. Returns the versions whose record was brought forward.
    @discardableResult
    public func reconcile() throws -> [String] {
        var fixed: [String] = []
        for stage in [Stage.one, .two] {
            guard let live = try? livePath(stage) else { continue }
            Self.removeStaleTemporaries(of: live)
            guard FileManager.default.fileExists(atPath: live) else { continue }
            let version = String(try Hashing.sha256(file: live).prefix(12))
            guard let record = try store.model(version: version), record.status != .champion, record.stage == stage.rawValue,
                  record.product == product else { continue }
            _ = try store.promote(version: version, by: "reconcile: the live file")
            fixed.append(version)
        }
        return fixed
    }

    /// Deletes `<file>.tmp-<pid>` left by a copy whose process is gone.
    static func removeStaleTemporaries(of file: String) {
        let dir = (file as NSString).deletingLastPathComponent, prefix = (file as NSString).lastPathComponent + ".tmp-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir)) ?? [] where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count)), kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(atPath: (dir.isEmpty ? "." : dir) + "/" + name)
        }
    }

    /// Puts the previous champion of `stage` back.
    @discardableResult
    public func rollback(_ stage: Stage, by who: String) throws -> (new: ModelRecord, old: ModelRecord?) {
        guard let previous = try store.previousChampion(stage: stage.rawValue, product: product) else {
            throw InspectionError.config("\(stage) of \(productName) has no earlier champion to roll back to")
        }
        return try promote(previous.version, by: who)
    }

    static func read(_ file: String) throws -> Data {
        do { return try ModelFile.read(path: file) } catch let e as NeuralError { throw InspectionError.model(path: file, reason: "\(e)") }
    }

    /// Writes through a temporary file in the target folder, fsyncs, then renames: readers
    /// see the old file or the new one, never half of one, even after a power loss.
    public static func atomicWrite(_ data: Data, to target: String) throws {
        let dir = (target as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir.isEmpty ? "." : dir, withIntermediateDirectories: true)
        let temp = target + ".tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw InspectionError.model(path: temp, reason: String(cString: strerror(errno))) }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == data.count, synced == 0, rename(temp, target) == 0 else {
            unlink(temp)
            throw InspectionError.model(path: target, reason: "cannot write: \(String(cString: strerror(errno)))")
        }
    }
}
