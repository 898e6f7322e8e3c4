import Testing
@testable import Training

@Suite("StagedRecipe: the recipe's fixed choices")
struct RecipeTests {
    @Test("first training splits 7:2:1, a retraining round 8:2, and every bucket lands in exactly one split")
    func splitsCoverEveryBucketOnce() {
        let first = [StagedRecipe.trainBuckets, StagedRecipe.validationBuckets, StagedRecipe.testBuckets]
        #expect(first.map(\.count) == [7, 2, 1])
        #expect((0...9).allSatisfy { b in first.filter { $0.contains(b) }.count == 1 })
        let retrain = [StagedRecipe.retrainTrainBuckets, StagedRecipe.retrainValidationBuckets]
        #expect(retrain.map(\.count) == [8, 2])
        #expect((0...9).allSatisfy { b in retrain.filter { $0.contains(b) }.count == 1 })
        let files = (0..<200).map { "good/\($0).jpg" }
        let parts = first.map { StagedRecipe.indices(files, in: $0) }
        #expect(parts.map(\.count).reduce(0, +) == files.count && Set(parts.flatMap { $0 }).count == files.count)
    }

    @Test("stage 2's positive weights are negatives/positives, clamped to 1...3")
    func positiveWeightsAreClamped() {
        // 10 examples: kind 0 in 1 (9/1 -> 3), kind 1 in 4 (6/4 = 1.5), kind 2 in 8 (2/8 -> 1), kind 3 in none (10/1 -> 3).
        let masks: [UInt32] = (0..<10).map { i in (i == 0 ? 1 : 0) | (i < 4 ? 2 : 0) | (i < 8 ? 4 : 0) }
        #expect(StagedRecipe.positiveWeights(masks, kinds: 4) == [3, 1.5, 1, 3])
    }

    @Test("stage 2 sees every defective part and as many good ones, chosen by file hash")
    func stageTwoPicksAsManyGoodAsDefective() {
        let defective: Set<Int> = [1, 4, 7]
        let files = (0..<12).map { "f\($0).jpg" }
        let picks = StagedRecipe.stageTwoPicks(Array(0..<12), defective: { defective.contains($0) }, file: { files[$0] })
        #expect(picks == picks.sorted() && picks.count == 6 && defective.isSubset(of: picks))
        let good = (0..<12).filter { !defective.contains($0) }.sorted { ImageFolder.bucketHash(files[$0]) < ImageFolder.bucketHash(files[$1]) }
        #expect(Set(picks).subtracting(defective) == Set(good.prefix(3)))
    }

    @Test("stage 1 and stage 2 configs carry the recipe: smoothing, balanced sampling, weights, seed offset, augmentation")
    func configsCarryTheRecipe() {
        let one = TrainingConfig.stageOne(epochs: 3, batchSize: 8, learningRate: 0.01, channels: 1, seed: 7)
        #expect(one.balancedSampling && one.seed == 7 && one.augmentation == StagedRecipe.augmentation)
        guard case .crossEntropy(let smoothing) = one.loss else { Issue.record("stage 1 loss \(one.loss)"); return }
        #expect(smoothing == StagedRecipe.stageOneLabelSmoothing)
        let two = TrainingConfig.stageTwo(epochs: 3, batchSize: 8, learningRate: 0.01, channels: 1, seed: 7, weights: [1, 2])
        #expect(!two.balancedSampling && two.seed == 8 && two.gradientClipNorm == StagedRecipe.gradientClipNorm)
        guard case .binaryCrossEntropy(let w) = two.loss else { Issue.record("stage 2 loss \(two.loss)"); return }
        #expect(w == [1, 2])
    }
}
