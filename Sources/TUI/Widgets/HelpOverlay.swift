// HelpOverlay.swift: the boxed list of keys for the current view.

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
