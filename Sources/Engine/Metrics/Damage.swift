// Damage.swift: known damage to real digits, in levels, for checking that a
// metric sees it (Heusel et al. 2017, section 3 and appendix: FID must rise
// with blur, noise, implanted rectangles, swirl, salt-and-pepper and dropped modes).
import Foundation

/// One kind of damage to a set of 28x28 images in [-1, 1] (background -1),
/// with four increasing levels.
public enum Damage: String, CaseIterable, Sendable {
    case blur, noise, saltPepper = "salt-pepper", erasing, swirl, dropClasses = "drop-classes", repeats

    /// The four levels, mildest first: blur sigma in pixels, noise standard deviation,
    /// share of pixels set to black or white, share of the image erased by one
    /// rectangle, swirl angle in radians at the centre, classes removed, and
    /// the share of distinct images in the set.
    public var levels: [Double] {
        switch self {
        case .blur: [0.75, 1.0, 1.5, 2.0]
        case .noise: [0.2, 0.35, 0.5, 0.8]
        case .saltPepper: [0.03, 0.06, 0.12, 0.25]
        case .erasing: [0.15, 0.25, 0.35, 0.5]
        case .swirl: [1.0, 1.5, 2.5, 4.0]
        case .dropClasses: [2, 4, 6, 8]
        case .repeats: [0.25, 0.1, 0.04, 0.01]
        }
    }

    /// `n` damaged images drawn from `pool` (which must hold at least n images;
    /// the mode-dropping kinds choose among its images by label).
    public func apply(level: Double, to pool: Dataset, n: Int, seed: UInt64) -> [Float] {
        precondition(pool.side == MNIST.side && pool.count >= n && n > 0)
        let P = MNIST.pixels, side = MNIST.side
        var rng = RNG(seed: seed, stream: 0xDA3A6E)
        var out = [Float](repeating: -1, count: n * P)
        func copy(_ src: Int, to dst: Int) {
            for q in 0..<P { out[dst * P + q] = pool.images[src * P + q] }
        }
        switch self {
        case .dropClasses:
            let dropped = Set(rng.permutation(10).prefix(Int(level)))
            let kept = (0..<pool.count).filter { !dropped.contains(Int(pool.labels[$0])) }
            for i in 0..<n { copy(kept[rng.int(kept.count)], to: i) }
            return out
        case .repeats:
            let distinct = max(1, Int((Double(n) * level).rounded()))
            let chosen = rng.permutation(pool.count).prefix(distinct).map { $0 }
            for i in 0..<n { copy(chosen[i % distinct], to: i) }
            return out
        default:
            for i in 0..<n { copy(i, to: i) }
        }
        out.withUnsafeMutableBufferPointer { all in for i in 0..<n {
            let img = UnsafeMutableBufferPointer(rebasing: all[(i * P)..<((i + 1) * P)])
            switch self {
            case .blur: Self.gaussianBlur(img, side: side, sigma: level)
            case .noise:
                for q in 0..<P { img[q] = min(1, max(-1, img[q] + Float(level * rng.normal()))) }
            case .saltPepper:
                for q in 0..<P where rng.uniform() < level { img[q] = rng.uniform() < 0.5 ? -1 : 1 }
            case .erasing:
                // One rectangle of the given area share, aspect ratio in [1/2, 2], anywhere on the image.
                let area = level * Double(P), aspect = exp((rng.uniform() * 2 - 1) * log(2.0))
                let h = min(side, max(1, Int((area * aspect).squareRoot().rounded())))
                let w = min(side, max(1, Int((area / Double(h)).rounded())))
                let y0 = rng.int(side - h + 1), x0 = rng.int(side - w + 1)
                for y in y0..<(y0 + h) { for x in x0..<(x0 + w) { img[y * side + x] = -1 } }
            case .swirl: Self.swirl(img, side: side, strength: level)
            case .dropClasses, .repeats: break
            }
        } }
        return out
    }

    /// Separable Gaussian blur (kernel radius 3 sigma), background beyond the edges.
    static func gaussianBlur(_ img: UnsafeMutableBufferPointer<Float>, side: Int, sigma: Double) {
        let r = Int((3 * sigma).rounded(.up))
        var k = (-r...r).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let s = k.reduce(0, +)
        k = k.map { $0 / s }
        var tmp = [Float](repeating: 0, count: side * side)
        func at(_ y: Int, _ x: Int, _ src: (Int) -> Float) -> Float {
            (0..<side).contains(y) && (0..<side).contains(x) ? src(y * side + x) : -1
        }
        for y in 0..<side { for x in 0..<side {
            var a = 0.0
            for j in -r...r { a += k[j + r] * Double(at(y, x + j) { img[$0] }) }
            tmp[y * side + x] = Float(a)
        } }
        for y in 0..<side { for x in 0..<side {
            var a = 0.0
            for j in -r...r { a += k[j + r] * Double(at(y + j, x) { tmp[$0] }) }
            img[y * side + x] = Float(a)
        } }
    }

    /// Swirl about the centre (as scikit-image's `swirl`): a pixel at radius rho
    /// samples the source rotated by strength * exp(-rho / 7); bilinear, background outside.
    static func swirl(_ img: UnsafeMutableBufferPointer<Float>, side: Int, strength: Double) {
        let src = Array(img), c = Double(side - 1) / 2
        func at(_ y: Int, _ x: Int) -> Double {
            (0..<side).contains(y) && (0..<side).contains(x) ? Double(src[y * side + x]) : -1
        }
        for y in 0..<side { for x in 0..<side {
            let dx = Double(x) - c, dy = Double(y) - c
            let rho = (dx * dx + dy * dy).squareRoot()
            let theta = atan2(dy, dx) + strength * exp(-rho / 7)
            let sx = c + rho * cos(theta), sy = c + rho * sin(theta)
            let x0 = Int(sx.rounded(.down)), y0 = Int(sy.rounded(.down))
            let fx = sx - Double(x0), fy = sy - Double(y0)
            let v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1))
            img[y * side + x] = Float(v)
        } }
    }
}
