// HelpOverlay.swift: the boxed list of keys for the current view, in pages when it does not fit.

enum HelpOverlay {
    static func keys(_ s: AppState) -> [(String, String)] {
        switch s.screen {
        case .sample: return s.replay != nil ? KeyHelp.replay : KeyHelp.sample
        case .train: return KeyHelp.train
        case .forward: return KeyHelp.forward
        case .compare: return KeyHelp.compare
        }
    }

    /// Keys per page at this window size.
    static func perPage(_ s: AppState) -> Int { max(1, min(s.height - 2, 60) - 4) }
    static func pages(_ s: AppState) -> Int { (keys(s).count + perPage(s) - 1) / perPage(s) }

    static func render(_ s: AppState, _ buf: inout CellBuffer) {
        let keys = keys(s), per = perPage(s), pages = pages(s)
        let page = min(s.helpPage, pages - 1)
        let shown = keys[(page * per)..<min(keys.count, (page + 1) * per)]
        // Without UTF-8 the arrows are spelled out (a "<" key would not scrub).
        func spell(_ k: String) -> String {
            s.caps.unicode ? k : k.replacingOccurrences(of: "←", with: "left").replacingOccurrences(of: "→", with: "right")
                .replacingOccurrences(of: "↑", with: "up").replacingOccurrences(of: "↓", with: "down")
        }
        let keyW = (keys.map { spell($0.0).count }.max() ?? 8) + 2
        // 76 wide, or wider (as the window allows) when spelled-out keys push a description past the edge.
        let w = min(s.width - 4, max(76, keyW + (keys.map { $0.1.count }.max() ?? 0) + 4)), h = min(s.height - 2, shown.count + 4)
        let x = (s.width - w) / 2, y = max(1, (s.height - h) / 2)
        buf.fill(x, y, w, h)
        let title = "Keys — \(["", "Sample", "Train", "Forward", "Compare"][s.screen.rawValue]) view" + (pages > 1 ? " (\(page + 1)/\(pages))" : "")
        buf.box(x, y, w, h, title: title, unicode: s.caps.unicode)
        for (i, (k0, d)) in shown.enumerated() {
            let k = spell(k0)
            buf.text(x + 2, y + 1 + i, k, fg: 226, bold: true, maxWidth: keyW)
            buf.text(x + 2 + keyW, y + 1 + i, d, maxWidth: w - keyW - 4)
        }
        let foot = page + 1 < pages ? "space: more keys · any other key closes this help" : "any key closes this help"
        buf.text(x + 2, y + h - 2, foot, fg: 245, maxWidth: w - 4)
    }
}
