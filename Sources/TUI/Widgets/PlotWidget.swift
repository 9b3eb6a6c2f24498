// PlotWidget.swift: braille line plots and bar charts.
import Foundation

/// A line plot drawn with braille dots (2x4 per cell), with a y-axis label
/// column, an x-axis row carrying tick marks (e.g. the timesteps a DDIM sampler
/// visits) and a vertical cursor (the current t). ASCII fall-back uses '*'.
public struct PlotWidget {
    public struct Series { public var values: [Double]; public var color: Int16; public init(_ v: [Double], color: Int16) { values = v; self.color = color } }
    public var series: [Series]
    public var title: String
    public var logScale = false
    public var cursor: Int? = nil
    public var ticks: [Int] = []
    public var caps: TermCaps
    /// Fixed y range (else the data's).
    public var yRange: (Double, Double)? = nil
    /// Names the x axis (e.g. "t"): its first and last index and the name are written on the axis row.
    public var xName: String? = nil
    /// The x value of the first point (the train view's loss starts at a later step).
    public var xFirst = 0
    /// The axis' end labels when they are not point indices (minutes, say).
    public var xLabels: (String, String)? = nil

    public init(series: [Series], title: String, logScale: Bool = false, cursor: Int? = nil, ticks: [Int] = [],
                xName: String? = nil, caps: TermCaps) {
        self.series = series; self.title = title; self.logScale = logScale; self.cursor = cursor; self.ticks = ticks
        self.xName = xName; self.caps = caps
    }

    /// Whether curves are told apart by marker (* o + x) rather than by colour: without braille,
    /// or with several curves and no colours (NO_COLOR), where braille would draw them alike.
    public static func marksCurves(_ caps: TermCaps, curves: Int) -> Bool { !caps.unicode || (curves > 1 && caps.colors < 8) }

    static func label(_ v: Double, log: Bool) -> String {
        if log { return "1e\(Int(v.rounded()))" }
        if v == 0 { return "0" }
        let a = abs(v)
        if a >= 1000 || a < 0.01 { return String(format: "%.0e", v) }
        if a >= 10 { return String(format: "%.0f", v) }
        return String(format: "%.2f", v)
    }

