// SampleView.swift: the sample view.
import Engine
import Foundation

/// The sample view: x_t and predicted x0 grids, schedule panels, eps statistics, status line.
enum SampleView {

    /// Columns and rows of digits per grid at the state's window size (what `renderGrids` draws).
    static func gridShape(_ s: AppState) -> (cols: Int, rows: Int) {
        let l = Layout(width: s.width, height: s.height, equation: s.showEquation)
        let g = gridFit(width: l.gridW - 1, height: l.contentH - 2, side: s.snapshot.history.first?.size ?? MNIST.side, mode: s.mode,
                        n: max(1, s.snapshot.n))
        return (g.cols, g.rows)
    }

    /// Columns of digits per grid (for selecting a row up or down).
    static func columns(_ s: AppState) -> Int { gridShape(s).cols }

    /// Digits per grid the window shows (the selection stays among them).
    static func shownDigits(_ s: AppState) -> Int {
        let g = gridShape(s)
        return min(max(1, s.snapshot.n), g.cols * g.rows)
    }

    /// The digits h/l/j/k select among: those shown, or in the zoom (one digit at a time) every
    /// digit the run records, those the grid has no room for too.
    static func selectableDigits(_ s: AppState) -> Int {
        guard s.zoom, let f = s.focusHistory.last else { return shownDigits(s) }
        return max(1, f.n)
    }

    /// As many key hints as fit the width, always ending with "? help".
    static func fitHints(_ hints: [String], width: Int) -> String {
        var shown = hints
        while !shown.isEmpty && (shown + ["? help"]).joined(separator: " · ").count > width { shown.removeLast() }
        return (shown + ["? help"]).joined(separator: " · ")
    }

    /// The status line for a window `width` wide (default: the state's): the
    /// full fields when they fit, else fewer full fields (renderer, speed,
    /// noise temperature and clipping at their defaults, seed dropped), else
    /// short spellings with fields dropped from the least important — the
    /// position in the run and its state (running / paused / finished)
    /// always stay. A noise temperature the sampler uses and that is not 1,
    /// or clipping on, is kept as long as the temperature.
    /// A statistic in `format`, or in powers of ten from 10,000 on: broken weights' 1e308 was printed
    /// as a 309-digit number cut at the panel's edge.
    static func statNumber(_ v: some BinaryFloatingPoint, _ format: String) -> String {
        let d = Double(v)
        return d.isFinite && abs(d) >= 1e4 ? String(format: format.hasPrefix("%+") ? "%+.2e" : "%.2e", d) : String(format: format, d)
    }

