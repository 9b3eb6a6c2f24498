// ImageGrid.swift: a grid of small digit images in a box.

/// Lays out up to `n` small digits (14x7 cells each, 1 cell apart) in a w x h box.
func drawGrid(_ buf: inout CellBuffer, images: [Float], n: Int, side: Int, x: Int, y: Int, w: Int, h: Int,
              lo: Float, hi: Float, mode: RenderMode, caps: TermCaps) -> Int {
    let scale = mode == .braille ? 1 : 2
    let cell = ImageWidget.size(side: side, mode: mode, scale: scale)
    let cols = max(1, (w + 1) / (cell.w + 1)), rows = max(1, (h + 1) / (cell.h + 1))
    let shown = min(n, cols * rows, images.count / (side * side))
    for i in 0..<shown {
        let img = Array(images[(i * side * side)..<((i + 1) * side * side)])
        let cx = x + (i % cols) * (cell.w + 1), cy = y + (i / cols) * (cell.h + 1)
        guard cx + cell.w <= x + w, cy + cell.h <= y + h + 1 else { continue }
        ImageWidget(pixels: img, side: side, lo: lo, hi: hi, mode: mode, scale: scale, caps: caps).render(into: &buf, x: cx, y: cy)
    }
    return shown
}
