import Foundation

/// An ONNX graph being built: nodes in execution order, constant tensors (initializers),
/// and the model around them, serialized as the `ModelProto` protobuf of onnx.proto
/// (IR version 8, opset 17). Only what `ONNXExport` writes is modelled.
struct ONNXGraph {
    enum Attribute {
        case int(Int), float(Float), ints([Int]), string(String)
    }

    struct Node {
        var op: String
        var inputs: [String]
        var outputs: [String]
        var name: String
        var attributes: [(String, Attribute)]
    }

    enum Values {
        case float([Float]), int64([Int])
    }

    struct Initializer {
        var name: String
        var dims: [Int]
        var values: Values
    }

    /// A graph input or output: float, with `N` as its dynamic first dimension.
    struct Port {
        var name: String
        var dims: [Int]
    }

    static let irVersion = 8
    static let opset = 17

    private(set) var nodes: [Node] = []
    private(set) var initializers: [Initializer] = []
    private var counter = 0

    /// A new value name, unique in the graph.
    mutating func fresh(_ hint: String) -> String {
        counter += 1
        return "\(hint)_\(counter)"
    }

    /// Adds a node with one output and returns that output's name.
    @discardableResult
    mutating func add(_ op: String, _ inputs: [String], name: String, _ attributes: [(String, Attribute)] = [], output: String? = nil) -> String {
        let out = output ?? fresh(op.lowercased())
        nodes.append(Node(op: op, inputs: inputs, outputs: [out], name: name, attributes: attributes))
        return out
    }

    /// Adds a float constant and returns its name.
    @discardableResult
    mutating func constant(_ name: String, dims: [Int], _ values: [Float]) -> String {
        precondition(dims.reduce(1, *) == values.count, "initializer \(name): \(values.count) values for \(dims)")
        initializers.append(Initializer(name: name, dims: dims, values: .float(values)))
        return name
    }

    /// Adds an int64 constant and returns its name.
    @discardableResult
    mutating func constant(_ name: String, dims: [Int], ints: [Int]) -> String {
        precondition(dims.reduce(1, *) == ints.count, "initializer \(name): \(ints.count) values for \(dims)")
        initializers.append(Initializer(name: name, dims: dims, values: .int64(ints)))
        return name
    }

    /// The whole `ModelProto`.
    func model(name: String, producer: String, version: String, inputs: [Port], outputs: [Port],
               properties: [(String, String)]) -> [UInt8] {
        var m = ProtoWriter()
        m.int(1, Self.irVersion)                         // ir_version
        m.string(2, producer)                            // producer_name
        m.string(3, version)                             // producer_version
        m.message(7) { g in graph(&g, name: name, inputs: inputs, outputs: outputs) }
        m.message(8) { o in o.string(1, ""); o.int(2, Self.opset) }   // opset_import: the default domain
        for (key, value) in properties {                 // metadata_props
            m.message(14) { p in p.string(1, key); p.string(2, value) }
        }
        return m.bytes
    }

    private func graph(_ g: inout ProtoWriter, name: String, inputs: [Port], outputs: [Port]) {
        for n in nodes {
            g.message(1) { p in
                for i in n.inputs { p.string(1, i) }
                for o in n.outputs { p.string(2, o) }
                p.string(3, n.name)
                p.string(4, n.op)
                for (key, value) in n.attributes { p.message(5) { a in Self.attribute(&a, key, value) } }
            }
        }
        g.string(2, name)
        for t in initializers { g.message(5) { p in Self.tensor(&p, t) } }
        for port in inputs { g.message(11) { p in Self.valueInfo(&p, port) } }
        for port in outputs { g.message(12) { p in Self.valueInfo(&p, port) } }
    }

    private static func attribute(_ a: inout ProtoWriter, _ name: String, _ value: Attribute) {
        a.string(1, name)
        switch value {
        case .float(let f): a.float(2, f); a.int(20, 1)
        case .int(let i): a.int(3, i); a.int(20, 2)
        case .string(let s): a.string(4, s); a.int(20, 3)
        case .ints(let v): a.packedInts(8, v); a.int(20, 7)
        }
    }

    private static func tensor(_ p: inout ProtoWriter, _ t: Initializer) {
        p.packedInts(1, t.dims)
        var raw: [UInt8] = []
        switch t.values {
        case .float(let v):
            p.int(2, 1)   // FLOAT
            raw.reserveCapacity(v.count * 4)
            for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { raw.append(contentsOf: $0) } }
        case .int64(let v):
            p.int(2, 7)   // INT64
            raw.reserveCapacity(v.count * 8)
            for x in v { withUnsafeBytes(of: Int64(x).littleEndian) { raw.append(contentsOf: $0) } }
        }
        p.string(8, t.name)
        p.bytes(9, raw)   // raw_data, little-endian
    }

    private static func valueInfo(_ p: inout ProtoWriter, _ port: Port) {
        p.string(1, port.name)
        p.message(2) { type in                          // TypeProto
            type.message(1) { tensor in                 // tensor_type
                tensor.int(1, 1)                        // elem_type FLOAT
                tensor.message(2) { shape in            // TensorShapeProto
                    shape.message(1) { d in d.string(2, "N") }
                    for dim in port.dims { shape.message(1) { d in d.int(1, dim) } }
                }
            }
        }
    }
}