    static func statusLine(_ s: AppState, width: Int? = nil) -> String {
        let snap = s.snapshot
        // The fields describe the focused side's digits on screen: a scrubbed step's settings, or those a
        // finished side's last step used; while a side runs, the settings its next step uses. On a finished
        // original (not a replay) a setting changed since its last step shows as what r runs next.
        let onFork = s.forking && s.forkFocus
        let scrubbed = s.focusHistory
        let shownFrame = s.scrub.flatMap { $0 < scrubbed.count ? scrubbed[$0] : nil } ?? (s.focusedSideFinished ? scrubbed.last : nil)
        let set = shownFrame?.settings ?? (onFork ? snap.forkSettings ?? s.settings : s.settings)
        let ranWith = s.focusedSideFinished && !onFork && s.replay == nil ? snap.history.last?.settings : nil
        let pending = ranWith.flatMap { s.settings != $0 ? (next: s.settings, from: $0) : nil }
        let W = width ?? s.width
        // (full, short, priority: lower is kept longer)
        var fields: [(String, String, Int)] = []
        // Scrubbing moves through the focused side's recording (the fork's, while it has the keys).
        if let i = s.scrub, i < scrubbed.count {
            fields.append(("SCRUB \(i + 1)/\(scrubbed.count) t=\(scrubbed[i].t)", "SCRUB t=\(scrubbed[i].t)", 0))
        } else if s.forking, !snap.history.isEmpty {
            // Each side's own progress, the focused side first (the grids show both at the focused side's t;
            // the side nearer x_0 waits there while the other catches up).
            // A paused side that ran further than the step shown beside the other (a fork from a step
            // scrubbed back to) says so: its pane shows the step at the focused side's t.
            let focusT = (s.forkFocus ? snap.forkHistory : snap.history).last?.t
            func side(_ name: String, _ frames: [RecordedFrame], done: Bool, other: Bool) -> String {
                guard !done else { return "\(name) done" }
                guard let last = frames.last else { return "\(name) t=--" }
                let ahead = other && !snap.running && focusT.map { last.t < $0 } == true
                return "\(name) t=\(last.t)" + (ahead ? " (ahead)" : "")
            }
            let orig = side("original", snap.history, done: snap.final != nil, other: s.forkFocus)
            let fork = side("fork", snap.forkHistory, done: snap.forkFinal != nil, other: !s.forkFocus)
            let (first, second) = s.forkFocus ? (fork, orig) : (orig, fork)
            fields.append((first + ", " + second, (first + " " + second).replacingOccurrences(of: "original", with: "orig"), 0))
        } else if let f = snap.history.last {
            let pos = snap.finished ? "done, \(snap.history.count) step\(snap.history.count == 1 ? "" : "s")" : "t=\(f.t) \(f.step + 1)/\(max(snap.timesteps.count, f.step + 1))"
            // (The short line keeps how far the run is: "t=879" alone reads as a countdown to nothing.)
            fields.append((pos, snap.finished ? "done" : pos, 0))
        } else {
            fields.append(("t=--", "t=--", 0))
        }
        if s.forking {
            fields.append((s.forkFocus ? "keys: fork" : "keys: original", s.forkFocus ? "▶fork" : "▶orig", 1))
        }
        // A run whose sampler changed on the way (d mid-run) names each in turn: "DDPM then DDIM 50 then DPM++ 2M 20".
        // (Not on a fork, whose recording begins with the original's steps it was forked from.)
        // (The short spelling names the samplers alone: `compact`.)
        let named = s.scrub == nil && !onFork
        let samplersFirst = named ? samplersBefore(scrubbed, set) : ""
        // Guidance turned on mid-run (g) names the step it began at: the steps before ran unguided.
        var guidedFrom = ""
        if s.scrub == nil, set.guide != nil,
           let before = scrubbed.lastIndex(where: { $0.settings.guide != set.guide || $0.settings.guideScale != set.guideScale }),
           before + 1 < scrubbed.count {
            guidedFrom = " from t=\(scrubbed[before + 1].t)"
        }
        let kind = samplersFirst + describe(set) + guidedFrom
        let compactKind = (named ? samplersBefore(scrubbed, set, compact: true) : "") + describe(set) + guidedFrom
        // Between the full line and the short one: the samplers before the current one as "… then ".
        let kindAt = fields.count, earlier = samplersFirst.isEmpty ? "" : (s.caps.unicode ? "… then " : "... then ")
        let laterKind = earlier + describe(set) + guidedFrom
        fields.append((kind, shortKind(set, compactKind), 2))
        if let pending, let change = pendingChange(pending.next, from: pending.from) {
            // (With a fork open, r waits for f to close it.)
            fields.append(s.forking ? ("f then r runs " + change.full, "(f,r: \(change.short))", 2) : ("r runs " + change.full, "(r: \(change.short))", 2))
        }
        // At a speed limit say the limit (the measured rate is of the last steps and lags).
        // (A replay's measured rate is the playback's, not the machine's: it says so.)
        let speed = s.speedLimit.map { String(format: "%.0f st/s (limit)", $0) }
            ?? (s.replay != nil ? "replay " : "") + String(format: "%.1f st/s", snap.stepsPerSecond)
        // Paused, the last steps' rate says nothing about now (finished, it says how fast the run went).
        if snap.running || snap.finished {
            fields.append((speed, s.speedLimit.map { String(format: "≤%.0f/s", $0) } ?? String(format: "%.0f/s", snap.stepsPerSecond), 7))
        }
        // (These read the same in the short line: its plain words, not "seed0 temp1.0".)
        let seed = "seed \(snap.seed)", temp = String(format: "temp %.1f", snap.runTemperature)
        fields.append((seed, seed, 4))
        fields.append((temp, temp, 3))
        // A setting away from its default is kept longer than one at it.
        // A sampler that draws no fresh noise (DDIM with eta 0, DPM-Solver++) has no noise temperature to show.
        if set.drawsNoise {
            let noise = String(format: "noise %.1f", set.noiseTemperature)
            fields.append((noise, noise, set.noiseTemperature != 1 ? 3 : 5))
        }
        let clip = "clip \(set.clip ? "on" : "off")"
        fields.append((clip, clip, set.clip ? 3 : 6))
        // What is drawn: without colours half-block draws ASCII shades.
        let drawn = s.mode.drawn(on: s.caps).rawValue
        fields.append((drawn, drawn, 8))
        // A replay of a recording made mid-run stops short of the end: say so, not just "paused".
        let recordingEnd = s.replay != nil && !snap.running && !snap.finished && s.scrub == nil
            && snap.final == nil && snap.recordedSteps.map { snap.history.count >= $0 } == true
        fields.append(snap.nonFinite != nil ? ("stopped: output not finite", "NaN", 1) : recordingEnd ? ("end of recording (made mid-run)", "rec end", 1)
                      : snap.running && s.boundsPending > 0 ? ("waits while the engine computes a bound (view 3, b)", "waits for a bound", 1)
                      : (snap.running ? "running" : (snap.finished ? "finished" : "paused"),
                         // (Finished, the short line already begins "done" where it is not scrubbed or forked.)
                         snap.running ? "running" : (snap.finished ? (s.scrub == nil && !s.forking ? "" : "done") : "paused"), 1))
        func ascii(_ line: String) -> String {
            s.caps.unicode ? line : line.replacingOccurrences(of: "≤", with: "<=").replacingOccurrences(of: "▶", with: ">").replacingOccurrences(of: "σ²=β̃", with: "var=post")
                .replacingOccurrences(of: "σ²=β", with: "var=beta").replacingOccurrences(of: "β̃", with: "post").replacingOccurrences(of: "β", with: "beta")
                .replacingOccurrences(of: "η=", with: "eta ").replacingOccurrences(of: "η", with: "eta")
                .replacingOccurrences(of: " →", with: " guide ").replacingOccurrences(of: "×", with: "x")
        }
        let bar = s.caps.unicode ? " │ " : " | "
        // First the full fields, dropping the least important; then short spellings of the important
        // ones only (speed, renderer and settings at their defaults are not worth a cryptic line), dropping more.
        var tries: [String] = []
        for keepBelow in [9, 8, 7, 6, 5, 4] { tries.append(fields.filter { $0.2 < keepBelow }.map { $0.0 }.joined(separator: bar)) }
        if !earlier.isEmpty {
            var later = fields; later[kindAt].0 = laterKind
            tries.append(later.filter { $0.2 < 4 }.map { $0.0 }.joined(separator: bar))
        }
        for keepBelow in [5, 4, 3, 2] { tries.append(fields.filter { $0.2 < keepBelow && !$0.1.isEmpty }.map { $0.1 }.joined(separator: " ")) }
        let lines = tries.map(ascii)
        return fitting(lines, width: W)
    }

