// ForwardView.swift: the forward (teaching) view.
import Engine
import Foundation

/// The forward (teaching) view: one real digit noised to t under all four
/// schedules, and the SNR of every schedule on one log plot (chapter 3.2).
enum ForwardView {
    static let colors: [Int16] = [75, 114, 209, 177]
    /// Draws of x_t per timestep averaged in the bound's curve (`b`).
    static let boundDraws = 4

    static func schedules(_ T: Int) -> [NoiseSchedule] {
        ScheduleKind.allCases.compactMap { try? NoiseSchedule(kind: $0, T: T) }
    }

    /// x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps with one fixed eps per digit.
    static func noised(_ x0: [Float], _ s: NoiseSchedule, t: Int, seed: UInt64) -> [Float] {
        var rng = RNG(seed: seed, stream: 99)
        var eps = [Float](repeating: 0, count: x0.count)
        eps.withUnsafeMutableBufferPointer { rng.fillNormal($0.baseAddress!, count: x0.count) }
        var xt = [Float](repeating: 0, count: x0.count)
        x0.withUnsafeBufferPointer { x0p in
            eps.withUnsafeBufferPointer { ep in
                xt.withUnsafeMutableBufferPointer {
                    s.qSample(x0: x0p.baseAddress!, eps: ep.baseAddress!, t: t, count: x0.count, into: $0.baseAddress!)
                }
            }
        }
        return xt
    }

    static func render(_ s: AppState, _ buf: inout CellBuffer) {
        let W = s.width, H = s.height
        let hint = s.message ?? SampleView.fitHints(s.caps.unicode
            ? ["←/→ t ±1", "shift ←/→ ±10", "↓/↑ ±100", "j/k digit", "b bound", "m renderer"]
            : ["left/right t +-1", "shift+left/right +-10", "down/up +-100", "j/k digit", "b bound", "m renderer"], width: W)
        buf.text(0, H - 1, hint, fg: s.message == nil ? 245 : 226, maxWidth: W)
        guard let data = s.forwardDigits, data.count > 0 else {
            buf.text(2, 3, "No MNIST test digits found (assets/mnist).", bold: true); return
        }
        let d = min(s.forwardDigit, data.count - 1)
        let side = data.side
        let x0 = Array(data.images[(d * side * side)..<((d + 1) * side * side)])
        // Clamped: a model of T <= 250 steps opens the view at t = 250 otherwise.
        let t = min(s.forwardT, s.schedule.T - 1)
        let all = schedules(s.schedule.T)
        let head = "digit #\(d) (label \(data.labels[d]))  t = \(t) of 0" + (s.caps.unicode ? "…" : "...") + "\(s.schedule.T - 1)   "
        let eq = s.caps.unicode ? "x_t = sqrt(ᾱ_t) x_0 + sqrt(1-ᾱ_t) ε" : "x_t = sqrt(abar_t) x_0 + sqrt(1-abar_t) eps"
        let same = s.caps.unicode ? ", same ε for all four" : ", same eps for all four"
        // The longest spelling that fits, not one cut mid-word.
        let status = fitting([head + eq + same, head + eq, head], width: W)
        buf.text(0, H - 2, status, bg: s.caps.colors >= 8 ? 236 : -1, maxWidth: W)
        // Large digits when they fit (28 cells wide each), else half size.
        let big = W >= 4 * (side + 2)
        let scale = s.mode == .braille ? 1 : (big ? 1 : 2)
        let cell = ImageWidget.size(side: side, mode: s.mode, scale: scale)
        let colW = max(cell.w + 2, W / 4)
        for (i, sch) in all.enumerated() {
            let x = i * colW + 1
            buf.text(x, 1, sch.kind.rawValue, fg: colors[i], bold: true, maxWidth: colW - 1)
            // q(x_t | x_0) with this t's numbers: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps.
            let ab = sch.alphasCumprod[t]
            let dot = s.caps.unicode ? "·" : "*"
            // Narrow columns drop "x_t=" (the line under the plot spells the formula) to keep a gap between them.
            // (ε is "eps" without UTF-8, as the line under the plot spells it: "e" would read as Euler's number.)
            let f = colW >= 24 ? "x_t=%.3f%@x_0+%.3f%@%@" : "%.2f%@x_0 + %.2f%@%@"
            buf.text(x, 2, String(format: f, ab.squareRoot(), dot, (1 - ab).squareRoot(), dot, s.caps.unicode ? "ε" : "eps"),
                     fg: 245, maxWidth: colW - 1)
            let img = noised(x0, sch, t: t, seed: UInt64(d))
            let r = sch.xtDisplayRange(t: t)
            ImageWidget(pixels: img, side: side, lo: -r, hi: r, mode: s.mode, scale: scale, caps: s.caps).render(into: &buf, x: x, y: 3)
        }
        let py = 4 + cell.h
        let ph = H - 2 - py
        // The model's bound of the shown digit, once `b` has computed it: it shares the space with the SNR plot.
        let bound = s.snapshot.bounds[d]
        let snrH = bound != nil && ph >= 9 ? ph / 2 : ph
        if snrH >= 4 {
            PlotWidget(series: all.enumerated().map { .init($1.snr, color: colors[$0]) },
                       title: fitting(!PlotWidget.marksCurves(s.caps, curves: all.count)
                                        ? ["SNR_t of linear / cosine / quadratic / sigmoid (log scale, same colours as above)",
                                           "SNR_t of the four schedules (log scale, colours as above)", "SNR_t (log scale)", "SNR_t (log)"]
                                        : ["SNR_t, log scale: * linear, o cosine, + quadratic, x sigmoid",
                                           "SNR_t (log): * linear o cosine + quadratic x sigmoid", "SNR_t (log)"],
                                      width: W - 2),
                       logScale: true, cursor: t, xName: "t", caps: s.caps)
                .render(into: &buf, x: 1, y: py, w: W - 2, h: snrH)
        }
        if let b = bound, ph - snrH >= 4 {
            let r = b.result
            // Our t = 0 is the paper's t = 1: its term is the decoder L_0, and t's KL is the paper's L_t.
            let term = "L_\(t) " + String(format: "%.2e", r.perT[t]), total = String(format: "total %.3f", r.total)
            let decoder = t == 0 ? "" : String(format: " · L_0 %.3f", r.decoder)
            let draws = " · \(b.result.n) draws, σ²=" + varianceSymbol(b.variance)
            let title = fitting(["bound of this digit by t, bits/dim (log): \(term) · \(total)\(decoder)\(draws)",
                                 "bound by t, bits/dim (log): \(term) · \(total)\(decoder)",
                                 "bound, bits/dim: \(term) · \(total)", "bound: \(term)"], width: W - 2)
            // Terms are positive; the log plot floors zeros to the smallest positive one.
            let floor = r.perT.filter { $0 > 0 }.min() ?? 1e-9
            PlotWidget(series: [.init(r.perT.map { max($0, floor) }, color: 222)], title: title, logScale: true, cursor: t, xName: "t", caps: s.caps)
                .render(into: &buf, x: 1, y: py + snrH, w: W - 2, h: ph - snrH)
        }
    }
}
