// ZoomView.swift: one digit at full size, its 10-stage trajectory and the classifier's reading over t (`z`).
import Engine
import Foundation

/// The selected digit zoomed (sample view, `z`): x_t and x̂0 at 28x28 (half-block
/// 1:1 where it fits), the 10-stage strip of x̂0 along the recorded trajectory
/// (chapter 3.5.3's coarse-to-fine stages), and in the panel the curve of the
/// probability of the class it ends as and of the entropy, over t.
enum ZoomView {
    /// The selected digit's image `k` of a recorded frame's x̂0 (or x_t).
    static func digit(_ f: RecordedFrame, _ k: Int, xt: Bool = false) -> [Float] {
        let px = f.size * f.size, all = xt ? f.xt : f.x0
        guard (k + 1) * px <= all.count else { return [] }
        return all[(k * px)..<((k + 1) * px)].map { Float($0) }
    }

    /// Digit `k`'s final sample on the side the keys act on, when that side has finished and the
    /// view is not scrubbed back (the zoom and its export show it where x_t was), else nil.
    static func finalDigit(_ s: AppState, _ k: Int, side: Int) -> [Float]? {
        guard s.scrub == nil, let all = s.focusFinal else { return nil }
        let px = side * side
        return (k + 1) * px <= all.count ? Array(all[(k * px)..<((k + 1) * px)]) : nil
    }

    /// Indices of up to `most` of the frames `history[..<count]`, spread evenly in t (first and last
    /// included): the frame nearest each of `most` evenly spaced t's (the later one on a tie), each once.
    /// Spread by step instead, a run that went from DDPM's steps of 1 to DDIM's of 20 midway had
    /// four stages in its first tenth of t and none between t=916 and t=49; for steps of one size
    /// both pick the same frames.
    static func stages(_ history: [RecordedFrame], count: Int, most: Int = 10) -> [Int] {
        guard count > 0 else { return [] }
        let k = min(most, count), first = Double(history[0].t), last = Double(history[count - 1].t)
        if k == 1 { return [count - 1] }
        var picked: [Int] = [], i = 0
        for j in 0..<k {
            let t = first + (last - first) * Double(j) / Double(k - 1)
            // t falls along the recording: move on while the next frame is at least as near.
            while i + 1 < count && abs(Double(history[i + 1].t) - t) <= abs(Double(history[i].t) - t) { i += 1 }
            if picked.last != i { picked.append(i) }
        }
        return picked
    }

    /// `values` of the frames (t falling) spread over t = frames.last.t ... frames.first.t, one per t,
    /// rising: linear between the frames' t's, so that a plot of it puts every t where the schedule's
    /// plots put it (by step, DDIM's steps of 20 t's were as wide as DDPM's of one). For steps of one t,
    /// the values reversed.
    static func byT(_ frames: [RecordedFrame], _ values: [Double]) -> [Double] {
        guard let lo = frames.last?.t, let hi = frames.first?.t, hi > lo else { return Array(values.reversed()) }
        var out = [Double](repeating: values.last!, count: hi - lo + 1)
        for i in 0..<(frames.count - 1) {
            let ta = frames[i].t, tb = frames[i + 1].t, va = values[i], vb = values[i + 1]
            guard ta > tb else { continue }
            for u in tb...ta { out[u - lo] = u == ta ? va : u == tb ? vb : vb + (va - vb) * Double(u - tb) / Double(ta - tb) }
        }
        return out
    }

    /// Pixels a side of the two big digits: 1:1 when both fit side by side in `width` columns with 10
    /// rows under them (nil when not: half size); larger, up to 3x, while the strip's 10 stages at half
    /// size still fit whole under them, in whole multiples of `side` from 2x up (every pixel an equal block).
    static func grown(side: Int, mode: RenderMode, width: Int, height: Int) -> Int? {
        let cells = { (p: Int) in ImageWidget.size(pixels: p, mode: mode) }
        guard 2 * cells(side).w + 3 <= width && height >= cells(side).h + 10 else { return nil }
        // The strip: its caption, the reading's row and the gaps, and 10 half-size stages.
        let strip = 6 + stripLayout(stages: 10, scale: 2, side: side, mode: mode, width: width).height
        let best = (side...(3 * side)).last { 2 * cells($0).w + 3 <= width && height >= cells($0).h + strip } ?? side
        return best >= 2 * side ? best / side * side : best
    }

    /// The strip of `stages` x̂0 at 1/`scale` size in `width` columns (braille drawn as half-blocks):
    /// stages a row, a stage's cells, and the rows all take with a label row under each.
    static func stripLayout(stages: Int, scale: Int, side: Int, mode: RenderMode, width: Int) -> (perRow: Int, cell: (w: Int, h: Int), height: Int) {
        stripLayout(stages: stages, pixels: side / scale, mode: mode, width: width)
    }

