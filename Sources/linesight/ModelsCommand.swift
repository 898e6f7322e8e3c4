import ArgumentParser
import Config
import Foundation
import Inspection
import LinesightCore
import Neural
import Store

/// Options every registry command shares.
struct RegistryOptions: ParsableArguments {
    @Option(help: "The line config (its database and model paths).") var config: String = "/etc/linesight/linesight.toml"

    func open(product: String? = nil) throws -> (LineConfig, ModelRegistry) { try Self.open(config, product: product) }

    /// The line's config and the registry of `product`'s model set (nil: `[models]`'s).
    /// Every product's live files are reconciled with their records first.
    static func open(_ config: String, product: String? = nil) throws -> (LineConfig, ModelRegistry) {
        let cfg: LineConfig
        cfg = try ConfigFile.forCommand(path: config).line
        try FileManager.default.createDirectory(atPath: (cfg.database as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let store = try Store(path: cfg.database, quickCheck: false, migrate: false)
        for p in cfg.products {
            let set = try cfg.registryProduct(p.id)
            for version in try ModelRegistry(store: store, paths: set.models, product: set.key).reconcile() {
                FileHandle.standardError.write(Data("registry: \(version) is the live file of \(Store.productName(set.key)); its record now says champion (an earlier promotion was interrupted)\n".utf8))
            }
        }
        return (cfg, try ModelRegistry(store: store, config: cfg, product: product))
    }
}

/// `--product`: which product's model set a registry command works on.
struct ProductOption: ParsableArguments {
    @Option(help: "The product whose model set this works on: a [[products]] id of the config (default: the [models] set).")
    var product: String?

    func validate() throws {
        if let product, !LineID.isValid(product) { throw ValidationError("--product must be a product id (\(LineID.rule))") }
    }
}

func whoAmI() -> String {
    let user = ProcessInfo.processInfo.environment["USER"] ?? ProcessInfo.processInfo.userName
    return "\(user)@\(ProcessInfo.processInfo.hostName)"
}

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "The model registry: list, show, promote, roll back and compare model versions.",
        discussion: """
        Every trained or retrained model is registered with its parent, the hash of the data \
        it saw, its metrics and who promoted it. Promoting writes the version atomically over \
        the live model file; a running daemon notices and swaps it in between frames.
          linesight models list
          linesight models promote 3f2a9c41d0be
          linesight models rollback --stage 1
          linesight models diff 3f2a9c41d0be 9d81e07a55c2
        On a line of several products ([[products]]) each product has its own champions: \
        list, register and rollback take --product ID (default: the [models] set); promote \
        puts a version on its own product's live paths.
          linesight models rollback --stage 1 --product bracket-b
        """,
        subcommands: [List.self, Show.self, Register.self, Promote.self, Rollback.self, Diff.self])

    struct Register: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a model file (e.g. trained elsewhere) as a candidate.")
        @OptionGroup var options: RegistryOptions
        @Argument(help: "The model file (safetensors with Linesight metadata).") var file: String
        @Option(help: "1 (pass/fail) or 2 (defect kinds).") var stage: Int
        @OptionGroup var product: ProductOption

        func run() throws {
            guard let s = Stage(rawValue: stage) else { throw ValidationError("--stage must be 1 or 2") }
            let (_, registry) = try options.open(product: product.product)
            // a version of a live file another product owns could never be promoted here
            try registry.checkWritable(s)
            let m = try registry.register(file: file, stage: s)
            print("registered stage \(m.stage) \(m.version) of \(registry.productName) as \(m.status.rawValue); `linesight models promote \(m.version)` puts it live")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every version, newest first.")
        @OptionGroup var options: RegistryOptions
        @Option(help: "Only this product's versions: a [[products]] id, or the [models] set's product id (default: every product's).")
        var product: String?
        @Flag(help: "JSON instead of a table.") var json = false

        func run() throws {
            let (cfg, registry) = try options.open()
            let all = try registry.store.models(product: try product.map { try cfg.registryProduct($0).key })
            if json { return print(try jsonText(all.map(describe))) }
            let named = all.contains { !$0.product.isEmpty }
            print("version       stage  status     created (UTC)         parent        promoted by  kinds" + (named ? "  product" : ""))
            let versions = Dictionary(all.compactMap { m in m.id.map { ($0, m.version) } }, uniquingKeysWith: { a, _ in a })
            for m in all {
                let parent = m.parentId.flatMap { versions[$0] } ?? "-"
                print("\(m.version)  \(m.stage)      \(m.status.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(utc(m.createdAt))  \(parent.padding(toLength: 12, withPad: " ", startingAt: 0))  \(m.promotedBy ?? "-")  \(m.knownKinds?.joined(separator: ",") ?? "-")" + (named ? "  \(m.product.isEmpty ? cfg.mainProduct : m.product)" : ""))
            }
            if all.isEmpty { print("(no models registered yet: `linesight train --data DIR --config FILE` registers the first ones)") }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One version: metrics, data, thresholds, architecture.")
        @OptionGroup var options: RegistryOptions
        @Argument(help: "Version (or a unique prefix).") var version: String

        func run() throws {
            let (_, registry) = try options.open()
            guard let m = try registry.store.model(version: version) else { throw ValidationError("no model version '\(version)'") }
            var d = describe(m)
            let (_, meta) = try ModelFile.load(path: m.file)
            d["architecture"] = meta.spec.name
            d["input"] = "\(meta.spec.input)"
            d["classes"] = meta.classes
            d["thresholds"] = meta.thresholds
            d["temperature"] = meta.temperature ?? 1
            d["flip_average"] = meta.flipAverage ?? false
            print(try jsonText(d))
        }
    }

    struct Promote: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a version the live model of its stage.")
        @OptionGroup var options: RegistryOptions
        @Argument(help: "Version (or a unique prefix).") var version: String
        @Option(help: "Recorded as who promoted it.") var by: String = whoAmI()

        func run() throws {
            let (cfg, any) = try options.open()
            // the version's own product's set: its live paths are where it goes
            let product = try any.store.model(version: version).map(\.product).flatMap { $0.isEmpty ? nil : $0 }
            if let product, cfg.product(product) == nil {
                throw ValidationError("model \(version) belongs to product '\(product)', which the config no longer names: it has no live path to go to")
            }
            let (_, registry) = try options.open(product: product)
            let (new, old) = try registry.promote(version, by: by)
            print("stage \(new.stage): \(new.version) is the champion of \(registry.productName)" + (old.map { " (was \($0.version))" } ?? ""))
        }
    }

    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put the previous champion of a stage back.")
        @OptionGroup var options: RegistryOptions
        @Option(help: "1 (pass/fail) or 2 (defect kinds).") var stage: Int = 1
        @Option(help: "Recorded as who rolled back.") var by: String = whoAmI()
        @OptionGroup var product: ProductOption

