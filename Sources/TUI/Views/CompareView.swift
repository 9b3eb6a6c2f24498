// CompareView.swift: the compare view (4): one row of digits per value of one setting.
import Engine
import Foundation

/// The chapter's ablations live: one row per value of the compared setting,
/// the same seeds in every column, all rows stepping together. Beside each
/// row: its diversity (mean per-pixel variance over the row), how many of its
/// digits the classifier reads confidently, and its wall time.
enum CompareView {
    /// The digit size that fits the window, the largest for which every row
    /// fits: half-block or ASCII at scale 2 (14x7 cells), 3 (9x5) or 4 (7x4);
    /// braille at scale 1 (14x7 cells, every pixel a dot) or 2 (7x4, a dot for
    /// the brightest of 2x2 pixels; a row is at least 4 lines for its labels,
    /// so nothing smaller would fit more).
    struct Layout {
        let scale: Int, cell: (w: Int, h: Int), rowH: Int, labelW: Int, top: Int, perRow: Int, rowsShown: Int
        /// Pixels a side when not side / scale: larger than half on a big window where every row and digit
        /// fits larger, or smaller than half where only that fits all n digits across (nil: side / scale).
        let fit: Int?
        /// Below 30 rows the heading gives its row to the digits.
        init(width W: Int, height H: Int, rows: Int, n: Int, side: Int, mode: RenderMode = .halfBlock) {
            top = H < 30 ? 1 : 2
            labelW = W < 100 ? 13 : 16   // 8 digits of 7 cells fit beside it at 80 columns
            let avail = H - 3 - top
            let scales = mode == .braille ? [1, 2] : [2, 3, 4]
            var pick = scales.last!
            for s in scales {
                // Braille halved is a few dots a stroke: full size goes first, without the blank line between rows.
                let c = ImageWidget.size(side: side, mode: mode, scale: s)
                if rows * (max(4, c.h) + 1) <= avail + 1 || (mode == .braille && s == 1 && rows * c.h <= avail) { pick = s; break }
            }
            scale = pick
            // Larger than half, up to every pixel, where all the rows and all n digits a row still fit.
            var larger: Int? = nil
            if mode != .braille && pick == 2 {
                for px in Swift.stride(from: side, to: side / 2, by: -1) {
                    let c = ImageWidget.size(pixels: px, mode: mode)
                    if rows * (max(4, c.h) + 1) <= avail + 1 && (W - labelW - 1) / (c.w + 1) >= n { larger = px; break }
                }
            }
            // Fewer than n digits a row at half size (few rows on a wide-but-short window: 6 of 8 at 120x40):
            // smaller, down to a quarter, where all n fit across.
            let across = W - labelW - 1
            if larger == nil && mode != .braille && pick == 2 && across / (ImageWidget.size(side: side, mode: mode, scale: 2).w + 1) < n {
                larger = Swift.stride(from: side / 2 - 1, through: side / 4, by: -1).first { px in
                    let c = ImageWidget.size(pixels: px, mode: mode)
                    return rows * (max(4, c.h) + 1) <= avail + 1 && across / (c.w + 1) >= n
                }
            }
            fit = larger
            cell = larger.map { ImageWidget.size(pixels: $0, mode: mode) } ?? ImageWidget.size(side: side, mode: mode, scale: pick)
            let fullH = max(4, cell.h) + 1
            rowH = rows * fullH <= avail + 1 ? fullH : max(4, cell.h)
            perRow = max(1, min(n, (W - labelW - 1) / (cell.w + 1)))
            rowsShown = max(1, min(rows, (avail + (rowH > max(4, cell.h) ? 1 : 0)) / rowH))
        }
    }

    /// The first row on screen: the one ↑/↓ chose, kept so that the last screenful is full.
    static func firstRow(_ s: AppState, rows: Int, shown: Int) -> Int {
        max(0, min(s.compareFirstRow, rows - shown))
    }

    /// The keys that scroll the rows, as this terminal can show them.
    static func scrollKeys(_ s: AppState) -> String { s.caps.unicode ? "↑↓" : "up/down" }

