import Foundation

/// Counts of (true class, predicted class) and the metrics derived from them.
public struct ConfusionMatrix: Codable, Equatable, Sendable {
    public let classes: Int
    /// counts[truth * classes + predicted]
    public private(set) var counts: [Int]

    public init(classes: Int) {
        self.classes = classes
        counts = Array(repeating: 0, count: classes * classes)
    }

    public mutating func add(truth: Int, predicted: Int) { counts[truth * classes + predicted] += 1 }
    public subscript(truth: Int, predicted: Int) -> Int { counts[truth * classes + predicted] }

    public var total: Int { counts.reduce(0, +) }
    public var correct: Int { (0..<classes).reduce(0) { $0 + self[$1, $1] } }
    public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }

    public func truePositives(_ c: Int) -> Int { self[c, c] }
    public func predictedCount(_ c: Int) -> Int { (0..<classes).reduce(0) { $0 + self[$1, c] } }
    public func actualCount(_ c: Int) -> Int { (0..<classes).reduce(0) { $0 + self[c, $1] } }

    /// Of the samples predicted `c`, the share that are `c` (0 when none are predicted).
    public func precision(_ c: Int) -> Double {
        let p = predictedCount(c)
        return p == 0 ? 0 : Double(truePositives(c)) / Double(p)
    }

    /// Of the samples that are `c`, the share predicted `c` (0 when there are none).
    public func recall(_ c: Int) -> Double {
        let a = actualCount(c)
        return a == 0 ? 0 : Double(truePositives(c)) / Double(a)
    }

    public func f1(_ c: Int) -> Double {
        let p = precision(c), r = recall(c)
        return p + r == 0 ? 0 : 2 * p * r / (p + r)
    }

    /// Unweighted mean of per-class F1 over the classes present in the data.
    public var macroF1: Double {
        let present = (0..<classes).filter { actualCount($0) > 0 }
        return present.isEmpty ? 0 : present.map(f1).reduce(0, +) / Double(present.count)
    }

    /// A text table: rows are the truth, columns the prediction.
    public func table(names: [String]) -> String {
        let w = max(6, (names.map(\.count).max() ?? 0) + 1)
        func pad(_ s: String) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
        var out = pad("truth\\pred")
        for c in 0..<classes { out += pad(String(names[c].prefix(w - 1))) }
        out += "\n"
        for t in 0..<classes {
            out += pad(names[t])
            for p in 0..<classes { out += pad(String(self[t, p])) }
            out += "\n"
        }
        return out
    }
}

/// Share of rows whose true class is among the k highest scores.
public func topKAccuracy(scores: [[Float]], labels: [Int32], k: Int) -> Double {
    guard !labels.isEmpty else { return 0 }
    var hits = 0
    for (row, y) in zip(scores, labels) {
        let target = row[Int(y)]
        let better = row.enumerated().filter { $0.element > target || ($0.element == target && $0.offset < Int(y)) }.count
        if better < k { hits += 1 }
    }
    return Double(hits) / Double(labels.count)
}
