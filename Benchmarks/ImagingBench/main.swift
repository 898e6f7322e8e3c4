// The Swift half of `make bench-imaging`: camera JPEG -> normalized model input,
// single thread, per frame. Writes the test frames (from the synthetic generator) so
// the OpenCV half reads exactly the same bytes, then prints its timings as JSON.
//   linesight-imaging-bench FRAMES_DIR [--iterations N]
import Capture
import Foundation
import Imaging
import LinesightCore

let args = CommandLine.arguments
guard args.count >= 2, args[1] != "--help" else {
    print("usage: linesight-imaging-bench FRAMES_DIR [--iterations N]\n(run by Benchmarks/imaging/run.sh; see `make bench-imaging`)")
    exit(args.count >= 2 ? 0 : 2)
}
let dir = args[1]
let iterations = args.firstIndex(of: "--iterations").flatMap { Int(args[$0 + 1]) } ?? 200

struct Case: Codable { var frame: String; var input: String; var swift_ms: Double; var decode_scale: String }

func seconds() -> Double { Double(monotonicNow()) / 1e9 }

/// Median of `n` timed runs of `body`, in milliseconds.
func median(_ n: Int, _ body: () throws -> Void) rethrows -> Double {
    var t: [Double] = []
    for _ in 0..<n {
        let s = seconds()
        try body()
        t.append((seconds() - s) * 1000)
    }
    return t.sorted()[n / 2]
}

try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
var cases: [Case] = []
let encoder = try JPEGEncoder()
for (w, h) in [(640, 480), (1920, 1080)] {
    var config = SyntheticConfig()
    (config.width, config.height, config.layout, config.defectRate) = (w, h, .rgb, 1)
    let sample = try SyntheticGenerator(config).sample(3)
    let jpeg = try encoder.encode(sample.image, quality: 85)  // 4:2:0, like most MJPEG cameras
    let name = "frame_\(w)x\(h).jpg"
    try Data(jpeg).write(to: URL(fileURLWithPath: dir + "/" + name))
    for side in [128, 224] {
        let norm = PixelNormalization(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
        let pre = try Preprocessor(geometry: InputGeometry(width: side, height: side, layout: .rgb, method: .area, normalization: norm))
        var out = [Float](repeating: 0, count: 3 * side * side)
        let n = w > 1000 ? iterations / 4 : iterations
        let view = { (body: (FrameView) throws -> Void) in
            try jpeg.withUnsafeBytes { try body(FrameView(bytes: $0, format: .mjpeg, width: w, height: h)) }
        }
        try view { f in try out.withUnsafeMutableBufferPointer { try pre.process(f, into: $0.baseAddress!) } }  // warm-up
        let ms = try median(n) {
            try view { f in try out.withUnsafeMutableBufferPointer { try pre.process(f, into: $0.baseAddress!) } }
        }
        let decoder = try JPEGDecoder()
        let s = decoder.scale(atLeast: max(Double(side) / Double(w), Double(side) / Double(h)))
        cases.append(Case(frame: name, input: "3x\(side)x\(side)", swift_ms: ms, decode_scale: "\(s.num)/\(s.denom)"))
    }
}
let enc = JSONEncoder()
enc.outputFormatting = [.prettyPrinted, .sortedKeys]
print(String(decoding: try enc.encode(cases), as: UTF8.self))
