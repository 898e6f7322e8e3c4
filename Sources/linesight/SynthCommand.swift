import ArgumentParser
import Capture
import Foundation
import Imaging

struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Generate a labelled dataset of synthetic part images with defects.",
        discussion: """
        The generator draws machined plates (brushed, cast, painted or woven finish) under \
        uneven light, with scratches, cracks, dents, stains, pits or a missing hole, subtle or \
        obvious, and records what it drew. The same generator is the demo camera.

        Output (an ImageFolder dataset):
          DIR/good/000000.jpg, DIR/scratch/000007.jpg, ...   one folder per label
          DIR/labels.csv     file,label,defects,subtle,boxes (all defects per image)
          DIR/synth.json     the settings, to reproduce or extend the set

        Samples depend only on --seed and their index, so
          linesight synth --out data/train --count 4000
          linesight synth --out data/test --count 1000 --start 4000
        give a train and a test set that never share an image.
        """)

    @Option(help: "Output folder (created; must be empty).")
    var out: String
    @Option(help: "Number of images.")
    var count: Int = 1000
    @Option(help: "Index of the first sample (use disjoint ranges for train/test splits).")
    var start: Int = 0
    @Option(help: "Image size, WIDTHxHEIGHT.")
    var size: String = "256x192"
    @Option(help: "gray or rgb.")
    var layout: PixelLayout = .gray
    @Option(help: "Share of defective parts, 0...1.")
    var defectRate: Double = 0.5
    @Option(help: "Of the defective parts, the share with a second defect.")
    var multiDefectRate: Double = 0.15
    @Option(help: "Of the defects, the share drawn with low contrast.")
    var subtleRate: Double = 0.35
    @Option(help: "Defect kinds to draw, comma-separated, each with an optional relative frequency (scratch:6,pit:1); default: all of \(DefectKind.allCases.map(\.rawValue).joined(separator: ", ")), equally often.")
    var kinds: String?
    @Option(help: "Random seed; the same seed gives the same images.")
    var seed: UInt64 = 1
    @Option(help: "JPEG quality, 1...100.")
    var quality: Int = 92
    @Option(help: "Worker threads.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard count > 0, count <= 10_000_000 else { throw ValidationError("--count must be between 1 and 10000000") }
        guard start >= 0 else { throw ValidationError("--start must not be negative") }
        guard (1...100).contains(quality) else { throw ValidationError("--quality must be between 1 and 100") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        _ = try parsedSize()
        _ = try parsedKinds()
    }

    func parsedSize() throws -> (Int, Int) {
        let parts = size.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2 else { throw ValidationError("--size must look like 256x192") }
        return (parts[0], parts[1])
    }

    /// The kinds and, when any is given, their weights (1 where omitted).
    func parsedKinds() throws -> (kinds: [DefectKind], weights: [Double]?) {
        guard let kinds else { return (DefectKind.allCases, nil) }
        var weighted = false
        let parsed: [(DefectKind, Double)] = try kinds.split(separator: ",").map {
            let parts = $0.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard let k = DefectKind(rawValue: parts[0]) else {
                throw ValidationError("unknown defect kind '\(parts[0])'; known: \(DefectKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard parts.count == 2 else { return (k, 1) }
            guard let w = Double(parts[1]), w >= 0, w.isFinite else { throw ValidationError("weight '\(parts[1])' of \(parts[0]) is not a non-negative number") }
            weighted = true
            return (k, w)
        }
        return (parsed.map(\.0), weighted ? parsed.map(\.1) : nil)
    }

    func run() throws {
        var config = SyntheticConfig()
        (config.width, config.height) = try parsedSize()
        config.layout = layout
        config.seed = seed
        config.defectRate = defectRate
        config.multiDefectRate = multiDefectRate
        config.subtleRate = subtleRate
        (config.kinds, config.kindWeights) = try parsedKinds()
        let writer = DatasetWriter(generator: try SyntheticGenerator(config), quality: quality)
        let total = count
        let began = Date()
        let counts = try writer.write(to: out, start: start, count: count, workers: threads) { done in
            if done % max(1, total / 20) == 0 || done == total {
                let rate = Double(done) / max(Date().timeIntervalSince(began), 1e-3)
                FileHandle.standardError.write(Data(String(format: "\rsynth %d/%d images (%.0f/s)", done, total, rate).utf8))
            }
        }
        FileHandle.standardError.write(Data("\n".utf8))
        for (label, n) in counts.sorted(by: { $0.key < $1.key }) {
            print(label.padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: "%6d", n))
        }
        print("wrote \(count) images to \(out) (labels.csv, synth.json)")
    }
}

extension PixelLayout: ExpressibleByArgument {}
extension PixelFormat: ExpressibleByArgument {
    public init?(argument: String) {
        let a = argument.uppercased()
        let aliases: [String: PixelFormat] = ["MJPEG": .mjpeg, "GRAY": .grey, "RGB": .rgb24, "RGB24": .rgb24]
        guard let f = PixelFormat(rawValue: a) ?? aliases[a] else { return nil }
        self = f
    }
}
