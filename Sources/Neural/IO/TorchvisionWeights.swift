import Foundation

/// Weights a user brings from torchvision: a `resnet18` state dict (`model.state_dict()`,
/// e.g. ImageNet weights) saved by `torch.save` (`.pth`) or as safetensors, loaded into our
/// `Zoo.resnet18` spec, which is torchvision's network layer for layer. The small-data answer to a line with few
/// labelled defects: start from features learned elsewhere.
public enum TorchvisionWeights {
    /// The normalization torchvision's ImageNet weights were trained with: a network started
    /// from them sees its inputs as they did.
    public static let imagenetMean: [Float] = [0.485, 0.456, 0.406]
    public static let imagenetStd: [Float] = [0.229, 0.224, 0.225]

    /// What a load did: how many tensors were copied, and whether the classifier head was
    /// left fresh (the file's has another number of classes).
    public struct Loaded {
        public var network: Network
        public var copied: Int
        public var freshHead: Bool
        /// The stem was summed over its colour channels for a gray input.
        public var grayStem: Bool
    }

    /// Our parameter and buffer names in `spec` (which must be `Zoo.resnet18`'s) mapped to
    /// torchvision's state-dict keys.
    public static func resnet18Keys(_ spec: NetworkSpec) throws -> [String: String] {
        guard case .linear(let classes, _) = spec.layers.last,
              spec.layers.dropLast() == Zoo.resnet18(input: spec.input, classes: classes).layers.dropLast() else {
            throw NeuralError.invalidSpec("torchvision weights fit the resnet18 architecture only (this is \(spec.name))")
        }
        var modules: [(String, String)] = []
        var block = 0
        for (i, layer) in spec.layers.enumerated() {
            switch layer {
            case .conv where i == 0: modules.append(("0", "conv1"))
            case .batchNorm where i == 1: modules.append(("1", "bn1"))
            case .residual(_, let shortcut):
                let tv = "layer\(block / 2 + 1).\(block % 2)"
                modules += [("\(i).body.0", "\(tv).conv1"), ("\(i).body.1", "\(tv).bn1"),
                            ("\(i).body.3", "\(tv).conv2"), ("\(i).body.4", "\(tv).bn2")]
                if !shortcut.isEmpty { modules += [("\(i).shortcut.0", "\(tv).downsample.0"), ("\(i).shortcut.1", "\(tv).downsample.1")] }
                block += 1
            case .linear: modules.append(("\(i)", "fc"))
            default: break
            }
        }
        var keys: [String: String] = [:]
        for (ours, theirs) in modules {
            for leaf in ["weight", "bias", "running_mean", "running_var"] { keys["\(ours).\(leaf)"] = "\(theirs).\(leaf)" }
        }
        return keys
    }

    /// Builds `spec` (`Zoo.resnet18` at any input and class count) from the state dict in
    /// `path`: every tensor of the backbone must be there with torchvision's shape; the head
    /// (`fc`) is copied when its size matches and otherwise starts fresh. A gray input takes
    /// the stem's three colour filters summed: a gray image g scores as the colour image
    /// (g, g, g) would before normalization (the trainer normalizes gray by the mean of
    /// ImageNet's three channel means and deviations, an approximation).
    public static func resnet18(_ spec: NetworkSpec, from path: String, seed: UInt64 = 0) throws -> Loaded {
        let entries = try read(path)
        let keys = try resnet18Keys(spec)
        let net = try Network(spec, seed: seed)
        let byName = Dictionary(entries.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let head = Set(net.namedParameters.suffix(2).map(\.0))
        var copied = 0, freshHead = false, grayStem = false
        let tensors: [(String, [Int], Tensor)] = net.namedParameters.map { ($0.0, $0.1.dims, $0.1.value) } + net.namedBuffers.map { ($0.0, [$0.1.count], $0.1) }
        for (name, dims, t) in tensors {
            guard let key = keys[name] else { continue }
            guard let e = byName[key] else {
                if head.contains(name) { freshHead = true; continue }
                throw NeuralError.missingTensor(path: path, name: key)
            }
            var values = e.values
            if e.shape != dims {
                if head.contains(name) { freshHead = true; continue }
                // a gray stem: torchvision's [64, 3, 7, 7] summed over the colour axis
                if key == "conv1.weight", e.shape.count == 4, e.shape[1] == 3, dims.count == 4, dims[1] == 1, e.shape[0] == dims[0], Array(e.shape[2...]) == Array(dims[2...]) {
                    let plane = e.shape[2] * e.shape[3]
                    values = (0..<t.count).map { j in
                        let o = j / plane, r = j % plane
                        return (0..<3).reduce(Float(0)) { $0 + e.values[(o * 3 + $1) * plane + r] }
                    }
                    grayStem = true
                } else {
                    throw NeuralError.shapeMismatch(path: path, name: key, expected: dims, found: e.shape)
                }
            }
            guard values.allSatisfy(\.isFinite) else {
                throw NeuralError.modelFile(path: path, reason: "tensor '\(key)' holds a value that is not a finite number")
            }
            values.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: t.count) }
            copied += 1
        }
        return Loaded(network: net, copied: copied, freshHead: freshHead, grayStem: grayStem)
    }

    /// The state dict's float tensors: a safetensors file (F32, F16, BF16 or F64; integer
    /// tensors such as `num_batches_tracked` are skipped), or a `torch.save` file (`.pth`).
    public static func read(_ path: String) throws -> [Safetensors.Entry] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw NeuralError.io(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
        if data.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return try TorchCheckpoint.read(data, path: path) }
        return try Safetensors.decode(data, path: path, foreign: true).entries
    }
}
