// SampleView.swift: the sample view.
import Engine
import Foundation

/// The sample view: x_t and predicted x0 grids, schedule panels, eps statistics, status line.
enum SampleView {
    /// x_t is drawn on this fixed symmetric range (x_T ~ N(0, T^2)).
    static let xtRange: Float = 3

    static func statusLine(_ s: AppState) -> String {
        let snap = s.snapshot
        let set = s.settings
        var parts: [String] = []
        if let i = s.scrub, i < snap.history.count {
            parts.append("SCRUB \(i + 1)/\(snap.history.count) t=\(snap.history[i].t)")
        } else if let f = snap.history.last {
            parts.append(snap.finished ? "done, \(snap.history.count) steps" : "t=\(f.t) \(f.step + 1)/\(max(snap.timesteps.count, f.step + 1))")
        } else {
            parts.append("t=--")
        }
        parts.append(describe(set))
        // At a speed limit say the limit (the measured rate is of the last steps and lags).
        parts.append(s.speedLimit.map { String(format: "%.0f st/s (limit)", $0) } ?? String(format: "%.1f st/s", snap.stepsPerSecond))
        parts.append("seed \(snap.seed)")
        parts.append(String(format: "temp %.1f", snap.runTemperature))
        parts.append(String(format: "noise %.1f", set.noiseTemperature))
        parts.append("clip \(set.clip ? "on" : "off")")
        parts.append(s.mode.rawValue)
        parts.append(snap.running ? "running" : (snap.finished ? "finished" : "paused"))
        let line = parts.joined(separator: s.caps.unicode ? " │ " : " | ")
        return s.caps.unicode ? line : line.replacingOccurrences(of: "≤", with: "<=").replacingOccurrences(of: "σ²=β̃", with: "var=post").replacingOccurrences(of: "σ²=β", with: "var=beta").replacingOccurrences(of: "η", with: "eta ")
    }

    static func render(_ s: AppState, _ buf: inout CellBuffer) {
        let W = s.width, H = s.height
        buf.fill(0, H - 2, W, 1, bg: s.caps.colors >= 8 ? 236 : -1)
        buf.text(0, H - 2, statusLine(s), bg: s.caps.colors >= 8 ? 236 : -1, maxWidth: W)
        let hint = s.message ?? "space pause · . step · t/T temperature · d DDPM/DDIM · m renderer · ←/→ scrub · f fork · p export · ? help"
        buf.text(0, H - 1, hint, fg: s.message == nil ? 245 : 226, maxWidth: W)
        guard s.hasModel else { return renderNoModel(s, &buf) }
        let l = Layout(width: W, height: H)
        renderGrids(s, &buf, l)
        for y in l.top..<(l.top + l.contentH) { buf.put(l.leftW, y, s.caps.unicode ? "│" : "|", fg: 240) }
        renderPanel(s, &buf, l)
    }

    /// Where the parts go: the panel takes what is left after whole 15-cell digit columns.
    struct Layout {
        let panelW: Int, leftW: Int, gridW: Int, top = 1, contentH: Int
        init(width W: Int, height H: Int) {
            panelW = W >= 140 ? 34 : max(26, min(34, W - 2 * (((W - 27) / 2 + 1) / 15) * 15 - 2))
            leftW = W - panelW - 1
            gridW = (leftW - 1) / 2
            contentH = H - 3
        }
    }

    static func renderNoModel(_ s: AppState, _ buf: inout CellBuffer) {
        let W = s.width
        buf.text(2, 3, "No model loaded.", bold: true)
        let y = 5 + buf.wrappedText(2, 5, s.modelNote, maxWidth: W - 4) + 1
        buf.text(2, y, "Train one:  ddpm train --epochs 10 --out model.safetensors", maxWidth: W - 4)
        buf.text(2, y + 1, "then run:   ddpm --weights model.safetensors", maxWidth: W - 4)
        buf.text(2, y + 3, "Press 3 for the forward (noising) view, which needs no model.", maxWidth: W - 4)
    }

    /// What the two grids show: titles, images and the left grid's range.
    struct Grids {
        var leftTitle = "x_t", rightTitle = "predicted x̂0"
        var left: [Float] = [], right: [Float] = []
        var leftLo = -xtRange, leftHi = xtRange
    }

