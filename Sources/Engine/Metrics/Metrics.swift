// Metrics.swift: sample-quality metrics in the classifier's feature space.
import Foundation

/// Sample-quality metrics in the classifier's feature space (chapter 3.6.3,
/// adapted to MNIST with no downloads). All in Double.
public enum Metrics {
    /// Mean and covariance (unbiased) of n rows of d features.
    public static func meanCov(_ x: [Float], n: Int, d: Int) -> ([Double], [Double]) {
        var mu = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mu[j] += Double(x[i * d + j]) } }
        for j in 0..<d { mu[j] /= Double(n) }
        var cov = [Double](repeating: 0, count: d * d)
        var row = [Double](repeating: 0, count: d)
        for i in 0..<n {
            for j in 0..<d { row[j] = Double(x[i * d + j]) - mu[j] }
            for a in 0..<d { let ra = row[a]; if ra == 0 { continue }; for b in a..<d { cov[a * d + b] += ra * row[b] } }
        }
        let denom = Double(max(1, n - 1))
        for a in 0..<d { for b in a..<d { cov[a * d + b] /= denom; cov[b * d + a] = cov[a * d + b] } }
        return (mu, cov)
    }

    /// Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations.
    public static func symmetricEigen(_ a0: [Double], _ n: Int) -> (values: [Double], vectors: [Double]) {
        var a = a0
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        for _ in 0..<60 {
            var off = 0.0
            for p in 0..<n { for q in (p + 1)..<max(p + 1, n) { off += a[p * n + q] * a[p * n + q] } }
            if off < 1e-22 { break }
            for p in 0..<n {
                for q in (p + 1)..<max(p + 1, n) {
                    let apq = a[p * n + q]
                    if abs(apq) < 1e-300 { continue }
                    let theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1 : -1) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {
                        let akp = a[k * n + p], akq = a[k * n + q]
                        a[k * n + p] = c * akp - s * akq; a[k * n + q] = s * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = a[p * n + k], aqk = a[q * n + k]
                        a[p * n + k] = c * apk - s * aqk; a[q * n + k] = s * apk + c * aqk
                    }
                    for k in 0..<n {
                        let vkp = v[k * n + p], vkq = v[k * n + q]
                        v[k * n + p] = c * vkp - s * vkq; v[k * n + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return ((0..<n).map { a[$0 * n + $0] }, v)
    }

    /// Fréchet distance |mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^{1/2}), with
    /// tr (C1 C2)^{1/2} = sum sqrt(eig(C1^{1/2} C2 C1^{1/2})).
    public static func frechet(_ m1: [Double], _ c1: [Double], _ m2: [Double], _ c2: [Double], d: Int) -> Double {
        var dm = 0.0
        for j in 0..<d { dm += (m1[j] - m2[j]) * (m1[j] - m2[j]) }
        let (w, V) = symmetricEigen(c1, d)
        // S = V diag(sqrt(max(w,0))) V^T
        var S = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in 0..<d {
            var s = 0.0
            for k in 0..<d { s += V[i * d + k] * max(0, w[k]).squareRoot() * V[j * d + k] }
            S[i * d + j] = s
        } }
        func mul(_ A: [Double], _ B: [Double]) -> [Double] {
            var C = [Double](repeating: 0, count: d * d)
            for i in 0..<d { for k in 0..<d { let a = A[i * d + k]; if a == 0 { continue }; for j in 0..<d { C[i * d + j] += a * B[k * d + j] } } }
            return C
        }
        var M = mul(mul(S, c2), S)
        for i in 0..<d { for j in (i + 1)..<max(i + 1, d) { let s = (M[i * d + j] + M[j * d + i]) / 2; M[i * d + j] = s; M[j * d + i] = s } }
        let trSqrt = symmetricEigen(M, d).values.reduce(0) { $0 + max(0, $1).squareRoot() }
        var tr = 0.0
        for i in 0..<d { tr += c1[i * d + i] + c2[i * d + i] }
        return dm + tr - 2 * trSqrt
    }

    /// exp(E_x KL(p(y|x) || p(y))): the Inception-Score analogue.
    public static func inceptionScore(_ probs: [Float], n: Int) -> Double {
        var py = [Double](repeating: 0, count: 10)
        for i in 0..<n { for k in 0..<10 { py[k] += Double(probs[i * 10 + k]) / Double(n) } }
        var kl = 0.0
        for i in 0..<n { for k in 0..<10 {
            let p = Double(probs[i * 10 + k])
            if p > 1e-12 { kl += p * (log(p) - log(max(py[k], 1e-12))) }
        } }
        return exp(kl / Double(n))
    }

    public static func confidentRate(_ probs: [Float], n: Int, threshold: Float = 0.9) -> Double {
        var c = 0
        for i in 0..<n where (0..<10).map({ probs[i * 10 + $0] }).max()! >= threshold { c += 1 }
        return Double(c) / Double(n)
    }

    public static func classHistogram(_ probs: [Float], n: Int) -> [Double] {
        var h = [Double](repeating: 0, count: 10)
        for i in 0..<n {
            var best = 0
            for k in 1..<10 where probs[i * 10 + k] > probs[i * 10 + best] { best = k }
            h[best] += 1 / Double(n)
        }
        return h
    }

    static func sqDist(_ a: [Float], _ i: Int, _ b: [Float], _ j: Int, _ d: Int) -> Double {
        var s: Float = 0
        for k in 0..<d { let t = a[i * d + k] - b[j * d + k]; s += t * t }
        return Double(s)
    }

    /// Improved precision/recall (Kynkäänniemi et al. 2019): a point is covered by
    /// a set when it lies within some member's distance to its k-th nearest neighbour.
    public static func precisionRecall(real: [Float], nr: Int, fake: [Float], nf: Int, d: Int, k: Int = 3) -> (precision: Double, recall: Double) {
        func radii(_ x: [Float], _ n: Int) -> [Double] {
            (0..<n).map { i in
                var ds = (0..<n).filter { $0 != i }.map { sqDist(x, i, x, $0, d) }
                ds.sort()
                return ds[min(k - 1, ds.count - 1)]
            }
        }
        let rr = radii(real, nr), rf = radii(fake, nf)
        var prec = 0
        for j in 0..<nf where (0..<nr).contains(where: { sqDist(fake, j, real, $0, d) <= rr[$0] }) { prec += 1 }
        var rec = 0
        for i in 0..<nr where (0..<nf).contains(where: { sqDist(real, i, fake, $0, d) <= rf[$0] }) { rec += 1 }
        return (Double(prec) / Double(nf), Double(rec) / Double(nr))
    }

    /// Mean pairwise L2 distance between images (pixel space).
    public static func diversity(_ x: [Float], n: Int, d: Int) -> Double {
        var s = 0.0, c = 0
        for i in 0..<n { for j in (i + 1)..<max(i + 1, n) { s += sqDist(x, i, x, j, d).squareRoot(); c += 1 } }
        return c > 0 ? s / Double(c) : 0
    }

    /// Mean squared Sobel gradient magnitude of side x side images.
    public static func sobelEnergy(_ x: [Float], n: Int, side: Int) -> Double {
        var e = 0.0
        for i in 0..<n {
            let o = i * side * side
            func p(_ y: Int, _ xx: Int) -> Float { x[o + y * side + xx] }
            for y in 1..<(side - 1) { for xx in 1..<(side - 1) {
                let gx = p(y - 1, xx + 1) + 2 * p(y, xx + 1) + p(y + 1, xx + 1) - p(y - 1, xx - 1) - 2 * p(y, xx - 1) - p(y + 1, xx - 1)
                let gy = p(y + 1, xx - 1) + 2 * p(y + 1, xx) + p(y + 1, xx + 1) - p(y - 1, xx - 1) - 2 * p(y - 1, xx) - p(y - 1, xx + 1)
                e += Double(gx * gx + gy * gy)
            } }
        }
        return e / Double(n * (side - 2) * (side - 2))
    }
}