    /// The rows that fit in the window now (nil before the comparison has rows).
    static func rowsShown(_ s: AppState) -> Int? {
        guard let c = s.snapshot.compare, !c.rows.isEmpty else { return nil }
        let mode: RenderMode = s.caps.unicode ? s.mode : .ascii
        return Layout(width: s.width, height: s.height, rows: c.rows.count, n: c.spec.n, side: c.rows[0].size, mode: mode).rowsShown
    }

    /// Why a comparison may show little difference, where the chapter explains
    /// it: the whole sentence if it fits in `width`, else a shorter one.
    /// Without `unicode` the variances are named as the rows name them (β and β̃ both come out "b" in ASCII).
    static func note(_ spec: CompareSpec, width: Int = .max, unicode: Bool = true) -> String? {
        let b = spec.base
        let (long, short): (String, String)
        switch spec.parameter {
        case .temperature where b.kind == .ddpm:
            long = "DDPM adds fresh noise z at every step, which washes out x_T's scale: rows differ little (d: DDIM keeps it)"
            short = "DDPM's fresh noise z washes out x_T's scale: rows differ little (d: DDIM)"
        case .variance where !unicode:
            long = "var=beta and var=post differ only in the last steps (post < beta near t=0): the rows look alike (= shows both)"
            short = "var=beta and var=post differ only near t=0: the rows look alike"
        case .variance:
            long = "σ²=β and σ²=β̃ differ only in the last steps (β̃_t < β_t near t=0): the rows look alike (= shows both)"
            short = "σ²=β and β̃ differ only near t=0: the rows look alike"
        case .noiseTemperature where !b.drawsNoise:
            let who = b.kind == .ddim ? "DDIM with eta 0" : "DPM-Solver++"
            long = who + " adds no noise z, so noise temperature changes nothing (d: DDPM, or DDIM with eta > 0)"
            short = who + " adds no noise z: noise temperature does nothing (d: DDPM)"
        case .steps where spec.shared.eta > 0:
            // η is the sample view's (the comparison's base): left at 0.2 there, DDIM's "one digit at
            // any step count" became eight different digits per column, unexplained.
            let eta = String(format: "η=%.1f", spec.shared.eta)
            long = "DDIM with \(eta) draws fresh noise at every step, so the rows' digits differ; with η=0 (e in the sample view) they agree"
            short = "\(eta) draws fresh noise: the rows' digits differ (η=0 agrees)"
            // Beside "6 of 8 digits per row" at 80 columns.
            if short.count > width { return "\(eta): fresh noise, the rows differ (η=0 agrees)" }
        default: return nil
        }
        return long.count <= width ? long : short
    }

    /// The settings the rows share, as they run them (`CompareSpec.shared`), without the one
    /// compared, and clipping and the temperatures where they are not the default, as the exported
    /// PNG's title says them: "DDIM 50 η=0.1 clip noise 0.9", "DDPM" for the variance.
    static func base(_ spec: CompareSpec, unicode: Bool) -> String {
        let p = spec.parameter, set = spec.shared
        var plain = set
        plain.guide = nil
        var parts: [String] = []
        switch p {
        case .variance: parts.append("DDPM")
        case .eta: parts.append("DDIM \(set.steps)")
        case .steps: parts.append("DDIM " + (unicode ? "η" : "eta") + "=" + String(format: "%.1f", set.eta))
        case .sampler: break
        default: parts.append(describe(plain, unicode: unicode))
        }
        if let g = set.guide {
            parts.append(p == .guideScale ? "guide \(g)" : guideSuffix(set, unicode: unicode).trimmingCharacters(in: .whitespaces))
        }
        if set.clip && p != .clip { parts.append("clip") }
        if set.temperature != 1 && p != .temperature { parts.append(String(format: "temp %.1f", set.temperature)) }
        if set.noiseTemperature != 1 && spec.drawsNoise && p != .noiseTemperature { parts.append(String(format: "noise %.1f", set.noiseTemperature)) }
        return parts.isEmpty ? "as each row says" : parts.joined(separator: " ")
    }

