// Kernels+Attention.swift: one attention head, forward and backward, over padded rows.
import SIMDMath

extension Kernels {
    /// One attention head over `hw` positions with `d` channels per head:
    /// P = softmax(scale · QᵀK) over each row, and O = V Pᵀ. q, k, v and o
    /// are d planes of hw floats, plane c at +c·ld (the block's channel-major
    /// layout).
    ///
    /// Computed transposed, with vectors running over the queries i: Sᵀ[j][i]
    /// = Σ_c K[c][j]·Q[c][i], 16 queries to a vector and a loop over the keys
    /// j, so each row's max, exp and sum of the softmax, and O[c][i] =
    /// Σ_j V[c][j]·Pᵀ[j][i], are lane-wise with no sums across a vector. Pᵀ
    /// is written to probs: probs[j·hw + i] = P[i][j] (the backward pass reads
    /// it). The exp is FastMath.exp, the sum over j in order. `scratch` holds
    /// `attentionScratchCount(d:hw:)` floats.
    @inline(__always)
    public static func attentionHead(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                     ld: Int, d: Int, hw: Int, scale: Float,
                                     probs: UnsafeMutablePointer<Float>, o: UnsafeMutablePointer<Float>,
                                     scratch: UnsafeMutablePointer<Float>) {
        typealias V = FastMath.V
        let hp = attentionPad(hw)
        // Q padded with zeros to whole vectors, then Sᵀ (becoming Pᵀ), then one output row.
        let qp = scratch, st = qp + d * hp, orow = st + hw * hp
        copyPadded(q, ld: ld, d: d, hw: hw, into: qp)
        let sv = V(repeating: scale)
        var ib = 0
        while ib < hp {
            var m = V(repeating: -.infinity)
            @inline(__always) func put(_ s: V, _ j: Int) {
                let s = s * sv
                m.replace(with: s, where: s .> m)
                FastMath.store(s, st, j * hp + ib)
            }
            // Four keys at a time: four independent sums (each over c in
            // order), where one sum at a time waited on every FMA's latency.
            var j = 0
            while j + 4 <= hw {
                var s0 = V(repeating: 0), s1 = s0, s2 = s0, s3 = s0
                for c in 0..<d {
                    let qv = FastMath.load(qp, c * hp + ib), kc = k + c * ld + j
                    s0 = s0.addingProduct(V(repeating: kc[0]), qv); s1 = s1.addingProduct(V(repeating: kc[1]), qv)
                    s2 = s2.addingProduct(V(repeating: kc[2]), qv); s3 = s3.addingProduct(V(repeating: kc[3]), qv)
                }
                put(s0, j); put(s1, j + 1); put(s2, j + 2); put(s3, j + 3)
                j += 4
            }
            while j < hw {
                var s = V(repeating: 0)
                for c in 0..<d { s = s.addingProduct(V(repeating: k[c * ld + j]), FastMath.load(qp, c * hp + ib)) }
                put(s, j)
                j += 1
            }
            var z = V(repeating: 0)
            for j in 0..<hw {
                let e = FastMath.exp(FastMath.load(st, j * hp + ib) - m)
                z += e
                FastMath.store(e, st, j * hp + ib)
            }
            let inv = 1 / z
            for j in 0..<hw { FastMath.store(FastMath.load(st, j * hp + ib) * inv, st, j * hp + ib) }
            // Four channels at a time, each summing over j in order.
            var c = 0
            while c + 4 <= d {
                var a0 = V(repeating: 0), a1 = a0, a2 = a0, a3 = a0
                let v0 = v + c * ld, v1 = v0 + ld, v2 = v1 + ld, v3 = v2 + ld
                for j in 0..<hw {
                    let p = FastMath.load(st, j * hp + ib)
                    a0 = a0.addingProduct(V(repeating: v0[j]), p); a1 = a1.addingProduct(V(repeating: v1[j]), p)
                    a2 = a2.addingProduct(V(repeating: v2[j]), p); a3 = a3.addingProduct(V(repeating: v3[j]), p)
                }
                FastMath.store(a0, orow, c * hp + ib); FastMath.store(a1, orow, (c + 1) * hp + ib)
                FastMath.store(a2, orow, (c + 2) * hp + ib); FastMath.store(a3, orow, (c + 3) * hp + ib)
                c += 4
            }
            while c < d {
                var a = V(repeating: 0)
                for j in 0..<hw { a = a.addingProduct(V(repeating: v[c * ld + j]), FastMath.load(st, j * hp + ib)) }
                FastMath.store(a, orow, c * hp + ib)
                c += 1
            }
            ib += 16
        }
        for c in 0..<d { (o + c * ld).update(from: orow + c * hp, count: hw) }
        for j in 0..<hw { (probs + j * hw).update(from: st + j * hp, count: hw) }
    }

