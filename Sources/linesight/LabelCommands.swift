import ArgumentParser
import Foundation
import Inspection
import Neural
import Store

struct FlaggedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flagged",
        abstract: "The review queue: frames flagged for a person, most useful first.",
        subcommands: [List.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Open flags: uncertain and low-confidence first, then no-verdicts, then audit samples.")
        @OptionGroup var options: RegistryOptions
        @Option(help: "At most this many.") var limit: Int = 50
        @Flag(help: "JSON instead of a table.") var json = false

        func run() throws {
            let (cfg, registry) = try options.open()
            let flags = try registry.store.openFlags(limit: limit)
            if json {
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                return print(String(decoding: try enc.encode(flags), as: UTF8.self))
            }
            print("frame   reason                 camera        time (UTC)            decision    p(defect)  defects")
            for f in flags {
                let score = f.stage1Score.map { String(format: "%.3f", $0) } ?? "-"
                print(String(f.frameId).padding(toLength: 8, withPad: " ", startingAt: 0) + f.reason.rawValue.padding(toLength: 23, withPad: " ", startingAt: 0)
                      + f.camera.padding(toLength: 14, withPad: " ", startingAt: 0) + utc(f.capturedAt).padding(toLength: 22, withPad: " ", startingAt: 0)
                      + f.decision.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0) + score.padding(toLength: 11, withPad: " ", startingAt: 0) + f.defects)
            }
            if flags.isEmpty { print("(nothing to review)") } else { print("frames are under \(cfg.framesDirectory); label with `linesight label ID... --as KINDS` or `--pass`") }
        }
    }
}

struct LabelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "label",
        abstract: "Label frames by id: their defect kinds, or good.",
        discussion: """
        Records who labeled what and when; a new label supersedes the frame's earlier one and \
        closes its flags. Kinds are checked against the stage-2 model's classes. All or \
        nothing: an unknown frame id or kind labels nothing.
          linesight label 1042 1043 --as scratch,dent
          linesight label 1044 --pass
        """)

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Frame ids (from `linesight flagged list`).") var frames: [Int64]
    @Option(name: .customLong("as"), help: "Defect kinds, comma-separated.") var kinds: String?
    @Flag(help: "The part is good.") var pass = false
    @Option(help: "Recorded as who labeled.") var who: String = whoAmI()

    func validate() throws {
        guard !frames.isEmpty else { throw ValidationError("give at least one frame id") }
        guard (kinds != nil) != pass else { throw ValidationError("give either --as KINDS or --pass") }
    }

    func run() throws {
        let (cfg, registry) = try options.open()
        let defects = pass ? [] : kinds!.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let bad = defects.first(where: { !DefectKind.isValid($0) }) {
            throw ValidationError("defect kind '\(bad)' is not a valid name (1-64 letters, digits, '_' or '-')")
        }
        if let known = try knownDefectKinds(cfg) {
            let unknown = defects.filter { !known.contains($0) }
            guard unknown.isEmpty else {
                throw ValidationError("unknown defect kinds \(unknown.joined(separator: ", ")); the stage-2 model knows \(known.sorted().joined(separator: ", "))")
            }
        }
        do {
            try registry.store.label(frames: frames, defects: defects, who: who)
        } catch StoreError.notFound(let what) {
            throw CommandFailure("\(what) does not exist; nothing was labeled")
        }
        print("labeled \(frames.count) frame\(frames.count == 1 ? "" : "s") as \(defects.isEmpty ? "good" : defects.joined(separator: "+"))")
    }
}

