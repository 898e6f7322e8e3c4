import Foundation
import TestSupport
import Testing
@testable import Neural
@testable import Training

@Suite("Datasets and augmentation")
struct DataTests {
    static func tiny(count: Int = 40, classes: Int = 2, side: Int = 6) -> ImageDataset {
        var px: [UInt8] = [], labels: [Int32] = []
        for i in 0..<count {
            labels.append(Int32(i % classes))
            for j in 0..<(side * side) { px.append(UInt8((i * 31 + j * 7) % 256)) }
        }
        return ImageDataset(shape: Shape(1, side, side), classNames: (0..<classes).map { "c\($0)" }, pixels: px, labels: labels)
    }

    @Test("IDX: parses a well-formed file, refuses bad magic, wrong type and a short body")
    func idx() throws {
        let good: [UInt8] = [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]
        let (dims, bytes) = try IDX.parse(good, path: "t")
        #expect(dims == [2, 3] && bytes == [1, 2, 3, 4, 5, 6])
        #expect(throws: TrainingError.self) { try IDX.parse([1, 0, 8, 1, 0, 0, 0, 1, 9], path: "t") }
        #expect(throws: TrainingError.self) { try IDX.parse([0, 0, 13, 1, 0, 0, 0, 1, 9, 9, 9, 9], path: "t") }
        #expect(throws: TrainingError.dataset(path: "t", reason: "header promises 6 bytes, file has 5")) {
            try IDX.parse(Array(good.dropLast()), path: "t")
        }
    }

    @Test("Fashion-MNIST loads from the Debian package: 60,000 + 10,000 images, balanced classes")
    func fashionMNIST() throws {
        let test = try FashionMNIST.load(test: true)
        #expect(test.count == 10_000 && test.shape == Shape(1, 28, 28))
        #expect(test.classCounts == Array(repeating: 1000, count: 10))
        let mean = Double(test.pixels.reduce(0) { $0 + Int($1) }) / Double(test.pixels.count) / 255
        #expect(abs(mean - 0.286) < 0.01, "mean pixel \(mean)")
        #expect(throws: TrainingError.self) { try FashionMNIST.load(directory: "/nonexistent", test: true) }
    }

    @Test("stratified split: proportions per class, deterministic by seed, disjoint and complete")
    func split() {
        let data = Self.tiny(count: 100, classes: 4)
        let parts = data.stratifiedSplit([0.7, 0.2, 0.1], seed: 3)
        #expect(parts.map(\.count) == [72, 20, 8])
        #expect(parts[0].classCounts == [18, 18, 18, 18])
        let again = data.stratifiedSplit([0.7, 0.2, 0.1], seed: 3)
        #expect(parts.map(\.pixels) == again.map(\.pixels))
        let other = data.stratifiedSplit([0.7, 0.2, 0.1], seed: 4)
        #expect(parts[0].pixels != other[0].pixels)
    }

    @Test("batches: identity augmentation is plain normalization; augmented batches repeat by seed, not by thread count")
    func batches() {
        let data = Self.tiny()
        let norm = Normalization(mean: [0.5], std: [0.25])
        let t = Tensor(data.shape, batch: 4)
        assembleBatch(data, [0, 1, 2, 3][...], into: t, augmentation: .none, normalization: norm, seed: 1)
        for i in 0..<t.count { #expect(abs(t[i] - (Float(data.pixels[i]) / 255 - 0.5) / 0.25) < 1e-5) }
        let aug = Augmentation(cropPadding: 2, horizontalFlip: true, verticalFlip: true, rotationDegrees: 15,
                               brightness: 0.1, contrast: 0.2, noiseStd: 0.05)
        let idx = Array(0..<16)[...]
        let a = Tensor(data.shape, batch: 16), b = Tensor(data.shape, batch: 16), c = Tensor(data.shape, batch: 16)
        Parallel.with(workers: 1) { assembleBatch(data, idx, into: a, augmentation: aug, normalization: norm, seed: 7) }
        Parallel.with(workers: 2) { assembleBatch(data, idx, into: b, augmentation: aug, normalization: norm, seed: 7) }
        assembleBatch(data, idx, into: c, augmentation: aug, normalization: norm, seed: 8)
        #expect(a.array == b.array)
        #expect(a.array != c.array)
    }

    @Test("a horizontal flip mirrors the image; a crop shift moves it and pads with zero")
    func geometry() {
        let px: [UInt8] = [10, 20, 30, 40, 50, 60, 70, 80, 90]
        var rng = SeededGenerator(seed: 1)
        let out = UnsafeMutablePointer<Float>.allocate(capacity: 9)
        defer { out.deallocate() }
        // find a draw that flips and one that shifts, rendering with the real sampler
        var flipped = false, shifted = false
        for _ in 0..<64 where !(flipped && shifted) {
            var probe = rng
            let d = SampleDraw(Augmentation(cropPadding: 1, horizontalFlip: true), square: true, channels: 1, &probe)
            px.withUnsafeBufferPointer {
                renderSample($0.baseAddress!, Shape(1, 3, 3), out, Augmentation(cropPadding: 1, horizontalFlip: true),
                             .identity(channels: 1), &rng)
            }
            let v = (0..<9).map { Int((out[$0] * 255).rounded()) }
            if d.flipH && d.shiftX == 0 && d.shiftY == 0 { #expect(v == [30, 20, 10, 60, 50, 40, 90, 80, 70]); flipped = true }
            if !d.flipH && d.shiftX == 1 && d.shiftY == 0 { #expect(v == [20, 30, 0, 50, 60, 0, 80, 90, 0]); shifted = true }
        }
        #expect(flipped && shifted)
    }

    @Test("quarter turns visit all four rotations of a square image, each a true rotation; a reflected shift mirrors at the edge")
    func quarterTurnsAndReflection() {
        let px: [UInt8] = [10, 20, 30, 40, 50, 60, 70, 80, 90]
        let a = Augmentation(quarterTurns: true)
        var rng = SeededGenerator(seed: 3)
        let out = UnsafeMutablePointer<Float>.allocate(capacity: 9)
        defer { out.deallocate() }
        let rotations: [[Int]] = [[10, 20, 30, 40, 50, 60, 70, 80, 90], [70, 40, 10, 80, 50, 20, 90, 60, 30],
                                  [90, 80, 70, 60, 50, 40, 30, 20, 10], [30, 60, 90, 20, 50, 80, 10, 40, 70]]
        var seen = Set<Int>()
        for _ in 0..<64 {
            var probe = rng
            let d = SampleDraw(a, square: true, channels: 1, &probe)
            px.withUnsafeBufferPointer { renderSample($0.baseAddress!, Shape(1, 3, 3), out, a, .identity(channels: 1), &rng) }
            let v = (0..<9).map { Int((out[$0] * 255).rounded()) }
            #expect(v == rotations[d.quarter], "quarter \(d.quarter)")
            seen.insert(d.quarter)
        }
        #expect(seen == [0, 1, 2, 3])
        #expect((-4...6).map { mirrored($0, 3) } == [0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2])
        // a shift right by one with reflection repeats the column before the edge instead of black
        let shift = Augmentation(cropPadding: 1, reflectBorder: true)
        for _ in 0..<64 {
            var probe = rng
            let d = SampleDraw(shift, square: true, channels: 1, &probe)
            px.withUnsafeBufferPointer { renderSample($0.baseAddress!, Shape(1, 3, 3), out, shift, .identity(channels: 1), &rng) }
            let v = (0..<9).map { Int((out[$0] * 255).rounded()) }
            if d.shiftX == 1 && d.shiftY == 0 { #expect(v == [20, 30, 20, 50, 60, 50, 80, 90, 80]) }
            #expect(!v.contains(0), "reflection never pads with black")
        }
    }

    @Test("colour jitter: saturation 0 makes every channel the pixel's gray; channel gains scale each channel on its own; gray images ignore both")
    func colourJitter() {
        // one red, one green pixel per channel plane (2 pixels, RGB)
        let px: [UInt8] = [255, 0, 0, 255, 0, 0]
        let out = UnsafeMutablePointer<Float>.allocate(capacity: 6)
        defer { out.deallocate() }
        var rng = SeededGenerator(seed: 5)
        let desaturate = Augmentation(saturation: 1)
        var sawGray = false
        for _ in 0..<200 {
            var probe = rng
            let d = SampleDraw(desaturate, square: false, channels: 3, &probe)
            px.withUnsafeBufferPointer { renderSample($0.baseAddress!, Shape(3, 1, 2), out, desaturate, .identity(channels: 3), &rng) }
            if d.saturation < 0.02 {
                sawGray = true
                #expect(abs(out[0] - out[2]) < 0.02 && abs(out[2] - out[4]) < 0.02, "red pixel turned gray")
            }
            #expect(abs((out[0] - out[2]) - d.saturation) < 1e-4, "the red pixel's red-green gap is the saturation factor")
        }
        #expect(sawGray)
        let gain = Augmentation(channelGain: 0.5)
        var probe = rng
        let d = SampleDraw(gain, square: false, channels: 3, &probe)
        let flat: [UInt8] = [100, 100, 100, 100, 100, 100]
        flat.withUnsafeBufferPointer { renderSample($0.baseAddress!, Shape(3, 1, 2), out, gain, .identity(channels: 3), &rng) }
        for c in 0..<3 { #expect(abs(out[2 * c] - 100 / 255 * d.gains[c]) < 1e-5) }
        #expect(Set(d.gains).count == 3 && d.gains.allSatisfy { (0.5...1.5).contains($0) })
        #expect(SampleDraw(gain, square: true, channels: 1, &probe).gains.isEmpty)
    }
}

@Suite("Metrics")
struct MetricTests {
    @Test("confusion matrix: accuracy, precision, recall, F1, macro-F1 on a hand-checked case")
    func confusion() {
        var m = ConfusionMatrix(classes: 3)
        let pairs = [(0, 0), (0, 0), (0, 1), (1, 1), (1, 1), (1, 1), (1, 0), (2, 2), (2, 1), (2, 2)]
        for (t, p) in pairs { m.add(truth: t, predicted: p) }
        #expect(m.total == 10 && m.correct == 7 && abs(m.accuracy - 0.7) < 1e-12)
        #expect(abs(m.precision(1) - 3.0 / 5) < 1e-12 && abs(m.recall(1) - 3.0 / 4) < 1e-12)
        #expect(abs(m.f1(0) - 2.0 / 3) < 1e-12)
        let f1s = [2.0 / 3, 2 * 0.6 * 0.75 / 1.35, 0.8]
        #expect(abs(m.macroF1 - f1s.reduce(0, +) / 3) < 1e-12)
        #expect(m.table(names: ["ok", "dent", "scratch"]).contains("scratch"))
    }

    @Test("top-k accuracy")
    func topK() {
        let scores: [[Float]] = [[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]]
        #expect(abs(topKAccuracy(scores: scores, labels: [1, 1, 0], k: 1) - 1.0 / 3) < 1e-12)
        #expect(abs(topKAccuracy(scores: scores, labels: [1, 1, 0], k: 2) - 2.0 / 3) < 1e-12)
    }
}

@Suite("Evaluation")
struct EvaluationTests {
    @Test("mirroring twice is the identity and mirrors each row")
    func mirror() {
        let t = Tensor(batch: 2, channels: 1, height: 2, width: 3, values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        mirrorHorizontally(t)
        #expect(t.array == [3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10])
        mirrorHorizontally(t)
        #expect(t.array == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    }

    @Test("flip averaging of a mirror-symmetric problem gives the same confusion as plain evaluation on symmetric images")
    func flipAverage() throws {
        // images symmetric left-right: the mirrored pass sees the same input, so results agree exactly
        var px: [UInt8] = [], labels: [Int32] = []
        for i in 0..<12 {
            labels.append(Int32(i % 2))
            for y in 0..<8 { for x in 0..<8 { px.append(UInt8(((i % 2 == 0 ? y : min(x, 7 - x)) * 30) % 256)) } }
        }
        let data = ImageDataset(shape: Shape(1, 8, 8), classNames: ["a", "b"], pixels: px, labels: labels)
        let net = try Network(Zoo.smallResNet(input: Shape(1, 8, 8), classes: 2, width: 4), seed: 1)
        let norm = Normalization(mean: [0.5], std: [0.25])
        let plain = evaluate(net, on: data, normalization: norm, keepProbabilities: true)
        let tta = evaluate(net, on: data, normalization: norm, keepProbabilities: true, flipAverage: true)
        #expect(plain.confusion == tta.confusion)
        for (a, b) in zip(plain.probabilities, tta.probabilities) { for (x, y) in zip(a, b) { #expect(abs(x - y) < 1e-5) } }
    }
}

@Suite("Synthetic defects")
struct SyntheticDefectTests {
    /// A mid-gray 3x32x32 image of bytes with mild texture.
    static func surface() -> [UInt8] {
        var rng = SeededGenerator(seed: 4)
        return (0..<(3 * 32 * 32)).map { _ in UInt8(110 + rng.below(30)) }
    }

    @Test("every kind of synthetic defect changes the surface visibly and only locally", arguments: SyntheticDefects.Kind.allCases)
    func eachKindIsVisible(kind: SyntheticDefects.Kind) {
        let shape = Shape(3, 32, 32)
        let other = [UInt8](repeating: 250, count: shape.count)
        var rng = SeededGenerator(seed: 8)
        for _ in 0..<20 {
            let before = Self.surface()
            var after = before
            after.withUnsafeMutableBufferPointer { p in
                other.withUnsafeBufferPointer { paintDefect(kind, p.baseAddress!, $0.baseAddress!, shape, minimumContrast: 0.12, &rng) }
            }
            let changed = zip(before, after).filter { abs(Int($0) - Int($1)) >= 8 }.count
            #expect(changed >= 3, "\(kind) changed \(changed) values by 8 or more")
            #expect(changed < shape.count * 3 / 4, "\(kind) is local: \(changed) of \(shape.count) changed")
        }
    }

    @Test("a patch of the very same flat surface changes nothing: it is reported invisible, and a batch keeps such parts good")
    func invisibleDefectsStayGood() {
        let shape = Shape(3, 32, 32)
        let flat = [UInt8](repeating: 120, count: shape.count)
        var rng = SeededGenerator(seed: 2)
        for _ in 0..<10 {
            var img = flat
            let visible = img.withUnsafeMutableBufferPointer { p in
                flat.withUnsafeBufferPointer { paintDefect(.patch, p.baseAddress!, $0.baseAddress!, shape, minimumContrast: 0.12, &rng) }
            }
            #expect(!visible && img == flat)
        }
        let data = ImageDataset(shape: shape, classNames: ["good", "defect"], pixels: (0..<50).flatMap { _ in flat }, labels: [Int32](repeating: 0, count: 50))
        let out = assembleBatch(data, Array(0..<50)[...], into: Tensor(shape, batch: 50), augmentation: .none, normalization: .identity(channels: 3),
                                seed: 1, synthetic: SyntheticDefects(rate: 1, kinds: [.patch]))
        #expect(out.allSatisfy { $0 == 0 }, "no part is called defective for a patch nobody can see")
    }

    @Test("assembling a batch turns the configured share of good samples into defects (label 1) and leaves defective ones alone")
    func batchLabels() {
        let shape = Shape(3, 32, 32)
        let n = 400
        let pixels = (0..<n).flatMap { _ in Self.surface() }
        let labels: [Int32] = (0..<n).map { $0 % 4 == 0 ? 1 : 0 }
        let data = ImageDataset(shape: shape, classNames: ["good", "defect"], pixels: pixels, labels: labels)
        let batch = Tensor(shape, batch: n)
        let out = assembleBatch(data, Array(0..<n)[...], into: batch, augmentation: .none, normalization: .identity(channels: 3), seed: 3,
                                synthetic: SyntheticDefects(rate: 0.5))
        let turned = (0..<n).filter { labels[$0] == 0 && out[$0] == 1 }.count
        #expect((0..<n).allSatisfy { labels[$0] == 0 || out[$0] == 1 }, "defective samples stay defective")
        #expect(abs(Double(turned) / 300 - 0.5) < 0.1, "\(turned) of 300 good samples turned")
        // a turned sample's pixels differ from its source; an untouched one renders as before
        let plain = Tensor(shape, batch: n)
        assembleBatch(data, Array(0..<n)[...], into: plain, augmentation: .none, normalization: .identity(channels: 3), seed: 3)
        for i in 0..<n {
            let differs = (0..<shape.count).contains { batch.data[i * shape.count + $0] != plain.data[i * shape.count + $0] }
            #expect(differs == (labels[i] == 0 && out[i] == 1), "sample \(i)")
        }
        #expect(assembleBatch(data, Array(0..<n)[...], into: plain, augmentation: .none, normalization: .identity(channels: 3), seed: 3) == labels)
    }
}

@Suite("Defect map targets")
struct DefectMapTargetTests {
    @Test("a cell is the largest mask value of its block; a real defect's cells are unknown")
    func cells() {
        // two 4x4 masks onto a 2x2 map: a painted pixel at (3, 0) lights cell (1, 0); the second image is a real defect
        var masks = [Float](repeating: 0, count: 32)
        masks[3] = 1
        masks[5] = 0.4
        for i in 16..<32 { masks[i] = -1 }
        let t = DefectMapTargets.cells(masks, count: 2, image: Shape(3, 4, 4), map: Shape(1, 2, 2))
        #expect(t[0] == [0.4, 1, 0, 0])
        #expect(t[1] == nil)
        let logits = Tensor(Shape(1, 2, 2), batch: 1)
        for (i, v) in [Float(-1), 3, 0.5, 2].enumerated() { logits[i] = v }
        #expect(DefectMapTargets.score(logits, 0) == 3)
    }

    @Test("with masks, a painted sample's mask follows it through the augmentation, a good one's is zero, a real defect's -1")
    func masksFollowTheSample() {
        let shape = Shape(3, 32, 32), n = 64
        let pixels = (0..<n).flatMap { _ in SyntheticDefectTests.surface() }
        let labels: [Int32] = (0..<n).map { $0 % 8 == 0 ? 1 : 0 }
        let data = ImageDataset(shape: shape, classNames: ["good", "defect"], pixels: pixels, labels: labels)
        let batch = Tensor(shape, batch: n), plain = Tensor(shape, batch: n)
        var masks = [Float](repeating: 7, count: n * 32 * 32)
        let aug = Augmentation(cropPadding: 3, horizontalFlip: true, quarterTurns: true, reflectBorder: true)
        let out = masks.withUnsafeMutableBufferPointer {
            assembleBatch(data, Array(0..<n)[...], into: batch, augmentation: aug, normalization: .identity(channels: 3), seed: 11,
                          synthetic: SyntheticDefects(rate: 0.5, kinds: [.blob, .patch]), masks: $0.baseAddress)
        }
        assembleBatch(data, Array(0..<n)[...], into: plain, augmentation: aug, normalization: .identity(channels: 3), seed: 11)
        var painted = 0
        for i in 0..<n {
            let m = masks[(i * 1024)..<((i + 1) * 1024)]
            if labels[i] == 1 { #expect(m.allSatisfy { $0 == -1 }); continue }
            if out[i] == 0 { #expect(m.allSatisfy { $0 == 0 }); continue }
            painted += 1
            // the painted sample differs from the unpainted render only on the mask or its soft
            // edge (a pixel next to it): the mask moved with the sample
            var outside = 0, inside = 0
            func near(_ p: Int) -> Bool {
                let (y, x) = (p / 32, p % 32)
                return (max(0, y - 2)...min(31, y + 2)).contains { yy in (max(0, x - 2)...min(31, x + 2)).contains { m[m.startIndex + yy * 32 + $0] > 0 } }
            }
            for p in 0..<1024 {
                let changed = (0..<3).contains { abs(batch.data[i * 3072 + $0 * 1024 + p] - plain.data[i * 3072 + $0 * 1024 + p]) > 2.0 / 255 }
                if changed, !near(p) { outside += 1 }
                if m[m.startIndex + p] > 0.5 { inside += 1 }
            }
            #expect(inside > 0, "sample \(i): the mask marks the defect")
            #expect(outside == 0, "sample \(i): \(outside) changed pixels away from the mask")
        }
        #expect(painted > 10)
    }
}
