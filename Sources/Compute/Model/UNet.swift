// UNet.swift: the chapter's SimpleDDPMUNet, forward and hand-written backward.
import Foundation

/// The chapter's `SimpleDDPMUNet`, forward and hand-written backward.
///
/// Parameters live outside the model (a flat buffer laid out by `layout`), so the
/// same instance runs training weights and EMA weights. The instance owns its
/// activations and scratch; it is not thread-safe — one thread drives it.
public final class UNet: @unchecked Sendable {
    public let config: UNetConfig
    public let layout: ParameterLayout
    public var parameterCount: Int { layout.count }

    /// A stride-2 downsampling conv or the transposed conv that undoes it.
    final class ConvStage {
        let conv: Conv2d?
        let convT: ConvTranspose2d?
        let cin: Int, cout: Int, inSize: Int, outSize: Int
        let out = FloatBuffer(count: 1)
        init(conv: Conv2d, inSize: Int) {
            self.conv = conv; convT = nil; cin = conv.cin; cout = conv.cout
            self.inSize = inSize; outSize = conv.outSize(inSize)
        }
        init(convT: ConvTranspose2d, inSize: Int) {
            conv = nil; self.convT = convT; cin = convT.cin; cout = convT.cout
            self.inSize = inSize; outSize = convT.outSize(inSize)
        }
    }

    /// A ResidualBlock (followed by an AttentionBlock at attention levels), or
    /// a resolution change.
    enum Stage {
        case res(ResidualBlock, AttentionBlock?)
        case conv(ConvStage)
        var outChannels: Int { switch self { case .res(let b, _): return b.cout; case .conv(let c): return c.cout } }
        var outSize: Int { switch self { case .res(let b, _): return b.size; case .conv(let c): return c.outSize } }
        var out: FloatBuffer { switch self { case .res(let b, let a): return a?.out ?? b.out; case .conv(let c): return c.out } }
    }

    let timeLin1: Linear, timeLin2: Linear
    let convIn: Conv2d
    let downs: [Stage]
    let middle: [Stage]
    let ups: [Stage]
    let outNorm: GroupNorm, outConv: Conv2d
    let tdim: Int
    /// (channels, size) of every skip (hs) entry, in push order.
    let skipShapes: [(c: Int, s: Int)]
    /// For each up ResidualBlock, the hs index it pops; -1 for conv stages.
    let upSkip: [Int]

    // Activations.
    let tIn = FloatBuffer(count: 1), emb = FloatBuffer(count: 1), l1 = FloatBuffer(count: 1)
    let gl = FloatBuffer(count: 1), temb = FloatBuffer(count: 1), stemb = FloatBuffer(count: 1)
    let h0 = FloatBuffer(count: 1), outAct = FloatBuffer(count: 1), outStats = FloatBuffer(count: 1)
    public let output = FloatBuffer(count: 1)
    let catBufs: [FloatBuffer]
    // Gradients of activations.
    let dstemb = FloatBuffer(count: 1), dtemb = FloatBuffer(count: 1), dgl = FloatBuffer(count: 1)
    let dl1 = FloatBuffer(count: 1), dOutAct = FloatBuffer(count: 1)
    let dh = FloatBuffer(count: 1), dh2 = FloatBuffer(count: 1)
    let dhs: [FloatBuffer]
    /// Scratch shared by the layers; carries the backend the model runs on.
    public let ws: Workspace
    private var lastN = 0
    /// Where each skip connection's activation is (forward writes, the up path reads).
    private var skips: [UnsafeMutablePointer<Float>?]
    private var lastInput: UnsafePointer<Float>?

