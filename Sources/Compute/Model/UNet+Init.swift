// UNet+Init.swift: PyTorch's default initialisation of the U-Net's parameters.
import Foundation

extension ParameterLayout {
    /// PyTorch's default initialisation: weights and biases uniform in
    /// ±1/sqrt(fan_in) (kaiming_uniform with a = sqrt 5), GroupNorm weight 1 and bias 0.
    /// fan_in = shape[1] * prod(shape[2...]) of the layer's weight (for a
    /// ConvTranspose2d that is cout * k * k, as in PyTorch).
    public func initialize(_ params: UnsafeMutablePointer<Float>, rng: inout RNG) {
        for e in entries {
            let isNorm = e.name.contains("norm") || e.name.hasPrefix("conv_out.0")
            let p = params + e.offset
            if isNorm {
                p.update(repeating: e.name.hasSuffix("weight") ? 1 : 0, count: e.count)
                continue
            }
            let weightName = e.name.hasSuffix(".bias") ? String(e.name.dropLast(5)) + ".weight" : e.name
            guard let wEntry = self[weightName], wEntry.shape.count >= 2 else { continue }
            let fanIn = wEntry.shape.dropFirst().reduce(1, *)
            let bound = 1 / Double(fanIn).squareRoot()
            for i in 0..<e.count { p[i] = Float((rng.uniform() * 2 - 1) * bound) }
        }
    }
}

extension UNet {
    /// Forward MACs per image x 2 (1 MAC = 2 FLOP): convolutions, transposed convs and linears.
    public var forwardFLOPsPerImage: Int {
        var macs = 0
        let S = config.imageSize
        func conv(_ c: Conv2d, _ s: Int) { let o = c.outSize(s); macs += c.cout * c.cin * c.k * c.k * o * o }
        func block(_ b: ResidualBlock) {
            conv(b.conv1, b.size); conv(b.conv2, b.size)
            if let sc = b.shortcut { conv(sc, b.size) }
            macs += b.timeEmb.inFeatures * b.timeEmb.outFeatures
        }
        macs += timeLin1.inFeatures * timeLin1.outFeatures + timeLin2.inFeatures * timeLin2.outFeatures
        conv(convIn, S)
        for st in downs + ups {
            switch st {
            case .res(let b, let a): block(b); macs += a?.macsPerImage ?? 0
            case .conv(let s):
                if let c = s.conv { conv(c, s.inSize) }
                else { let t = s.convT!; macs += t.cin * t.cout * t.k * t.k * s.inSize * s.inSize }
            }
        }
        for case .res(let b, let a) in middle { block(b); macs += a?.macsPerImage ?? 0 }
        conv(outConv, S)
        return 2 * macs
    }

    /// Floats of activations kept per image by a training forward pass (for `ddpm info`).
    public var activationFloatsPerImage: Int {
        let S = config.imageSize
        var f = 0
        func blockF(_ b: ResidualBlock) -> Int { b.cout * b.size * b.size * 5 } // a1 s1 a2 mask out
        // h, qkv (3), O, out, and the heads' HW x HW probabilities.
        func attnF(_ a: AttentionBlock?) -> Int {
            guard let a else { return 0 }
            let hw = a.size * a.size
            return a.channels * hw * 6 + a.heads * hw * hw
        }
        f += 2 * config.nChannels * S * S // conv_in out, head activation
        for (i, st) in (downs + ups).enumerated() {
            switch st {
            case .res(let b, let a): f += blockF(b) + attnF(a); if i >= downs.count { f += b.cin * b.size * b.size }
            case .conv(let s): f += s.cout * s.outSize * s.outSize
            }
        }
        for case .res(let b, let a) in middle { f += blockF(b) + attnF(a) }
        return f
    }
}