    /// The strip's layout with its stages drawn `pixels` a side.
    static func stripLayout(stages: Int, pixels: Int, mode: RenderMode, width: Int) -> (perRow: Int, cell: (w: Int, h: Int), height: Int) {
        let c = ImageWidget.size(pixels: pixels, mode: mode == .braille ? .halfBlock : mode)
        let perRow = max(1, (width + 1) / (c.w + 1))
        return (perRow, c, (stages + perRow - 1) / perRow * (c.h + 1))
    }

    static func render(_ s: AppState, _ buf: inout CellBuffer, _ l: SampleView.Layout) {
        // The side the keys act on (a fork's own steps while it has them), as the status line and panel show.
        let history = s.focusHistory
        let idx = min(s.scrub ?? (history.count - 1), history.count - 1)
        guard idx >= 0 else { buf.text(1, l.top + 1, "starting…", fg: 245); return }
        let f = history[idx], k = min(s.selected, f.n - 1), side = f.size
        let W = l.leftW - 1
        // While forking, which side's digit this is (the focused one's).
        // A finished run, not scrubbed, shows its final sample where x_t was, as the grid does (the zoom
        // showed the last step's input, "at t=19" under DDIM, as if the run had stopped there).
        let final = finalDigit(s, k, side: side)
        let title = (s.forking ? (s.forkFocus ? "fork: " : "original: ") : "") + "sample \(k + 1) of \(f.n) "
            + (final != nil ? "final (last step from t=\(f.t))" : "at t=\(f.t)")
        // The key hint that fits whole beside it, or none (not one cut mid-word).
        let hint = ["  (h/l other sample · z grid)", "  (h/l · z grid)", ""].first { title.count + $0.count <= W } ?? ""
        buf.text(1, l.top, title + hint, bold: true, maxWidth: W)
        // Full size (1:1) when two digits and the strip fit, larger on a larger window, else half size.
        let drawn = grown(side: side, mode: s.mode, width: W, height: l.contentH) ?? side / 2
        let scale = drawn >= side ? 1 : 2
        let big = ImageWidget.size(pixels: drawn, mode: s.mode)
        let y0 = l.top + 2
        let r = s.xtRange(f)
        // (Whole or shorter, with a column before the x̂0 caption: at 80x24 the two ran together.)
        let left = final == nil ? "x_t" : ["x_0  final sample", "final sample", "final"].first { $0.count <= big.w + 1 } ?? "final"
        buf.text(1, y0 - 1, left, fg: 245, maxWidth: big.w + 1)
        var xt = final.map { ImageWidget(pixels: $0, side: side, lo: -1, hi: 1, mode: s.mode, scale: scale, caps: s.caps) }
            ?? ImageWidget(pixels: digit(f, k, xt: true), side: side, lo: -r, hi: r, mode: s.mode, scale: scale, caps: s.caps)
        xt.fit = drawn
        xt.render(into: &buf, x: 1, y: y0)
        let x2 = big.w + 3
        // Say when the window holds only half size (28x28 needs about 60 columns and 27 rows here).
        // The longest caption that fits whole (the equation panel beside takes columns).
        let x0Name = final != nil ? "x̂0 (t=\(f.t))" : "x̂0"
        let captions = scale == 1 ? [x0Name] : [x0Name + "  (half size; a larger window: \(side)x\(side))", x0Name + "  (half size)", x0Name]
        let caption = captions.first { $0.count <= W - x2 } ?? x0Name
        buf.text(x2, y0 - 1, caption, fg: 245, maxWidth: W - x2)
        var x0 = ImageWidget(pixels: digit(f, k), side: side, mode: s.mode, scale: scale, caps: s.caps)
        x0.fit = drawn
        x0.render(into: &buf, x: x2, y: y0)
        // The reading beside (or under) the big digits.
        if k < f.readings.count {
            let finalReadings = s.focusFinalReadings
            let rd = final != nil && k < finalReadings.count ? finalReadings[k] : f.readings[k]
            let text = rd.hasInk ? String(format: "reads as %d (%d%%), entropy %.2f bits", rd.digit, rd.percent, rd.entropy)
                : String(format: "%@ (%.1f%% of pixels; real digits %.1f%%-%.0f%%): no digit, whatever the classifier says", rd.label,
                         rd.ink * 100, rd.inkRange.lowerBound * 100, rd.inkRange.upperBound * 100)
            let tx = 2 * big.w + 5
            if W - tx >= 20 { buf.wrappedText(tx, y0, text, maxWidth: W - tx, fg: rd.isConfidentDigit ? 114 : 226) }
            else { buf.text(1, y0 + big.h, text, fg: rd.isConfidentDigit ? 114 : 226, maxWidth: W) }
        } else if !s.hasClassifier {
            buf.text(1, y0 + big.h, "no classifier loaded: no reading", fg: 245, maxWidth: W)
        }
        // The strip: x̂0 at 10 points of the trajectory so far, left (t = T-1) to right.
        let sy = y0 + big.h + 2
        guard sy + 3 < l.top + l.contentH, idx >= 0 else { return }
        // The largest strip digits for which all 10 stages fit in the rows left, else 5 stages; 5 larger
        // stages before 10 at a quarter size (7 columns: at 80x24 they were too small to read), which
        // comes last; anything smaller is no longer a digit, so then no strip.
        let rowsAvail = l.top + l.contentH - sy
        var pick: (scale: Int, perRow: Int, cell: (w: Int, h: Int), idxs: [Int])? = nil
        for (most, sc) in [(10, 2), (10, 3), (5, 2), (5, 3), (10, 4), (5, 4)] {
            let idxs = stages(history, count: idx + 1, most: most)
            let strip = stripLayout(stages: idxs.count, scale: sc, side: side, mode: s.mode, width: W)
            if strip.height <= rowsAvail { pick = (sc, strip.perRow, strip.cell, idxs); break }
        }
        guard var p = pick else { return }
        // On a big window (a projector) the stages grow, up to full size, while their rows fit:
        // at 200x60 they were drawn at half size above 16 empty rows.
        var pixels = side / p.scale
        if p.scale == 2 {
            // (From 3/4 size up: a couple of pixels more broke a row of stages in two at 120x40.)
            for px in stride(from: side, through: side * 3 / 4, by: -1) {
                let strip = stripLayout(stages: p.idxs.count, pixels: px, mode: s.mode, width: W)
                if strip.height <= rowsAvail { p.perRow = strip.perRow; p.cell = strip.cell; pixels = px; break }
            }
        }
        let idxs = p.idxs
        buf.text(1, sy - 1, "x̂0 along the trajectory (\(idxs.count) stages)", fg: 245, maxWidth: W)
        for (i, fi) in idxs.enumerated() {
            let fr = history[fi]
            let cx = 1 + (i % p.perRow) * (p.cell.w + 1), cy = sy + (i / p.perRow) * (p.cell.h + 1)
            var stage = ImageWidget(pixels: digit(fr, k), side: side, mode: s.mode == .braille ? .halfBlock : s.mode, scale: p.scale, caps: s.caps)
            if pixels != side / p.scale { stage.fit = pixels }
            stage.render(into: &buf, x: cx, y: cy)
            // A label that fits whole ("t=999", else "999"), never one cut to other digits.
            if let label = ["t=\(fr.t)", "\(fr.t)"].first(where: { $0.count <= p.cell.w }) {
                buf.text(cx, cy + p.cell.h, label, fg: 245)
            }
        }
    }