    /// A U-Net of `config` whose layers run on `backend` (by default the
    /// fastest this CPU has).
    public init(_ config: UNetConfig, backend: Backend = .detected) throws {
        try config.validate()
        self.config = config
        ws = Workspace(backend: backend, unet: true)
        var L = ParameterLayout()
        let c = config.nChannels, tdim = c * 4, G = config.groups
        self.tdim = tdim
        // time_emb = Sequential(Sinusoidal, Linear, GELU, Linear): indices 1 and 3 carry weights.
        timeLin1 = Linear(&L, "time_emb.1", c, tdim)
        timeLin2 = Linear(&L, "time_emb.3", tdim, tdim)
        convIn = Conv2d(&L, "conv_in", cin: config.inputChannels, cout: c, k: 3, pad: 1)

        var downs: [Stage] = []
        func attn(_ prefix: String, _ level: Int, _ ch: Int, _ size: Int) -> AttentionBlock? {
            config.hasAttention(level: level)
                ? AttentionBlock(&L, prefix + ".attn", channels: ch, heads: UNetConfig.attentionHeads, size: size, groups: G)
                : nil
        }
        var chs: [(c: Int, s: Int)] = [(c, config.imageSize)]
        var now = c, size = config.imageSize
        for (i, mult) in config.chMults.enumerated() {
            let outCh = c * mult
            for _ in 0..<config.nBlocks {
                let name = "downs.\(downs.count)"
                let b = ResidualBlock(&L, name, cin: now, cout: outCh, tdim: tdim,
                                      size: size, groups: G, dropout: config.dropout)
                downs.append(.res(b, attn(name, i, outCh, size))); now = outCh; chs.append((now, size))
            }
            if i < config.chMults.count - 1 {
                let conv = Conv2d(&L, "downs.\(downs.count)", cin: now, cout: now, k: 3, stride: 2, pad: 1)
                let st = ConvStage(conv: conv, inSize: size)
                downs.append(.conv(st)); size = st.outSize; chs.append((now, size))
            }
        }
        skipShapes = chs
        var mids: [Stage] = []
        for i in 0..<config.nMidBlocks {
            let b = ResidualBlock(&L, "middle.\(i)", cin: now, cout: now, tdim: tdim, size: size,
                                  groups: G, dropout: config.dropout)
            mids.append(.res(b, attn("middle.\(i)", config.chMults.count - 1, now, size)))
        }
        var ups: [Stage] = [], upSkip: [Int] = [], cats: [FloatBuffer] = []
        var stack = Array(chs.indices)
        for (i, mult) in config.chMults.enumerated().reversed() {
            let outCh = c * mult
            for _ in 0..<(config.nBlocks + 1) {
                let si = stack.removeLast()
                precondition(chs[si].s == size, "skip size mismatch")
                let name = "ups.\(ups.count)"
                let b = ResidualBlock(&L, name, cin: chs[si].c + now, cout: outCh, tdim: tdim,
                                      size: size, groups: G, dropout: config.dropout)
                ups.append(.res(b, attn(name, i, outCh, size))); upSkip.append(si); cats.append(FloatBuffer(count: 1)); now = outCh
            }
            if i > 0 {
                let ct = ConvTranspose2d(&L, "ups.\(ups.count)", cin: now, cout: now, k: 4, stride: 2, pad: 1)
                let st = ConvStage(convT: ct, inSize: size)
                ups.append(.conv(st)); upSkip.append(-1); cats.append(FloatBuffer(count: 1)); size = st.outSize
            }
        }
        outNorm = GroupNorm(&L, "conv_out.0", groups: G, channels: now)
        outConv = Conv2d(&L, "conv_out.2", cin: now, cout: config.outputChannels, k: 3, pad: 1)
        self.downs = downs; self.middle = mids; self.ups = ups; self.upSkip = upSkip
        self.catBufs = cats
        self.skips = Array(repeating: nil, count: downs.count + 1)
        self.dhs = chs.map { _ in FloatBuffer(count: 1) }
        self.layout = L
    }