    static func statusLine(_ s: AppState) -> String {
        guard let c = s.snapshot.compare else { return "compare: starting…" }
        let state = c.finished ? "finished" : c.running && s.boundsPending > 0 ? "waits for a bound (view 3, b)" : (c.running ? "running" : "paused")
        let steps = c.rows.map { "\($0.step)/\($0.totalSteps)" }
        // Running: the row with the most steps left; finished: the longest row (every row is done).
        let slowest = c.finished ? c.rows.max { $0.totalSteps < $1.totalSteps }
            : c.rows.max { $0.totalSteps - $0.step < $1.totalSteps - $1.step }
        let bar = s.caps.unicode ? " │ " : " | "
        var parts = ["compare \(c.spec.parameter.rawValue)", slowest.map { "step \($0.step)/\($0.totalSteps)" } ?? "", state,
                     "base " + base(c.spec, unicode: s.caps.unicode), "seed \(c.spec.seed)", "\(c.spec.n) per row"]
        // Rows that do not fit: which are shown, here when a chapter note takes the notes' row.
        if let shown = rowsShown(s), shown < c.rows.count, note(c.spec, width: s.width - 2, unicode: s.caps.unicode) != nil {
            let first = firstRow(s, rows: c.rows.count, shown: shown)
            parts.insert("rows \(first + 1)-\(first + shown) of \(c.rows.count) \(scrollKeys(s))", at: 2)
        }
        if steps.isEmpty { parts.remove(at: 1) }
        var line = parts.joined(separator: bar)
        while line.count > s.width && parts.count > 3 { parts.removeLast(); line = parts.joined(separator: bar) }
        return line
    }

