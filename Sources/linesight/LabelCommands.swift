import ArgumentParser
import Foundation
import Inspection
import Lifecycle
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
        closes its flags. Kinds are checked against the stage-2 model's classes and the kinds \
        reviewers named since. All or nothing: an unknown frame id or kind labels nothing.

        A new kind of defect is confirmed once with --new-kind (so a typo does not become a \
        kind); after that anyone may use it. Until stage 2 learns it (the next `retrain` with \
        enough labels of it grows stage 2 for it) such parts are failed by stage 1.
          linesight label 1042 1043 --as scratch,dent
          linesight label 1044 --pass
          linesight label 1045 --as burr --new-kind burr
        """)

    @OptionGroup var options: RegistryOptions
    @Argument(help: "Frame ids (from `linesight flagged list`).") var frames: [Int64]
    @Option(name: .customLong("as"), help: "Defect kinds, comma-separated.") var kinds: String?
    @Flag(help: "The part is good.") var pass = false
    @Option(name: .customLong("new-kind"), help: "Confirms a kind in --as that stage 2 does not know yet as a new defect kind (repeatable).")
    var newKinds: [String] = []
    @Option(help: "Recorded as who labeled.") var who: String = whoAmI()

    func validate() throws {
        guard !frames.isEmpty else { throw ValidationError("give at least one frame id") }
        guard (kinds != nil) != pass else { throw ValidationError("give either --as KINDS or --pass") }
        guard newKinds.isEmpty || !pass else { throw ValidationError("--new-kind names a defect kind given with --as, not with --pass") }
    }

    func run() throws {
        let (cfg, registry) = try options.open()
        let defects = pass ? [] : kinds!.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        try LabelTransfer(config: cfg, store: registry.store).label(frames: frames, defects: defects, who: who, newKinds: newKinds)
        for k in newKinds { print("new defect kind \(k) recorded; stage 1 fails such parts until `linesight retrain` teaches stage 2") }
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
            model or named by a reviewer (--new-kind confirms a new one). One bad row imports \
            nothing, and every rejected row is reported.
              linesight labels import corrections.csv --who "cvat:ana"
            """)
        @OptionGroup var options: RegistryOptions
        @Argument(help: "CSV with a header naming frame_id and defects.") var file: String
        @Option(name: .customLong("new-kind"), help: "Confirms a defect kind the file uses that stage 2 does not know yet (repeatable).")
        var newKinds: [String] = []
        @Option(help: "Recorded as who labeled.") var who: String = whoAmI()

        func run() throws {
            let (cfg, registry) = try options.open()
            do {
                let n = try LabelTransfer(config: cfg, store: registry.store).importCSV(file, who: who, newKinds: newKinds)
                print("imported \(n) labels from \(file)")
            } catch LifecycleError.rejectedRows(let file, let problems) {
                for p in problems { FileHandle.standardError.write(Data("\(file): \(p)\n".utf8)) }
                throw LifecycleError.rejectedRows(file: file, problems: problems)
            }
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
            guard LabelTransfer.ExportFormat(rawValue: format) != nil else { throw ValidationError("--format must be imagefolder, csv or json") }
            if let since { _ = try Self.day(since) }
        }

        /// Midnight UTC of a YYYY-MM-DD date, as seconds since 1970.
        static func day(_ text: String) throws -> Double {
            let f = DateFormatter()
            f.dateFormat = "yyyy-MM-dd"
            f.timeZone = TimeZone(identifier: "UTC")
            guard let d = f.date(from: text) else { throw ValidationError("--since must be YYYY-MM-DD") }
            return d.timeIntervalSince1970
        }

        func run() throws {
            let (cfg, registry) = try options.open()
            let format = LabelTransfer.ExportFormat(rawValue: format) ?? .imagefolder
            let r = try LabelTransfer(config: cfg, store: registry.store).export(format, to: out, since: try since.map(Self.day))
            if let framings = r.folder?.framings, framings.count > 1 {
                FileHandle.standardError.write(Data("""
                warning: these frames were judged with \(framings.count) different framings (\(framings.sorted().joined(separator: "; "))); \
                each image is the region its frame was judged in, but a training set should not mix them \
                (retrain and train --labels keep only the cameras' current ROI)

                """.utf8))
            }
            print("exported \(r.labels.count) labeled frames to \(out)")
        }
    }
}

/// A command that ran and could not do its job: printed as "Error: ..." without the usage
/// text (which is for mistakes in the command line itself).
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