    /// Predicts eps for x [N, C, S, S] (== [C, N, S, S] for one channel) at timesteps t;
    /// a self-conditioned model reads [2, N, S, S]: x_t of every image, then the x0 estimates.
    /// Returns a pointer to the output [N, C, S, S], valid until the next call;
    /// with a learned variance the output is [2, N, S, S]: ε for all images, then v.
    /// `mode` says how the pass runs (training, evaluation, inference);
    /// `rng` draws dropout masks in training.
    @discardableResult
    public func forward(_ p: UnsafePointer<Float>, x: UnsafePointer<Float>, t: [Int], mode: ForwardMode,
                        rng: inout RNG) -> UnsafeMutablePointer<Float> {
        precondition(config.imageChannels == 1, "only 1-channel images are laid out as CNHW == NCHW")
        let n = t.count, c = config.nChannels, S = config.imageSize, hw = S * S
        lastN = n; lastInput = x
        ws.mode = mode
        let train = mode.isTraining
        tIn.reserve(n); emb.reserve(n * c)
        l1.reserve(n * tdim); gl.reserve(n * tdim); temb.reserve(n * tdim); stemb.reserve(n * tdim)
        for i in 0..<n { tIn.ptr[i] = Float(t[i]) }
        SinusoidalEmbedding.forward(t: tIn.ptr, n: n, dim: c, out: emb.ptr)
        timeLin1.forward(p, x: emb.ptr, y: l1.ptr, n: n, perRow: !train)
        Kernels.geluForward(l1.ptr, gl.ptr, n * tdim)
        timeLin2.forward(p, x: gl.ptr, y: temb.ptr, n: n, perRow: !train)
        Kernels.siluForward(temb.ptr, stemb.ptr, n * tdim)

        h0.reserve(c * n * hw)
        convIn.forward(p, x: x, y: h0.ptr, n: n, h: S, w: S, ws: ws)
        // The skip connections' outputs, in a reused array (a step allocates nothing).
        skips[0] = h0.ptr
        var cur = h0.ptr
        for (k, st) in downs.enumerated() {
            cur = run(st, p, x: cur, n: n, train: train, rng: &rng)
            skips[k + 1] = cur
        }
        for st in middle { cur = run(st, p, x: cur, n: n, train: train, rng: &rng) }
        var curC = middle.last?.outChannels ?? downs.last!.outChannels
        for (i, st) in ups.enumerated() {
            if case .res = st {
                let sk = skipShapes[upSkip[i]]
                let sp = sk.s * sk.s * n
                let cat = catBufs[i]
                cat.reserve((curC + sk.c) * sp)
                Parallel.copy(cat.ptr, from: cur, count: curC * sp)
                Parallel.copy(cat.ptr + curC * sp, from: skips[upSkip[i]]!, count: sk.c * sp)
                cur = run(st, p, x: cat.ptr, n: n, train: train, rng: &rng)
            } else {
                cur = run(st, p, x: cur, n: n, train: train, rng: &rng)
            }
            curC = st.outChannels
        }
        let G = outNorm.groups
        outAct.reserve(curC * n * hw); outStats.reserve(2 * n * G)
        outNorm.forward(p, x: cur, y: outAct.ptr, n: n, hw: hw, mean: outStats.ptr, rstd: outStats.ptr + n * G, silu: true, backend: ws.backend)
        output.reserve(config.outputChannels * n * hw)
        outConv.forward(p, x: outAct.ptr, y: output.ptr, n: n, h: S, w: S, ws: ws)
        return output.ptr
    }

    private func run(_ st: Stage, _ p: UnsafePointer<Float>, x: UnsafePointer<Float>, n: Int, train: Bool,
                     rng: inout RNG) -> UnsafeMutablePointer<Float> {
        switch st {
        case .res(let b, let a):
            b.forward(p, x: x, stemb: stemb.ptr, n: n, train: train, rng: &rng, ws: ws)
            guard let a else { return b.out.ptr }
            a.forward(p, x: b.out.ptr, n: n, ws: ws)
            return a.out.ptr
        case .conv(let s):
            s.out.reserve(s.cout * n * s.outSize * s.outSize)
            if let conv = s.conv {
                conv.forward(p, x: x, y: s.out.ptr, n: n, h: s.inSize, w: s.inSize, ws: ws)
            } else {
                s.convT!.forward(p, x: x, y: s.out.ptr, n: n, h: s.inSize, w: s.inSize, ws: ws)
            }
            return s.out.ptr
        }
    }

    private func back(_ st: Stage, _ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>,
                      x: UnsafePointer<Float>, dout: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, n: Int) {
        switch st {
        case .res(let b, let a):
            var d = dout
            if let a {
                let len = a.channels * n * a.size * a.size
                a.dIn.reserve(len); a.dIn.zero(len)
                a.backward(p, g, x: b.out.ptr, dout: dout, dx: a.dIn.ptr, ws: ws)
                d = UnsafePointer(a.dIn.ptr)
            }
            b.backward(p, g, x: x, dout: d, dx: dx, stemb: stemb.ptr, dstemb: dstemb.ptr, n: n, ws: ws)
        case .conv(let s):
            if let conv = s.conv {
                conv.backward(p, g, x: x, dy: dout, dx: dx, n: n, h: s.inSize, w: s.inSize, ws: ws)
            } else {
                s.convT!.backward(p, g, x: x, dy: dout, dx: dx, n: n, h: s.inSize, w: s.inSize, ws: ws)
            }
        }
    }

