// ImageGrid.swift: a grid of small digit images in a box.
import Engine

/// Lays out up to `n` small digits (14x7 cells each, 1 cell apart) in a w x h box.
func drawGrid(_ buf: inout CellBuffer, images: [Float], n: Int, side: Int, x: Int, y: Int, w: Int, h: Int,
              lo: Float, hi: Float, mode: RenderMode, caps: TermCaps,
              readings: [DigitReader.Reading] = [], selected: Int? = nil) -> Int {
    let scale = mode == .braille ? 1 : 2
    let (cols, rows, pixels) = gridFit(width: w, height: h, side: side, mode: mode, n: n)
    let cell = ImageWidget.size(pixels: pixels, mode: mode)
    let shown = min(n, cols * rows, images.count / (side * side))
    for i in 0..<shown {
        let img = Array(images[(i * side * side)..<((i + 1) * side * side)])
        let cx = x + (i % cols) * (cell.w + 1), cy = y + (i / cols) * (cell.h + 1)
        guard cx + cell.w <= x + w, cy + cell.h <= y + h + 1 else { continue }
        var widget = ImageWidget(pixels: img, side: side, lo: lo, hi: hi, mode: mode, scale: scale, caps: caps)
        if pixels != side / scale { widget.fit = pixels }
        widget.render(into: &buf, x: cx, y: cy)
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

/// Columns and rows of digits `drawGrid` fits in a w x h box, and how many pixels a side it
/// draws them: half-block and ASCII halve a digit (a 28x28 one in 14x7 cells) unless the box
/// holds all n of them larger (up to every pixel, 28x14 cells: a big window, a projector);
/// braille draws every pixel in the same 14x7 cells.
func gridFit(width w: Int, height h: Int, side: Int, mode: RenderMode, n: Int = .max) -> (cols: Int, rows: Int, pixels: Int) {
    // (Digits that fit whole; at least one a row and column when even the least size does not.)
    func fit(_ px: Int) -> (cols: Int, rows: Int, pixels: Int) {
        let cell = ImageWidget.size(pixels: px, mode: mode)
        return ((w + 1) / (cell.w + 1), (h + 1) / (cell.h + 1), px)
    }
    let least = mode == .braille ? side : max(1, side / 2)
    if mode != .braille && n != .max && n > 0 {
        for px in Swift.stride(from: side, to: least, by: -1) {
            // (A larger size only where every row keeps the row under it for its labels.)
            let cell = ImageWidget.size(pixels: px, mode: mode)
            let cols = (w + 1) / (cell.w + 1), rows = h / (cell.h + 1)
            if cols * rows >= n { return (cols, rows, px) }
        }
    }
    let f = fit(least)
    return (max(1, f.cols), max(1, f.rows), least)
}
