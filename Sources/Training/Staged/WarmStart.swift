import Foundation
import Neural

/// Starts `spec` from the weights of the model at `path`: every tensor whose name and size
/// match is copied (a head with another number of classes starts fresh). Returns the network
/// and the names of its head parameters (the last linear layer).
public func warmStart(_ spec: NetworkSpec, from path: String, seed: UInt64) throws -> (network: Network, head: [String], copied: Int) {
    let (source, meta) = try ModelFile.load(path: path)
    guard meta.spec.input == spec.input else {
        throw TrainingError.invalidConfig("\(path) takes \(meta.spec.input) images; this training uses \(spec.input) (set --input-size to match)")
    }
    let (net, copied) = try warmStart(spec, from: source, seed: seed)
    return (net, headParameterNames(net), copied)
}

/// Starts `spec` from `source`'s weights: every parameter and buffer whose name and size
/// match is copied (with `freshHead`, all but the classifier head's, which keeps its fresh
/// initialization even when its size matches). Returns the network and how many parameters
/// were copied.
public func warmStart(_ spec: NetworkSpec, from source: Network, seed: UInt64, freshHead: Bool = false) throws -> (network: Network, copied: Int) {
    let net = try Network(spec, seed: seed)
    let head = freshHead ? Set(headParameterNames(net)) : []
    let from = Dictionary(source.namedParameters.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
    var copied = 0
    for (name, p) in net.namedParameters where !head.contains(name) {
        guard let q = from[name], q.value.count == p.value.count else { continue }
        p.value.data.update(from: q.value.data, count: p.value.count)
        copied += 1
    }
    let buffers = Dictionary(source.namedBuffers.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
    for (name, t) in net.namedBuffers {
        if let u = buffers[name], u.count == t.count { t.data.update(from: u.data, count: t.count) }
    }
    return (net, copied)
}

/// The parameters of the network's last layer that has any (the classifier head).
public func headParameterNames(_ net: Network) -> [String] {
    guard let last = net.namedParameters.last?.0 else { return [] }
    let layer = Network.layerPrefix(of: last)
    return net.namedParameters.map(\.0).filter { $0.hasPrefix(layer) }
}

/// `source` (a network of `spec`, ending in a linear head) with its head grown to `classes`
/// outputs: every layer copied, the head's existing rows kept, the new rows freshly
/// initialized with the existing rows' mean bias (a new kind starts as rare as the old ones).
/// Returns the network and its spec.
public func growHead(_ source: Network, spec: NetworkSpec, to classes: Int, seed: UInt64) throws -> (network: Network, spec: NetworkSpec) {
    guard case .linear(let old, let bias) = spec.layers.last else {
        throw TrainingError.invalidConfig("the model does not end in a linear head; its classes cannot grow")
    }
    guard classes >= old else { throw TrainingError.invalidConfig("a head of \(old) classes cannot grow to \(classes)") }
    var grown = spec
    grown.layers[grown.layers.count - 1] = .linear(out: classes, bias: bias)
    let (net, _) = try warmStart(grown, from: source, seed: seed)
    let from = Dictionary(source.namedParameters.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
    for (name, p) in net.namedParameters where headParameterNames(net).contains(name) {
        guard let q = from[name], q.value.count * classes == p.value.count * old else {
            throw TrainingError.invalidConfig("head parameter \(name) does not match the model's head")
        }
        // rows are contiguous (weight [out, in], bias [out]): the old rows come first
        p.value.data.update(from: q.value.data, count: q.value.count)
        if name.hasSuffix("bias"), old > 0, classes > old {
            var mean: Float = 0
            for k in 0..<old { mean += q.value.data[k] }
            mean /= Float(old)
            for k in old..<classes { p.value.data[k] = mean }
        }
    }
    return (net, grown)
}