    /// Backward of the last `forward` for dL/d(output) `dout` [N, C, S, S]:
    /// parameter gradients are added into `g`; dL/dx is added into `dx` if given.
    public func backward(_ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>,
                         dout: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>? = nil) {
        let n = lastN, S = config.imageSize, hw = S * S
        guard let input = lastInput else { fatalError("backward before forward") }
        // An inference forward keeps only what inference needs (a fused GN1 never writes its output).
        if ws.forwardOnly { fatalError("backward after an inference forward; use .evaluation or .training") }
        dstemb.reserve(n * tdim); dstemb.zero(n * tdim)
        // Skip gradients start at zero and collect from the up path and the next down layer.
        for (i, sk) in skipShapes.enumerated() {
            dhs[i].reserve(sk.c * n * sk.s * sk.s); dhs[i].zero(sk.c * n * sk.s * sk.s)
        }
        // Output head: conv_out.2 then GN + SiLU.
        let lastC = ups.last!.outChannels
        let len0 = lastC * n * hw
        dOutAct.reserve(len0)
        outConv.backward(p, g, x: outAct.ptr, dy: dout, dx: dOutAct.ptr, n: n, h: S, w: S, ws: ws, overwriteDx: true)
        let lastOut = ups.last!.out.ptr
        dh.reserve(len0)
        ws.gn.reserve(len0)
        let G = outNorm.groups
        outNorm.backward(p, g, x: lastOut, dy: dOutAct.ptr, dx: dh.ptr, n: n, hw: hw, mean: outStats.ptr,
                         rstd: outStats.ptr + n * G, silu: true, scratch: ws.gn.ptr, overwrite: true,
                         backend: ws.backend)
        // Up path, reversed. `cur` holds dL/d(output of the stage being undone).
        var cur = dh, other = dh2
        for i in stride(from: ups.count - 1, through: 0, by: -1) {
            let st = ups[i]
            let inC: Int, inS: Int, inPtr: UnsafePointer<Float>
            if i > 0 { inC = ups[i - 1].outChannels; inS = ups[i - 1].outSize; inPtr = UnsafePointer(ups[i - 1].out.ptr) }
            else { inC = middle.last!.outChannels; inS = middle.last!.outSize; inPtr = UnsafePointer(middle.last!.out.ptr) }
            if case .res(let b, _) = st {
                let sk = skipShapes[upSkip[i]]
                let sp = n * b.size * b.size
                let total = b.cin * sp
                ws.dcat.reserve(total); ws.dcat.zero(total)
                back(st, p, g, x: catBufs[i].ptr, dout: cur.ptr, dx: ws.dcat.ptr, n: n)
                let hC = b.cin - sk.c
                other.reserve(hC * sp)
                Parallel.copy(other.ptr, from: ws.dcat.ptr, count: hC * sp)
                Parallel.add(dhs[upSkip[i]].ptr, ws.dcat.ptr + hC * sp, count: sk.c * sp)
            } else {
                let len = inC * n * inS * inS
                other.reserve(len); other.zero(len)
                back(st, p, g, x: inPtr, dout: cur.ptr, dx: other.ptr, n: n)
            }
            swap(&cur, &other)
        }
        // Middle, reversed; the last down output's gradient is dhs.last.
        for i in stride(from: middle.count - 1, through: 0, by: -1) {
            let st = middle[i]
            let x: UnsafePointer<Float> = i > 0 ? UnsafePointer(middle[i - 1].out.ptr) : UnsafePointer(downs.last!.out.ptr)
            let dxb: UnsafeMutablePointer<Float>
            if i > 0 {
                let len = st.outChannels * n * st.outSize * st.outSize
                other.reserve(len); other.zero(len); dxb = other.ptr
            } else {
                dxb = dhs[dhs.count - 1].ptr
            }
            back(st, p, g, x: x, dout: cur.ptr, dx: dxb, n: n)
            swap(&cur, &other)
        }
        // Down path: stage i maps hs[i] -> hs[i+1].
        for i in stride(from: downs.count - 1, through: 0, by: -1) {
            let x: UnsafePointer<Float> = i > 0 ? UnsafePointer(downs[i - 1].out.ptr) : UnsafePointer(h0.ptr)
            back(downs[i], p, g, x: x, dout: dhs[i + 1].ptr, dx: dhs[i].ptr, n: n)
        }
        convIn.backward(p, g, x: input, dy: dhs[0].ptr, dx: dx, n: n, h: S, w: S, ws: ws)
        // Time embedding: SiLU -> Linear 3 -> GELU -> Linear 1.
        dtemb.reserve(n * tdim); dtemb.zero(n * tdim)
        Kernels.siluBackward(temb.ptr, dstemb.ptr, dtemb.ptr, n * tdim)
        dgl.reserve(n * tdim); dgl.zero(n * tdim)
        timeLin2.backward(p, g, x: gl.ptr, dy: dtemb.ptr, dx: dgl.ptr, n: n)
        dl1.reserve(n * tdim); dl1.zero(n * tdim)
        Kernels.geluBackward(l1.ptr, dgl.ptr, dl1.ptr, n * tdim)
        timeLin1.backward(p, g, x: emb.ptr, dy: dl1.ptr, dx: nil, n: n)
    }
}