    /// Draws into the w x h cell rectangle at (x, y): row 0 title, last row the x axis.
    public func render(into buf: inout CellBuffer, x: Int, y: Int, w: Int, h: Int) {
        guard w >= 12, h >= 4 else { return }
        buf.text(x, y, title, bold: true, maxWidth: w)
        let labelW = 6
        let px = x + labelW, pw = w - labelW, ph = h - 2, py = y + 1
        let tr: (Double) -> Double = { v in self.logScale ? log10(max(v, 1e-300)) : v }
        let all = series.flatMap { $0.values.map(tr) }.filter { $0.isFinite }
        guard let dmin = all.min(), let dmax = all.max() else { return }
        var (lo, hi) = yRange.map { (tr($0.0), tr($0.1)) } ?? (dmin, dmax)
        if logScale { lo = lo.rounded(.down); hi = hi.rounded(.up) }
        if hi - lo < 1e-12 { hi = lo + 1 }
        buf.text(x, py, PlotWidget.label(hi, log: logScale).padding(toLength: labelW - 1, withPad: " ", startingAt: 0), fg: 245)
        buf.text(x, py + ph - 1, PlotWidget.label(lo, log: logScale).padding(toLength: labelW - 1, withPad: " ", startingAt: 0), fg: 245)
        let dotsW = pw * 2, dotsH = ph * 4
        var grid = [UInt32](repeating: 0, count: pw * ph)
        var gridColor = [Int16](repeating: -1, count: pw * ph)
        var gridSeries = [Int](repeating: 0, count: pw * ph)   // which series drew the cell last (ASCII: its marker)
        let count = series.map { $0.values.count }.max() ?? 1
        func xDot(_ i: Int) -> Int { count <= 1 ? 0 : Int((Double(i) / Double(count - 1) * Double(dotsW - 1)).rounded()) }
        for (k, s) in series.enumerated() {
            var prev: (Int, Int)? = nil
            // Sample each dot column (averaging is wrong for log plots; take the point).
            for dxp in 0..<dotsW {
                let i = count <= 1 ? 0 : Int((Double(dxp) / Double(dotsW - 1) * Double(count - 1)).rounded())
                guard i < s.values.count else { continue }
                let v = tr(s.values[i])
                guard v.isFinite else { prev = nil; continue }
                let fy = (v - lo) / (hi - lo)
                let dy = dotsH - 1 - Int((min(1, max(0, fy)) * Double(dotsH - 1)).rounded())
                // Connect vertically to the previous column so steep curves stay continuous.
                let (y0, y1) = prev.map { (min($0.1, dy), max($0.1, dy)) } ?? (dy, dy)
                for yy in y0...y1 {
                    let cell = (yy / 4) * pw + dxp / 2
                    grid[cell] |= ImageWidget.brailleBit(dxp % 2, yy % 4)
                    gridColor[cell] = s.color; gridSeries[cell] = k
                }
                prev = (dxp, dy)
            }
        }
        let cursorCol = cursor.map { xDot($0) / 2 }
        let marks = Self.marksCurves(caps, curves: series.count)
        for cy in 0..<ph {
            for cx in 0..<pw {
                let bits = grid[cy * pw + cx]
                if !marks {
                    if bits != 0 { buf.put(px + cx, py + cy, Character(Unicode.Scalar(0x2800 + bits)!), fg: gridColor[cy * pw + cx]) }
                    else if cx == cursorCol { buf.put(px + cx, py + cy, "│", fg: 226) }
                } else {
                    // Without braille or colour each series has a marker of its own.
                    if bits != 0 { buf.put(px + cx, py + cy, ["*", "o", "+", "x"][gridSeries[cy * pw + cx] % 4], fg: gridColor[cy * pw + cx]) }
                    else if cx == cursorCol { buf.put(px + cx, py + cy, caps.unicode ? "│" : "|") }
                }
            }
            if caps.unicode { buf.put(px - 1, py + cy, "┤", fg: 244) } else { buf.put(px - 1, py + cy, "|") }
        }
        // x axis: ticks where the sampler visits, the cursor as a caret.
        let ay = py + ph
        for cx in 0..<pw { buf.put(px + cx, ay, caps.unicode ? "─" : "-", fg: 244) }
        for t in ticks where t < count { buf.put(px + xDot(t) / 2, ay, caps.unicode ? "┴" : "+", fg: 250) }
        if let name = xName, pw >= 12 {
            // The first and last x and the axis name, each only where the cursor is not.
            let first = xLabels?.0 ?? "\(xFirst)", last = xLabels?.1 ?? "\(xFirst + count - 1)", mid = caps.unicode ? " \(name) → " : " \(name) > "
            func free(_ at: Int, _ len: Int) -> Bool { cursorCol.map { $0 < at || $0 >= at + len } ?? true }
            if free(0, first.count) { buf.text(px, ay, first, fg: 250) }
            let m = (pw - mid.count) / 2
            if pw >= first.count + last.count + mid.count + 2 {
                if free(pw - last.count, last.count) { buf.text(px + pw - last.count, ay, last, fg: 250) }
                if free(m, mid.count) { buf.text(px + m, ay, mid, fg: 250) }
            } else if pw >= first.count + mid.count, free(first.count, mid.count) {
                // Too narrow for both ends and the name: the name (what x counts) before the last value.
                buf.text(px + first.count, ay, mid, fg: 250)
            } else if free(pw - last.count, last.count) {
                buf.text(px + pw - last.count, ay, last, fg: 250)
            }
        }
        if let c = cursorCol { buf.put(px + c, ay, caps.unicode ? "▲" : "^", fg: 226, bold: true) }
        buf.put(px - 1, ay, caps.unicode ? "└" : "+", fg: 244)
    }
}

/// Horizontal bars (one per row) with labels and values.
public struct BarChart {
    public var labels: [String]
    public var values: [Double]
    public var caps: TermCaps
    public init(labels: [String], values: [Double], caps: TermCaps) { self.labels = labels; self.values = values; self.caps = caps }

    public func render(into buf: inout CellBuffer, x: Int, y: Int, w: Int, h: Int) {
        let lw = (labels.map { $0.count }.max() ?? 0) + 1
        let vmax = values.filter { $0.isFinite }.max() ?? 1
        for (i, v) in values.enumerated() where i < h {
            buf.text(x, y + i, labels[i], fg: 245, maxWidth: lw)
            let barW = max(0, w - lw - 8)
            let n = v.isFinite && vmax > 0 ? Int((v / vmax * Double(barW)).rounded()) : 0
            for j in 0..<n { buf.put(x + lw + j, y + i, caps.unicode ? "█" : "#", fg: 75) }
            buf.text(x + lw + barW + 1, y + i, v.isFinite ? String(format: "%.4f", v) : "  -", maxWidth: 7)
        }
    }
}
