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
        let recorded = try LabelTransfer(config: cfg, store: registry.store).label(frames: frames, defects: defects, who: who, newKinds: newKinds)
        for k in recorded { print("new defect kind \(k) recorded; stage 1 fails such parts until `linesight retrain` teaches stage 2") }
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
            abstract: "Read labels made elsewhere: a CSV, a Label Studio JSON export or a CVAT XML. All or nothing.",
            discussion: """
            For labels made in another tool on frames `labels export` wrote. The format follows \
            the extension (or --format): .csv with a header naming frame_id and defects \
            ('+'-joined, empty or good = a good part); .json, a Label Studio export (format \
            JSON) of the tasks `labels export --format labelstudio` wrote: each task's last \
            annotation that was not cancelled, its choices good or defect kinds; .xml, a CVAT \
            for images 1.1 export: each image's tags (good or defect kinds), its frame the \
            number in its file name. Tasks and images nobody labelled are left out and counted. \
            Every row is checked first: frame ids must exist and defect kinds must be known to \
            the stage-2 model (on a line without stage 2: labelled before) or named by a \
            reviewer (--new-kind confirms a new one). One bad row imports nothing, and every \
            rejected row is reported. A row that gives a frame the label it already has is \
            left as it was (who gave it, and when, stay).
              linesight labels import corrections.csv --who "cvat:ana"
              linesight labels import project-3-at-2026-12-06.json --who label-studio
              linesight labels import annotations.xml --who cvat
            """)
        @OptionGroup var options: RegistryOptions
        @Argument(help: "The labels file (.csv, .json Label Studio, .xml CVAT).") var file: String
        @Option(help: "csv, labelstudio or cvat (default: by the file's extension).") var format: String?
        @Option(name: .customLong("new-kind"), help: "Confirms a defect kind the file uses that stage 2 does not know yet (repeatable).")
        var newKinds: [String] = []
        @Option(help: "Recorded as who labeled.") var who: String = whoAmI()

        func validate() throws {
            if let format, LabelImport.Format(rawValue: format) == nil { throw ValidationError("--format must be csv, labelstudio or cvat") }
        }

        func run() throws {
            let (cfg, registry) = try options.open()
            do {
                let r = try LabelTransfer(config: cfg, store: registry.store).importLabels(file, format: format.flatMap(LabelImport.Format.init(rawValue:)),
                                                                                          who: who, newKinds: newKinds)
                print("imported \(r.imported) labels from \(file)" + (r.unchanged > 0 ? "; \(r.unchanged) the frames already had, left as they were" : "")
                      + (r.unlabelled > 0 ? "; \(r.unlabelled) left out that nobody labelled there" : ""))
            } catch LifecycleError.rejectedRows(let file, let problems) {
                for p in problems { FileHandle.standardError.write(Data("\(file): \(p)\n".utf8)) }
                throw LifecycleError.rejectedRows(file: file, problems: problems)
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the current labels as an ImageFolder tree (retrain --data reads it), CSV, JSON, or for Label Studio or CVAT.",
            discussion: """
            Images are written as the daemon judged them (the camera's ROI cut out). \
            labelstudio writes OUT/images/, OUT/tasks.json (import it into a project; the \
            labels are annotations, the model's calls predictions) and OUT/labeling-config.xml \
            (the project's labelling interface: good and every kind); Label Studio reads the \
            images through its local files (LOCAL_FILES_SERVING_ENABLED=true, \
            LOCAL_FILES_DOCUMENT_ROOT=OUT, and a Local Files storage on OUT/images). cvat writes \
            OUT/images/ and OUT/annotations.xml (CVAT for images 1.1): create a task with the \
            labels good and every kind as tags, upload the images, then the annotations. With \
            --include-flagged, the open review queue's frames come too, to label there. \
            What the tool exports goes back with `labels import`.
              linesight labels export --format imagefolder --out /var/lib/linesight/new-labels --since 2026-11-01
              linesight labels export --format labelstudio --include-flagged --out /srv/label-studio/line-3
              linesight labels export --format cvat --include-flagged --out /tmp/cvat-line-3
            """)
        @OptionGroup var options: RegistryOptions
        @Option(help: "imagefolder, csv, json, labelstudio or cvat.") var format: String = "imagefolder"
        @Option(help: "Folder (imagefolder, labelstudio, cvat) or file (csv, json).") var out: String
        @Option(help: "Only labels given on or after this date (YYYY-MM-DD, UTC).") var since: String?
        @Flag(help: "labelstudio and cvat: add the open review queue's unlabelled frames, to label in the tool.") var includeFlagged = false

        func validate() throws {
            guard let f = LabelTransfer.ExportFormat(rawValue: format) else { throw ValidationError("--format must be imagefolder, csv, json, labelstudio or cvat") }
            if includeFlagged, f != .labelstudio, f != .cvat { throw ValidationError("--include-flagged is for --format labelstudio or cvat") }
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
            let r = try LabelTransfer(config: cfg, store: registry.store).export(format, to: out, since: try since.map(Self.day), includeFlagged: includeFlagged)
            if let framings = r.folder?.framings, framings.count > 1 {
                FileHandle.standardError.write(Data("""
                warning: these frames were judged with \(framings.count) different framings (\(framings.sorted().joined(separator: "; "))); \
                each image is the region its frame was judged in, but a training set should not mix them \
                (retrain and train --labels keep only the cameras' current ROI)

                """.utf8))
            }
            print("exported \(r.labelled ?? r.labels.count) labeled frames to \(out)" + (includeFlagged ? " and \(r.toLabel) frames of the review queue to label" : "")
                  + (r.missing > 0 ? "; \(r.missing) left out whose frame files are gone" : ""))
        }
    }
}

/// A command that ran and could not do its job: printed as "Error: ..." without the usage
/// text (which is for mistakes in the command line itself).
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
