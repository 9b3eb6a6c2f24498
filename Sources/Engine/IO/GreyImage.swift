// GreyImage.swift: a grey picture drawn here (GIF frames, trajectory sheets), scaled for projectors.

/// A grey picture (row-major bytes), for figures drawn here: GIF frames, trajectory sheets.
public struct GreyImage: Sendable {
    public var width: Int, height: Int, pixels: [UInt8]
    public init(width: Int, height: Int, pixels: [UInt8]) { self.width = width; self.height = height; self.pixels = pixels }

    /// Draws image `index` of `images` (side x side, values in [-1, 1], bytes as
    /// the PNG export maps them) into `pixels` (a picture `width` wide) at (x, y).
    public static func blit(_ images: [Float], index: Int, side: Int, into pixels: inout [UInt8], width: Int, x: Int, y: Int) {
        let base = index * side * side
        for r in 0..<side {
            for c in 0..<side { pixels[(y + r) * width + x + c] = ImageWriter.byte(images[base + r * side + c]) }
        }
    }

    /// Scaled by an integer factor (nearest neighbour: pixels stay sharp on a projector).
    public func scaled(by s: Int) -> GreyImage {
        guard s > 1 else { return self }
        let w = width * s, h = height * s
        var out = [UInt8](repeating: 0, count: w * h)
        for y in 0..<h {
            let src = (y / s) * width
            for x in 0..<w { out[y * w + x] = pixels[src + x / s] }
        }
        return GreyImage(width: w, height: h, pixels: out)
    }
}
