import Foundation
import Inspection
import Training

/// Why `serve` could not start or had to stop.
enum ServeError: Error, CustomStringConvertible {
    case http(String)
    case tokenFile(path: String, reason: String)

    var description: String {
        switch self {
        case .http(let why): why
        case let .tokenFile(path, reason): "\(path): \(reason)"
        }
    }
}

extension Console {
    static func line(_ s: String) { FileHandle.standardOutput.write(Data((s + "\n").utf8)) }

    static func status(_ s: String) { FileHandle.standardError.write(Data(("linesight: " + s + "\n").utf8)) }

    static func printVerdict(_ v: LiveVerdict) {
        let score = v.stage1Score.map { String(format: "%.3f", $0) } ?? "  -  "
        var text = "\(v.camera) #\(v.sequence) \(v.decision.rawValue.uppercased()) p(defect)=\(score)"
        if !v.defects.isEmpty { text += " defects=" + v.defects.joined(separator: ",") }
        if !v.flags.isEmpty { text += " flagged=" + v.flags.map(\.rawValue).joined(separator: ",") }
        if let e = v.error { text += " (\(e))" }
        line(text + String(format: " %.1f ms", v.totalMs))
    }
}
