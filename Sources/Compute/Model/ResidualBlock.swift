// ResidualBlock.swift: the chapter's ResidualBlock, forward and backward.
/// The chapter's ResidualBlock on [C, N, H, W] activations:
///
///     a1 = conv1(x);  s1 = SiLU(GN1(a1)) + Linear(SiLU(temb))
///     a2 = conv2(s1); out = dropout(SiLU(GN2(a2))) + shortcut(x)
///
/// The block owns the activations its backward needs (a1, s1, a2, the dropout
/// mask, GroupNorm statistics) and its output.
public final class ResidualBlock: @unchecked Sendable {
    public let conv1: Conv2d, conv2: Conv2d
    public let timeEmb: Linear
    public let norm1: GroupNorm, norm2: GroupNorm
    public let shortcut: Conv2d?
    public let cin: Int, cout: Int, size: Int
    let dropout: Float

    let a1 = FloatBuffer(count: 1), s1 = FloatBuffer(count: 1), a2 = FloatBuffer(count: 1)
    let mask = FloatBuffer(count: 1)
    public let out = FloatBuffer(count: 1)
    let tb = FloatBuffer(count: 1), dtb = FloatBuffer(count: 1)
    let stats = FloatBuffer(count: 1)
    /// GN1's coefficients when conv2 applies them (inference).
    let coef = FloatBuffer(count: 1)
    private var masked = false

    public init(_ layout: inout ParameterLayout, _ prefix: String, cin: Int, cout: Int,
                tdim: Int, size: Int, groups: Int, dropout: Float) {
        // Registration order = PyTorch's state_dict order.
        conv1 = Conv2d(&layout, prefix + ".conv1", cin: cin, cout: cout, k: 3, pad: 1)
        conv2 = Conv2d(&layout, prefix + ".conv2", cin: cout, cout: cout, k: 3, pad: 1)
        timeEmb = Linear(&layout, prefix + ".time_emb", tdim, cout)
        norm1 = GroupNorm(&layout, prefix + ".norm1", groups: groups, channels: cout)
        norm2 = GroupNorm(&layout, prefix + ".norm2", groups: groups, channels: cout)
        shortcut = cin != cout ? Conv2d(&layout, prefix + ".shortcut", cin: cin, cout: cout, k: 1) : nil
        self.cin = cin; self.cout = cout; self.size = size; self.dropout = dropout
    }

    /// x [cin, N, S, S], stemb = SiLU(temb) [N, tdim] -> out [cout, N, S, S].
    public func forward(_ p: UnsafePointer<Float>, x: UnsafePointer<Float>, stemb: UnsafePointer<Float>,
                        n: Int, train: Bool, rng: inout RNG, ws: Workspace) {
        let hw = size * size, len = cout * n * hw, G = norm1.groups
        // Forward only, with a direct conv2: s1 is only conv2's input, so GN1 +
        // SiLU + time bias are applied while conv2 builds its input planes (s1 is
        // never written: one pass less over memory; backward is then impossible).
        let fused = ws.forwardOnly && !train && conv2.usesDirect(ws.backend)
        a1.reserve(len); a2.reserve(len); out.reserve(len)
        if !fused { s1.reserve(len) }
        tb.reserve(n * cout); dtb.reserve(n * cout); stats.reserve(4 * n * G)
        let m1 = stats.ptr, r1 = stats.ptr + n * G, m2 = stats.ptr + 2 * n * G, r2 = stats.ptr + 3 * n * G

        timeEmb.forward(p, x: stemb, y: tb.ptr, n: n, perRow: ws.perImage)
        conv1.forward(p, x: x, y: a1.ptr, n: n, h: size, w: size, ws: ws)
        if fused {
            coef.reserve(3 * cout * n)
            norm1.coefficients(p, x: a1.ptr, n: n, hw: hw, mean: m1, rstd: r1, tbias: tb.ptr, into: coef.ptr)
            conv2.forwardAffineSiLU(p, x: a1.ptr, coef: coef.ptr, y: a2.ptr, n: n, h: size, w: size, ws: ws)
        } else {
            norm1.forward(p, x: a1.ptr, y: s1.ptr, n: n, hw: hw, mean: m1, rstd: r1, silu: true, backend: ws.backend, tbias: tb.ptr)
            conv2.forward(p, x: s1.ptr, y: a2.ptr, n: n, h: size, w: size, ws: ws)
        }
        masked = train && dropout > 0
        if masked {
            mask.reserve(len)
            Dropout.makeMask(mask.ptr, count: len, p: dropout, rng: &rng)
        }
        norm2.forward(p, x: a2.ptr, y: out.ptr, n: n, hw: hw, mean: m2, rstd: r2, silu: true, backend: ws.backend,
                      mask: masked ? mask.ptr : nil)
        if let shortcut {
            shortcut.forward(p, x: x, y: out.ptr, n: n, h: size, w: size, ws: ws, accumulate: true)
        } else {
            Parallel.add(out.ptr, x, count: len)
        }
    }

    /// Backward of the last forward: dx += dL/dx, dstemb += dL/dSiLU(temb), parameter grads +=.
    public func backward(_ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>,
                         x: UnsafePointer<Float>, dout: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                         stemb: UnsafePointer<Float>, dstemb: UnsafeMutablePointer<Float>, n: Int, ws: Workspace) {
        let hw = size * size, len = cout * n * hw, G = norm1.groups
        let m1 = stats.ptr, r1 = stats.ptr + n * G, m2 = stats.ptr + 2 * n * G, r2 = stats.ptr + 3 * n * G
        ws.t1.reserve(len); ws.t2.reserve(len); ws.gn.reserve(len)
        let t1 = ws.t1.ptr, t2 = ws.t2.ptr

        if let shortcut {
            shortcut.backward(p, g, x: x, dy: dout, dx: dx, n: n, h: size, w: size, ws: ws)
        } else {
            Parallel.add(dx, dout, count: len)
        }
        // t1 and t2 are written, not added to (no zeroing passes on the direct backends).
        norm2.backward(p, g, x: a2.ptr, dy: dout, dx: t1, n: n, hw: hw, mean: m2, rstd: r2, silu: true,
                       mask: masked ? mask.ptr : nil, scratch: ws.gn.ptr, overwrite: true, backend: ws.backend)
        conv2.backward(p, g, x: s1.ptr, dy: t1, dx: t2, n: n, h: size, w: size, ws: ws, overwriteDx: true)
        dtb.ptr.update(repeating: 0, count: n * cout)
        norm1.backward(p, g, x: a1.ptr, dy: t2, dx: t1, n: n, hw: hw, mean: m1, rstd: r1, silu: true,
                       dtbias: dtb.ptr, scratch: ws.gn.ptr, overwrite: true, backend: ws.backend)
        timeEmb.backward(p, g, x: stemb, dy: dtb.ptr, dx: dstemb, n: n)
        conv1.backward(p, g, x: x, dy: t1, dx: dx, n: n, h: size, w: size, ws: ws)
    }
}
