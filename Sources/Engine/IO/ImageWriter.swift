// ImageWriter.swift: grey images out: PNG grids, PGM, IDX.
import Foundation

/// Grey images out: PNG (8-bit grey, zlib through the system library), PGM, IDX.
public enum ImageWriter {
    /// Maps [-1, 1] to 0...255 (clamped).
    public static func byte(_ v: Float) -> UInt8 { UInt8(max(0, min(255, ((v + 1) * 127.5).rounded()))) }

    /// Tiles n images of side s into a grid with `cols` columns and a 1-pixel gap (black).
    public static func grid(_ images: [Float], n: Int, side s: Int, cols: Int, gap: Int = 1) -> (w: Int, h: Int, pixels: [UInt8]) {
        let c = max(1, min(cols, n)), r = (n + c - 1) / c
        let w = c * s + (c + 1) * gap, h = r * s + (r + 1) * gap
        var px = [UInt8](repeating: 0, count: w * h)
        for i in 0..<n {
            let gx = gap + (i % c) * (s + gap), gy = gap + (i / c) * (s + gap)
            for y in 0..<s { for x in 0..<s { px[(gy + y) * w + gx + x] = byte(images[i * s * s + y * s + x]) } }
        }
        return (w, h, px)
    }

    /// Tiles n images in `cols` columns as `grid` does, each with its label under it
    /// (the 5x7 font, centred): for a strip of a trajectory's stages ("t=999").
    /// Cells are as wide as the widest label and 4 pixels, with a 3-pixel gap.
    public static func labelledGrid(_ images: [Float], n: Int, side s: Int, cols: Int, labels: [String]) -> GreyImage {
        let c = max(1, min(cols, n)), r = (n + c - 1) / c, gap = 3
        // (A label's width and 4 pixels: "t=999t=932" ran together with only the gap between.)
        let cellW = max(s, (labels.map { BitmapFont.width(of: $0) }.max() ?? 0) + 4)
        let cellH = s + 2 + BitmapFont.height + BitmapFont.descent
        let w = c * cellW + (c + 1) * gap, h = r * cellH + (r + 1) * gap
        var px = [UInt8](repeating: 0, count: w * h)
        for i in 0..<n {
            let cx = gap + (i % c) * (cellW + gap), cy = gap + (i / c) * (cellH + gap)
            GreyImage.blit(images, index: i, side: s, into: &px, width: w, x: cx + (cellW - s) / 2, y: cy)
            if i < labels.count {
                BitmapFont.draw(labels[i], into: &px, imageWidth: w, x: cx + (cellW - BitmapFont.width(of: labels[i])) / 2, y: cy + s + 2, ink: 200)
            }
        }
        return GreyImage(width: w, height: h, pixels: px)
    }

    public static func png(width: Int, height: Int, grey: [UInt8]) -> [UInt8] {
        func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let td = Array(type.utf8) + data
            return be32(UInt32(data.count)) + td + be32(Gzip.crc(td))
        }
        var raw: [UInt8] = []
        raw.reserveCapacity((width + 1) * height)
        for y in 0..<height { raw.append(0); raw += grey[(y * width)..<((y + 1) * width)] }
        let ihdr = be32(UInt32(width)) + be32(UInt32(height)) + [8, 0, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr) + chunk("IDAT", Gzip.deflate(raw)) + chunk("IEND", [])
    }

    public static func pgm(width: Int, height: Int, grey: [UInt8]) -> [UInt8] {
        Array("P5\n\(width) \(height)\n255\n".utf8) + grey
    }

    /// Writes images by the file's extension: .png (grid), .pgm (grid) or .idx (stack);
    /// a grid `scale` times as large (nearest neighbour, for slides) when scale > 1.
    /// With `labels`, each image has its label under it (`labelledGrid`).
    public static func write(_ path: String, images: [Float], n: Int, side: Int, cols: Int? = nil, scale: Int = 1,
                             labels: [String]? = nil) throws {
        let ext = (path as NSString).pathExtension.lowercased()
        let c = cols ?? Int(Double(n).squareRoot().rounded(.up))
        func scaledGrid() -> GreyImage {
            if let labels { return labelledGrid(images, n: n, side: side, cols: c, labels: labels).scaled(by: scale) }
            let g = grid(images, n: n, side: side, cols: c)
            return GreyImage(width: g.w, height: g.h, pixels: g.pixels).scaled(by: scale)
        }
        let bytes: [UInt8]
        switch ext {
        case "png": let g = scaledGrid(); bytes = png(width: g.width, height: g.height, grey: g.pixels)
        case "pgm": let g = scaledGrid(); bytes = pgm(width: g.width, height: g.height, grey: g.pixels)
        case "idx": bytes = IDXFile(dims: [n, side, side], bytes: images.map(byte)).encoded()
        default: throw EngineError.invalidArgument("output \(path) must end in .png, .pgm or .idx")
        }
        try AtomicFile.write(path, data: Data(bytes))
    }
}
