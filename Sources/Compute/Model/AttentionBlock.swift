// AttentionBlock.swift: the chapter's multi-head self-attention block, forward and backward.
import Foundation

/// The chapter's multi-head self-attention block (`AttentionBlock` in
/// shared/reference/seed_unet.py) on [C, N, H, W] activations:
///
///     h = GN(x);  q, k, v = chunk(qkv(h), 3)        (qkv: 1x1 conv C -> 3C)
///     per image and head (d = C / heads, HW pixels):
///         P = softmax(Q K^T / sqrt(d))   [HW, HW],  O = P V   [HW, d]
///     out = x + proj(O)                              (proj: 1x1 conv C -> C)
///
/// Head `h` owns channels h*d ..< (h+1)*d of q, k and v, as PyTorch's
/// `view(B, heads, C / heads, HW)` does. In the [C, N, HW] layout the d x HW
/// slice of one image and head is d planes of HW floats, plane stride N*HW;
/// `Kernels.attentionHead` (16 queries at a time) and `attentionHeadBackward`
/// (a query at a time) work on those slices in place. Forward keeps h, qkv,
/// Pᵀ and O for backward.
public final class AttentionBlock: @unchecked Sendable {
    public let norm: GroupNorm, qkv: Conv2d, proj: Conv2d
    public let channels: Int, heads: Int, size: Int

    /// probs: Pᵀ of every image and head, [N][heads][HW (key j)][HW (query i)].
    let hn = FloatBuffer(count: 1), qkvOut = FloatBuffer(count: 1), probs = FloatBuffer(count: 1)
    let attn = FloatBuffer(count: 1), stats = FloatBuffer(count: 1)
    public let out = FloatBuffer(count: 1)
    // Backward scratch (owned: the residual block before it uses the workspace's).
    let dAttn = FloatBuffer(count: 1), dQKV = FloatBuffer(count: 1), dHn = FloatBuffer(count: 1)
    /// Per-thread scratch of the heads, forward (`Kernels.attentionScratchCount`) and backward.
    let headScratch: [FloatBuffer] = (0..<Parallel.cores).map { _ in FloatBuffer(count: 1) }
    /// dL/d(input) of the last backward when the caller asks for it here.
    public let dIn = FloatBuffer(count: 1)
    private var lastN = 0

    public init(_ layout: inout ParameterLayout, _ prefix: String, channels: Int, heads: Int = 4,
                size: Int, groups: Int) {
        precondition(channels % heads == 0, "AttentionBlock: \(channels) channels not divisible by \(heads) heads")
        norm = GroupNorm(&layout, prefix + ".norm", groups: groups, channels: channels)
        qkv = Conv2d(&layout, prefix + ".qkv", cin: channels, cout: 3 * channels, k: 1)
        proj = Conv2d(&layout, prefix + ".proj", cin: channels, cout: channels, k: 1)
        self.channels = channels; self.heads = heads; self.size = size
    }

    var headDim: Int { channels / heads }
    var scale: Float { 1 / Float(headDim).squareRoot() }

    /// Multiply-adds per image (for FLOP counts).
    public var macsPerImage: Int {
        let hw = size * size, C = channels
        return 3 * C * C * hw + C * C * hw + 2 * heads * hw * hw * headDim
    }

    /// Runs `body(thread, image, head)` for every (image, head) pair, one thread per core.
    private func eachHead(_ n: Int, _ body: (Int, Int, Int) -> Void) {
        let pairs = n * heads, threads = min(Parallel.cores, pairs)
        if threads <= 1 {
            for i in 0..<pairs { body(0, i / heads, i % heads) }
            return
        }
        Parallel.run(threads) { th in
            var i = th
            while i < pairs { body(th, i / heads, i % heads); i += threads }
        }
    }

    /// x [C, N, S, S] -> out [C, N, S, S].
    public func forward(_ p: UnsafePointer<Float>, x: UnsafePointer<Float>, n: Int, ws: Workspace) {
        let hw = size * size, C = channels, len = C * n * hw, G = norm.groups, d = headDim, ld = n * hw
        lastN = n
        hn.reserve(len); stats.reserve(2 * n * G); qkvOut.reserve(3 * len)
        probs.reserve(n * heads * hw * hw); attn.reserve(len); out.reserve(len)
        norm.forward(p, x: x, y: hn.ptr, n: n, hw: hw, mean: stats.ptr, rstd: stats.ptr + n * G, silu: false, backend: ws.backend)
        qkv.forward(p, x: hn.ptr, y: qkvOut.ptr, n: n, h: size, w: size, ws: ws)
        for b in headScratch { b.reserve(Kernels.attentionScratchCount(d: d, hw: hw)) }
        let q0 = qkvOut.ptr, P0 = probs.ptr, o0 = attn.ptr, sc = scale, scratch = headScratch
        eachHead(n) { th, b, h in
            // Q, K, V and O are d x HW slices of the channel-major buffers.
            let off = h * d * ld + b * hw, q = q0 + off
            Kernels.attentionHead(q: q, k: q + C * ld, v: q + 2 * C * ld, ld: ld, d: d, hw: hw, scale: sc,
                                  probs: P0 + (b * heads + h) * hw * hw, o: o0 + off, scratch: scratch[th].ptr)
        }
        out.ptr.update(from: x, count: len)
        proj.forward(p, x: attn.ptr, y: out.ptr, n: n, h: size, w: size, ws: ws, accumulate: true)
    }

    /// Backward of the last forward (input `x`): parameter grads +=, dx +=.
    public func backward(_ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                         dout: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, ws: Workspace) {
        let n = lastN, hw = size * size, C = channels, len = C * n * hw, G = norm.groups, d = headDim, ld = n * hw
        for i in 0..<len { dx[i] += dout[i] }
        dAttn.reserve(len); dAttn.zero(len)
        proj.backward(p, g, x: attn.ptr, dy: dout, dx: dAttn.ptr, n: n, h: size, w: size, ws: ws)
        dQKV.reserve(3 * len)
        for b in headScratch { b.reserve(Kernels.attentionBackwardScratchCount(d: d, hw: hw)) }
        let q0 = qkvOut.ptr, dq0 = dQKV.ptr, P0 = probs.ptr, dO0 = dAttn.ptr, sc = scale, scratch = headScratch
        eachHead(n) { th, b, h in
            let off = h * d * ld + b * hw
            let q = q0 + off, dq = dq0 + off
            Kernels.attentionHeadBackward(q: q, k: q + C * ld, v: q + 2 * C * ld, dO: dO0 + off,
                                          probs: P0 + (b * heads + h) * hw * hw, ld: ld, d: d, hw: hw, scale: sc,
                                          dq: dq, dk: dq + C * ld, dv: dq + 2 * C * ld, scratch: scratch[th].ptr)
        }
        dHn.reserve(len); dHn.zero(len)
        qkv.backward(p, g, x: hn.ptr, dy: dQKV.ptr, dx: dHn.ptr, n: n, h: size, w: size, ws: ws)
        ws.gn.reserve(len)
        norm.backward(p, g, x: x, dy: dHn.ptr, dx: dx, n: n, hw: hw, mean: stats.ptr, rstd: stats.ptr + n * G,
                      silu: false, scratch: ws.gn.ptr, backend: ws.backend)
    }
}