    /// The samplers a recording ran before the one `set` names, each as "DDIM 50 then ", in order;
    /// "" when it ran only what `set` names. A change of steps, of DDIM's η or of DDPM's σ² mid-run
    /// starts a new one, as a change of sampler does (guidance does not: the status line says from
    /// which t it ran). Each is named by its sampler and steps, and by `runName` where a neighbour
    /// (`set` after the last) has the same ("DDIM 50 η=0.2 then " before DDIM 50 η=0.3); past four,
    /// the first and the last with a count between ("DDPM then 4 more then DDIM 20 then ").
    /// `compact` (a narrow title's): the samplers and their steps alone.
    static func samplersBefore<F: RanWithSettings>(_ frames: [F], _ set: SamplerSettings, separator: String = " then ",
                               unicode: Bool = true, compact: Bool = false) -> String {
        if compact {
            var runs = stretches(frames, \.shortName)
            if runs.last == set.shortName { runs.removeLast() }
            return firstAndLast(runs, more: { "\($0) more" }).map { $0 + separator }.joined()
        }
        let key = { (x: SamplerSettings) in runName(x, unicode: unicode) }
        // Each stretch's first settings (settings compared only where they change: the status line
        // runs this over the whole recording at every redraw).
        var runs: [SamplerSettings] = [], previous: SamplerSettings? = nil
        for f in frames where f.settings != previous {
            previous = f.settings
            if let last = runs.last, key(last) == key(f.settings) { continue }
            runs.append(f.settings)
        }
        if let last = runs.last, key(last) == key(set) { runs.removeLast() }
        let all = runs + [set]
        let names = runs.indices.map { i in
            let alike = all[i + 1].shortName == all[i].shortName || (i > 0 && all[i - 1].shortName == all[i].shortName)
            return alike ? key(all[i]) : all[i].shortName
        }
        return firstAndLast(names, more: { "\($0) more" }).map { $0 + separator }.joined()
    }

    /// A stretch of a run as `samplersBefore` names it beside one of the same sampler and steps:
    /// `describe` without guidance, so DDIM's η and DDPM's σ² ("DDPM σ²=β then DDPM σ²=β̃",
    /// "DDIM 50 η=0.2 then DDIM 50 η=0.3").
    static func runName(_ set: SamplerSettings, unicode: Bool = true) -> String {
        var unguided = set
        unguided.guide = nil
        return describe(unguided, unicode: unicode)
    }

    /// The samplers a side's frames ran, by kind alone, for a narrow title: "DDPM→DDIM→DPM++".
    static func kindsRan<F: RanWithSettings>(_ frames: [F], unicode: Bool) -> String {
        firstAndLast(stretches(frames, \.kind.name), more: { "\($0) more" }).joined(separator: unicode ? "→" : ">")
    }

    /// What `key` says of each stretch of frames that it says alike, in order (asked only where the
    /// settings change: the status line runs this over the whole recording at every redraw).
    static func stretches<F: RanWithSettings>(_ frames: [F], _ key: (SamplerSettings) -> String) -> [String] {
        var out: [String] = [], previous: SamplerSettings? = nil
        for f in frames where f.settings != previous {
            previous = f.settings
            let k = key(f.settings)
            if out.last != k { out.append(k) }
        }
        return out
    }

    /// More than four: the first, a count of those between (`more`), the last.
    static func firstAndLast(_ runs: [String], more: (Int) -> String) -> [String] {
        runs.count > 4 ? [runs[0], more(runs.count - 2), runs[runs.count - 1]] : runs
    }

    /// The status line's short spelling of `describe(set)`: "DDPM β̃", "DDIM 50 η0.0".
    static func shortKind(_ set: SamplerSettings, _ kind: String) -> String {
        set.kind == .ddpm ? kind.replacingOccurrences(of: "σ²=", with: "") : kind.replacingOccurrences(of: "η=", with: "η")
    }

    /// What settings changed since a run or step change, in the status line's full and short spellings
    /// (nil when nothing it shows differs).
    static func pendingChange(_ next: SamplerSettings, from used: SamplerSettings, unicode: Bool = true) -> (full: String, short: String)? {
        var full: [String] = [], short: [String] = []
        let kind = describe(next, unicode: unicode)
        if kind != describe(used, unicode: unicode) {
            full.append(kind)
            short.append(shortKind(next, kind))
        }
        if next.guide == nil && used.guide != nil { full.append("no guidance"); short.append("noguide") }
        if next.noiseTemperature != used.noiseTemperature && next.drawsNoise {
            full.append(String(format: "noise %.1f", next.noiseTemperature)); short.append(String(format: "n%.1f", next.noiseTemperature))
        }
        if next.clip != used.clip { full.append("clip \(next.clip ? "on" : "off")"); short.append(next.clip ? "clip" : "noclip") }
        return full.isEmpty ? nil : (full.joined(separator: ", "), short.joined(separator: " "))
    }

