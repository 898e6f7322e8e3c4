/// The kernels a conv (`Conv2d`, and its compiled forms at inference) can run on. All give
/// the same results to float rounding; each has its naive twin in the tests
/// (`convForwardNaive`). Depthwise convs are a layer of their own (`DepthwiseConv2d`).
public enum ConvKernel: Sendable, Equatable, CustomStringConvertible {
    /// 1x1 stride-1 convs: one GEMM per image straight on NCHW memory, no im2col.
    case pointwiseGEMM
    /// im2col + GEMM: any conv (groups, strides, paddings); the fallback.
    case im2colGEMM
    /// The register-blocked direct kernel on NCHW tensors (`DirectConvLayer`); weights
    /// packed once, so inference only.
    case direct
    /// Winograd F(2x2, 3x3) on NCHW tensors (`WinogradConv`); inference only.
    case winograd
    /// The channel-blocked direct kernel (`BlockedConvPlan`): in training on slices of the
    /// batch packed per call (`BlockedConvRunner`), at inference inside runs of blocked
    /// layers (`BlockedSegment`).
    case blocked
    /// The channel-blocked Winograd F(2x2, 3x3) (`BlockedWinogradPlan`), where `blocked` runs.
    case blockedWinograd

    public var description: String {
        switch self {
        case .pointwiseGEMM: "pointwise gemm"
        case .im2colGEMM: "im2col + gemm"
        case .direct: "direct"
        case .winograd: "winograd"
        case .blocked: "blocked"
        case .blockedWinograd: "blocked winograd"
        }
    }
}

/// Where a conv's weights and input live when its kernel is chosen.
public enum ConvSetting: Sendable, Equatable {
    /// Weights that change between calls (a `Conv2d` of a training network, in either
    /// `Mode`): only kernels that pack the weights per call.
    case training
    /// Frozen weights, packed once, NCHW input (`InferenceNetwork`'s convs outside blocked segments).
    case inference
    /// Frozen weights, input already channel-blocked with a zero border this wide (inside a
    /// `BlockedSegment`).
    case blockedSegment(inputBorder: Int)
}

/// Where the conv kernel is chosen: the one function, for training and inference alike.
///
/// Measured crossovers (2 cores, AVX2, the small ResNet and ResNet18 of `linesight-bench`):
///
/// | rule                                   | measured                                            |
/// |----------------------------------------|-----------------------------------------------------|
/// | blocked from 2 images per worker       | training step 1.19x (small ResNet, b64/b128), 1.11x (ResNet18, b32) over im2col + GEMM (`--ab-training`) |
/// | blocked Winograd: 3x3 s1, Cin >= 16    | `BlockedWinogradPlan.minimumInputChannels`; the stem's transforms cost more |
/// | blocked Winograd from 16 tiles a batch | ResNet18's 4x4 layers b1: 6.61 ms direct, 6.84 ms Winograd; b32: 175 vs 157 ms (`minimumTiles`) |
/// | direct at batch 1 (Cin k^2 >= 64)      | 1.3-2.5x over im2col + GEMM and Winograd on the small ResNet's layers (`--conv-shapes`) |
/// | direct below `directBatchLimit` (4)    | strided and 128+ channel convs, see `directBatchLimit` |
/// | NCHW Winograd: Cin >= 128 from then on | up to 2x over direct at batch 32 (`--conv-shapes --batch 32`) |
///
/// Inference runs of convs, max pools and ResNet blocks go to `BlockedSegment` as a whole
/// (faster than the NCHW kernels at every batch tried: 1, 4, 8, 16, 32; `--ab-compile`);
/// its convs choose here with `.blockedSegment`.
public enum ConvKernelChoice {
    /// Inference batches from this size run the stride-2 convs and the wide (Cin >= 128)
    /// 3x3 stride-1 convs on their batched kernel (im2col + GEMM, or the blocked one;
    /// NCHW Winograd) rather than the direct one.
    ///
    /// Measured 2026-12-04, 2 threads, each kernel forced, calls interleaved on a shared
    /// (noisy) host (`linesight-bench --direct-crossover --quick`), ms at batch 1/2/3/4/8:
    ///
    ///     32->64 28px s2     direct 0.12/0.24/0.37/0.53/1.22   batched 0.14/0.29/0.45/0.38/0.93
    ///     64->128 14px s2    direct 0.14/0.29/0.45/0.55/1.31   batched 0.13/0.26/0.40/0.44/0.90
    ///     64->128 32px s2    direct 0.82/1.47/2.21/2.93/10.5   batched 0.75/1.34/1.90/2.09/8.30
    ///     128->256 16px s2   direct 0.75/1.29/1.79/2.44/10.9   batched 0.76/1.30/1.78/2.35/8.91
    ///     256->256 8px s1    direct 1.49/3.04/8.15/10.7/18.0   winograd 1.20/1.87/4.24/6.19/11.5
    ///     512->512 4px s1    direct 1.61/2.95/8.69/9.98/12.8   winograd 3.85/7.13/8.85/8.94/10.8
    ///
    /// Below 4 the batched kernel of a strided conv is im2col + GEMM (the blocked one needs
    /// two images per worker) and about ties with the direct one; from 4 the blocked kernel
    /// wins by 1.04-1.4x. NCHW Winograd wins the 8x8-and-larger wide layers from batch 1
    /// already, but loses the 4x4 ones below batch 4 (few tiles), so 4 holds for both; in
    /// the networks we ship those layers run inside blocked segments anyway.
    public static let directBatchLimit = 4
    /// NCHW Winograd beats the direct kernel on batches from `directBatchLimit` only with
    /// this many input channels.
    public static let winogradMinimumChannels = 128

    /// The kernel for conv `g` at batch `batch`, split across `workers` threads, among the
    /// kernels `options` allows.
    public static func choose(_ g: ConvGeometry, batch: Int, setting: ConvSetting, workers: Int,
                              options: ConvKernelOptions = .all) -> ConvKernel {
        switch setting {
        case .blockedSegment(let border):
            return blockedWinograd(g, batch: batch, inputBorder: border, options) ? .blockedWinograd : .blocked
        case .inference:
            let winograd = options.winograd && WinogradConv.applies(to: g)
            if options.direct && DirectConvLayer.applies(to: g) {
                let batchedWins = g.stride > 1 || (winograd && g.inChannels >= winogradMinimumChannels)
                if batch < directBatchLimit || !batchedWins { return .direct }
            }
            if winograd { return .winograd }
            return choose(g, batch: batch, setting: .training, workers: workers, options: options)
        case .training:
            if isPointwise(g) { return .pointwiseGEMM }
            let border = max(1, g.padding)
            if options.blocked && batch >= 2 * workers && BlockedConvPlan.appliesToTraining(g, inputBorder: border) {
                return blockedWinograd(g, batch: batch, inputBorder: border, options) ? .blockedWinograd : .blocked
            }
            return .im2colGEMM
        }
    }

    /// 1x1 stride-1 ungrouped convs without padding: a GEMM on NCHW memory as it is.
    public static func isPointwise(_ g: ConvGeometry) -> Bool {
        g.kernelH == 1 && g.kernelW == 1 && g.stride == 1 && g.padding == 0 && g.groups == 1
    }

    private static func blockedWinograd(_ g: ConvGeometry, batch: Int, inputBorder: Int, _ options: ConvKernelOptions) -> Bool {
        guard options.winograd, BlockedWinogradPlan.applies(to: g, inputBorder: inputBorder) else { return false }
        return BlockedWinogradPlan.tilesPerSample(g) * batch >= BlockedWinogradPlan.minimumTiles
    }
}
