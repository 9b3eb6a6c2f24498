// TrajectorySheet.swift: a contact sheet of a trajectory: x_t and x̂0 at chosen steps, labelled.

/// A contact sheet (`ddpm sample --trajectory`): one column per chosen step,
/// labelled with its t, and a last column with the final samples; for each
/// digit two rows, x_t (scaled to its display range, as the explorer shows
/// it) above x̂0, labelled on the left.
public enum TrajectorySheet {
    public struct Column {
        public var label: String
        /// `rows` images each (x_t already divided by its display range).
        public var xt: [Float], x0: [Float]
        public init(label: String, xt: [Float], x0: [Float]) { self.label = label; self.xt = xt; self.x0 = x0 }
    }

    static let margin = 4, head = 12, labelW = 44, colGap = 6, pairGap = 1, rowGap = 5

    /// The sheet for `rows` digits of side `side`.
    public static func image(_ columns: [Column], rows: Int, side: Int) -> GreyImage {
        let w = 2 * margin + labelW + columns.count * (side + colGap) - colGap
        let pairH = 2 * side + pairGap
        let h = 2 * margin + head + rows * (pairH + rowGap) - rowGap
        var px = [UInt8](repeating: 0, count: w * h)
        for (c, col) in columns.enumerated() {
            let x0 = margin + labelW + c * (side + colGap)
            let lw = BitmapFont.width(of: col.label)
            BitmapFont.draw(col.label, into: &px, imageWidth: w, x: x0 + (side - lw) / 2, y: margin, ink: 200)
            for r in 0..<rows {
                let y0 = margin + head + r * (pairH + rowGap)
                GreyImage.blit(col.xt, index: r, side: side, into: &px, width: w, x: x0, y: y0)
                GreyImage.blit(col.x0, index: r, side: side, into: &px, width: w, x: x0, y: y0 + side + pairGap)
            }
        }
        for r in 0..<rows {
            let y0 = margin + head + r * (pairH + rowGap)
            BitmapFont.draw("\(r + 1) x_t", into: &px, imageWidth: w, x: margin, y: y0 + (side - BitmapFont.height) / 2, ink: 160)
            BitmapFont.draw("x0", into: &px, imageWidth: w, x: margin + 6 * ("\(r + 1) ".count), y: y0 + side + pairGap + (side - BitmapFont.height) / 2, ink: 160)
        }
        return GreyImage(width: w, height: h, pixels: px)
    }
}
