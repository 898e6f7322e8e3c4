import Foundation
import Testing
@testable import Neural

/// Loads a committed fixture (written by scripts/make_fixtures.py).
func fixture(_ name: String) throws -> (tensors: [String: Safetensors.Entry], metadata: [String: String]) {
    let url = try #require(Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Fixtures"))
    let (entries, meta) = try Safetensors.read(path: url.path)
    return (Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0) }), meta)
}

/// Largest |a - e| over the tensors, relative to the largest |e| (at least 1).
func relativeError(_ actual: [Float], _ expected: [Float]) -> Float {
    precondition(actual.count == expected.count, "compared arrays differ in size: \(actual.count) vs \(expected.count)")
    var worst: Float = 0, scale: Float = 1
    for i in 0..<actual.count {
        worst = max(worst, abs(actual[i] - expected[i]))
        scale = max(scale, abs(expected[i]))
    }
    return worst / scale
}

func expectClose(_ actual: [Float], _ expected: [Float], tolerance: Float, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard actual.count == expected.count else {
        Issue.record("\(what): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
        return
    }
    let err = relativeError(actual, expected)
    #expect(err <= tolerance, "\(what): relative error \(err) > \(tolerance)", sourceLocation: sourceLocation)
}

func randomTensor(batch: Int, _ shape: Shape, _ rng: inout SeededGenerator, scale: Float = 1) -> Tensor {
    let t = Tensor(shape, batch: batch)
    for i in 0..<t.count { t[i] = rng.normal() * scale }
    return t
}

func tensor(_ e: Safetensors.Entry) -> Tensor {
    let dims = e.shape + Array(repeating: 1, count: max(0, 4 - e.shape.count))
    if e.shape.count <= 1 { return Tensor(batch: 1, channels: max(1, e.values.count), values: e.values) }
    return Tensor(batch: dims[0], channels: dims[1], height: dims[2], width: dims.count > 3 ? dims[3...].reduce(1, *) : 1,
                  values: e.values)
}