    static func render(_ s: AppState, _ buf: inout CellBuffer) {
        let W = s.width, H = s.height
        buf.fill(0, H - 2, W, 1, bg: s.caps.colors >= 8 ? 236 : -1)
        buf.text(0, H - 2, statusLine(s), bg: s.caps.colors >= 8 ? 236 : -1, maxWidth: W)
        // Under ASCII the arrows are spelled out: '<' and '>' are keys of their own (the guidance scale).
        let scrub = s.caps.unicode ? "←/→ scrub" : "left/right scrub"
        let hint = s.message ?? fitHints(s.replay != nil
            ? ["replay", "space play/pause", ". step", "r again", scrub, "= equation", "z zoom", "G gif", "p export"]
            : (s.snapshot.finished ? [s.forking ? "f close fork" : "r new seed"] : [s.snapshot.running ? "space pause" : "space resume", ". step"]) + ["t/T temperature", "d sampler", "= equation", scrub]
               // With a fork open f closes it (said once: first when the run has finished).
               + (s.forking ? (s.snapshot.finished ? [] : ["f close fork"]) : ["f fork"]) + ["g guide", "p export", "m renderer", "R record"], width: W)
        buf.text(0, H - 1, hint, fg: s.message == nil ? 245 : 226, maxWidth: W)   // a longer message: render() wraps it
        guard s.hasModel else { return renderNoModel(s, &buf) }
        let l = Layout(width: W, height: H, equation: s.showEquation)
        if s.zoom { ZoomView.render(s, &buf, l) } else { renderGrids(s, &buf, l) }
        for y in l.top..<(l.top + l.contentH) { buf.put(l.leftW, y, s.caps.unicode ? "│" : "|", fg: 244) }
        renderPanel(s, &buf, l)
    }

    /// Where the parts go: each grid gets whole 15-cell digit columns, the
    /// panel what is left (at most 34 cells; at least 18, so that an 80-column
    /// window shows 2 columns of digits per grid, or 26 from 100 columns, or
    /// 34 with the equation panel on, so that its lines fit).
    struct Layout {
        let panelW: Int, leftW: Int, gridW: Int, top = 1, contentH: Int
        init(width W: Int, height H: Int, equation: Bool = false) {
            let minPanel = equation ? 34 : W >= 100 ? 26 : 18
            let cols = max(1, (W - 2 - minPanel) / 30)
            panelW = min(34, W - 2 - 30 * cols)
            leftW = W - panelW - 1
            gridW = (leftW - 1) / 2
            contentH = H - 3
        }
        var narrow: Bool { panelW < 26 }
    }

    static func renderNoModel(_ s: AppState, _ buf: inout CellBuffer) {
        let W = s.width
        buf.text(2, 3, "No model loaded.", bold: true)
        let y = 5 + buf.wrappedText(2, 5, s.modelNote, maxWidth: W - 4) + 1
        buf.text(2, y, "Train one:  ddpm train --epochs 10 --out model.safetensors", maxWidth: W - 4)
        buf.text(2, y + 1, "then run:   ddpm --weights model.safetensors", maxWidth: W - 4)
        // The forward view needs the bundled digits: offer it only when they were found.
        if s.forwardDigits != nil {
            buf.text(2, y + 3, "Press 3 for the forward (noising) view, which needs no model.", maxWidth: W - 4)
        } else {
            buf.text(2, y + 3, "The MNIST digits were not found either: set DDPM_ASSETS to the assets folder.", maxWidth: W - 4)
        }
    }

    /// What the two grids show: titles, images and the left grid's range.
    struct Grids {
        var leftTitle = "x_t", rightTitle = "predicted x̂0"
        /// Shorter spellings of the titles, tried in order when the full one does not fit the grid.
        var leftShort: [String] = [], rightShort: [String] = []
        /// Whether the two titles are spelled alike (a fork's sides, each naming its step's sampler), so
        /// that they shorten together; not when one says what runs next.
        var titlesAlike = true
        /// While forking, what each side's PNG is called after the run's stem (`p`): which side, what it
        /// shows (its final samples, or x̂0 at its t) and the samplers that made it.
        var leftFile = "", rightFile = ""
        var left: [Float] = [], right: [Float] = []
        var leftLo: Float = -2.5, leftHi: Float = 2.5
        /// The classifier's readings of the images shown (empty: no labels under that grid).
        var leftReadings: [DigitReader.Reading] = [], rightReadings: [DigitReader.Reading] = []
    }

    /// The share of a frame's x̂0 more than 0.1 outside [-1, 1] (its recorded digits).
    static func farOutside(_ f: RecordedFrame) -> Double {
        f.x0.isEmpty ? 0 : Double(f.x0.reduce(0) { $0 + (abs(Float($1)) > 1.1 ? 1 : 0) }) / Double(f.x0.count)
    }

