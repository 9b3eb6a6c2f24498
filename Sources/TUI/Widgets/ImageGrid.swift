// ImageGrid.swift: a grid of small digit images in a box.
import Engine

/// Lays out up to `n` small digits (14x7 cells each, 1 cell apart) in a w x h box.
func drawGrid(_ buf: inout CellBuffer, images: [Float], n: Int, side: Int, x: Int, y: Int, w: Int, h: Int,
              lo: Float, hi: Float, mode: RenderMode, caps: TermCaps,
              readings: [DigitReader.Reading] = [], selected: Int? = nil) -> Int {
    let scale = mode == .braille ? 1 : 2
    let cell = ImageWidget.size(side: side, mode: mode, scale: scale)
    let (cols, rows) = gridFit(width: w, height: h, side: side, mode: mode)
    let shown = min(n, cols * rows, images.count / (side * side))
    for i in 0..<shown {
        let img = Array(images[(i * side * side)..<((i + 1) * side * side)])
        let cx = x + (i % cols) * (cell.w + 1), cy = y + (i / cols) * (cell.h + 1)
        guard cx + cell.w <= x + w, cy + cell.h <= y + h + 1 else { continue }
        ImageWidget(pixels: img, side: side, lo: lo, hi: hi, mode: mode, scale: scale, caps: caps).render(into: &buf, x: cx, y: cy)
        // The row under the digit: which digit the classifier reads (coloured by how sure), the selection.
        guard cy + cell.h < y + h + 1 else { continue }
        if i < readings.count {
            let r = readings[i]
            let color: Int16 = r.isConfidentDigit ? 114 : (r.p >= 0.5 && r.hasInk ? 226 : 245)
            buf.text(cx, cy + cell.h, r.label, fg: color, reverse: i == selected, maxWidth: cell.w)
        } else if i == selected {
            buf.text(cx, cy + cell.h, String(repeating: caps.unicode ? "▔" : "^", count: cell.w), fg: 226)
        }
    }
    return shown
}

/// Columns and rows of digits `drawGrid` fits in a w x h box.
func gridFit(width w: Int, height h: Int, side: Int, mode: RenderMode) -> (cols: Int, rows: Int) {
    let cell = ImageWidget.size(side: side, mode: mode, scale: mode == .braille ? 1 : 2)
    return (max(1, (w + 1) / (cell.w + 1)), max(1, (h + 1) / (cell.h + 1)))
}
