// VariationalBound.swift: the variational bound of test digits in bits per dimension
// (chapter 3's L_T + Σ L_{t-1} + L_0), as improved-diffusion's calc_bpd_loop computes it.
import Foundation

/// The negative variational lower bound −log p(x0) ≤ L_T + Σ_{t>1} L_{t-1} + L_0,
/// per image, in bits per dimension (nats / ln 2 / pixels):
/// - L_T = KL(q(x_T | x0) ‖ N(0, I)), the prior term (no model);
/// - L_{t-1} = KL(q(x_{t-1} | x_t, x0) ‖ p(x_{t-1} | x_t)) at one draw of x_t ~ q(x_t | x0);
/// - L_0 = −log p(x0 | x_1), a Gaussian with the model's mean discretised
///   over the 256 pixel levels (the bins of width 2/255 around each level,
///   the end bins open to ±∞).
/// The model's mean is the posterior mean at its x̂0 (clipped to [-1, 1] when
/// asked, as improved-diffusion's clip_denoised), its variance β_t or β̃_t
/// (at t = 0 both are β̃_1, improved-diffusion's clipped log variance).
public enum VariationalBound {
    public struct Result: Sendable {
        /// Images evaluated and their bound: mean and standard error (bits/dim).
        public var n: Int
        public var total: Double, standardError: Double
        /// The prior term L_T and the decoder term L_0 (bits/dim, mean over images).
        public var prior: Double, decoder: Double
        /// Mean bits/dim of each timestep's term: perT[0] is the decoder L_0, perT[t] the KL at t
        /// (the paper's L_t: its timesteps count from 1, ours from 0).
        public var perT: [Double]
    }

    /// KL(N(m1, e^lv1) ‖ N(m2, e^lv2)) of one dimension, in nats.
    public static func normalKL(mean1: Double, logVar1: Double, mean2: Double, logVar2: Double) -> Double {
        0.5 * (-1 + logVar2 - logVar1 + exp(logVar1 - logVar2) + (mean1 - mean2) * (mean1 - mean2) * exp(-logVar2))
    }

    /// Φ(x) by improved-diffusion's tanh approximation (so numbers compare with its bpd).
    static func approxStandardNormalCDF(_ x: Double) -> Double {
        0.5 * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }

    /// log P(x) for a pixel value x in [-1, 1] (one of the 256 levels) under a
    /// Gaussian of `mean` and log standard deviation `logScale`, discretised:
    /// the mass of x's bin [x − 1/255, x + 1/255], the lowest bin open to −∞,
    /// the highest to +∞ (improved-diffusion's discretized_gaussian_log_likelihood).
    public static func discretizedGaussianLogLikelihood(_ x: Double, mean: Double, logScale: Double) -> Double {
        let c = x - mean, inv = exp(-logScale)
        let cdfPlus = approxStandardNormalCDF(inv * (c + 1 / 255)), cdfMin = approxStandardNormalCDF(inv * (c - 1 / 255))
        if x < -0.999 { return log(max(cdfPlus, 1e-12)) }
        if x > 0.999 { return log(max(1 - cdfMin, 1e-12)) }
        return log(max(cdfPlus - cdfMin, 1e-12))
    }

    /// The log variance of p(x_{t-1} | x_t) the bound uses (β̃_1 at t = 0).
    public static func pLogVariance(_ s: NoiseSchedule, t: Int, _ kind: VarianceKind) -> Double {
        precondition(kind != .learned, "a learned variance is per pixel (NoiseSchedule.learnedLogVariance)")
        let clipped = t == 0 ? s.posteriorVariance[min(1, s.T - 1)] : (kind == .beta ? s.betas[t] : s.posteriorVariance[t])
        return log(clipped)
    }

