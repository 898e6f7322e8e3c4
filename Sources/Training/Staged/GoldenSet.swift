import Foundation

/// The frozen evaluation set: the first training's test split, written once as
/// `<models folder>/golden.csv` (absolute paths) with the training data folder, so every
/// later challenger and champion are judged on the same images, which no training sees.
/// A product of a line of several has its own (`golden-<product>.csv`), so products may
/// keep their models in one folder.
public struct GoldenSet {
    public let path: String
    public let dataPath: String

    /// `product`: '' for the `[models]` set, else a `[[products]]` id.
    public init(directory: String, product: String = "") {
        let suffix = product.isEmpty ? "" : "-" + product
        path = directory + "/golden\(suffix).csv"
        dataPath = directory + "/training-data\(suffix).txt"
    }

    public var exists: Bool { FileManager.default.fileExists(atPath: path) }

    /// Writes the set unless one exists; true when it wrote it.
    @discardableResult
    public func freezeIfAbsent(dataDirectory: String, items: [LabeledImage]) throws -> Bool {
        guard !exists else { return false }
        let root = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        var csv = "file,label,defects\n"
        for item in items { csv += "\(root)/\(item.file),\(item.label),\(item.defects.joined(separator: "+"))\n" }
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
        try (root + "\n").write(toFile: dataPath, atomically: true, encoding: .utf8)
        return true
    }

    /// The golden images (absolute paths in `file`).
    public func load(passClass: String) throws -> [LabeledImage] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw TrainingError.dataset(path: path, reason: "no golden set; the first `linesight train --data DIR --config FILE` freezes it")
        }
        return try ImageFolder.parseCSV(text, path: path, passClass: passClass)
    }

    /// The folder the first training read (for the replay sample).
    public func trainingData() -> String? {
        (try? String(contentsOfFile: dataPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
