import Foundation
import Neural

/// A resumable snapshot of a run: weights, buffers, optimizer state and history, in one
/// safetensors file written atomically after every epoch.
struct Checkpoint: Codable {
    var completedEpochs: Int
    var history: [EpochReport]
    var config: TrainingConfig
    var bestEpoch: Int?
    var bestAccuracy: Double?

    static func save(_ cp: Checkpoint, network: Network, optimizer: Optimizer, to path: String) throws {
        var entries: [Safetensors.Entry] = []
        for (n, p) in network.namedParameters { entries.append(.init(name: "model." + n, shape: p.dims, values: p.value.array)) }
        for (n, b) in network.namedBuffers { entries.append(.init(name: "model." + n, shape: [b.count], values: b.array)) }
        for (n, t) in optimizer.stateTensors() { entries.append(.init(name: "optim." + n, shape: [t.count], values: t.array)) }
        let json = String(decoding: try JSONEncoder().encode(cp), as: UTF8.self)
        let spec = String(decoding: try JSONEncoder().encode(network.spec), as: UTF8.self)
        try writeAtomically(Safetensors.encode(entries, metadata: ["checkpoint": json, "spec": spec]), to: path)
    }

    /// Restores weights and optimizer state; refuses a checkpoint of another architecture or config.
    static func load(path: String, network: Network, optimizer: Optimizer, config: TrainingConfig) throws -> Checkpoint {
        let (entries, meta) = try Safetensors.read(path: path)
        guard let json = meta["checkpoint"], let cp = try? JSONDecoder().decode(Checkpoint.self, from: Data(json.utf8)),
              let specJSON = meta["spec"], let spec = try? JSONDecoder().decode(NetworkSpec.self, from: Data(specJSON.utf8)) else {
            throw TrainingError.checkpoint(path: path, reason: "not a Linesight training checkpoint")
        }
        guard spec == network.spec else { throw TrainingError.checkpoint(path: path, reason: "saved for another architecture (\(spec.name))") }
        guard cp.config == config else {
            throw TrainingError.checkpoint(path: path, reason: "saved with other training settings; delete it to start over")
        }
        let byName = Dictionary(entries.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        func fill(_ t: Tensor, _ name: String) throws {
            guard let e = byName[name], e.values.count == t.count else {
                throw TrainingError.checkpoint(path: path, reason: "tensor \(name) missing or of the wrong size")
            }
            e.values.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: t.count) }
        }
        for (n, p) in network.namedParameters { try fill(p.value, "model." + n) }
        for (n, b) in network.namedBuffers { try fill(b, "model." + n) }
        var state: [String: Tensor] = [:]
        for e in entries where e.name.hasPrefix("optim.") {
            state[String(e.name.dropFirst(6))] = Tensor(batch: 1, channels: max(1, e.values.count), values: e.values)
        }
        try optimizer.load(state: state)
        return cp
    }
}
