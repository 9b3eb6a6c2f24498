// TrainView.swift: the training view.
import Engine
import Foundation

/// The training view: loss curve (raw and smoothed), loss per t-bucket,
/// speed, learning rate, ETA and EMA preview samples.
enum TrainView {
    static func smooth(_ v: [Double], _ a: Double = 0.95) -> [Double] {
        var out: [Double] = []; out.reserveCapacity(v.count)
        var m = Double.nan
        for x in v { m = m.isNaN ? x : a * m + (1 - a) * x; out.append(m) }
        return out
    }

    /// The choice `g` opens: which recipe to train a new model with.
    static func renderRecipeMenu(_ s: AppState, _ buf: inout CellBuffer) {
        let W = s.width, H = s.height
        let demo = TrainRecipe.demo.options(images: MNIST.trainCount), full = TrainRecipe.full.options(images: MNIST.trainCount)
        let fit = TrainRecipe.demoFit
        // What runs, in the order a class meets it: how long and what it shows first; the settings after.
        let pick = fit.faster.map { f in
            ["   Its first \(fit.atStep) steps time this machine: batch \(f.batch) at lr \(f.lr) where",
             "   \(f.steps.lowerBound) steps of it fit, else batch \(demo.batch) at lr \(demo.lr) (\(fit.steps.lowerBound)+ steps)."]
        } ?? ["   Batch \(demo.batch) at lr \(demo.lr), \(fit.steps.lowerBound)-\(fit.steps.upperBound) steps as this machine's pace allows."]
        var rows: [(String, Bool)] = [("d  \(TrainRecipe.demo.title): about \(fit.minutes) minutes; the preview turns into digits.", true)]
        rows += pick.map { (line: String) -> (String, Bool) in (line, false) }
        rows += [
            ("   Either way: predicts \(demo.objective.rawValue), min-SNR weighting, EMA \(demo.emaDecay), warm-up \(demo.warmup).", false),
            ("", false),
            ("f  \(TrainRecipe.full.title): the first bundled model's recipe (v1), \(full.totalSteps) steps", true),
            ("   \(TrainRecipe.fullEpochs) epochs of batch \(full.batch) at lr \(full.lr), EMA \(full.emaDecay): 35-40 minutes", false),
            ("   on 2 cores with AVX-512, 3-5 hours with AVX2 only (see the ETA).", false),
            ("", false),
            // recipeKey: during a run g and Enter cancel (a double g or a flustered Enter must not stop the run).
            (s.trainingInProgress ? "Any other key, Enter and g too, cancels: the run goes on."
                                  : "Enter or g again also starts the demo; any other key cancels.", false),
        ]
        rows += inProgress(s)
        rows += [
            ("Saves every \(ExplorerApp.trainCheckpointEvery) steps, at the end, on w and q, to", false),
            ("   " + (s.nextTrainOut ?? "ddpm-train*.safetensors"), false),
        ]
        let w = min(W - 4, max(60, rows.map { $0.0.count }.max()! + 4)), h = rows.count + 4
        let x = (W - w) / 2, y = max(1, (H - h) / 2)
        buf.fill(x, y, w, h)
        buf.box(x, y, w, h, title: "train a new Tiny model on \(s.trainDataName)", unicode: s.caps.unicode)
        for (i, r) in rows.enumerated() {
            // The file's row keeps its end (the name that tells runs apart) where the box cuts it.
            let cut = s.caps.unicode ? "…" : "...", indent = "   "
            // (Typed and in parts: as one expression it took the type checker 13 s.)
            var text: String = r.0
            if i == rows.count - 1 && r.0.count > w - 4 {
                let keep: Int = w - 4 - indent.count - cut.count
                text = indent + cut + String(r.0.dropFirst(indent.count).suffix(keep))
            }
            buf.text(x + 2, y + 2 + i, text, bold: r.1, maxWidth: w - 4)
        }
    }

    /// How the loss curve's title names its weighting ("min-SNR-5"); nil for none.
    static func weightingName(_ m: TrainMetrics) -> String? {
        switch m.lossWeighting {
        case .simple: return nil
        case .snr: return "SNR"
        case .minSnr: return "min-SNR-" + (m.minSnrGamma == m.minSnrGamma.rounded() ? "\(Int(m.minSnrGamma))" : "\(m.minSnrGamma)")
        case .importance: return "importance"
        }
    }

