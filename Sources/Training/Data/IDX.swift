import CZlib
import Foundation
import Neural

/// Reader for the IDX format of MNIST and Fashion-MNIST (optionally gzip-compressed):
/// a big-endian magic (0x00 0x00 type ndims), ndims big-endian UInt32 sizes, then bytes.
public enum IDX {
    /// Reads a whole IDX file (gz or plain) as its dimensions and raw bytes.
    public static func read(path: String) throws -> (dims: [Int], bytes: [UInt8]) {
        guard let gz = gzopen(path, "rb") else {
            throw TrainingError.dataset(path: path, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { gzclose(gz) }
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(gz, $0.baseAddress, UInt32($0.count)) }
            if n < 0 { throw TrainingError.dataset(path: path, reason: "corrupt gzip stream") }
            if n == 0 { break }
            data.append(contentsOf: chunk[0..<Int(n)])
        }
        return try parse(data, path: path)
    }

    /// Parses an IDX image in memory; only unsigned-byte (0x08) payloads are accepted.
    public static func parse(_ data: [UInt8], path: String) throws -> (dims: [Int], bytes: [UInt8]) {
        guard data.count >= 4, data[0] == 0, data[1] == 0 else {
            throw TrainingError.dataset(path: path, reason: "not an IDX file (bad magic)")
        }
        guard data[2] == 0x08 else { throw TrainingError.dataset(path: path, reason: "IDX type \(data[2]) is not unsigned bytes") }
        let ndims = Int(data[3])
        guard ndims >= 1, data.count >= 4 + 4 * ndims else { throw TrainingError.dataset(path: path, reason: "truncated IDX header") }
        var dims = [Int]()
        for d in 0..<ndims {
            let o = 4 + 4 * d
            dims.append(Int(data[o]) << 24 | Int(data[o + 1]) << 16 | Int(data[o + 2]) << 8 | Int(data[o + 3]))
        }
        let expected = dims.reduce(1, *), start = 4 + 4 * ndims
        guard data.count - start == expected else {
            throw TrainingError.dataset(path: path, reason: "header promises \(expected) bytes, file has \(data.count - start)")
        }
        return (dims, Array(data[start...]))
    }
}

/// Fashion-MNIST (Zalando): 70,000 28x28 grayscale images of 10 clothing classes.
/// The Debian package `dataset-fashion-mnist` installs it under /usr/share/datasets.
public enum FashionMNIST {
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    public static let classNames = ["t-shirt", "trouser", "pullover", "dress", "coat",
                                    "sandal", "shirt", "sneaker", "bag", "ankle-boot"]
    /// Per-pixel mean and standard deviation of the training images (in [0, 1]).
    public static let mean: Float = 0.2860
    public static let std: Float = 0.3530

    public static func load(directory: String = defaultDirectory, test: Bool) throws -> ImageDataset {
        let prefix = test ? "t10k" : "train"
        func find(_ stem: String) throws -> String {
            for name in ["\(stem).gz", stem] where FileManager.default.fileExists(atPath: "\(directory)/\(name)") {
                return "\(directory)/\(name)"
            }
            throw TrainingError.dataset(path: "\(directory)/\(stem)[.gz]",
                                        reason: "missing (install the Debian package dataset-fashion-mnist)")
        }
        let imagesPath = try find("\(prefix)-images-idx3-ubyte")
        let labelsPath = try find("\(prefix)-labels-idx1-ubyte")
        let (idims, pixels) = try IDX.read(path: imagesPath)
        let (ldims, labels) = try IDX.read(path: labelsPath)
        guard idims.count == 3, idims[1] == 28, idims[2] == 28 else {
            throw TrainingError.dataset(path: imagesPath, reason: "expected N x 28 x 28 images, found \(idims)")
        }
        guard ldims == [idims[0]], labels.allSatisfy({ $0 < 10 }) else {
            throw TrainingError.dataset(path: labelsPath, reason: "labels do not match the \(idims[0]) images")
        }
        return ImageDataset(shape: Shape(1, 28, 28), classNames: classNames, pixels: pixels, labels: labels.map { Int32($0) })
    }
}