    /// The shown frame (scrubbed or newest): x_t and x̂0, the final sample
    /// once finished, and the original beside the fork while forking.
    static func grids(_ s: AppState) -> Grids? {
        let snap = s.snapshot
        // The original's frame (a scrub of a longer fork is past its end: its last frame; the fork part below uses the scrub).
        let idx = min(s.scrub ?? (snap.history.count - 1), snap.history.count - 1)
        guard idx >= 0 else { return nil }
        var g = Grids()
        let f = snap.history[idx]
        g.left = f.xtFloats(); g.right = f.x0Floats()
        let r = s.xtRange(f)
        g.leftLo = -r; g.leftHi = r
        g.leftTitle = "x_t  t=\(f.t)"; g.rightTitle = "predicted x̂0  (t=\(f.t))"
        g.rightReadings = f.readings
        if s.scrub == nil, snap.finished, let fin = snap.final {
            g.left = fin; g.leftTitle = "x_0  final sample"; g.leftLo = -1; g.leftHi = 1
            g.leftReadings = snap.finalReadings
        }
        if !s.forking, let c = snap.comparison {
            // A temperature change: the previous run's result beside the new run.
            // An unfinished run before says where it stopped: its blurry x̂0 beside a final sample is not
            // what the temperature did.
            // From the longest spelling to the shortest (renderGrids takes the longest that fits).
            let temp = String(format: "%.1f", c.temperature)
            func shown(_ stopped: String) -> String { c.finished ? "final" : stopped }
            // Named by the samplers its steps ran, not by settings changed since (the new run's).
            let u = s.caps.unicode
            let ran = samplersBefore(c.ran, c.settings, separator: u ? "→" : ">", compact: true) + c.settings.shortName
            let before = "before: temp \(temp)  " + shown("x̂0, stopped at t=\(c.t)"), brief = "before temp \(temp) " + shown("x̂0 t=\(c.t)")
            // The samplers in full, then compact, then none.
            g.leftTitle = before + "  " + samplersBefore(c.ran, c.settings, unicode: u) + describe(c.settings, unicode: u)
            // A run of two samplers keeps them before "before:" goes: a DDPM→DDIM run beside a DDIM one
            // read as a clean temperature comparison.
            let mixed = c.ran.contains { $0.kind != c.settings.kind } ? ["temp \(temp) " + shown("x̂0 t=\(c.t)") + " " + ran] : []
            g.leftShort = [before + "  " + ran, brief + " " + ran] + mixed + [before, "before: temp \(temp)  " + shown("stopped t=\(c.t)"),
                           // ("temp", not "T": T is the run's count of steps.)
                           brief, "temp \(temp) " + shown("stopped t=\(c.t)"), "temp \(temp) " + shown("t=\(c.t)")]
            g.left = c.images; g.leftLo = -1; g.leftHi = 1
            let done = s.scrub == nil && snap.finished ? snap.final : nil
            g.right = done ?? f.x0Floats()
            g.leftReadings = c.readings; g.rightReadings = done != nil ? snap.finalReadings : f.readings
            g.rightTitle = String(format: "now: temp %.1f  ", snap.runTemperature) + (done != nil ? "final" : "x̂0 (t=\(f.t))")
            g.rightShort = [String(format: "now temp %.1f ", snap.runTemperature) + (done != nil ? "final" : "x̂0 t=\(f.t)")]
            return g
        }
        guard s.forking else { return g }
        // Both sides at the same t: the focused side's frame (scrubbed or newest),
        // the other side's frame nearest in t. "▶" marks the side keys act on.
        let main = snap.history, fork = snap.forkHistory
        guard !fork.isEmpty else { return g }
        let (focus, other) = s.forkFocus ? (fork, main) : (main, fork)
        let fIdx = min(s.scrub ?? (focus.count - 1), focus.count - 1)
        let t = focus[fIdx].t
        // Once the focused side has finished, the other side shows its newest step (it runs on alone), and
        // so it does while the focused side waits for it (the side further from x_0 steps: Runner.tick),
        // so that `.` shows it moving rather than its step nearest the focused one's t.
        let focusDone = s.forkFocus ? snap.forkFinal != nil : snap.final != nil
        let otherSteps = s.forkNextT.map { s.forkFocus ? $0.main > $0.fork : $0.fork > $0.main } ?? false
        let oIdx = s.scrub == nil && (focusDone || otherSteps) ? other.count - 1 : nearest(t, in: other)
        let (mf, ff) = s.forkFocus ? (other[oIdx], focus[fIdx]) : (focus[fIdx], other[oIdx])
        let mark = { (focused: Bool) in focused ? (s.caps.unicode ? "▶ " : "> ") : "" }
        g.left = mf.x0Floats(); g.leftLo = -1; g.leftHi = 1; g.leftReadings = mf.readings
        // Each side named by the settings its shown step ran with (a change after the end runs nothing).
        let u = s.caps.unicode
        let short = { (set: SamplerSettings) in SampleView.shortKind(set, describe(set, unicode: u)) }
        // What a live side runs from its next step when another sampler made the step shown (as the
        // status line says): a change made since, or the fork's sampler before its own first step.
        let next = { (shown: SamplerSettings, runs: SamplerSettings?, done: Bool) -> SamplerSettings? in
            guard s.scrub == nil, !done, let r = runs, describe(r, unicode: u) != describe(shown, unicode: u) else { return nil }
            return r
        }
        /// A pane's title and its shorter spellings: the step shown and who made it, or what runs next.
        func titles(_ name: String, _ short0: String, _ f: RecordedFrame, focused: Bool, shared: (SamplerSettings, String)?,
                    next n: SamplerSettings?) -> (String, [String]) {
            let m = mark(focused), at = "\(name) t=\(f.t)", at0 = "\(short0) t=\(f.t)"
            if let (r, verb) = shared {
                // A step the fork shares with the original (made by the original's sampler), with the
                // sampler the fork runs from it (or, scrubbed back or finished, ran next).
                return (m + "\(at): x̂0 shared; \(verb) \(describe(r, unicode: u))",
                        [m + "\(at) shared; \(verb) \(short(r))", m + "\(at0) shared; \(verb) \(short(r))",
                         m + "\(at0) shared; \(r.shortName)", m + "\(at0) shared", m + at0])
            }
            if let r = n {
                return (m + "\(at): x̂0  \(describe(f.settings, unicode: u)); next \(describe(r, unicode: u))",
                        [m + "\(at): x̂0 \(short(f.settings)); next \(short(r))", m + "\(at) next \(short(r))",
                         m + "\(at0) next \(short(r))", m + "\(short0) next \(short(r))", m + "\(at0) next \(r.shortName)", m + at0])
            }
            return (m + "\(at): x̂0  \(describe(f.settings, unicode: u))",
                    [m + "\(at): x̂0 \(short(f.settings))", m + "\(at0): x̂0 \(short(f.settings))", m + "\(at0) \(short(f.settings))",
                     m + "\(at0) \(f.settings.shortName)", m + at0])
        }
        let forkIdx = s.forkFocus ? fIdx : oIdx, mainIdx = s.forkFocus ? oIdx : fIdx
        // Live before the fork's own first step: what it runs; scrubbed back into the shared past, or once
        // it has finished: what its first own step ran.
        let firstOwn = fork.count > snap.forkFrom ? fork[snap.forkFrom].settings : nil
        let live = s.scrub == nil && snap.forkFinal == nil
        let shared: (SamplerSettings, String)? = forkIdx >= snap.forkFrom ? nil
            : live ? snap.forkSettings.map { ($0, "runs") } : (firstOwn ?? snap.forkSettings).map { ($0, "then") }
        // (A side shown behind its newest step, the other waiting for it, takes its next step after that one.)
        let mainNext = next(mf.settings, s.settings, snap.final != nil || mainIdx < main.count - 1)
        let forkNext = next(ff.settings, snap.forkSettings, snap.forkFinal != nil || forkIdx < fork.count - 1)
        (g.leftTitle, g.leftShort) = titles("original", "orig", mf, focused: !s.forkFocus, shared: nil, next: mainNext)
        g.right = ff.x0Floats(); g.rightReadings = ff.readings
        (g.rightTitle, g.rightShort) = titles("fork", "fork", ff, focused: s.forkFocus, shared: shared, next: forkNext)
        g.titlesAlike = shared == nil && mainNext == nil && forkNext == nil
        // Each side's file (p): the x̂0 it shows at its own t, named by the samplers of its steps so far.
        g.leftFile = "original-t\(mf.t)-x0-" + ExplorerApp.samplersInName(Array(main.prefix(mainIdx + 1)), else: s.settings)
        g.rightFile = "fork-t\(ff.t)-x0-" + ExplorerApp.samplersInName(Array(fork.prefix(forkIdx + 1)), else: snap.forkSettings ?? s.settings)
        // Live and at the end: the final samples of each side that has finished.
        var leftFinal = false, rightFinal = false
        if s.scrub == nil {
            if let fin = snap.forkFinal {
                rightFinal = true
                g.right = fin; g.rightReadings = snap.forkFinalReadings
                g.rightFile = "fork-final-" + ExplorerApp.samplersInName(fork, else: snap.forkSettings ?? s.settings)
                // Every sampler its steps ran, the steps shared with the original first, as the status line
                // names a run's ("DDPM σ²=β then DDIM 50 η=0.0").
                let ran = fork.last!.settings
                g.rightTitle = mark(s.forkFocus) + "fork: final  " + samplersBefore(fork, ran, unicode: s.caps.unicode)
                    + describe(ran, unicode: s.caps.unicode)
                g.rightShort = [mark(s.forkFocus) + "fork: final " + samplersBefore(fork, ran, separator: s.caps.unicode ? "→" : ">", compact: true) + short(ran),
                                mark(s.forkFocus) + "fork: final " + kindsRan(fork, unicode: s.caps.unicode),
                                mark(s.forkFocus) + "fork: final \(short(ran))",
                                mark(s.forkFocus) + "fork: final \(ran.shortName)", mark(s.forkFocus) + "fork: final"]
            }
            // (The fork of a finished run, still on its way, is shown beside the original's step at its t.)
            if let fin = snap.final, !s.forkFocus || snap.forkFinal != nil {
                leftFinal = true
                g.left = fin; g.leftReadings = snap.finalReadings
                g.leftFile = "original-final-" + ExplorerApp.samplersInName(main, else: s.settings)
                let ran = main.last?.settings ?? snap.settings
                g.leftTitle = mark(!s.forkFocus) + "original: final  " + samplersBefore(main, ran, unicode: s.caps.unicode) + describe(ran, unicode: s.caps.unicode)
                g.leftShort = [mark(!s.forkFocus) + "orig: final " + samplersBefore(main, ran, separator: s.caps.unicode ? "→" : ">", compact: true) + short(ran),
                               mark(!s.forkFocus) + "orig: final " + kindsRan(main, unicode: s.caps.unicode),
                               mark(!s.forkFocus) + "orig: final \(short(ran))",
                               mark(!s.forkFocus) + "orig: final \(ran.shortName)", mark(!s.forkFocus) + "orig: final"]
            }
        }
        // A final title beside a step's is another kind: each shortens on its own.
        if leftFinal != rightFinal { g.titlesAlike = false }
        return g
    }

