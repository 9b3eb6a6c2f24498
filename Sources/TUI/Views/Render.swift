import Engine
import Foundation

/// Draws the whole screen for a state: a pure function, tested by snapshots.
public func render(_ s: AppState) -> CellBuffer {
    var buf = CellBuffer(width: s.width, height: s.height)
    if s.tooSmall {
        let msg = "Terminal too small: \(s.width)x\(s.height), need \(AppState.minWidth)x\(AppState.minHeight). Enlarge it or press q."
        // Word-wrapped so that even a 20x5 window shows all of it.
        var line = "", y = 0
        for word in msg.split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > s.width { buf.text(0, y, line, bold: true); y += 1; line = "" }
            line += (line.isEmpty ? "" : " ") + word
        }
        buf.text(0, y, line, bold: true)
        return buf
    }
    TabBar.render(s, &buf)
    switch s.screen {
    case .sample: SampleView.render(s, &buf)
    case .train: TrainView.render(s, &buf)
    case .forward: ForwardView.render(s, &buf)
    }
    if s.showHelp { HelpOverlay.render(s, &buf) }
    if !s.caps.unicode { buf.asciify() }
    return buf
}

extension CellBuffer {
    static let asciiMap: [Character: Character] = [
        "β": "b", "ᾱ": "a", "ε": "e", "ε̂": "e", "x̂": "x", "·": "-", "…": ".", "—": "-", "σ": "s", "η": "n", "²": "2",
        "∞": "~", "←": "<", "→": ">", "↑": "^", "↓": "v", "≤": "<", "β̃": "b", "│": "|", "─": "-", "▲": "^",
    ]
    /// Replaces what a non-UTF-8 terminal cannot show.
    mutating func asciify() {
        for y in 0..<height { for x in 0..<width {
            var c = self[x, y]
            if !c.ch.isASCII { c.ch = CellBuffer.asciiMap[c.ch] ?? "?"; self[x, y] = c }
        } }
    }
}

enum TabBar {
    static func render(_ s: AppState, _ buf: inout CellBuffer) {
        var x = buf.text(0, 0, " DDPM Explorer ", bold: true, reverse: true)
        for (scr, name) in [(Screen.sample, "Sample"), (.train, "Train"), (.forward, "Forward")] {
            x += 1
            x += buf.text(x, 0, " \(scr.rawValue) \(name) ", bold: s.screen == scr, reverse: s.screen == scr)
        }
        let hint = "? help  q quit "
        buf.text(s.width - hint.count, 0, hint, fg: 245)
    }
}

enum HelpOverlay {
    static func render(_ s: AppState, _ buf: inout CellBuffer) {
        let keys: [(String, String)]
        switch s.screen {
        case .sample: keys = KeyHelp.sample
        case .train: keys = KeyHelp.train
        case .forward: keys = KeyHelp.forward
        }
        let w = min(s.width - 4, 68), h = min(s.height - 2, keys.count + 4)
        let x = (s.width - w) / 2, y = max(1, (s.height - h) / 2)
        buf.fill(x, y, w, h)
        buf.box(x, y, w, h, title: "Keys — \(["", "Sample", "Train", "Forward"][s.screen.rawValue]) view", unicode: s.caps.unicode)
        for (i, (k, d)) in keys.enumerated() where i < h - 4 {
            buf.text(x + 2, y + 1 + i, k.padding(toLength: 14, withPad: " ", startingAt: 0), fg: 226, bold: true)
            buf.text(x + 16, y + 1 + i, d, maxWidth: w - 18)
        }
        buf.text(x + 2, y + h - 2, "any key closes this help", fg: 245)
    }
}

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