    /// The bound of `n` images (side `size`, values on the 256 levels of [-1, 1]),
    /// in batches of `batch`; image i's x_t draws come from RNG(seed, stream: i),
    /// so the result does not depend on the batch size. `progress(done, total)`
    /// is called after each timestep of each batch.
    public static func compute(model: NoisePredictor, schedule s: NoiseSchedule, images: [Float], n: Int, size: Int,
                               variance: VarianceKind = .beta, clip: Bool = true, seed: UInt64 = 0, batch: Int = 100,
                               measuredSide: Int? = nil, progress: ((Int, Int) -> Void)? = nil) -> Result {
        precondition(images.count >= n * size * size && n > 0, "VariationalBound: \(n) images of \(size)x\(size)")
        precondition(variance != .learned || model.varianceOutput != nil, "VariationalBound: a learned variance needs a model that learns it")
        let hw = size * size, T = s.T
        // Bits per dimension of the image itself: a padded model's border (32x32 around a 28x28 digit) is not counted.
        let m = min(measuredSide ?? size, size), off = (size - m) / 2
        let pix = (0..<(m * m)).map { (off + $0 / m) * size + off + $0 % m }
        let dims = Double(pix.count)
        var perImage = [Double](repeating: 0, count: n)
        var perT = [Double](repeating: 0, count: T)
        var prior = 0.0
        let bitsPerNat = 1 / log(2.0)
        let lastB = min(batch, n) * hw
        let x0 = FloatBuffer(count: lastB), xt = FloatBuffer(count: lastB), eps = FloatBuffer(count: lastB)
        let xhat = FloatBuffer(count: lastB), qMean = FloatBuffer(count: lastB), pMean = FloatBuffer(count: lastB)
        var start = 0, done = 0
        batches: while start < n {
            let b = min(batch, n - start), len = b * hw
            images.withUnsafeBufferPointer { x0.ptr.update(from: $0.baseAddress! + start * hw, count: len) }
            var rngs = (0..<b).map { RNG(seed: seed, stream: UInt64(start + $0)) }
            // L_T: q(x_T | x0) = N(√ᾱ_T x0, 1 - ᾱ_T) against N(0, I).
            let aT = s.sqrtAlphasCumprod[T - 1], lvT = log(1 - s.alphasCumprod[T - 1])
            for i in 0..<b {
                var kl = 0.0
                for j in pix { kl += normalKL(mean1: aT * Double(x0.ptr[i * hw + j]), logVar1: lvT, mean2: 0, logVar2: 0) }
                let bits = kl / dims * bitsPerNat
                perImage[start + i] += bits; prior += bits
            }
            var ts = [Int](repeating: 0, count: b)
            for t in stride(from: T - 1, through: 0, by: -1) {
                // x_t ~ q(x_t | x0), one draw per image and step.
                for i in 0..<b { rngs[i].fillNormal(eps.ptr + i * hw, count: hw, scale: 1) }
                s.qSample(x0: x0.ptr, eps: eps.ptr, t: t, count: len, into: xt.ptr)
                for i in 0..<b { ts[i] = t }
                // A self-conditioned model reads no estimate here (zeros, as on half of its training
                // steps): each term is p(x_{t-1} | x_t) alone, where its sampler also has the last x̂0.
                model.predictNoise(xt.ptr, t: ts, out: eps.ptr)
                s.predictX0(xt: xt.ptr, eps: eps.ptr, t: t, count: len, into: xhat.ptr)
                if clip { for j in 0..<len { xhat.ptr[j] = Swift.min(1, Swift.max(-1, xhat.ptr[j])) } }
                // p's mean: the posterior mean at x̂0 (eq. 7 with x̂0 for x0).
                s.qPosteriorMean(x0: xhat.ptr, xt: xt.ptr, t: t, count: len, into: pMean.ptr)
                // p's log variance: the schedule's, or the network's per pixel.
                let learned = variance == .learned ? model.varianceOutput : nil
                let fixedLV = learned == nil ? pLogVariance(s, t: t, variance) : 0
                let lvRange = s.learnedLogVarianceRange(t: t)
                func pLV(_ k: Int) -> Double {
                    guard let v = learned else { return fixedLV }
                    return NoiseSchedule.learnedLogVariance(v: Double(v[k]), min: lvRange.min, max: lvRange.max)
                }
                if t > 0 {
                    s.qPosteriorMean(x0: x0.ptr, xt: xt.ptr, t: t, count: len, into: qMean.ptr)
                    let qLV = log(s.posteriorVariance[t])
                    for i in 0..<b {
                        var kl = 0.0
                        for j in pix {
                            let k = i * hw + j
                            kl += normalKL(mean1: Double(qMean.ptr[k]), logVar1: qLV, mean2: Double(pMean.ptr[k]), logVar2: pLV(k))
                        }
                        let bits = kl / dims * bitsPerNat
                        perImage[start + i] += bits; perT[t] += bits
                    }
                } else {
                    // L_0: the decoder's negative log-likelihood of the pixel levels.
                    for i in 0..<b {
                        var nll = 0.0
                        for j in pix {
                            let k = i * hw + j
                            nll -= discretizedGaussianLogLikelihood(Double(x0.ptr[k]), mean: Double(pMean.ptr[k]), logScale: 0.5 * pLV(k))
                        }
                        let bits = nll / dims * bitsPerNat
                        perImage[start + i] += bits; perT[0] += bits
                    }
                }
                done += 1
                progress?(done, T * ((n + batch - 1) / batch))
                // A term that is not a number (weights whose output overflows) makes the
                // total none: it is known now, not after the model calls left.
                if !perT[t].isFinite { break batches }
            }
            start += b
        }
        let mean = perImage.reduce(0, +) / Double(n)
        let spread = n > 1 ? perImage.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n - 1) : 0
        return Result(n: n, total: mean, standardError: (spread / Double(n)).squareRoot(),
                      prior: prior / Double(n), decoder: perT[0] / Double(n), perT: perT.map { $0 / Double(n) })
    }
}
