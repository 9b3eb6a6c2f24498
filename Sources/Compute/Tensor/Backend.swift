// Backend.swift: which kernels run the network, and how a forward pass runs —
// chosen once (from the CPU, or explicitly for comparisons) and passed as values.
import CBLIS
import CSIMD

/// The kernels a model runs on. A model is built for one backend
/// (`UNet(config, backend:)`); two models with different backends can run side
/// by side, which is how the tests and `ddpm bench --backend` compare them.
public enum Backend: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Direct convolutions with AVX-512 tiles (4x64) and AVX-512 element-wise loops.
    case avx512
    /// Direct convolutions with AVX2 tiles (4x24) and AVX2 element-wise loops.
    case avx2
    /// The reference: every convolution through im2col + BLIS GEMM, AVX2 element-wise loops.
    case reference
    /// `avx512`, but a U-Net's sampling passes run its convolutions (all with
    /// 4n output channels: every one but the output convolution) with
    /// bfloat16 products (AVX512_BF16's vdpbf16ps: two multiply-adds per
    /// float lane, float sums). Faster, and no longer exact: each operand
    /// keeps 8 significant bits. Training, gradients and the classifiers
    /// stay in float, and so do attention's softmax and weighted sum,
    /// GroupNorm and the time embedding.
    case bf16

    /// Whether this CPU has the AVX-512 subsets the kernels use (F, BW, DQ, VL).
    public static let cpuHasAVX512 = ddpm_cpu_has_avx512() != 0
    /// The fastest backend this CPU runs: AVX-512 where it has it, else AVX2.
    public static let detected: Backend = cpuHasAVX512 ? .avx512 : .avx2

    /// Whether this CPU has AVX512_BF16 as well.
    public static let cpuHasAVX512BF16 = ddpm_cpu_has_avx512_bf16() != 0

    /// Whether this CPU can run the backend.
    public var isAvailable: Bool {
        switch self {
        case .avx512: return Backend.cpuHasAVX512
        case .bf16: return Backend.cpuHasAVX512BF16
        case .avx2, .reference: return true
        }
    }
    /// What the CPU lacks when it cannot run the backend.
    public var requirement: String { self == .bf16 ? "AVX-512 with BF16" : "AVX-512" }
    /// Convolutions run the direct kernels (else im2col + GEMM).
    public var direct: Bool { self != .reference }
    /// The AVX-512 copies of the tiles and element-wise loops run.
    public var wide: Bool { self == .avx512 || self == .bf16 }

    /// What a U-Net's training step runs besides these kernels (nil: nothing).
    public var trainingKernels: String? {
        direct ? DirectConv.winogradSummary + (wide ? "" : ", their weight gradients as well where output channels come in 4s and input channels in 2s") : nil
    }

    public var description: String {
        switch self {
        case .avx512: return "direct AVX-512 (4x64 tile)"
        case .avx2: return "direct AVX2 (4x24 tile)"
        case .reference: return "im2col + BLIS (reference)"
        case .bf16: return "direct AVX-512 (4x64 tile), sampling's convolutions in bfloat16" + (DirectConv.amx ? " on AMX tiles" : "")
        }
    }
}

/// How a forward pass runs; passed to the model's `forward`.
public enum ForwardMode: Equatable, Sendable {
    /// Training: dropout on; convolutions over chunks of the batch (their
    /// partial-sum order depends only on the core count); keeps what backward reads.
    case training
    /// Evaluation that a backward may follow (gradient checks, guidance):
    /// dropout off, one image per GEMM, so an image's result does not depend
    /// on its batch.
    case evaluation
    /// Inference, no backward: as `.evaluation`, and it may skip keeping what
    /// only backward reads (the ResidualBlock's GN1 output is applied while
    /// conv2 builds its planes). Convolution weights packed for the direct
    /// kernels are cached for the call numbered `packGeneration` (0: pack on
    /// every call; the caller gives a new number whenever the weights may have changed).
    case inference(packGeneration: Int)

    public var isTraining: Bool { self == .training }
    /// Layers run one image (one row) per GEMM: results independent of the batch size.
    public var perImage: Bool { self != .training }
    /// No backward follows.
    public var forwardOnly: Bool { if case .inference = self { return true } else { return false } }
    var packGeneration: Int { if case .inference(let g) = self { return g } else { return 0 } }
}