        func run() throws {
            guard let s = Stage(rawValue: stage) else { throw ValidationError("--stage must be 1 or 2") }
            let (_, registry) = try options.open(product: product.product)
            let (new, old) = try registry.rollback(s, by: by)
            print("stage \(new.stage) of \(registry.productName): rolled back to \(new.version)" + (old.map { " (was \($0.version))" } ?? ""))
        }
    }

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Two versions side by side: metrics, thresholds, data.")
        @OptionGroup var options: RegistryOptions
        @Argument(help: "First version.") var a: String
        @Argument(help: "Second version.") var b: String

        func run() throws {
            let (_, registry) = try options.open()
            guard let ma = try registry.store.model(version: a), let mb = try registry.store.model(version: b) else {
                throw ValidationError("both versions must be in the registry")
            }
            let (_, ka) = try ModelFile.load(path: ma.file), (_, kb) = try ModelFile.load(path: mb.file)
            func row(_ name: String, _ x: String, _ y: String) { print(name.padding(toLength: 28, withPad: " ", startingAt: 0) + x.padding(toLength: 20, withPad: " ", startingAt: 0) + y + (x == y ? "" : "   *")) }
            row("", ma.version, mb.version)
            row("stage / status", "\(ma.stage) \(ma.status.rawValue)", "\(mb.stage) \(mb.status.rawValue)")
            row("architecture", ka.spec.name, kb.spec.name)
            row("data", ma.dataHash ?? "-", mb.dataHash ?? "-")
            if ma.stage == 2 || mb.stage == 2 { row("kinds", ma.knownKinds?.joined(separator: ",") ?? "-", mb.knownKinds?.joined(separator: ",") ?? "-") }
            for key in Set(ka.thresholds.keys).union(kb.thresholds.keys).sorted() {
                row("threshold \(key)", ka.thresholds[key].map { String(format: "%.4f", $0) } ?? "-", kb.thresholds[key].map { String(format: "%.4f", $0) } ?? "-")
            }
            for key in Set(ka.provenance.metrics.keys).union(kb.provenance.metrics.keys).sorted() {
                row(key, ka.provenance.metrics[key].map { String(format: "%.4f", $0) } ?? "-", kb.provenance.metrics[key].map { String(format: "%.4f", $0) } ?? "-")
            }
        }
    }
}

func describe(_ m: ModelRecord) -> [String: Any] {
    ["version": m.version, "stage": m.stage, "status": m.status.rawValue, "file": m.file, "sha256": m.sha256,
     "created": utc(m.createdAt), "data_hash": m.dataHash ?? NSNull(), "notes": m.notes,
     "promoted_by": m.promotedBy ?? NSNull(), "promoted_at": m.promotedAt.map(utc) ?? NSNull(),
     "kinds": m.knownKinds ?? NSNull(), "product": m.product.isEmpty ? NSNull() : m.product as Any,
     "metrics": (try? JSONSerialization.jsonObject(with: Data(m.metrics.utf8))) ?? [:]]
}

func utc(_ t: Double) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.string(from: Date(timeIntervalSince1970: t))
}

func jsonText(_ v: Any) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: v, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self)
}
