// Workspace.swift: scratch memory shared by one model's layers, with its backend and forward mode.
/// Scratch memory shared by the layers of one model instance: reused by every
/// layer, grown only when a larger batch arrives.
public final class Workspace: @unchecked Sendable {
    /// im2col / col2im matrix for whole-batch convolutions.
    public let col = FloatBuffer(count: 1)
    /// Per-thread im2col chunks and weight-gradient partial sums.
    public let cols: [FloatBuffer] = (0..<Parallel.cores).map { _ in FloatBuffer(count: 1) }
    public let dwParts: [FloatBuffer] = (0..<Parallel.cores).map { _ in FloatBuffer(count: 1) }
    /// Two activation-sized temporaries for block-internal gradients.
    public let t1 = FloatBuffer(count: 1), t2 = FloatBuffer(count: 1)
    /// GroupNorm backward's per-element scratch.
    public let gn = FloatBuffer(count: 1)
    /// Flipped weights for the direct convolution's data gradient, and the
    /// direct kernel's packed weights.
    public let flip = FloatBuffer(count: 1), packed = FloatBuffer(count: 1)
    private let zeroBuffer = FloatBuffer(count: 1)

    /// `count` zeros: the bias of a convolution run for an input gradient.
    func zeros(_ count: Int) -> UnsafePointer<Float> {
        zeroBuffer.reserve(count); zeroBuffer.zero(count)
        return UnsafePointer(zeroBuffer.ptr)
    }
    /// Gradient of a concatenated (h, skip) input.
    public let dcat = FloatBuffer(count: 1)

    /// The kernels every layer using this workspace runs (fixed for its life).
    public let backend: Backend
    /// The mode of the forward pass in progress: set only by the model's own
    /// `forward` from its `mode` argument, read by its layers.
    public internal(set) var mode: ForwardMode = .training

    /// The U-Net's workspace, whose layers run the faster kernels that round
    /// differently from the direct float one: in training passes (and their
    /// data gradients) the 3x3 convolutions through Winograd where it applies
    /// (DirectConv.winogradApplies), and in sampling passes on the bf16
    /// backend every direct convolution with bfloat16 products (`bf16`). A
    /// classifier's workspace keeps the direct float kernels on any backend, so
    /// its readings, guidance and its training command's weights stay as they were.
    public let unet: Bool

    /// Sampling passes (`.inference`) run the direct convolutions with
    /// bfloat16 products (DirectConv+BF16): a U-Net's workspace on the bf16 backend.
    public var bf16: Bool { unet && backend == .bf16 }

    public init(backend: Backend = .detected, unet: Bool = false) {
        if !backend.isAvailable { fatalError("backend \(backend) needs a CPU with \(backend.requirement)") }
        self.backend = backend
        self.unet = unet
    }

    /// Convolutions run one image per GEMM and linear layers one row per GEMM
    /// (every mode but training), making results independent of the batch size.
    public var perImage: Bool { mode.perImage }
    /// No backward follows the forward in progress.
    public var forwardOnly: Bool { mode.forwardOnly }
    /// While this is non-zero and unchanged, weights packed for the direct
    /// kernels are kept and reused.
    var packGeneration: Int { mode.packGeneration }
    private var packCache: [PackKey: (generation: Int, buffer: FloatBuffer)] = [:]
    /// A packing's cache key: the weights it was made from, and which of the
    /// packings of those weights it is (float, or bfloat16 pairs).
    private struct PackKey: Hashable { let weight: UnsafeRawPointer, slot: Int }
    /// Where an uncached bfloat16 packing goes (slot 1, or 2 for the AMX
    /// tile's: a layer uses one of them), so that one made from a float
    /// packing in `packed` does not overwrite it.
    private let pairsPacked = FloatBuffer(count: 1)

    /// `weight` packed by `fill` into `count` floats: the cached packing when
    /// it is from the current `packGeneration`, else packed now (into
    /// `packed` or `pairsPacked`, or into the cache when packGeneration is set). `slot` 0 is
    /// the float kernels' packing, 1 their bfloat16 pairs, 2 the AMX tile's (DirectConv+BF16).
    func packed(_ weight: UnsafePointer<Float>, count: Int, slot: Int = 0,
                _ fill: (UnsafeMutablePointer<Float>) -> Void) -> UnsafePointer<Float> {
        if packGeneration == 0 {
            let buffer = slot == 0 ? packed : pairsPacked
            buffer.reserve(count); fill(buffer.ptr)
            return UnsafePointer(buffer.ptr)
        }
        let key = PackKey(weight: UnsafeRawPointer(weight), slot: slot)
        if let e = packCache[key], e.generation == packGeneration { return UnsafePointer(e.buffer.ptr) }
        let buffer = packCache[key]?.buffer ?? FloatBuffer(count: count)
        buffer.reserve(count); fill(buffer.ptr)
        packCache[key] = (packGeneration, buffer)
        return UnsafePointer(buffer.ptr)
    }

    /// Bytes of im2col data a chunk should stay under (fits the per-core L2 cache).
    public static let chunkBytes = 1 << 20

    /// Runs `body(thread, i0, i1)` over chunks of images [i0, i1), the chunks
    /// dealt round-robin to one thread per core. Chunks hold as many images as
    /// keep `floatsPerImage` of im2col data under `chunkBytes`.
    /// Returns the number of threads used (0 when the batch is too small to
    /// split; the caller then takes its whole-batch path).
    public func chunked(n: Int, floatsPerImage: Int, _ body: (Int, Int, Int) -> Void) -> Int {
        if perImage {
            // One image per GEMM: every image sees the same shapes, so its result
            // is bit-identical whatever the batch size (sampling's contract).
            let cores = Parallel.available
            for t in 0..<min(cores, n) { cols[t].reserve(max(1, floatsPerImage)) }
            if n == 1 || cores < 2 { body(0, 0, 1); for i in 1..<max(1, n) { body(0, i, i + 1) }; return 1 }
            let threads = min(cores, n)
            Parallel.run(threads) { th in
                var i = th
                while i < n { body(th, i, i + 1); i += threads }
            }
            return threads
        }
        // Training: the split (and so the order of the partial sums) depends
        // only on the core count.
        let cores = Parallel.cores
        if n < 2 || cores < 2 { return 0 }
        let nb = max(1, min(Workspace.chunkBytes / max(1, floatsPerImage * 4), (n + cores - 1) / cores))
        let chunks = (n + nb - 1) / nb
        let threads = min(cores, chunks)
        for t in 0..<threads { cols[t].reserve(max(1, floatsPerImage * nb)) }
        Parallel.run(threads) { th in
            var c = th
            while c < chunks {
                body(th, c * nb, min(n, (c + 1) * nb))
                c += threads
            }
        }
        return threads
    }

    /// Prepares zeroed per-thread weight-gradient partials of `count` floats.
    public func zeroParts(_ count: Int) {
        for b in dwParts { b.reserve(count); b.zero(count) }
    }

    /// g[0..<count] += sum of the first `threads` partials.
    public func reduceParts(into g: UnsafeMutablePointer<Float>, count: Int, threads: Int) {
        for t in 0..<threads { let p = dwParts[t].ptr; for i in 0..<count { g[i] += p[i] } }
    }
}

import Dispatch