    /// The menu's warning when `g` is pressed during a run: starting another stops it (saved first).
    static func inProgress(_ s: AppState) -> [(String, Bool)] {
        guard s.trainingInProgress, let m = s.trainSnapshot?.train else { return [] }
        return [("In progress: step \(m.step)/\(length(m, s.caps)). d or f stop and save it first.", true)]
    }

    /// The run's length: a bound ("≤4800") until the lecture demo is sized to the machine.
    static func length(_ m: TrainMetrics, _ caps: TermCaps) -> String {
        (m.sizedAtStep == nil ? "" : (caps.unicode ? "≤" : "<=")) + "\(m.totalSteps)"
    }

    static func render(_ s: AppState, _ buf: inout CellBuffer) {
        let W = s.width, H = s.height
        let said = s.message
        // The keys that act now: before a run only g; while one runs pause, save, and g (a new run, this
        // one stopped and saved first); after it s (sample it) and g again.
        let keys: [String]
        switch s.trainSnapshot {
        case nil: keys = ["g start training", "1 sample view"]
        case let run? where run.finished: keys = [s.sGoesBack ? "s back to the opened model" : "s sample it", "g train another",
                                                  "w save checkpoint", "1 sample view"]
        case let run? where run.train?.error != nil: keys = ["g train another", "w save checkpoint", "1 sample view"]
        case let run?: keys = [run.running ? "space pause" : "space resume", "w save checkpoint", "q twice: save and quit", "g new run",
                               "1 sample view"]
        }
        let hint = said ?? (s.replay != nil ? "replay: no training here (ddpm, then 2 and g, trains live)"
            : SampleView.fitHints(keys, width: W))
        buf.text(0, H - 1, hint, fg: said == nil ? 245 : 226, maxWidth: W)
        guard let snap = s.trainSnapshot, let m = snap.train else {
            buf.text(2, 3, "No training running.", bold: true)
            if s.replay != nil {
                buf.wrappedText(2, 5, "This is a replay of a recording: no model, nothing to train. Training runs in the explorer itself: ddpm, then 2 and g.", maxWidth: W - 4)
                return
            }
            var y = 5 + buf.wrappedText(2, 5, "Press g to train a fresh Tiny model on \(s.trainDataName) here: a lecture demo that makes digits in minutes, or the full run (checkpoint: \(s.trainFolder)/ddpm-train*.safetensors).", maxWidth: W - 4)
            y += buf.wrappedText(2, y + 1, "Or from the shell:  ddpm train --tui --out model.safetensors  (the demo; add --recipe full for the full run)", maxWidth: W - 4)
            return
        }
        // Paused or finished, there is no speed and no time left to estimate ("--").
        let eta = snap.running && m.stepsPerSecond > 0 ? Double(m.totalSteps - m.step) / m.stepsPerSecond : .nan
        // A finished run names what comes next where it is always seen (a message hides the key hints).
        // A sampler running beside the run (space in the sample view) is why training slows.
        // Sampling steps beside training only on the side the engine steps: the comparison while the compare view
        // is shown, else the sample view's run (a comparison left mid-run waits, not stepping).
        let sampling = s.snapshot.comparing ? s.snapshot.compare?.running == true : s.snapshot.running
        let state = snap.running ? (sampling ? "running beside sampling" : "running")
            : (snap.finished ? (s.sGoesBack ? "finished (s: back to the opened model)" : "finished (s: sample it)")
               // Stopped by an error (a checkpoint that could not be written), not by space.
               : m.error != nil ? "stopped (space goes on)" : "paused")
        // No loss before the first step (and after the demo starts over): "--", not "nan".
        let last = m.losses.last.map { String(format: "%.4f", $0) } ?? "--"
        let speed = snap.running ? String(format: "%.2f steps/s (%.0f img/s)", m.stepsPerSecond, m.imagesPerSecond) : "-- steps/s"
        let shortSpeed = snap.running ? String(format: "%.1f st/s", m.stepsPerSecond) : "-- st/s"
        // The state right after the step, so a narrow window never loses it.
        // Before the lecture demo is sized to the machine its length is at most totalSteps: no ETA yet.
        let etaShown = m.sizedAtStep.map { "at step \($0)" } ?? formatDuration(eta)
        let total = length(m, s.caps)
        // The first spelling that fits. Narrow ("running beside sampling", "ETA at step 50" at 80 columns):
        // the state shortens, then the loss goes (its curve is on screen), rather than the ETA losing its end.
        let shortState = state.replacingOccurrences(of: "running beside sampling", with: "+sampling")
        // Before the first step the run's numbers are not there yet ("step 0/0 … lr 0.00e+00").
        let line = m.totalSteps == 0 && m.error == nil ? "starting the run │ \(state)" : fitting([
            String(format: "step %d/%@ │ %@ │ epoch %.2f │ loss %@ │ %@ │ lr %.2e │ ETA %@ │ %@",
                   m.step, total, state, m.epoch, last, speed, m.lr, etaShown, s.mode.drawn(on: s.caps).rawValue),
            String(format: "step %d/%@ │ %@ │ loss %@ │ %@ │ ETA %@", m.step, total, state, last, shortSpeed, etaShown),
            String(format: "step %d/%@ │ %@ │ loss %@ │ %@ │ ETA %@", m.step, total, shortState, last, shortSpeed, etaShown),
            String(format: "step %d/%@ │ %@ │ %@ │ ETA %@", m.step, total, shortState, shortSpeed, etaShown),
        ], width: W)
        buf.fill(0, H - 2, W, 1, bg: s.caps.colors >= 8 ? 236 : -1)
        buf.text(0, H - 2, s.caps.unicode ? line : line.replacingOccurrences(of: "│", with: "|"), bg: s.caps.colors >= 8 ? 236 : -1, maxWidth: W)
        // The preview gets the rows its digits need (all of them when the plots keep 14 rows), else one row of digits.
        var previewH = [9, 17, 25].first { h in
            let g = gridFit(width: W - 1, height: h - 1, side: max(1, m.previewSize), mode: s.mode)
            return g.cols * g.rows >= max(1, m.previewN) || H - 3 - (h + 8) < 14
        } ?? 9
        // A big window (a projector): the rows that draw all the digits largest, the plots keeping 22.
        let n = max(1, m.previewN), side = max(1, m.previewSize)
        func fit(_ h: Int) -> (all: Bool, pixels: Int) {
            let g = gridFit(width: W - 1, height: h - 1, side: side, mode: s.mode, n: n)
            return (g.cols * g.rows >= n, g.pixels)
        }
        let start = fit(previewH)
        if start.all {
            var best = start.pixels
            for h in Swift.stride(from: previewH + 1, through: H - 3 - 22, by: 1) {
                let f = fit(h)
                if f.all && f.pixels > best { best = f.pixels; previewH = h }
            }
        }
        let topH = H - 3 - previewH
        let leftW = W * 3 / 5
        // "Digit-ness" over wall-clock time goes under the bars when there is room (from 40 rows),
        // else it takes the lower half of the loss plot's place: the class must see it.
        let cy = 16, ch = topH - cy + 1
        let rateOnLeft = ch < 5 && m.confidentRates.count >= 2
        let lossH = rateOnLeft ? topH / 2 : topH
        if m.losses.count >= 2 {
            // A weighted loss says so: the bars beside it are the unweighted one.
            let loss = weightingName(m).map { "\($0) weighted loss" } ?? "loss"
            // (Grey 244 is drawn white in 8 or 16 colours.)
            let raw = s.caps.colors >= 256 ? "grey" : "white"
            let titles = !PlotWidget.marksCurves(s.caps, curves: 2)
                ? ["\(loss) per step (\(raw)) and smoothed (yellow), log scale", "\(loss) (\(raw)), smoothed (yellow), log",
                   "\(loss), log scale", "loss, log scale"]
                : ["\(loss) per step (*) and smoothed (o), log scale", "\(loss) (*), smoothed (o), log",
                   "\(loss), log scale", "loss, log scale"]
            var plot = PlotWidget(series: [.init(m.losses, color: 244), .init(smooth(m.losses), color: 226)],
                                  title: fitting(titles, width: leftW),
                                  logScale: true, xName: "step", caps: s.caps)
            plot.xFirst = m.step - m.losses.count + 1
            plot.render(into: &buf, x: 0, y: 1, w: leftW, h: lossH)
        } else {
            buf.text(1, 2, "waiting for the first steps…", fg: 245)
        }
        let bars = m.lossWeighting == .simple ? ["loss by t (running mean)"]
            : ["unweighted loss by t (running mean)", "unweighted loss by t", "unweighted loss"]
        buf.text(leftW + 2, 1, fitting(bars, width: W - leftW - 2), bold: true, maxWidth: W - leftW - 2)
        let T = m.T
        let labels = (0..<10).map { "t \(String(format: "%3d", $0 * T / 10))-\(String(format: "%3d", ($0 + 1) * T / 10 - 1))" }
        let py = 1 + topH
        // The bars, then below them (above the preview) why training stopped and where it was saved.
        let barH = min(10, py - 3)
        BarChart(labels: labels, values: m.bucketLoss, caps: s.caps).render(into: &buf, x: leftW + 2, y: 2, w: W - leftW - 3, h: barH)
        var iy = 2 + barH + (py - 2 - barH > 2 ? 1 : 0)
        if let e = m.error, iy < py { buf.text(leftW + 2, iy, "stopped: \(e)", fg: 203, maxWidth: W - leftW - 3); iy += 1 }
        // Where it saved, or before the first save where it will.
        if let sv = m.lastSaved ?? m.savesTo.map({ InputFile.shown($0) }), iy < py {
            // The whole path when it fits, else the file's name (the messages give the path), then without
            // "(step N)" rather than cut in it.
            let label = m.lastSaved == nil ? "saves to: " : "saved: "
            var shown = label + sv
            let cut = sv.range(of: " (step")?.lowerBound ?? sv.endIndex
            if shown.count > W - leftW - 3 {
                let name = label + URL(fileURLWithPath: String(sv[..<cut])).lastPathComponent
                shown = name + sv[cut...]
                if shown.count > W - leftW - 3 { shown = name }
                // (Before a save, "saves:" fits a default name at 80 columns where "saves to:" does not.)
                if shown.count > W - leftW - 3 && m.lastSaved == nil { shown = "saves: " + name.dropFirst(label.count) }
                // With a row to spare, the label over the whole name ("ddpm-train-5.safetensors" at 80 columns).
                let file = String(name.dropFirst(label.count))
                if shown.count > W - leftW - 3 && iy + 1 < py && file.count <= W - leftW - 3 {
                    buf.text(leftW + 2, iy, String(label.dropLast()), fg: m.lastSaved == nil ? 245 : 114)
                    iy += 1
                    shown = file
                }
                // Then without the extension every checkpoint has, rather than cut inside it.
                if shown.count > W - leftW - 3 && shown.hasSuffix(".safetensors") { shown = String(shown.dropLast(12)) }
            }
            buf.text(leftW + 2, iy, shown, fg: m.lastSaved == nil ? 245 : 114, maxWidth: W - leftW - 3)
            iy += 1
        }
        // The demo's length, once sized (its message goes after a while, and the length stays unexplained).
        if let sized = m.sized, iy < py {
            let short = sized.replacingOccurrences(of: "sized to this machine: ", with: "sized: ")
            _ = buf.wrappedText(leftW + 2, iy, fitting([sized, short], width: W - leftW - 3), maxWidth: W - leftW - 3, fg: 245, maxLines: py - iy)
        }
        let sure = m.previewReadings.filter { $0.isConfidentDigit }.count
        var shown = 0
        if !m.preview.isEmpty {
            shown = drawGrid(&buf, images: m.preview, n: m.previewN, side: m.previewSize, x: 0, y: py + 1, w: W - 1, h: previewH - 1,
                             lo: -1, hi: 1, mode: s.mode, caps: s.caps, readings: m.previewReadings)
        }
        let reading = m.previewReadings.isEmpty ? "" : ": \(sure)/\(m.previewReadings.count) digits at p \(s.caps.unicode ? "≥" : ">=") 0.9"
        let showing = shown > 0 && shown < m.previewN ? " (showing \(shown))" : ""
        // The sampler's description gives way first on a narrow screen.
        let full = "EMA preview, step \(m.previewStep) (DDIM 20, x̂0 clipped\(m.previewBF16 ? ", bf16" : ""))" + reading + showing
        let title = full.count <= W - 2 ? full : "EMA preview, step \(m.previewStep)" + reading + showing
        buf.text(1, py, title, bold: true, maxWidth: W - 2)
        // "Digit-ness" over wall-clock time: the preview's confident share at each refresh.
        if m.confidentRates.count >= 2 && (ch >= 5 || rateOnLeft) {
            var plot = PlotWidget(series: [.init(m.confidentRates, color: 114)], title: "preview: share read as digits (p \(s.caps.unicode ? "≥" : ">=") 0.9)", caps: s.caps)
            plot.yRange = (0, 1)
            plot.xName = "min"
            plot.xLabels = (String(format: "%.1f", m.confidentMinutes.first!), String(format: "%.1f", m.confidentMinutes.last!))
            if rateOnLeft { plot.render(into: &buf, x: 0, y: 1 + lossH, w: leftW, h: topH - lossH) }
            else { plot.render(into: &buf, x: leftW + 2, y: cy, w: W - leftW - 3, h: ch) }
        }
    }
}