    /// Index of the frame whose t is nearest `t` (frames run from high t to low).
    static func nearest(_ t: Int, in frames: [RecordedFrame]) -> Int {
        var best = 0
        for (i, f) in frames.enumerated() where abs(f.t - t) < abs(frames[best].t - t) { best = i }
        return best
    }

    static func renderGrids(_ s: AppState, _ buf: inout CellBuffer, _ l: Layout) {
        let snap = s.snapshot
        // (Paused before its first step, beside a training run: not "starting…" beside "paused".)
        guard let g = grids(s) else {
            let why = s.snapshot.running ? "starting…" : s.snapshot.nonFinite != nil ? "stopped: the first step's output was not finite"
                : "paused before the first step: space starts it"
            buf.text(1, l.top + 1, why, fg: 245); return
        }
        guard !g.left.isEmpty else { return }
        let side = snap.history.first?.size ?? MNIST.side
        // The longest spelling of each title that fits its grid (the shortest, cut, when none does); two
        // titles spelled alike (a fork's sides) take the same one, so that one does not say "η=0.0" and the other "η0.0".
        let left = [g.leftTitle] + g.leftShort, right = [g.rightTitle] + g.rightShort
        // (The right title keeps a column free before the side panel's border.)
        func level(_ spellings: [String], _ room: Int) -> Int { spellings.firstIndex { $0.count <= room } ?? spellings.count - 1 }
        var (li, ri) = (level(left, l.gridW - 1), level(right, l.gridW - 2))
        if g.titlesAlike && left.count == right.count { li = max(li, ri); ri = li }
        buf.text(1, l.top, left[li], bold: true, maxWidth: l.gridW)
        buf.text(l.gridW + 2, l.top, right[ri], bold: true, maxWidth: l.gridW)
        let shown = drawGrid(&buf, images: g.left, n: snap.n, side: side, x: 1, y: l.top + 1, w: l.gridW - 1, h: l.contentH - 2,
                             lo: g.leftLo, hi: g.leftHi, mode: s.mode, caps: s.caps, readings: g.leftReadings, selected: s.selected)
        _ = drawGrid(&buf, images: g.right, n: snap.n, side: side, x: l.gridW + 2, y: l.top + 1, w: l.gridW - 1, h: l.contentH - 2,
                     lo: -1, hi: 1, mode: s.mode, caps: s.caps, readings: g.rightReadings, selected: s.selected)
        if shown < snap.n {
            let full = "showing \(shown) of \(snap.n) (enlarge the window for more)"
            buf.text(1, l.top + l.contentH - 1, full.count < l.leftW ? full : "showing \(shown) of \(snap.n) (wider: more)",
                     fg: 245, maxWidth: l.leftW)
        }
    }

