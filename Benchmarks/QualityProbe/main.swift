// Dev probe: stage-1 variants on a pre-split ImageFolder, val AUROC per epoch.
import Foundation
import Neural
import Training

let env = ProcessInfo.processInfo.environment
func e(_ k: String, _ d: String) -> String { env[k] ?? d }
let dir = e("DATA", "/work/shared/datasets/surface-dev")
let folders = ImageFolder.presplit(dir)!
let items = try ImageFolder.scan(dir, folders, passClass: "ok")
let size = Int(e("SIZE", "128"))!
let shape = Shape(3, size, size)
let compute = Compute(threads: 2, kernels: env["KERNELS"] == "plain" ? ConvKernelOptions(winograd: false, direct: false, blocked: false, fuseResiduals: false) : .all)
let loaded = try compute.run { try ImageFolder.load(dir, items, shape: shape, workers: 2) }
let kept = loaded.kept
let all = ImageDataset(shape: shape, classNames: ["ok", "defect"], pixels: loaded.pixels, labels: kept.map { $0.defects.isEmpty ? 0 : 1 })
let tr = kept.indices.filter { kept[$0].file.hasPrefix("train/") }, va = kept.indices.filter { kept[$0].file.hasPrefix("val/") }
let train = env["ONLYGOOD"] != nil ? all.subset(tr.filter { all.labels[$0] == 0 }) : all.subset(tr), val = all.subset(va)
let width = Int(e("WIDTH", "16"))!
let arch = Zoo.Architecture(rawValue: e("ARCH", "small"))!
let pool = Zoo.GlobalPool(rawValue: e("POOL", "avgmax"))!
var spec = arch.spec(input: shape, classes: 2, width: width, stemPool: e("STEMPOOL", "0") == "1", globalPool: pool)
let dense = env["DENSE"] != nil
if dense { spec = Zoo.defectMap(from: spec) }
let net = try Network(spec, seed: 1)
let epochs = Int(e("EPOCHS", "20"))!
var c = TrainingConfig.stageOne(epochs: epochs, batchSize: Int(e("BATCH", "64"))!, learningRate: Float(e("LR", "0.006"))!, channels: 3, seed: 1)
switch e("AUG", "full") {
case "none": c.augmentation = .none
case "flips": c.augmentation = Augmentation(horizontalFlip: true, verticalFlip: true, quarterTurns: true)
default: break
}
if e("OPT", "adamw") == "sgd" { c.optimizer = .sgd(learningRate: Float(e("LR", "0.05"))!, momentum: 0.9, nesterov: true, weightDecay: 5e-4) }
if e("SCHED", "onecycle") == "cosine" { c.schedule = .cosine(warmupEpochs: 2, minimumFactor: 0.01) }
if dense { c.loss = .defectMap(cellWeight: Float(e("CELLW", "1"))!) }
if let r = Float(e("SYN", "0")), r > 0 { c.syntheticDefects = SyntheticDefects(rate: r, kinds: e("SYNKINDS", "").isEmpty ? SyntheticDefects.Kind.allCases : e("SYNKINDS", "").split(separator: ",").map { SyntheticDefects.Kind(rawValue: String($0))! }) }
if e("BAL", "1") == "0" || env["ONLYGOOD"] != nil { c.balancedSampling = false }
print("spec \(spec.name) aug \(e("AUG", "full")) lr \(c.optimizer.learningRate) train \(train.count) val \(val.count)")
let trainer = try Trainer(network: net, config: c, train: train, validation: nil, compute: compute)
let t0 = Date()
trainer.onEpoch = { r in
    let z = compute.run { logits(net, on: val, normalization: c.normalization) }
    func two(_ z: [[Float]]) -> [[Float]] { dense ? z.map { [0, $0.max()!] } : z }
    let (d, g) = StageOneCalibration.split(two(z), val.labels, temperature: 1)
    let ztr = compute.run { logits(net, on: train.subset(Array(0..<400)), normalization: c.normalization) }
    let (dt, gt) = StageOneCalibration.split(two(ztr), Array(train.labels[0..<400]), temperature: 1)
    print(String(format: "epoch %d loss %.4f acc %.3f | train-auc %.4f val-auc %.4f | %.0fs", r.epoch + 1, r.trainLoss, r.trainAccuracy,
                 ROC.auc(defect: dt, good: gt) ?? -1, ROC.auc(defect: d, good: g)!, Date().timeIntervalSince(t0)))
    fflush(stdout)
}
_ = try trainer.run()
