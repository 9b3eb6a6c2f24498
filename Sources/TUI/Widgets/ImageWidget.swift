// ImageWidget.swift: an image as half-block, braille or ASCII cells.
import Engine

/// How a 28x28 image becomes characters.
public enum RenderMode: String, CaseIterable, Sendable {
    case halfBlock = "half-block", braille, ascii
    public var next: RenderMode {
        let all = RenderMode.allCases
        return all[(all.firstIndex(of: self)! + 1) % all.count]
    }

    /// What this mode draws on a terminal of `caps`: ASCII without UTF-8, and half-block
    /// without colours (its cells are two greys) as ASCII shades too.
    public func drawn(on caps: TermCaps) -> RenderMode {
        (!caps.unicode || (caps.colors < 8 && self == .halfBlock)) && self != .ascii ? .ascii : self
    }
}

/// Draws one square grey image (values mapped from a fixed range, never
/// auto-scaled) as half-blocks (1x2 pixels per cell, fg/bg greys), braille
/// (2x4 dots per cell, ordered dithering) or an ASCII ramp.
public struct ImageWidget {
    public var pixels: [Float]
    public var side: Int
    /// Values at lo map to black, at hi to white; outside the range is marked.
    public var lo: Float, hi: Float
    public var mode: RenderMode
    /// 1 = every pixel, 2 = 2x2 pixels averaged (a 28x28 digit in 14x7
    /// half-block cells), or in braille their brightest (7x4 cells).
    public var scale: Int = 1
    /// Pixels per side drawn, when not side / scale: any size up to `side`, each pixel the
    /// area-weighted mean (in braille the brightest) of the source pixels it covers.
    public var fit: Int? = nil
    public var caps: TermCaps

    public init(pixels: [Float], side: Int, lo: Float = -1, hi: Float = 1, mode: RenderMode, scale: Int = 1, caps: TermCaps) {
        self.pixels = pixels; self.side = side; self.lo = lo; self.hi = hi; self.mode = mode; self.scale = scale; self.caps = caps
    }

    /// Cells this image takes: (columns, rows).
    public static func size(side: Int, mode: RenderMode, scale: Int) -> (w: Int, h: Int) {
        size(pixels: side / scale, mode: mode)
    }

    /// Cells an image drawn s pixels a side takes: (columns, rows).
    public static func size(pixels s: Int, mode: RenderMode) -> (w: Int, h: Int) {
        switch mode {
        case .halfBlock: return (s, (s + 1) / 2)
        case .braille: return ((s + 1) / 2, (s + 3) / 4)
        case .ascii: return (s, (s + 1) / 2)
        }
    }

    static let asciiRamp: [Character] = Array(" .:-=+*#%@")
    /// 2x4 ordered-dither thresholds (Bayer), in [0, 1).
    static let bayer: [[Float]] = [[0, 4], [6, 2], [1, 5], [7, 3]].map { $0.map { ($0 + 0.5) / 8 } }

    /// Pixel (x, y) at the widget's scale, normalised so lo -> 0 and hi -> 1 (may leave [0, 1]).
    /// `brightest` takes the block's maximum instead of its mean: in braille a
    /// dot for any ink, so a halved stroke stays whole (an average turns
    /// 1-pixel strokes grey, and the dither thins them out).
    func value(_ x: Int, _ y: Int, scale: Int, brightest: Bool = false, spans: [[(Int, Float)]]? = nil) -> Float {
        if let out = resampledSide { return resampled(x, y, spans: spans ?? ImageWidget.spans(side: side, out: out), brightest: brightest) }
        let s = fit == side ? 1 : scale
        var acc: Float = 0, top = -Float.infinity
        for dy in 0..<s { for dx in 0..<s {
            let yy = min(side - 1, y * s + dy), xx = min(side - 1, x * s + dx)
            acc += pixels[yy * side + xx]; top = max(top, pixels[yy * side + xx])
        } }
        return ((brightest ? top : acc / Float(s * s)) - lo) / (hi - lo)
    }

    /// `fit` where neither every pixel nor side / scale draws it (the box filter's sizes).
    var resampledSide: Int? { fit.flatMap { $0 != side && $0 * scale != side ? $0 : nil } }

    /// For each of `out` pixels along a side, the source pixels it covers and how much of each.
    static func spans(side: Int, out: Int) -> [[(Int, Float)]] {
        let step = Double(side) / Double(max(1, out))
        return (0..<out).map { i in
            let a = Double(i) * step, b = a + step
            var r: [(Int, Float)] = []
            var k = Int(a)
            while Double(k) < b && k < side {
                let w = min(b, Double(k + 1)) - max(a, Double(k))
                if w > 1e-9 { r.append((k, Float(w))) }
                k += 1
            }
            return r
        }
    }

