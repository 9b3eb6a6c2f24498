// HelpOverlay.swift: the boxed list of keys for the current view, in pages when it does not fit.

enum HelpOverlay {
    static func keys(_ s: AppState) -> [(String, String)] {
        switch s.screen {
        case .sample:
            // A recording without a fork has no other side for tab to switch to.
            return s.replay == nil ? KeyHelp.sample : KeyHelp.replay.filter { $0.0 != "tab" || s.replayForks }
        case .train: return KeyHelp.train
        case .forward: return KeyHelp.forward
        case .compare: return KeyHelp.compare
        }
    }

    /// Rows per page at this window size.
    static func perPage(_ s: AppState) -> Int { max(1, min(s.height - 2, 60) - 4) }
    static func pages(_ s: AppState) -> Int { layout(s).pages.count }

    /// Without UTF-8 the arrows are spelled out (a "<" key would not scrub), and ε̂ (not "e", Euler's number).
    static func spell(_ k: String, unicode: Bool) -> String {
        unicode ? k : k.replacingOccurrences(of: "←", with: "left").replacingOccurrences(of: "→", with: "right")
            .replacingOccurrences(of: "↑", with: "up").replacingOccurrences(of: "↓", with: "down")
            .replacingOccurrences(of: "ε̂", with: "eps")
    }

    /// The view's keys and descriptions as this terminal writes them.
    static func spelled(_ s: AppState) -> [(String, String)] {
        keys(s).map { k in
            // Without colours there is no red or blue: ASCII marks such a pixel "!" (ImageWidget), the others do not.
            guard k.0 == "red / blue", s.caps.colors == 0 else { return k }
            return s.caps.unicode ? ("past range", "pixels past the range shown are not marked without colours (side panel: x̂0 past)")
                                  : ("!", "a pixel past the range shown")
        }.map { (spell($0.0, unicode: s.caps.unicode), spell($0.1, unicode: s.caps.unicode)) }
    }

    /// The box's key column and width, and its pages: each key with its
    /// description word-wrapped to the box (continuation rows indented under
    /// the description), as many keys per page as their rows fit.
    static func layout(_ s: AppState) -> (keyW: Int, w: Int, pages: [[(key: String, rows: [String])]]) {
        let keys = spelled(s)
        let keyW = (keys.map { $0.0.count }.max() ?? 8) + 2
        // 76 wide, or wider (as the window allows) when spelled-out keys push a description past the edge.
        let w = min(s.width - 4, max(76, keyW + (keys.map { $0.1.count }.max() ?? 0) + 4))
        let descW = max(8, w - keyW - 4), per = perPage(s)
        var pages: [[(key: String, rows: [String])]] = [[]], used = 0
        for (k, d) in keys {
            var rows: [String] = [], line = ""
            for word in d.split(separator: " ") {
                if !line.isEmpty && line.count + 1 + word.count > descW { rows.append(line); line = "" }
                line += (line.isEmpty ? "" : " ") + word
            }
            rows.append(line)
            rows = Array(rows.prefix(per))
            if used + rows.count > per && !pages[pages.count - 1].isEmpty { pages.append([]); used = 0 }
            pages[pages.count - 1].append((k, rows))
            used += rows.count
        }
        return (keyW, w, pages)
    }

    static func render(_ s: AppState, _ buf: inout CellBuffer) {
        let (keyW, w, pages) = layout(s)
        let page = min(s.helpPage, pages.count - 1), shown = pages[page]
        let h = min(s.height - 2, shown.reduce(0) { $0 + $1.rows.count } + 4)
        let x = (s.width - w) / 2, y = max(1, (s.height - h) / 2)
        // A box down to the status line's row hides all of that row, not all but its ends.
        if y + h - 1 >= s.height - 2 { buf.fill(0, s.height - 2, s.width, 1) }
        buf.fill(x, y, w, h)
        let title = "Keys — \(["", "Sample", "Train", "Forward", "Compare"][s.screen.rawValue]) view" + (pages.count > 1 ? " (\(page + 1)/\(pages.count))" : "")
        buf.box(x, y, w, h, title: title, unicode: s.caps.unicode)
        var row = y + 1
        for (k, rows) in shown {
            buf.text(x + 2, row, k, fg: 226, bold: true, maxWidth: keyW)
            for r in rows { buf.text(x + 2 + keyW, row, r, maxWidth: w - keyW - 4); row += 1 }
        }
        buf.text(x + 2, y + h - 2, footer(s), fg: 245, maxWidth: w - 4)
    }

    /// What the keys do while the help shows (in its box and on the hint row under it).
    static func footer(_ s: AppState) -> String {
        let pages = layout(s).pages.count, page = min(s.helpPage, pages - 1)
        // (A run the help paused plays on when it closes.)
        let close = s.helpPaused ? "closes this help and the run plays on" : "closes this help"
        return page + 1 < pages ? "space: more keys · any other key \(close)" : "any key \(close)"
    }
}
