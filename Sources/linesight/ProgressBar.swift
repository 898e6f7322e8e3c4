import Foundation
import Training

/// A one-line progress bar on stderr: epoch, bar, loss, accuracy, images/s, ETA.
/// On a terminal it redraws in place; otherwise it prints a line every 10% of an epoch.
final class ProgressBar {
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastTenth = -1

    func update(_ p: BatchProgress) {
        let fraction = Double(p.batch) / Double(p.batches)
        let width = 24, filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = String(format: "epoch %d/%d %@ %3.0f%% loss %.4f acc %.2f%% %5.0f img/s lr %.4f ETA %@",
                          p.epoch + 1, p.epochs, bar, fraction * 100, p.loss, p.accuracy * 100,
                          p.imagesPerSecond, p.learningRate, Self.duration(p.etaSeconds))
        if isTerminal {
            FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
        } else {
            let tenth = Int(fraction * 10)
            if tenth != lastTenth {
                lastTenth = tenth
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
        }
    }

    func finishEpoch(_ r: EpochReport, validationName: String) {
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        lastTenth = -1
        var line = String(format: "epoch %d: train loss %.4f acc %.2f%%, %.0f img/s, %.1f s", r.epoch + 1,
                          r.trainLoss, r.trainAccuracy * 100, r.imagesPerSecond, r.seconds)
        if let acc = r.validationAccuracy, let loss = r.validationLoss, let f1 = r.validationMacroF1 {
            line += String(format: " | %@ loss %.4f acc %.2f%% macro-F1 %.4f", validationName, loss, acc * 100, f1)
        }
        print(line)
    }

    static func duration(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "--:--" }
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%02d:%02d", t / 60, t % 60)
    }
}