    /// The update equation (when `=` shows it), the schedule curves with a
    /// cursor at the shown t, and the ε̂ statistics with a legend, as many as fit.
    static func renderPanel(_ s: AppState, _ buf: inout CellBuffer, _ l: Layout) {
        let snap = s.snapshot
        let shown = s.focusHistory
        let idx = s.scrub ?? (shown.count - 1)
        let px = l.leftW + 1, bottom = l.top + l.contentH
        // The ASCII spellings the equation panel uses (cell by cell, ε̂ would become a bare e).
        func sp(_ uni: String, _ ascii: String) -> String { s.caps.unicode ? uni : ascii }
        var y = l.top
        if s.showEquation {
            // The equation may take every row; the ε̂ statistics (4 to 7 rows) and the plots take what it leaves,
            // with a blank row between when there is one to spare.
            y += EquationPanel.render(s, &buf, x: px, y: y, w: l.panelW, h: l.contentH)
            if l.top + l.contentH - y > 4 { y += 1 }
        }
        if s.zoom, bottom - y >= 10 {
            y += ZoomView.renderCurve(s, &buf, x: px, y: y, w: l.panelW, h: min(12, (bottom - y) / 2))
        }
        let frame = idx >= 0 && idx < shown.count ? shown[idx] : nil
        let statsH = frame == nil ? 0 : (l.narrow ? 4 : 7)
        let cursor = frame?.t
        let ticks = s.settings.kind.hasSteps || snap.settings.kind.hasSteps ? snap.timesteps : []
        let sch = s.schedule
        // The axis' tick marks said nothing of what they are: the first title names them where it has room.
        var betaTitle = (s.caps.unicode ? "β_t" : "beta_t") + "  (\(sch.kind.rawValue))"
        let tickNote = s.caps.unicode ? "  ┴ steps' t" : "  + steps' t"
        if !ticks.isEmpty && betaTitle.count + tickNote.count <= l.panelW { betaTitle += tickNote }
        let plots = [
            PlotWidget(series: [.init(sch.betas, color: 75)], title: betaTitle, cursor: cursor, ticks: ticks, xName: "t", caps: s.caps),
            PlotWidget(series: [.init(sch.alphasCumprod, color: 114)], title: s.caps.unicode ? "ᾱ_t" : "abar_t", cursor: cursor, ticks: ticks, xName: "t", caps: s.caps),
            PlotWidget(series: [.init(sch.snr, color: 209)], title: "SNR_t (log)", logScale: true, cursor: cursor, ticks: ticks, xName: "t", caps: s.caps),
        ]
        // As many plots as get 4 rows each, leaving room for the statistics.
        let room = bottom - y - statsH
        let count = min(plots.count, max(0, room / 4))
        if count > 0 {
            let plotH = min(12, room / count)
            for p in plots.prefix(count) { p.render(into: &buf, x: px, y: y, w: l.panelW, h: plotH); y += plotH }
        }
        guard let f = frame, bottom - y >= 4 else { return }
        if l.narrow {
            // 18 columns: the numbers without their legends.
            buf.text(px, y, sp("ε̂ at t=", "eps^ at t=") + "\(f.t)", bold: true, maxWidth: l.panelW)
            buf.text(px, y + 1, "mean " + statNumber(f.eps.mean, "%+.3f"), maxWidth: l.panelW)
            buf.text(px, y + 2, "std  " + statNumber(f.eps.std, "%.3f"), maxWidth: l.panelW)
            // How much is well past [-1,1] first: most of the rest is paper a hair below -1 (45% of a
            // finished run's pixels), which read as a fault. (Clipping on, the share is of the network's
            // x̂0 before the clip, from the engine: the digits are drawn clipped.)
            // "past", as the wide panel and the help say it.
            buf.text(px, y + 3, f.settings.clip ? String(format: sp("x̂0 past %.1f%%", "x0^ past %.1f%%"), f.x0Outside * 100)
                        : String(format: sp("x̂0 past>.1 %.1f%%", "x0^ past>.1 %.1f%%"), farOutside(f) * 100), maxWidth: l.panelW)
            if bottom - y >= 5 {
                buf.text(px, y + 4, f.settings.clip ? "(before clip)" : String(format: "(any: %.1f%%)", f.x0Outside * 100),
                         fg: 245, maxWidth: l.panelW)
            }
            return
        }
        buf.text(px, y, sp("ε̂", "eps^") + " statistics (t=\(f.t))", bold: true, maxWidth: l.panelW)
        buf.text(px, y + 1, "mean " + statNumber(f.eps.mean, "%+.3f") + "  std " + statNumber(f.eps.std, "%.3f"), maxWidth: l.panelW)
        buf.text(px, y + 2, "min " + statNumber(f.eps.min, "%+.2f") + "  max " + statNumber(f.eps.max, "%+.2f"), maxWidth: l.panelW)
        // A v or x0 model's ε̂ is derived from its output; a v model's shrinks toward 0 at small t,
        // where the net cannot tell noise from ink.
        // Where the clip moved x̂0, every sampler steps from the clipped x̂0 (DDIM's ε̂ recomputed from it,
        // as diffusers does; the chapter's 3.7 code keeps the net's): these statistics are the net's.
        let note = f.settings.clip && f.x0Outside > 0
            ? fitting([sp("(the net's ε̂; the step uses the clipped x̂0)", "(the net's eps^; the step uses clipped x0^)"),
                       sp("(net's ε̂; step uses clipped x̂0)", "(net's eps^; step: clipped x0^)"),
                       sp("(net's ε̂, before the clip)", "(net's eps^, before clip)")], width: l.panelW)
            // Near t=0 the noise in x_t is faint beside the digit's own detail, so the best guess of it
            // (E[ε | x_t]) is smaller than N(0,1) whatever the net predicts: said for every objective.
            : fitting((s.objective == .eps ? [] : s.objective == .v
                        ? [sp("(ε̂ from v̂; about N(0,1), smaller near t=0: faint noise is hard to tell from ink)",
                              "(eps^ from v^; about N(0,1), smaller near t=0: faint noise is hard to tell from ink)"),
                           sp("(ε̂ from v̂; smaller near t=0)", "(eps^ from v^; smaller at t~0)")]
                        : [sp("(ε̂ from the net's x̂0; smaller near t=0)", "(eps^ from the net's x0^; smaller at t~0)")])
                      + [sp("(a good ε̂ is about N(0,1), smaller near t=0: faint noise is hard to tell from ink)",
                            "(a good eps^ is about N(0,1), smaller near t=0: faint noise is hard to tell from ink)"),
                         sp("(about N(0,1); smaller near t=0)", "(about N(0,1); smaller at t~0)"),
                         sp("(~N(0,1); smaller near t=0)", "(~N(0,1); smaller at t~0)")], width: l.panelW)
        buf.text(px, y + 3, note, fg: 245, maxWidth: l.panelW)
        guard bottom - y >= 6 else { return }
        // Near t=0 most of what is outside is paper a hair below -1 (45% at the end of a run), which
        // read as a fault: how much is well past comes first, the share past by any amount under it.
        if f.settings.clip {
            buf.text(px, y + 4, String(format: sp("x̂0 outside [-1,1]: %.1f%%", "x0^ outside [-1,1]: %.1f%%"), f.x0Outside * 100),
                     maxWidth: l.panelW)
            buf.text(px, y + 5, "(before clip; drawn clipped)", fg: 245, maxWidth: l.panelW)
        } else {
            let far = farOutside(f) * 100, any = f.x0Outside * 100
            buf.text(px, y + 4, fitting([String(format: sp("x̂0 past [-1,1] by >0.1: %.1f%%", "x0^ past [-1,1] by >0.1: %.1f%%"), far),
                                         String(format: sp("x̂0 >0.1 past ±1: %.1f%%", "x0^ >0.1 past +-1: %.1f%%"), far)], width: l.panelW),
                     maxWidth: l.panelW)
            buf.text(px, y + 5, fitting([String(format: "(by any amount: %.1f%%; c clips)", any), String(format: "(any amount: %.1f%%; c clips)", any),
                                         String(format: "(any amount: %.1f%%)", any)],
                                        width: l.panelW),
                     fg: 245, maxWidth: l.panelW)
        }
        if bottom - y >= 7 {
            buf.text(px, y + 6, String(format: s.caps.unicode ? "ᾱ=%.4g  SNR=%.3g" : "abar=%.3g SNR=%.3g", sch.alphasCumprod[f.t], sch.snr[f.t]), fg: 245, maxWidth: l.panelW)
        }
    }
}