    /// Pixel (x, y) of the image drawn `spans.count` pixels a side: the source pixels under it,
    /// weighted by how much of each it covers.
    func resampled(_ x: Int, _ y: Int, spans: [[(Int, Float)]], brightest: Bool) -> Float {
        var acc: Float = 0, total: Float = 0, top = -Float.infinity
        for (yy, wy) in spans[y] { for (xx, wx) in spans[x] {
            let v = pixels[yy * side + xx]
            acc += v * wx * wy; total += wx * wy; top = max(top, v)
        } }
        return ((brightest ? top : acc / max(total, 1e-9)) - lo) / (hi - lo)
    }

    /// 4x4 ordered-dither thresholds (Bayer), in (0, 1): an 8-colour terminal's black and white make greys.
    static let bayer4: [[Float]] = [[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]].map { $0.map { ($0 + 0.5) / 16 } }

    /// xterm-256 grey for a normalised value at pixel (px, py); out-of-range values get a marker colour.
    /// With 8 colours (black and white only) a pixel is white where its value passes the pixel's
    /// dither threshold, so a blurry x̂0 stays a soft blob rather than a hard-edged one.
    func grey(_ v: Float, _ px: Int = 0, _ py: Int = 0) -> Int16 {
        if v > 1.02 { return 203 }   // salmon: above the range
        if v < -0.02 { return 69 }   // blue: below the range
        let c = min(1, max(0, v))
        if caps.colors >= 256 {
            let level = Int((c * 25).rounded())      // 0...25: black, 24 greys, white
            if level == 0 { return 16 }
            if level == 25 { return 231 }
            return Int16(231 + level)
        }
        if caps.colors >= 16 { return [0, 8, 7, 15][min(3, Int(c * 4))] }
        // Dithered between 0.25 and 0.75 only: a stroke or paper halved to a near-white or near-black
        // grey stays solid (dithered all the way, halved digits broke into dots).
        return min(1, max(0, (c - 0.25) * 2)) > ImageWidget.bayer4[py & 3][px & 3] ? 7 : 0
    }

    public func render(into buf: inout CellBuffer, x: Int, y: Int) {
        // (Once per image, not per pixel.)
        let spans = resampledSide.map { ImageWidget.spans(side: side, out: $0) }
        let mode = self.mode.drawn(on: caps)
        switch mode {
        case .halfBlock:
            let s = fit ?? side / scale
            for cy in 0..<((s + 1) / 2) {
                for cx in 0..<s {
                    let top = value(cx, 2 * cy, scale: scale, spans: spans)
                    let bot = 2 * cy + 1 < s ? value(cx, 2 * cy + 1, scale: scale, spans: spans) : top
                    buf.put(x + cx, y + cy, "▀", fg: grey(top, cx, 2 * cy), bg: grey(bot, cx, 2 * cy + 1))
                }
            }
        case .braille:
            let s = fit ?? side / scale
            let cols = (s + 1) / 2, rows = (s + 3) / 4
            for cy in 0..<rows {
                for cx in 0..<cols {
                    var bits: UInt32 = 0
                    var outside = false
                    for dy in 0..<4 { for dx in 0..<2 {
                        let px = cx * 2 + dx, py = cy * 4 + dy
                        guard px < s, py < s else { continue }
                        let v = value(px, py, scale: scale, brightest: true, spans: spans)
                        if v > 1.02 || v < -0.02 { outside = true }
                        if v > ImageWidget.bayer[dy][dx] { bits |= ImageWidget.brailleBit(dx, dy) }
                    } }
                    let ch = Character(Unicode.Scalar(0x2800 + bits)!)
                    buf.put(x + cx, y + cy, ch, fg: outside && caps.colors >= 8 ? 203 : -1)
                }
            }
        case .ascii:
            let s = fit ?? side / scale
            let ramp = ImageWidget.asciiRamp
            for cy in 0..<((s + 1) / 2) {
                for cx in 0..<s {
                    let a = value(cx, 2 * cy, scale: scale, spans: spans)
                    let b = 2 * cy + 1 < s ? value(cx, 2 * cy + 1, scale: scale, spans: spans) : a
                    let v = (a + b) / 2
                    let idx = Int((min(1, max(0, v)) * Float(ramp.count - 1)).rounded())
                    let out = a > 1.02 || b > 1.02 || a < -0.02 || b < -0.02
                    buf.put(x + cx, y + cy, out && !caps.unicode && caps.colors == 0 ? "!" : ramp[idx],
                            fg: out && caps.colors >= 8 ? 203 : -1)
                }
            }
        }
    }

    /// Unicode braille dot numbering: column 0 dots 1,2,3,7; column 1 dots 4,5,6,8.
    static func brailleBit(_ dx: Int, _ dy: Int) -> UInt32 {
        let table: [[UInt32]] = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]]
        return table[dy][dx]
    }
}
