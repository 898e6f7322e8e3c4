import ArgumentParser
import Foundation
import Neural
import Training

/// The network a stage-1 training builds and the images it sees: `train` and `pretrain`
/// share them (a pretrained model starts only a training of the same network).
struct NetworkOptions: ParsableArguments {
    @Option(help: "Train on 'rgb' or 'gray' images (default: RGB when the images are colour: stains and discolouration are invisible in gray; with --init or --pretrained: that model's).")
    var colour: String?
    @Option(help: "Model input in pixels, N (square) or WxH (e.g. 256x192), or auto: the images' own aspect ratio with the long side at most \(InputSize.automaticLongSide) (with --init or --pretrained: that model's input). Smaller is faster (128 trains about three times as fast as 256x192) but loses faint, small defects.")
    var inputSize: String = "auto"
    @Option(help: "The network of both stages: small (the small ResNet, 3 stages; the default), small10 (4 stages, deeper), resnet18 (torchvision's, as the seed builds it: several times the compute) or light (depthwise-separable, fastest).")
    var arch: String?
    @Option(help: "Width (channels of the first stage) of the small ResNets and the light net (default: \(StagedOptions().width)).") var width: Int?
    @Flag(inversion: .prefixedNo, help: "Max pool after the stem on inputs >= 96 (--no-stem-pool: twice the resolution into the network for defects a few pixels wide, about twice the compute).")
    var stemPool: Bool?
    @Option(help: "Global pooling: avg, max (small defects are not averaged away; absences such as a missing hole are harder) avgmax (both) or peak (the mean and how far the peak stands out of the image's own surface, in standard deviations) (default: \(StagedOptions().globalPool.rawValue)).")
    var globalPool: String?
    @Option(help: "What the network's first layer sees: image, highpass (the image minus its blur, scaled by its own strength: irregularities on any surface and in any light) or both (the high-pass, then the image: twice the input channels; on full-frame textured surfaces it found more defects, on parts on a background it rejected more good ones) (default: \(StagedOptions().inputFilter.rawValue)).")
    var inputFilter: String?
    @Option(help: "The high-pass's blur in input pixels: wider than the defects, narrower than the shading (default: \(StagedOptions().highPassSigma)).")
    var highPassSigma: Double?
    @Flag(inversion: .prefixedNo, help: "Add each pixel's distance from the image's own surface as one more input channel (--no-anomaly-map: the default): a fixed map that needs no training, so a stain, scratch or pit stands out on any texture. For full-frame surfaces; it cannot be exported to ONNX (default: \(StagedOptions().anomalyMap ? "on" : "off")).")
    var anomalyMap: Bool?

    func validate() throws {
        if let arch, Zoo.Architecture(rawValue: arch) == nil { throw ValidationError("--arch must be small, small10, resnet18 or light") }
        if arch == "resnet18", width != nil { throw ValidationError("--width does not apply to --arch resnet18 (its widths are torchvision's: 64 to 512)") }
        if arch == "resnet18" || arch == "light", stemPool != nil || globalPool != nil {
            throw ValidationError("--stem-pool and --global-pool shape the small ResNets; --arch \(arch!) has its own stem and pooling")
        }
        if let inputFilter, Zoo.InputFilter(rawValue: inputFilter) == nil { throw ValidationError("--input-filter must be image, highpass or both") }
        if let highPassSigma, !SpecLimits.highPassSigma.contains(highPassSigma) {
            throw ValidationError("--high-pass-sigma must lie in \(SpecLimits.highPassSigma) pixels")
        }
        if let colour, !["rgb", "gray"].contains(colour) { throw ValidationError("--colour must be rgb or gray") }
        if let globalPool, Zoo.GlobalPool(rawValue: globalPool) == nil { throw ValidationError("--global-pool must be avg, max, avgmax or peak") }
        if inputSize != "auto" {
            guard let size = InputSize(parsing: inputSize), (16...512).contains(size.width), (16...512).contains(size.height) else {
                throw ValidationError("--input-size must be auto, N or WxH with sides of 16...512 pixels, e.g. 128 or 256x192")
            }
        }
        if let width, width < 1 { throw ValidationError("--width must be positive") }
    }

    /// --high-pass-sigma given while the input has no high-pass (`filterFromModel`: a model
    /// file decides the filter, so there is nothing to check).
    func refuseSigmaWithoutHighPass(filterFromModel: Bool) throws {
        if highPassSigma != nil, !filterFromModel, (inputFilter.flatMap(Zoo.InputFilter.init(rawValue:)) ?? StagedOptions().inputFilter) == .image {
            throw ValidationError("--high-pass-sigma with the image as input: there is no high-pass to blur (give --input-filter highpass or both)")
        }
    }

    /// The options given that a model file would decide, by their flags.
    var shapingTheNetwork: [String] {
        [("--arch", arch != nil), ("--width", width != nil), ("--colour", colour != nil), ("--global-pool", globalPool != nil),
         ("--stem-pool/--no-stem-pool", stemPool != nil), ("--input-filter", inputFilter != nil), ("--high-pass-sigma", highPassSigma != nil),
         ("--anomaly-map/--no-anomaly-map", anomalyMap != nil)]
            .filter(\.1).map(\.0)
    }

    func apply(to o: inout StagedOptions) {
        o.channels = colour.map { $0 == "rgb" ? 3 : 1 }
        o.inputSize = inputSize == "auto" ? nil : InputSize(parsing: inputSize)
        if let width { o.width = width }
        if let arch { o.architecture = Zoo.Architecture(rawValue: arch)! }
        o.stemPool = stemPool ?? o.stemPool
        o.globalPool = globalPool.flatMap(Zoo.GlobalPool.init(rawValue:)) ?? o.globalPool
        o.inputFilter = inputFilter.flatMap(Zoo.InputFilter.init(rawValue:)) ?? o.inputFilter
        o.highPassSigma = highPassSigma ?? o.highPassSigma
        o.anomalyMap = anomalyMap ?? o.anomalyMap
    }
}