    /// The shown frame (scrubbed or newest): x_t and x̂0, the final sample
    /// once finished, and the original beside the fork while forking.
    static func grids(_ s: AppState) -> Grids? {
        let snap = s.snapshot
        let idx = s.scrub ?? (snap.history.count - 1)
        guard idx >= 0 && idx < snap.history.count else { return nil }
        var g = Grids()
        let f = snap.history[idx]
        g.left = f.xtFloats(); g.right = f.x0Floats()
        g.leftTitle = "x_t  t=\(f.t)"; g.rightTitle = "predicted x̂0  (t=\(f.t))"
        if s.scrub == nil, snap.finished, let fin = snap.final {
            g.left = fin; g.leftTitle = "x_0  final sample"; g.leftLo = -1; g.leftHi = 1
        }
        if !s.forking, let c = snap.comparison {
            // A temperature change: the previous run's result beside the new run.
            g.leftTitle = String(format: "before: temp %.1f  ", c.temperature) + (c.finished ? "final" : "x̂0 (t=\(c.t))")
            g.left = c.images; g.leftLo = -1; g.leftHi = 1
            let done = s.scrub == nil && snap.finished ? snap.final : nil
            g.right = done ?? f.x0Floats()
            g.rightTitle = String(format: "now: temp %.1f  ", snap.runTemperature) + (done != nil ? "final" : "x̂0 (t=\(f.t))")
            return g
        }
        guard s.forking else { return g }
        let fi = min(idx, snap.forkHistory.count - 1)
        g.leftTitle = "original: x̂0  \(describe(snap.settings))"
        g.left = g.right; g.leftLo = -1; g.leftHi = 1
        if fi >= 0 {
            let ff = snap.forkHistory[fi]
            g.right = ff.x0Floats()
            g.rightTitle = "fork: x̂0  \(describe(snap.forkSettings!))  t=\(ff.t)"
            if s.scrub == nil, let fin = snap.forkFinal { g.right = fin; g.rightTitle = "fork: final  \(describe(snap.forkSettings!))" }
            if s.scrub == nil, snap.finished, let fin = snap.final { g.left = fin; g.leftTitle = "original: final  \(describe(snap.settings))" }
        }
        return g
    }

    static func renderGrids(_ s: AppState, _ buf: inout CellBuffer, _ l: Layout) {
        let snap = s.snapshot
        guard let g = grids(s) else { buf.text(1, l.top + 1, "starting…", fg: 245); return }
        guard !g.left.isEmpty else { return }
        let side = snap.history.first?.size ?? MNIST.side
        buf.text(1, l.top, g.leftTitle, bold: true, maxWidth: l.gridW)
        buf.text(l.gridW + 2, l.top, g.rightTitle, bold: true, maxWidth: l.gridW)
        let shown = drawGrid(&buf, images: g.left, n: snap.n, side: side, x: 1, y: l.top + 1, w: l.gridW - 1, h: l.contentH - 2,
                             lo: g.leftLo, hi: g.leftHi, mode: s.mode, caps: s.caps)
        _ = drawGrid(&buf, images: g.right, n: snap.n, side: side, x: l.gridW + 2, y: l.top + 1, w: l.gridW - 1, h: l.contentH - 2,
                     lo: -1, hi: 1, mode: s.mode, caps: s.caps)
        if shown < snap.n {
            buf.text(1, l.top + l.contentH - 1, "showing \(shown) of \(snap.n) (enlarge the window for more)", fg: 245, maxWidth: l.leftW)
        }
    }

    /// The schedule curves with a cursor at the shown t, and the ε̂ statistics.
    static func renderPanel(_ s: AppState, _ buf: inout CellBuffer, _ l: Layout) {
        let snap = s.snapshot
        let idx = s.scrub ?? (snap.history.count - 1)
        let px = l.leftW + 1, statsH = 5
        let plotH = max(4, (l.contentH - statsH) / 3)
        let cursor = idx >= 0 && idx < snap.history.count ? snap.history[idx].t : nil
        let ticks = s.settings.kind == .ddim || snap.settings.kind == .ddim ? snap.timesteps : []
        let sch = s.schedule
        PlotWidget(series: [.init(sch.betas, color: 75)], title: "β_t  (\(sch.kind.rawValue))", cursor: cursor, ticks: ticks, caps: s.caps)
            .render(into: &buf, x: px, y: l.top, w: l.panelW, h: plotH)
        PlotWidget(series: [.init(sch.alphasCumprod, color: 114)], title: "ᾱ_t", cursor: cursor, ticks: ticks, caps: s.caps)
            .render(into: &buf, x: px, y: l.top + plotH, w: l.panelW, h: plotH)
        PlotWidget(series: [.init(sch.snr, color: 209)], title: "SNR_t (log)", logScale: true, cursor: cursor, ticks: ticks, caps: s.caps)
            .render(into: &buf, x: px, y: l.top + 2 * plotH, w: l.panelW, h: plotH)
        guard idx >= 0 && idx < snap.history.count else { return }
        let sy = l.top + 3 * plotH, f = snap.history[idx]
        buf.text(px, sy, "ε̂ statistics (t=\(f.t))", bold: true, maxWidth: l.panelW)
        buf.text(px, sy + 1, String(format: "mean %+.3f  std %.3f", f.eps.mean, f.eps.std), maxWidth: l.panelW)
        buf.text(px, sy + 2, String(format: "min %+.2f  max %+.2f", f.eps.min, f.eps.max), maxWidth: l.panelW)
        buf.text(px, sy + 3, String(format: "x̂0 outside [-1,1]: %.1f%%", f.x0Outside * 100), maxWidth: l.panelW)
        if let t = cursor {
            buf.text(px, sy + 4, String(format: "ᾱ=%.4f  SNR=%.3g", sch.alphasCumprod[t], sch.snr[t]), fg: 245, maxWidth: l.panelW)
        }
    }
}