    /// The probability of the class the digit ends as (or reads as now) and the
    /// entropy (divided by its largest, log2 10 bits, so both lie in [0, 1]: "entropy/max") at every recorded step; returns rows used.
    static func renderCurve(_ s: AppState, _ buf: inout CellBuffer, x: Int, y: Int, w: Int, h: Int) -> Int {
        let snap = s.snapshot
        let k = s.selected
        let onFork = s.forking && s.forkFocus
        let history = s.focusHistory
        let frames = history.filter { k < $0.readings.count }
        guard let last = frames.last else {
            buf.text(x, y, s.hasClassifier ? "classifier: no reading yet" : "no classifier loaded", fg: 245, maxWidth: w)
            return 2
        }
        let finals = onFork ? snap.forkFinalReadings : snap.finalReadings
        let final = k < finals.count ? finals[k] : last.readings[k]
        // Drawn with t rising to the right, as the schedule's plots beside it are (by step, the first
        // step at the left, it read backwards next to them): the newest step at the left.
        let p = byT(frames, frames.map { Double($0.readings[k].probs[final.digit]) })
        let e = byT(frames, frames.map { Double($0.readings[k].entropy) / log2(10) })
        var plot = PlotWidget(series: [.init(p, color: 114), .init(e, color: 209)],
                              title: title(final.digit, w, caps: s.caps), caps: s.caps)
        plot.yRange = (0, 1)
        plot.xName = "t"
        plot.xLabels = ("t=\(last.t)", "t=\(frames.first!.t)")
        // At the t of the step shown (the scrubbed one, else the newest).
        let shown = history[(s.scrub ?? (history.count - 1)).clamped(0, history.count - 1)]
        plot.cursor = (shown.t - last.t).clamped(0, max(0, p.count - 1))
        plot.render(into: &buf, x: x, y: y, w: w, h: h)
        return h
    }
}

/// The plot's title, saying which curve is which where the width allows: by colour, or by marker
/// (ASCII, or no colours).
private func title(_ digit: Int, _ w: Int, caps: TermCaps) -> String {
    let plain = "p(\(digit)) & entropy/max"
    if PlotWidget.marksCurves(caps, curves: 2) {
        return ["p(\(digit)) *, entropy/max o", "p(\(digit)) *, entropy o", "*p(\(digit)) o entropy"].first { $0.count <= w } ?? plain
    }
    return w >= 27 ? "p(\(digit)) green, entropy/max red" : plain
}

extension Int {
    func clamped(_ lo: Int, _ hi: Int) -> Int { Swift.min(hi, Swift.max(lo, self)) }
}
