import Neural

/// The progress callbacks every staged job (first training, the retrainers, the label audit)
/// passes on to its training runs.
struct StageProgress {
    var onBatch: ((BatchProgress) -> Void)?
    var onEpoch: ((EpochReport) -> Void)?

    /// One stage's training run as every staged job runs it: a `Trainer` on `train`
    /// (validated on `validation` when it has images), progress to the callbacks, and a
    /// checkpoint to resume from when given.
    func train(_ net: Network, _ config: TrainingConfig, train: ImageDataset, validation: ImageDataset?,
               checkpoint: String? = nil, distillation: Distillation? = nil) throws {
        let trainer = try Trainer(network: net, config: config, train: train,
                                  validation: validation.flatMap { $0.count > 0 ? $0 : nil })
        trainer.checkpointPath = checkpoint
        trainer.distillation = distillation
        trainer.onBatch = onBatch
        trainer.onEpoch = onEpoch
        _ = try trainer.run()
    }
}