    static func render(_ s: AppState, _ buf: inout CellBuffer) {
        let W = s.width, H = s.height
        let bg: Int16 = s.caps.colors >= 8 ? 236 : -1
        buf.fill(0, H - 2, W, 1, bg: bg)
        buf.text(0, H - 2, statusLine(s), bg: bg, maxWidth: W)
        if let text = s.editing {
            // The prompt, and why the last Enter was refused: on the prompt's
            // row when both fit, else on the status row above it, whole.
            // (The limit is in the prompt: at 80 columns the hint after it rarely fits.)
            let prompt = "\(s.compareParameter.rawValue) values (up to 8): \(text)_"
            let why = s.message.map { "  — \($0)" }
                ?? (s.editingFresh ? "   (typing replaces them, Backspace edits; Enter applies, Esc cancels)" : "   (Enter applies, Esc cancels, Ctrl-U clears)")
            if (prompt + why).count <= W {
                buf.text(0, H - 1, prompt + why, fg: s.message == nil ? 226 : 203, bold: true, maxWidth: W)
            } else {
                if let m = s.message {
                    // Whole words: a reason wider than the window takes the row above as well.
                    let rows = m.count > W && H >= 3 ? 2 : 1
                    buf.fill(0, H - 1 - rows, W, rows, bg: bg)
                    buf.wrappedText(0, H - 1 - rows, m, maxWidth: W, fg: 203, bg: bg, bold: true, maxLines: rows)
                }
                buf.text(0, H - 1, prompt, fg: s.message == nil ? 226 : 203, bold: true, maxWidth: W)
            }
        } else {
            // A finished comparison has nothing to pause or resume.
            let space: [String] = s.snapshot.compare.map { !$0.rows.isEmpty && $0.finished } == true ? [] : [s.snapshot.compare?.running == false ? "space resume" : "space pause"]
            let hint = s.message ?? SampleView.fitHints(["a setting", "e values", "d sampler", "r new seed"] + space + ["p export PNG"], width: W)
            buf.text(0, H - 1, hint, fg: s.message == nil ? 245 : 226, maxWidth: W)
        }
        guard s.hasModel else { SampleView.renderNoModel(s, &buf); return }
        guard let c = s.snapshot.compare, !c.rows.isEmpty else { buf.text(1, 2, "starting the comparison…", fg: 245); return }
        let side = c.rows[0].size
        // Without Unicode every renderer draws ASCII (ImageWidget), sized as half-block.
        let mode: RenderMode = s.caps.unicode ? s.mode : .ascii
        let l = Layout(width: W, height: H, rows: c.rows.count, n: c.spec.n, side: side, mode: mode)
        let heading = "\(c.spec.parameter.rawValue): one row per value, the same \(c.spec.n) seeds in every column"
            + (c.finished ? "; final samples" : "; x̂0 while running, final samples when done")
        if l.top > 1 { buf.text(1, 1, heading, bold: true, maxWidth: W - 2) }
        let first = firstRow(s, rows: c.rows.count, shown: l.rowsShown)
        for i in first..<(first + l.rowsShown) {
            let row = c.rows[i], y = l.top + (i - first) * l.rowH
            // A typed value too long for the column keeps its leading digits and exponent, not a cut
            // (measured as drawn: without Unicode "η" is "eta").
            let drawn = { (t: String) in s.caps.unicode ? t : CompareFigure.ascii(t) }
            let longer = drawn(row.label).count - row.label.count
            let label = drawn(row.label).count > l.labelW - 2 && i < c.spec.values.count
                ? c.spec.parameter.label(c.spec.values[i], base: c.spec.base, width: l.labelW - 2 - longer) : row.label
            buf.text(1, y, drawn(label), fg: 226, bold: true, maxWidth: l.labelW - 2)
            buf.text(1, y + 1, String(format: "div %.3f", row.diversity), maxWidth: l.labelW - 2)
            if let (what, conf) = c.sure(row) {
                buf.text(1, y + 2, "\(what) \(conf)/\(c.spec.n)", fg: conf * 2 >= c.spec.n ? 114 : 245, maxWidth: l.labelW - 2)
            } else {
                buf.text(1, y + 2, "sure n/a", fg: 245, maxWidth: l.labelW - 2)
            }
            let where_ = row.finished ? "done" : "t=\(row.t)"
            buf.text(1, y + 3, String(format: row.wallTime < 1 ? "%.2fs %@" : "%.1fs %@", row.wallTime, where_), fg: 245, maxWidth: l.labelW - 2)
            let px = side * side
            for i in 0..<min(l.perRow, row.images.count / px) {
                let img = Array(row.images[(i * px)..<((i + 1) * px)])
                var widget = ImageWidget(pixels: img, side: side, lo: -1, hi: 1, mode: mode, scale: l.scale, caps: s.caps)
                widget.fit = l.fit
                widget.render(into: &buf, x: l.labelW + i * (l.cell.w + 1), y: y)
            }
        }
        var notes: [String] = []
        if l.rowsShown < c.rows.count {
            notes.append("rows \(first + 1)-\(first + l.rowsShown) of \(c.rows.count) (\(scrollKeys(s)) scroll)")
        }
        if l.perRow < c.spec.n { notes.append("\(l.perRow) of \(c.spec.n) digits per row") }
        let sure = c.guidedDigit.map { "as \($0)" } ?? "sure", what = c.guidedDigit.map { "read as \($0)" } ?? "read"
        // The row above the status line is the edit's reason's while it takes two rows (it was drawn over).
        if let m = s.message, s.editing != nil, m.count > W { return }
        let legends = ["div: mean per-pixel variance of the row (Ex. 3.5.2) · \(sure): \(what) with p ≥ 0.9 · s: time spent on the row",
                       "div: per-pixel variance of the row · \(sure): " + (c.guidedDigit.map { "read as \($0), " } ?? "") + "p ≥ 0.9 · s: time on the row",
                       "div: row variance · \(sure): p ≥ 0.9 · s: time"].map { s.caps.unicode ? $0 : CompareFigure.ascii($0) }
        let head = notes.joined(separator: ", ")
        if let n = note(c.spec, width: W - 2, unicode: s.caps.unicode) {
            // The rows and digits not shown before the note where both fit ("sure 8/8" under 6 digits read as a miscount).
            let beside = notes.isEmpty ? nil : note(c.spec, width: W - 2 - head.count - 3, unicode: s.caps.unicode).map { head + " · " + $0 }
            buf.text(1, H - 3, fitting((beside.map { [$0] } ?? []) + [n], width: W - 2), fg: 226, maxWidth: W - 2)
        } else {
            // The longest legend that fits beside the notes (then without "enlarge the window"), not one cut mid-word.
            let lines = notes.isEmpty ? legends
                : legends.map { head + " (enlarge the window) · " + $0 } + legends.map { head + " · " + $0 }
            buf.text(1, H - 3, fitting(lines, width: W - 2), fg: 245, maxWidth: W - 2)
        }
    }
}