struct LabelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "labels",
        abstract: "Labeled frames out, for retraining or for other tools.",
        subcommands: [Export.self, Import.self])

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read labels from a CSV (frame_id,defects; defects '+'-joined, empty = good). All or nothing.",
            discussion: """
            For labels made in another tool (Label Studio, CVAT) on exported frames. Every row is \
            checked first: frame ids must exist and defect kinds must be known to the stage-2 \
            model. One bad row imports nothing, and every rejected row is reported.
              linesight labels import corrections.csv --who "cvat:ana"
            """)
        @OptionGroup var options: RegistryOptions
        @Argument(help: "CSV with a header naming frame_id and defects.") var file: String
        @Option(help: "Recorded as who labeled.") var who: String = whoAmI()

        func run() throws {
            let (cfg, registry) = try options.open()
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ValidationError("cannot read \(file)") }
            let known = try knownDefectKinds(cfg)
            let existing = Set(try registry.store.pool.read { db in try Int64.fetchAll(db, sql: "SELECT id FROM frames") })
            let (rows, problems) = LabelImport.parse(text, frames: existing, kinds: known)
            guard problems.isEmpty else {
                for p in problems { FileHandle.standardError.write(Data("\(file): \(p)\n".utf8)) }
                throw CommandFailure("\(problems.count) rejected row\(problems.count == 1 ? "" : "s"); nothing was imported")
            }
            try registry.store.label(rows.map { ($0.frame, $0.defects) }, who: who, source: "import")
            print("imported \(rows.count) labels from \(file)")
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the current labels as an ImageFolder tree (retrain --data reads it), CSV or JSON.",
            discussion: "  linesight labels export --format imagefolder --out /var/lib/linesight/new-labels --since 2026-11-01")
        @OptionGroup var options: RegistryOptions
        @Option(help: "imagefolder, csv or json.") var format: String = "imagefolder"
        @Option(help: "Folder (imagefolder) or file (csv, json).") var out: String
        @Option(help: "Only labels given on or after this date (YYYY-MM-DD, UTC).") var since: String?

        func validate() throws {
            guard ["imagefolder", "csv", "json"].contains(format) else { throw ValidationError("--format must be imagefolder, csv or json") }
        }

        func run() throws {
            let (cfg, registry) = try options.open()
            var sinceTime: Double?
            if let since {
                let f = DateFormatter()
                f.dateFormat = "yyyy-MM-dd"
                f.timeZone = TimeZone(identifier: "UTC")
                guard let d = f.date(from: since) else { throw ValidationError("--since must be YYYY-MM-DD") }
                sinceTime = d.timeIntervalSince1970
            }
            let labels = try registry.store.currentLabels(since: sinceTime)
            switch format {
            case "json":
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                try enc.encode(labels).write(to: URL(fileURLWithPath: out))
            case "csv":
                var csv = CSV.row(["frame_id", "file", "label", "defects", "who", "labeled_at", "camera", "roi"])
                for l in labels {
                    csv += CSV.row(["\(l.frameId)", l.path, l.defects.first ?? "good", l.defects.joined(separator: "+"), l.who, utc(l.labeledAt),
                                    l.camera, l.roi.map { "\($0.x) \($0.y) \($0.width) \($0.height)" } ?? ""])
                }
                try csv.write(toFile: out, atomically: true, encoding: .utf8)
            default:
                let r = try LabelExport.writeImageFolder(labels, frames: cfg.framesDirectory, to: out)
                if r.framings.count > 1 {
                    FileHandle.standardError.write(Data("""
                    warning: these frames were judged with \(r.framings.count) different framings (\(r.framings.sorted().joined(separator: "; "))); \
                    each image is the region its frame was judged in, but a training set should not mix them \
                    (retrain and train --labels keep only the cameras' current ROI)

                    """.utf8))
                }
            }
            print("exported \(labels.count) labeled frames to \(out)")
        }
    }
}

/// The stage-2 model's defect kinds, when the config names one; a file that cannot be read
/// is an error (once, a broken file silently switched the kind check off).
func knownDefectKinds(_ cfg: LineConfig) throws -> Set<String>? {
    guard let s2 = cfg.models.stage2 else { return nil }
    do { return Set(try ModelFile.load(path: s2).metadata.classes) } catch {
        throw CommandFailure("cannot check defect kinds against the stage-2 model \(s2): \(error)")
    }
}

/// A command that ran and could not do its job: printed as "Error: ..." without the usage
/// text (which is for mistakes in the command line itself).
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