    /// The gradient of one `attentionHead`: from dO (d planes, like o) and the
    /// forward's Pᵀ (probs), writes dQ, dK and dV (d planes each, stride ld):
    ///
    ///     dP = dOᵀ V,  dV = dO P,  dS = P ⊙ (dP - rowsum(P ⊙ dP)) · scale,
    ///     dQ = K dSᵀ,  dK = Q dS      (Q, K, V, dO as d x hw planes)
    ///
    /// row by row, so no hw x hw matrix besides P is kept. `scratch` holds
    /// `attentionBackwardScratchCount(d:hw:)` floats.
    @inline(__always)
    public static func attentionHeadBackward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                             dO: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                                             ld: Int, d: Int, hw: Int, scale: Float,
                                             dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                             dv: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        typealias V = FastMath.V
        let hp = attentionPad(hw)
        let kp = scratch, vp = kp + d * hp, dkAcc = vp + d * hp, dvAcc = dkAcc + d * hp
        let pr = dvAcc + d * hp, ds = pr + hp
        copyPadded(k, ld: ld, d: d, hw: hw, into: kp)
        copyPadded(v, ld: ld, d: d, hw: hw, into: vp)
        dkAcc.update(repeating: 0, count: 2 * d * hp)
        (pr + hw).update(repeating: 0, count: hp - hw)
        let sv = V(repeating: scale)
        for i in 0..<hw {
            for j in 0..<hw { pr[j] = probs[j * hw + i] }
            // dP row, and dot = Σ_j P[i][j] dP[i][j].
            var acc = V(repeating: 0)
            var jb = 0
            while jb < hp {
                var g = V(repeating: 0)
                for c in 0..<d { g = g.addingProduct(V(repeating: dO[c * ld + i]), FastMath.load(vp, c * hp + jb)) }
                FastMath.store(g, ds, jb)
                acc = acc.addingProduct(FastMath.load(pr, jb), g)
                jb += 16
            }
            let dot = V(repeating: horizontalSum(acc))
            jb = 0
            while jb < hp {
                let p = FastMath.load(pr, jb)
                FastMath.store(p * (FastMath.load(ds, jb) - dot) * sv, ds, jb)
                jb += 16
            }
            for c in 0..<d {
                let qi = V(repeating: q[c * ld + i]), gi = V(repeating: dO[c * ld + i])
                var a = V(repeating: 0)
                jb = 0
                while jb < hp {
                    let g = FastMath.load(ds, jb)
                    a = a.addingProduct(FastMath.load(kp, c * hp + jb), g)
                    FastMath.store(FastMath.load(dkAcc, c * hp + jb).addingProduct(qi, g), dkAcc, c * hp + jb)
                    FastMath.store(FastMath.load(dvAcc, c * hp + jb).addingProduct(gi, FastMath.load(pr, jb)), dvAcc, c * hp + jb)
                    jb += 16
                }
                dq[c * ld + i] = horizontalSum(a)
            }
        }
        for c in 0..<d {
            (dk + c * ld).update(from: dkAcc + c * hp, count: hw)
            (dv + c * ld).update(from: dvAcc + c * hp, count: hw)
        }
    }

    /// Floats of scratch `attentionHeadBackward` needs.
    public static func attentionBackwardScratchCount(d: Int, hw: Int) -> Int { (4 * d + 2) * attentionPad(hw) }

    /// d planes of hw floats (stride ld) into rows of `attentionPad(hw)`, zero past hw.
    @inline(__always)
    static func copyPadded(_ src: UnsafePointer<Float>, ld: Int, d: Int, hw: Int, into dst: UnsafeMutablePointer<Float>) {
        let hp = attentionPad(hw)
        for c in 0..<d {
            (dst + c * hp).update(from: src + c * ld, count: hw)
            (dst + c * hp + hw).update(repeating: 0, count: hp - hw)
        }
    }

    /// `hw` rounded up to whole 16-float vectors.
    @inline(__always)
    public static func attentionPad(_ hw: Int) -> Int { (hw + 15) & ~15 }

    /// Floats of scratch `attentionHead` needs.
    public static func attentionScratchCount(d: Int, hw: Int) -> Int { (2 * d + hw) * attentionPad(hw) }
}
