import ArgumentParser
import Foundation
import Neural

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a stage model as ONNX (opset 17) for ONNX Runtime, TensorRT or OpenVINO.",
        discussion: """
        The graph's input is `input`, float [N, C, H, W] with values in [0, 1]: the ROI crop \
        resized to the model's input, RGB or gray as the model was trained; N is dynamic. The \
        model's normalization is the graph's first two nodes (Sub, Div), so give it pixels / \
        255. Outputs: `logits` [N, classes] and `scores` [N, classes] (stage 1 and multiclass \
        stage 2: softmax of logits over the model's temperature; multilabel stage 2: a sigmoid \
        per kind). A model calibrated on flip-averaged scores runs its four mirror images as \
        one batch and averages their logits, as the daemon does (--flip-average off to drop \
        it). The class names, thresholds and normalization are in the file's metadata.

          linesight export --model models/stage1.safetensors --out stage1.onnx
          trtexec --onnx=stage1.onnx --minShapes=input:1x3x128x128 --optShapes=input:8x3x128x128 \\
                  --maxShapes=input:32x3x128x128 --fp16 --saveEngine=stage1.plan
          ovc stage1.onnx --input "input[?,3,128,128]"     # OpenVINO
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case onnx }
    enum FlipChoice: String, ExpressibleByArgument, CaseIterable { case model, on, off }

    @Option(help: "Output format (onnx).")
    var format: Format = .onnx

    @Option(help: "The Linesight model file (stage 1 or stage 2 .safetensors).")
    var model: String

    @Option(help: "Where to write the ONNX file (replaced atomically).")
    var out: String

    @Option(help: "Flip averaging in the graph: as the model was calibrated (model), on, or off.")
    var flipAverage: FlipChoice = .model

    func validate() throws {
        guard !out.isEmpty else { throw ValidationError("--out must name a file") }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ValidationError("--out \(out) is a directory; give the file to write")
        }
    }

    func run() throws {
        let (network, meta) = try ModelFile.load(path: model)
        let flips: Bool? = switch flipAverage { case .model: nil; case .on: true; case .off: false }
        let (data, summary) = try ONNXExport.encode(network, meta, options: .init(flipAverage: flips, producerVersion: Linesight.version))
        try writeAtomically(data, to: out)
        let s = meta.spec.input
        print("wrote \(out): ONNX opset \(ONNXExport.opset), \(data.count) bytes")
        print("  network   \(meta.spec.name), \(summary.parameters) parameters, \(summary.nodes) nodes")
        print("  input     input float [N, \(s.channels), \(s.height), \(s.width)], values in [0, 1], normalization inside")
        print("  outputs   logits [N, \(meta.classes.count)], scores [N, \(meta.classes.count)] = \(summary.scores)")
        print("  classes   \(meta.classes.joined(separator: ", "))")
        print("  flips     \(summary.flipAverage ? "four mirror images averaged (4x the compute)" : "none")")
    }
}
