// Reducer.swift: the one place UI state changes: reduce(state, action).
import Engine
import Foundation

public enum Action: Sendable {
    case key(Key)
    case resize(width: Int, height: Int)
    case engine(RunnerSnapshot)
    case trainEngine(RunnerSnapshot)
    /// Where the run the recipe menu starts would save (the loop says so while the menu is open).
    case nextTrainOut(String)
    /// The message on screen has been up this many seconds (the loop says so as time passes).
    case tick(messageAge: Double)
}

/// The one place UI state changes. Returns what the loop must do.
public func reduce(_ s: inout AppState, _ a: Action) -> [Effect] {
    switch a {
    case .resize(let w, let h):
        let wasSmall = s.tooSmall
        s.width = w; s.height = h
        // A run playing behind "Terminal too small" would go on unseen (a presenter resizing the window
        // lost the trajectory): it waits, as behind the help, and plays on once the window is large enough.
        if !wasSmall && s.tooSmall && s.runWouldPlayUnseen {
            s.smallPaused = true
            return [.command(.pause)]
        }
        if wasSmall && !s.tooSmall && s.smallPaused {
            s.smallPaused = false
            // (Not over q's question, asked while small: a second q must still quit.)
            if !AppState.asksToQuit(s.message) { s.message = "the window is large enough again: the run plays on" }
            return [.command(.resume)]
        }
        // The selection's message counts the digits shown, which the new size changes.
        if s.screen == .sample, let m = s.message, m.hasPrefix("sample "), m.contains(" shown selected") { saySelected(&s) }
        return []
    case .engine(var snap):
        // A command the engine refused (a fork of a step that its run, started again meanwhile, does
        // not have): say why, and drop the fork the reducer drew before the engine answered.
        if snap.refusals > s.snapshot.refusals, let m = snap.message {
            s.message = m
            if s.pendingFork != nil && snap.forkSettings == nil { s.pendingFork = nil; s.forkFocus = false }
        }
        // A fork just asked for: snapshots the engine published before it read `f` keep the fork as
        // the reducer drew it; the engine's own replaces it (or, if it never comes, the request lapses).
        if let asked = s.pendingFork {
            if snap.forkSettings != nil || snap.version > asked + 3 { s.pendingFork = nil }
            else {
                snap.forkSettings = s.snapshot.forkSettings; snap.forkFrom = s.snapshot.forkFrom
                snap.forkHistory = s.snapshot.forkHistory
                snap.finished = snap.finished && s.snapshot.finished   // a finished run's fork is not finished
            }
        }
        // Fork settings a key just set: older snapshots keep them, so that the next key builds on them.
        if let want = s.pendingForkSettings {
            if snap.forkSettings == nil || snap.forkSettings == want || snap.version > s.pendingForkSettingsAt + 10 { s.pendingForkSettings = nil }
            else { snap.forkSettings = want }
        }
        // A new run just asked for (r): older snapshots of the finished one do not make space answer "finished".
        if let asked = s.pendingRestart {
            if snap.seed == s.seed || snap.version > asked + 3 { s.pendingRestart = nil }
            else { snap.finished = false; snap.running = true }
        }
        // A bound just computed (forward view, `b`): say what it came to.
        if let b = snap.bound, s.snapshot.bound.map({ $0.digit != b.digit || $0.seconds != b.seconds }) ?? true {
            // With the σ² it used (the sample view's: v there changes it), and, when j or k moved on while
            // it was computed, the way back to the digit whose curve it is.
            let away = s.forwardDigit == b.digit ? "" : "; \(s.forwardDigit > b.digit ? "k" : "j") back to #\(b.digit) shows its curve"
            s.message = String(format: "bound of digit #%d, %@%@: %.3f bits/dim (L_0 %.3f, prior %.1e), %.1f s%@", b.digit,
                               s.caps.unicode ? "σ²=" : "var=", varianceSymbol(b.variance, unicode: s.caps.unicode), b.result.total,
                               b.result.decoder, b.result.prior, b.seconds, away)
        }
        // Broken weights: say once where the output stopped being numbers.
        if let t = snap.nonFinite, s.snapshot.nonFinite == nil { s.message = RunnerSnapshot.nonFiniteMessage(t); s.keptMessage = s.message }
        if let t = snap.compare?.nonFinite, s.snapshot.compare?.nonFinite == nil {
            s.message = "the comparison ended: " + RunnerSnapshot.nonFiniteMessage(t, then: "no row goes on")
            s.keptMessage = s.message
        }
        s.snapshot = snap
        // A replay's settings are the recording's, step by step.
        if s.replay != nil { s.settings = snap.settings }
        let h = s.focusHistory.count
        if let i = s.scrub, i >= h { s.scrub = h == 0 ? nil : h - 1 }
        // A change said to apply "from the next step" is stale once the side it was made on has no step left.
        if s.focusedSideFinished, s.message.map({ $0.contains("from the next step") || $0.contains(retakenWords) }) == true {
            s.message = nil; s.messageFolded = false
        }
        return []
    case .trainEngine(let snap):
        // A run just started: its engine's state before it took the start command (no training yet)
        // does not replace the run on screen; its first report does.
        if s.trainStartPending {
            guard snap.train != nil else { return [] }
            s.trainStartPending = false
        }
        // A new word from the engine ("checkpoint saved to ...") shows once, like a key's message.
        // (While q's question is on screen it stays, so that a second q still quits; the news waits.)
        if let m = snap.message, m != s.trainSnapshot?.message {
            // So does the answer to a q q whose save failed (the demo's sizing news at step 50 replaced it).
            let unsaved = s.message?.hasPrefix(AppState.unsavedQuitAnswer) == true
            if AppState.asksToQuit(s.message) || unsaved { s.heldMessage = m } else { s.message = m }
            // Why the run stopped (a checkpoint that cannot be written) stays whole, on as many rows as it
            // needs, as where a file went does: at 80 columns one row cut it at "write failed: No…".
            if snap.train?.error != nil, s.message == m { s.keptMessage = m }
        }
        // A later periodic save replaces a save message still shown (the side panel already says it).
        else if let saved = snap.train?.lastSaved, saved != s.trainSnapshot?.train?.lastSaved,
                s.message?.hasPrefix("checkpoint saved to ") == true { s.message = "checkpoint saved to \(saved)" }
        s.trainSnapshot = snap
        return []
    case .nextTrainOut(let path):
        s.nextTrainOut = path
        return []
    case .tick(let age):
        guard s.message != nil else { return [] }
        // News on a moving screen goes after a while ("forked after t=500" is stale a hundred steps on);
        // on a still one it stays for the user to read. A long one first folds to one row.
        if age > AppState.messageClearSeconds && s.screenMoving && s.message != s.keptMessage {
            s.message = s.heldMessage; s.heldMessage = nil
            s.messageFolded = false
        }
        // A message that stays (where a file went) folds too while the screen moves: to two rows.
        else if age > AppState.messageFoldSeconds && (s.message != s.keptMessage || s.screenMoving) { s.messageFolded = true }
        return []
    case .key(let k):
        // Another key than q answers q's question, and only that: it says that the run goes on (or what
        // the engine said meanwhile) and does nothing else. A lecturer's "n" (for no) changed the noise
        // temperature as well, and a view key switched views behind the answer.
        let previous = s.message
        if AppState.asksToQuit(previous) && k != .char("q") {
            s.messageFolded = false; s.keptMessage = nil
            if let held = s.heldMessage { s.message = held; s.heldMessage = nil; return [] }
            s.message = previous == AppState.forkQuitQuestion ? "not quitting: the fork stays open"
                : s.trainSnapshot?.finished == true ? "not quitting"
                // Space resumes training in its own view only; elsewhere it runs sampling.
                : s.trainSnapshot?.running == false ? "not quitting: the training run is kept (paused: "
                    + (s.screen == .train ? "" : "2, then ") + "space resumes it)"
                : "not quitting: the training run goes on"
            return []
        }
        return reduceKey(&s, k, previous: previous)
    }
}

/// A key; `previous` is the message on screen when it came (q's question, a left-out character).
private func reduceKey(_ s: inout AppState, _ k: Key, previous: String?) -> [Effect] {
    // s twice (a key repeat) after s opened the trained model: the second would change the new
    // run's DDIM steps in the sample view it lands in.
    let repeated = s.openedTrained && k == .char("s")
    s.openedTrained = false
    if repeated { return [] }
    // A second q quits only while the question of the first is on screen (it goes after a while).
    let asked = AppState.asksToQuit(previous)
    s.message = nil; s.messageFolded = false; s.keptMessage = nil
    // Pasted text is not a run of keys (a "q" in it quit, and the rest went to the shell).
    if case .ignored(let what) = k { s.message = what; return [] }
    // A window too small shows only "Enlarge it or press q": q quits, whatever prompt is open behind it
    // (during a training run, q asks first there too). Other keys do nothing there: they would change
    // views and prompts no one can see.
    if s.tooSmall {
        return k == .char("q") ? quitKey(&s, asked: asked) : []
    }
    if s.showHelp {
        // Space (or PgDn, Down) turns the page while there are more; any other key, q included (as in less), closes the help.
        if [.char(" "), .pageDown, .down].contains(k) && s.helpPage + 1 < HelpOverlay.pages(s) { s.helpPage += 1; return [] }
        s.showHelp = false
        if s.helpPaused { s.helpPaused = false; return [.command(.resume)] }
        return []
    }
    if s.editing != nil { return editKey(&s, k, previous: previous) }
    if s.choosingRecipe { return recipeKey(&s, k) }
    if s.choosingGuide { return guideKey(&s, k) }
    switch k {
    case .char("q"): return quitKey(&s, asked: asked)
    case .escape:
        // Esc closes the zoom, else the equation panel; a fork it does not (minutes of a presenter's
        // work): it says which key does. With nothing open it clears what is said, or says so.
        if s.screen == .sample {
            if s.zoom { s.zoom = false; s.message = "zoom closed"; return [] }
            if s.showEquation { s.showEquation = false; s.message = "update equation hidden"; return [] }
            if s.forking && s.replay == nil { s.message = "f closes the fork (Esc does not: it would be lost)"; return [] }
        }
        if previous == nil { s.message = "Esc: nothing open to close (? lists the keys, q quits)" }
        return []
    case .char("?"):
        // A trajectory or comparison playing behind the help would go on unseen: it waits (training does not).
        s.helpPaused = s.runWouldPlayUnseen
        s.showHelp = true; s.helpPage = 0
        return s.helpPaused ? [.command(.pause)] : []
    case .char(let c) where c == "1" || c == "2" || c == "3":
        let was = s.screen
        s.screen = Screen(rawValue: Int(String(c))!)!
        // The sample view paused for a training run says so (else it looks stuck).
        if c == "1" && s.trainSnapshot?.running == true && !s.snapshot.running && !s.snapshot.finished && s.hasModel {
            s.message = "sampling paused beside the training run: space runs it (training slows)"
        }
        return was == .compare ? [.command(.showCompare(false))] : []
    case .char("4"):
        guard s.hasModel else { s.message = "no model loaded: \(s.modelNote)"; return [] }
        if s.replay != nil { s.message = replayRefusal("the compare view"); return [] }
        let was = s.screen
        s.screen = .compare
        if was == .compare { return [] }
        // A comparison of other settings or another seed than the sample view's now runs again.
        let current = s.snapshot.compare.map { $0.spec == s.compareSpec } ?? false
        // Beside a training run a comparison shown again, or a new one, is paused (as sampling pauses
        // when training starts): the two would share the cores.
        let show: Effect = current ? .command(.showCompare(true)) : .command(.compare(s.compareSpec))
        guard s.trainSnapshot?.running == true, !current || s.snapshot.compare?.running == true else { return [show] }
        s.message = "comparison paused beside the training run: space runs it (training slows)"
        return [show, .command(.pause)]
    case .char("m"):
        // Each press changes what is drawn: without colours half-block draws as the ASCII shades, so
        // from ascii it goes on to braille (a press that changed nothing looked like a dead key).
        let shown = s.mode.drawn(on: s.caps)
        var next = s.caps.unicode ? s.mode.next : .ascii
        var skipped: RenderMode? = nil
        if s.caps.unicode && next.drawn(on: s.caps) == shown { skipped = next; next = next.next }
        s.mode = next
        s.message = !s.caps.unicode ? "ASCII renderer only: the terminal has no UTF-8"
            : s.mode.drawn(on: s.caps) != s.mode ? "renderer: \(s.mode.rawValue), drawn as ASCII shades: the terminal has no colours (NO_COLOR or TERM)"
            : "renderer: \(s.mode.rawValue)" + (skipped.map { " (\($0.rawValue) skipped: without colours it draws these same ASCII shades)" }
                ?? (s.mode == .braille && s.screen == .sample ? " (the zoom's strip of stages stays half-block)" : ""))
        return []
    default: break
    }
    switch s.screen {
    case .compare: return compareKey(&s, k)
    case .sample:
        let effects = sampleKey(&s, k)
        // A run started over beside a training run shares the cores with it: said, as space says it
        // (briefly after a key's own message, which may already say that space pauses).
        if s.trainSnapshot?.running == true && effects.contains(where: startsSampling) {
            s.message = s.message.map { $0 + "; training slows meanwhile" }
                ?? "new run beside the training run: training slows meanwhile (space pauses)"
        }
        return effects
    case .forward: return forwardKey(&s, k)
    case .train: return trainKey(&s, k)
    }
}

/// Whether an effect starts the sample view's run over (running).
private func startsSampling(_ e: Effect) -> Bool {
    guard case .command(let c) = e else { return false }
    switch c {
    case .restart, .retemper: return true
    default: return false
    }
}

/// q: quits, or during a training run or with a fork open asks first (`asked`: a question is on screen).
/// A fork is a presenter's work of minutes that one stray key would lose; a run alone is the seed's again.
private func quitKey(_ s: inout AppState, asked: Bool) -> [Effect] {
    if s.trainingInProgress && !asked {
        s.message = s.quitLosesFork ? AppState.trainingAndForkQuitQuestion : AppState.quitQuestion; s.heldMessage = nil; return []
    }
    if s.quitLosesFork && !asked { s.message = AppState.forkQuitQuestion; s.heldMessage = nil; return [] }
    s.quitting = true
    return [.quit]
}

private func clampTemp(_ v: Double) -> Double { (min(10, max(0, v)) * 10).rounded() / 10 }

private func sampleKey(_ s: inout AppState, _ k: Key) -> [Effect] {
    guard s.hasModel else { s.message = "no model loaded: \(s.modelNote)"; return [] }
    // While forking, the setting keys act on the focused side (tab switches).
    let onFork = s.forking && s.forkFocus
    var set = onFork ? (s.snapshot.forkSettings ?? s.settings) : s.settings
    let before = set
    var changed = true
    let h = s.focusHistory.count
    // PgUp / PgDn: a tenth of the whole run (its steps; a fork's own steps so far), at least one step:
    // 100 of DDPM's 1000, 2 of a 20-step DDIM run.
    let page = max(1, (onFork ? h : max(h, s.snapshot.timesteps.count)) / 10)
    if s.replay != nil, let refused = replayKey(&s, k) { return refused }
    switch k {
    case .tab:
        guard s.forking else { s.message = "tab switches between original and fork while forking (f forks)"; return [] }
        // A scrubbed view stays at its t: the other side's step nearest it.
        let t = s.scrub.flatMap { $0 < s.focusHistory.count ? s.focusHistory[$0].t : nil }
        s.forkFocus.toggle()
        s.scrub = t.flatMap { t in s.focusHistory.isEmpty ? nil : SampleView.nearest(t, in: s.focusHistory) }
        s.message = "keys now act on the " + (s.forkFocus ? "fork (right)" : "original (left)")
        return []
    case .char(" ") where s.snapshot.nonFinite != nil, .char(".") where s.snapshot.nonFinite != nil && (s.scrub.map { $0 + 1 >= h } ?? true):
        // Broken weights: the run does not go on past a step whose output was not numbers.
        s.message = RunnerSnapshot.nonFiniteMessage(s.snapshot.nonFinite!) + (s.forking ? " (f closes the fork; then r tries a new seed)" : " (r tries a new seed)")
        return []
    case .char(" "):
        if s.snapshot.finished {
            s.message = s.forking ? "both sides have finished: f closes the fork, then r runs a new seed" : "finished: press r for a new run (seed \(s.seed &+ 1))"
            return []
        }
        s.scrub = nil
        if !s.snapshot.running && s.trainSnapshot?.running == true {
            s.message = "sampling resumed beside the training run: they share the cores, so training slows meanwhile"
        }
        return [.command(.togglePause)]
    case .char("."):
        // Scrubbed back: the next recorded step (as →); from the newest, one step more.
        if let i = s.scrub, i + 1 < h { s.scrub = i + 1; return [] }
        s.scrub = nil
        if s.focusedSideFinished {
            s.message = s.replay != nil ? "the run has finished: r plays it again"
                : s.forking ? "this side has finished (tab: the other side; f closes the fork, then r runs a new seed)" : "the run has finished: r runs a new seed"
            return []
        }
        // Forked, the side further from x_0 steps (Runner.tick): when that is the other side, the one
        // the keys act on does not move, and this says why.
        if let next = s.forkNextT {
            let (mine, other) = s.forkFocus ? (next.fork, next.main) : (next.main, next.fork)
            if other > mine {
                s.message = "the \(s.forkFocus ? "original" : "fork") steps first (at t=\(other)): the sides go down in t together, "
                    + "and the \(s.forkFocus ? "fork" : "original")'s next step is at t=\(mine)"
            }
        }
        return [.command(.singleStep)]
    case .char("+"), .char("-"):
        let was = s.speedIndex
        s.speedIndex = k == .char("+") ? min(AppState.speeds.count - 1, s.speedIndex + 1) : max(0, s.speedIndex - 1)
        // Said on the bottom row too: a narrow status line drops its speed field.
        let now = s.speedLimit.map { String(format: $0 == 1 ? "at most %g step/s" : "at most %g steps/s", $0) } ?? "as fast as the machine goes"
        s.message = "speed: " + now + (s.speedIndex == was ? (k == .char("+") ? " (the fastest)" : " (the slowest)") : "")
        return [.command(.setSpeed(s.speedLimit))]
    case .char("r"):
        // A new seed starts over from x_T: it would drop the fork, which q and t ask or refuse to.
        if s.forking { s.message = "a new seed starts the run over from x_T: f closes the fork first"; return [] }
        s.seed = s.seed &+ 1; s.scrub = nil
        // The new run runs: keys typed before the engine's next snapshot (r then space) act on it, not on the finished one.
        s.snapshot.finished = false; s.snapshot.running = true; s.pendingRestart = s.snapshot.version
        s.snapshot.nonFinite = nil   // so that a new run that overflows again says so again
        return [.command(.restart(seed: s.seed))]
    case .char("t"), .char("T"):
        // Live: the run starts over at once from x_T with the same seed; the
        // previous result stays beside it (SPEC: temperature only acts on x_T).
        set = s.settings
        set.temperature = clampTemp(set.temperature + (k == .char("T") ? 0.1 : -0.1))
        guard set.temperature != s.settings.temperature else {
            s.message = k == .char("T") ? "temperature is at its largest, 10.0 (t lowers it)" : "temperature is at 0.0, its smallest: x_T = 0 (T raises it)"
            return []
        }
        // A fork shares x_T with the original: a new temperature would end both; say how instead.
        if s.forking { s.message = "temperature starts the run over from x_T: f closes the fork first"; return [] }
        // A paused run starts over running (a new x_T has nothing to show until it steps): said so.
        let paused = !s.snapshot.running && !s.snapshot.finished
        s.settings = set; s.scrub = nil; s.forkFocus = false
        s.message = set.kind == .ddpm
            // (One row at 80 columns: it stays while the run plays, and the key hints under it stay in view.)
            ? "temp \(set.temperature), same seed: DDPM's noise z washes out x_T's scale (d: DDIM keeps it)"
            : "temperature \(set.temperature): the run starts over from x_T, same seed, the last result beside it"
        // Back at the temperature of the run kept beside it: that run again, so nothing is beside it.
        let again = s.snapshot.rerunsComparison(set)
        if again { s.message = "temperature \(set.temperature) again, as the run kept beside it had: same seed and settings, same digits, so it goes" }
        if paused { s.message! += "; running again (space pauses)" }
        // DDPM's why stays until the next key: the look-alike result it explains comes 40-80 s later.
        if set.kind == .ddpm && !again { s.keptMessage = s.message }
        return [.command(.retemper(set))]
    case .char("n"), .char("N"):
        set.noiseTemperature = clampTemp(set.noiseTemperature + (k == .char("N") ? 0.1 : -0.1))
        let v = set.noiseTemperature
        if v == before.noiseTemperature {
            s.message = k == .char("N") ? "noise temperature is at its largest, 10.0 (n lowers it)"
                : "noise temperature is at 0.0: the steps add no fresh noise (N raises it)"
        } else if !set.drawsNoise {
            s.message = String(format: "noise temperature %.1f (%@ draws no fresh noise z: %@)", v, set.kind == .ddim ? "DDIM with eta 0" : set.kind.name,
                               set.kind == .ddim ? "E raises eta" : pressD(from: set.kind, to: .ddpm) + " for DDPM")
        } else if !s.focusedSideFinished && !s.focusHistory.isEmpty {
            s.message = String(format: "noise temperature %.1f: each step's z is %.1f%@N(0, I), from the next step", v, v, s.caps.unicode ? "·" : " x ")
        }
    case .char("e"), .char("E"):
        set.eta = k == .char("E") ? min(1, ((set.eta + 0.1) * 10).rounded() / 10) : max(0, ((set.eta - 0.1) * 10).rounded() / 10)
        if set.kind != .ddim {
            // (At either end it says so, as under DDIM, rather than "set to" a value it already had.)
            let was = set.eta == before.eta ? (k == .char("E") ? "DDIM eta is at its largest, 1.0" : "DDIM eta is at 0.0, its smallest") : String(format: "DDIM eta set to %.1f", set.eta)
            s.message = String(format: "%@, kept for DDIM (%@: %@ for DDIM)", was, notApplicable(s, set), pressD(from: set.kind, to: .ddim))
        }
        else if set.eta == before.eta { s.message = k == .char("E") ? "eta is at its largest, 1.0 (e lowers it)" : "eta is at 0.0, deterministic DDIM (E raises it)" }
        else if !s.focusedSideFinished && !s.focusHistory.isEmpty {
            // As s and d say theirs: mid-run the new eta takes over from the next step.
            s.message = "\(describe(set, unicode: s.caps.unicode)) from the next step"
                + (set.eta == 0 ? ": deterministic from here" : before.eta == 0 ? ": fresh noise from here" : "")
        }
    case .char("d"):
        set.kind = set.kind.next
        // A model of fewer steps than DDIM's 50 (ddpm train --T 10): at most its T (the engine refused 50).
        if set.kind != .ddpm { set.steps = min(set.steps, s.schedule.T) }
        if !s.focusedSideFinished && !s.focusHistory.isEmpty {
            // Mid-run the new sampler takes over from the next step: from the x_t the step on screen
            // made (a frame shows x_t and the step from it, already taken), not the x_t shown.
            // Paused, the step on screen is taken again with it (applySettings).
            // Playing, the engine may take a step or two before it reads the key: the x_t is named only
            // when paused (a playing run said x_943 and went on from x_942).
            let from = s.snapshot.running ? "the x_t the last step made"
                : s.focusHistory.last.map { "x_\($0.tNext), the result of the last step" } ?? "the next x_t"
            s.message = "\(describe(set, unicode: s.caps.unicode)) "
                + (retakesShownStep(s, onFork: onFork) ? "from the next step" : "from the next step: on from \(from)")
                + (onFork ? "" : " (r starts a new run with it)")
        }
    case .char("s"), .char("S"):
        // The next value of the list below / above the current one (which need not be in the list: --steps 40).
        // A model of fewer than 1000 steps ends the list at its T (more would be refused by the engine).
        let T = s.schedule.T, l = AppState.ddimSteps.filter { $0 < T } + [T]
        // (Never the other way: beyond the list's ends the steps stay as they are.)
        set.steps = k == .char("s") ? (l.last { $0 < set.steps } ?? set.steps) : (l.first { $0 > set.steps } ?? set.steps)
        if set.kind == .ddpm { s.message = "steps \(set.steps) (DDPM walks all T: press d for DDIM or DPM++)" }
        else if set.steps == before.steps {
            s.message = k == .char("S") ? "steps at their most, \(set.steps) (s lowers them)" : "steps at their fewest, \(set.steps) (S raises them)"
        } else if !s.focusedSideFinished && !s.focusHistory.isEmpty {
            s.message = "\(describe(set, unicode: s.caps.unicode)) from the next step"
        }
    case .char("v"):
        // β, β̃, then the network's own when it learns one.
        set.variance = set.variance == .beta ? .posterior : (set.variance == .posterior && s.learnsVariance ? .learned : .beta)
        if set.kind == .ddpm && before.variance == .posterior && !s.learnsVariance {
            s.message = "DDPM variance " + varianceSymbol(.beta, unicode: s.caps.unicode) + " (σ² = learned needs a model trained with --learn-sigma)"
        } else if set.kind == .ddpm && !s.focusedSideFinished {
            // Both ways say it (a finished run's message says how to use it instead).
            s.message = "DDPM variance " + (s.caps.unicode ? "σ²" : "var") + " = \(varianceSymbol(set.variance, unicode: s.caps.unicode)) from the next step"
        }
        if set.kind != .ddpm { s.message = "DDPM variance set to \(varianceSymbol(set.variance, unicode: s.caps.unicode)), kept for DDPM (\(notApplicable(s, set)): \(pressD(from: set.kind, to: .ddpm)) for DDPM)" }
    case .char("c"):
        set.clip.toggle()
        if !s.focusedSideFinished && !s.focusHistory.isEmpty {
            s.message = set.clip ? "clip on: x̂0 clipped to [-1, 1] before the step, from the next step" : "clip off: x̂0 as the network predicts it, from the next step"
        }
    case .char("g"):
        if let why = s.guideUnavailable { s.message = "guidance: \(why)"; return [] }
        s.choosingGuide = true
        s.message = "guide toward which digit? 0-9 (x: no guidance, Esc: " + (set.guide.map { "keep \($0)" } ?? "cancel") + ")"
        return []
    case .char("<"), .char(">"):
        if let why = s.guideUnavailable { s.message = "guidance: \(why)"; return [] }
        let l = AppState.guideScales
        let next = k == .char("<") ? l.last { $0 < set.guideScale } : l.first { $0 > set.guideScale }
        guard let next else {
            s.message = String(format: "guidance scale %g is the %@ (%g...%g)", set.guideScale, k == .char("<") ? "smallest" : "largest", l[0], l[l.count - 1])
                + (set.guide == nil ? "; guidance is off: g then 0-9 guides" : "")
            return []
        }
        set.guideScale = next
        let done = s.focusedSideFinished
        if set.guide == nil { s.message = String(format: "guidance scale %g (no digit chosen: g then 0-9 guides)", set.guideScale) }
        else if !done {
            s.message = String(format: "guidance scale %g, toward digit %d, from the next step", set.guideScale, set.guide!)
                + (set.guideScale == 0 ? " (0: off)" : "")
        }
    case .left, .shiftLeft:
        guard h > 0 else { return [] }
        let step = k == .shiftLeft ? 10 : 1
        // Live shows the newest step while running, so one back is the step before it; a finished
        // run shows its final sample, so one back is its last step (it was skipped).
        let from = s.scrub ?? (s.focusedSideFinished ? h : h - 1)
        // (Also paused live on the run's first step, as `--paused` opens: nothing before it, said. Running,
        // ← there still pauses the run on that step.)
        if from == 0 && (s.scrub != nil || !s.snapshot.running) { s.message = "at the first step of the run: " + (s.caps.unicode ? "→" : "right") + " or End goes forward"; return [] }
        s.scrub = max(0, from - step)
        return s.snapshot.running ? [.command(.pause)] : []
    case .right, .shiftRight:
        guard let i = s.scrub else {
            if s.focusedSideFinished { s.message = "at the end of the run: " + (s.caps.unicode ? "←" : "left") + " or Home scrubs back" }
            else if h > 0 { s.message = "live: the newest step is on screen (" + (s.caps.unicode ? "←" : "left") + " scrubs back)" }
            return []
        }
        let step = k == .shiftRight ? 10 : 1
        s.scrub = i + step >= h ? nil : i + step
        return []
    case .home, .pageUp:
        // To the start of the recording, or back a page (a tenth of the run).
        guard h > 0 else { return [] }
        s.scrub = k == .home ? 0 : max(0, (s.scrub ?? h - 1) - page)
        return s.snapshot.running ? [.command(.pause)] : []
    case .end, .pageDown:
        guard let i = s.scrub else {
            let back = (s.caps.unicode ? "←" : "left") + " or Home scrubs back"
            if s.focusedSideFinished { s.message = "at the end of the run: " + back }
            else if h > 0 { s.message = "live: the newest step is on screen (" + back + ")" }
            return []
        }
        s.scrub = k == .end || i + page >= h ? nil : i + page
        return []
    case .char("f"):
        if s.forking {
            s.message = "fork closed"; s.forkFocus = false; s.scrub = nil; s.pendingFork = nil; s.pendingForkSettings = nil
            s.snapshot.forkSettings = nil; s.snapshot.forkHistory = []
            // A finished original is finished again at once, as the engine's next snapshot will say (Runner).
            if s.snapshot.final != nil { s.snapshot.finished = true; s.snapshot.running = false }
            return [.command(.fork(nil))]
        }
        guard !s.snapshot.history.isEmpty else { s.message = "nothing to fork yet: the run has not started"; return [] }
        if let t = s.snapshot.nonFinite {
            s.message = RunnerSnapshot.nothingToFork(t); return []
        }
        // After the scrubbed step (the run's own recording), else after where the run is now.
        if s.scrub == nil && s.snapshot.finished {
            s.message = "the run has finished: scrub back (" + (s.caps.unicode ? "←" : "left") + " or Home) to the step to fork from, then f"; return []
        }
        // The fork shares the shown step (the scrubbed one, or the newest) and takes the steps after it
        // on its own, so both panes go on showing the step the key was pressed on.
        if let i = s.scrub, i == s.snapshot.history.count - 1, s.snapshot.finished {
            s.message = "that is the run's last step: nothing after it to fork; scrub further back"; return []
        }
        // Pinned to the step shown, also live: the engine may have stepped on before it reads the command.
        let at = s.scrub.map { $0 + 1 } ?? s.snapshot.history.count
        let t = s.snapshot.history[at - 1].t
        s.forkFocus = true; s.scrub = nil
        // The fork as the engine will report it, so that keys pressed before its next snapshot act on the fork.
        s.snapshot.forkSettings = s.settings; s.snapshot.forkFrom = at
        s.snapshot.forkHistory = Array(s.snapshot.history.prefix(at))
        s.snapshot.forkFinal = nil; s.snapshot.forkFinalReadings = []
        s.pendingFork = s.snapshot.version
        let paused = !s.snapshot.running && !s.snapshot.finished, finished = s.snapshot.finished
        // The fork of a finished run waits, as a paused one does (the engine says the same in its next snapshot).
        s.snapshot.finished = false
        // An unchanged fork retraces the original (the same noise); one made before a change of sampler runs the new one at once.
        let retraces = s.snapshot.history[at...].allSatisfy { $0.settings == s.settings }
        s.message = "forked after t=\(t): keys now change the fork (right), which "
            + (retraces ? "retraces the original until they do" : "runs \(describe(s.settings, unicode: s.caps.unicode)) from the next step")
            + "; tab: the original"
            + (paused ? "; space plays both" : finished ? "; space plays the fork" : "")
        return [.command(.fork(s.settings, at: at))]
    case .char("p"): return [.exportPNG]
    case .char("R"):
        guard !s.snapshot.history.isEmpty else { s.message = "nothing to record yet: the run has not started"; return [] }
        return [.record]
    case .char("G"):
        guard !s.snapshot.history.isEmpty else { s.message = "nothing to export yet: the run has not started"; return [] }
        return [.exportGIF]
    case .char("h"), .char("l"), .char("j"), .char("k"):
        // Select a digit: h / l previous / next, k / j a row up / down (the grid's columns).
        let n = SampleView.selectableDigits(s), cols = SampleView.columns(s)
        let d = k == .char("h") ? -1 : (k == .char("l") ? 1 : (k == .char("j") ? cols : -cols))
        s.selected = min(n - 1, max(0, s.selected + d))
        saySelected(&s)
        return []
    case .char("z"):
        s.zoom.toggle()
        s.message = s.zoom ? "zoom: sample \(s.selected + 1), its stages and the classifier's reading over t (z: back)" : nil
        // Back on the grid from a sample the zoom reached but the grid does not show: the last one shown, said so.
        if !s.zoom, s.selected >= SampleView.shownDigits(s) {
            let was = s.selected
            saySelected(&s)
            s.message = "sample \(was + 1) has no room in the grid at this size: " + (s.message ?? "")
        }
        return []
    case .char("="):
        s.showEquation.toggle()
        s.message = s.showEquation ? "update equation on: the shown step's numbers (= hides it)" : "update equation hidden"
        return []
    case .char(let c) where !c.isWhitespace:
        // Say so rather than ignore it, as the compare view does.
        s.message = notAKey(c, of: "the sample view")
        return []
    default:
        changed = false
        s.message = notAKey(k, of: "the sample view")
    }
    return changed ? applySettings(&s, set, before: before, onFork: onFork) : []
}

/// Sends settings changed by a key to the side that has the keys (the
/// original or the fork); on a finished side says how to use them.
private func applySettings(_ s: inout AppState, _ set: SamplerSettings, before: SamplerSettings, onFork: Bool) -> [Effect] {
    // A sampler of more steps keeps a longer history: refused here when it could not be had, not a crash later.
    let T = s.schedule.T, steps = { (x: SamplerSettings) in x.kind == .ddpm ? T : x.steps }
    if steps(set) > steps(before), s.replay == nil,
       let no = ExplorerApp.historyRefusal(steps: steps(set), n: max(1, s.snapshot.n), size: s.snapshot.history.first?.size ?? MNIST.side,
                                           sampler: describe(set, unicode: s.caps.unicode)) {
        s.message = no
        return []
    }
    if set != before {
        // Paused on a side's newest step, the change applies to that step (taken again), not the one after it.
        // (Not for a setting the step does not use, η under DDPM say: the same step again, a model call for nothing.)
        let retake = retakesShownStep(s, onFork: onFork)
            && s.focusHistory.last.map { SampleView.pendingChange(set, from: $0.settings) != nil } == true
        if retake, let m = s.message {
            // Scrubbed back, the step taken again is not the one on screen: the newest, whose result was never shown.
            // (No t: a step taken just before, not yet in this snapshot, is the one the engine takes again.)
            let which = s.onNewestStep ? "the step on screen" : "the newest step"
            s.message = m.replacingOccurrences(of: "from the next step", with: "from \(which), \(retakenWords)")
        }
        let again: [Effect] = retake ? [.command(.retakeLast(fork: onFork))] : []
        // On a finished side a new setting changes nothing on screen: say how to use it.
        let done = s.focusedSideFinished
        if done && s.message == nil {
            s.message = onFork
                ? "the fork has finished: f closes it; then scrub back and f forks again (with the original's settings)"
                : (s.forking ? "run finished: f closes the fork; then r runs seed \(s.seed &+ 1) with " : "run finished: r runs seed \(s.seed &+ 1) with ") + (SampleView.pendingChange(set, from: s.snapshot.history.last?.settings ?? before, unicode: s.caps.unicode)?.full ?? "these settings")
                    + (s.onNewestStep ? "; or scrub back and f forks" : "; or f forks after this step")
        }
        if onFork {
            // Kept here at once, as the original's are: keys pressed before the engine's next snapshot
            // (e e e e) each build on the one before, not on the fork's settings of that snapshot.
            s.snapshot.forkSettings = set
            s.pendingForkSettings = set; s.pendingForkSettingsAt = s.snapshot.version
            return [.command(.setForkSettings(set))] + again
        }
        s.settings = set
        return [.command(.setSettings(set))] + again
    }
    return []
}

/// The words that end a change's message when the step on screen is taken again.
private let retakenWords = "taken again"

/// Whether a setting changed now applies to the newest step of the side the keys act on
/// (`RunnerCommand.retakeLast`): paused, on a step of that side's own, with steps left.
/// A frame shows x_t and the step from it, already taken, whose result no one has seen
/// yet; a lecturer who pauses, raises η and steps means that step. Scrubbed back, it is
/// the same step: the one the run goes on from.
func retakesShownStep(_ s: AppState, onFork: Bool) -> Bool {
    guard s.replay == nil, !s.snapshot.running, s.snapshot.nonFinite == nil, !s.focusedSideFinished, !s.focusHistory.isEmpty else { return false }
    // Not the past a fork shares with the original: the fork started from the x_t it made.
    return !s.forking || s.focusHistory.count > s.snapshot.forkFrom
}

/// Why a setting of another sampler does nothing now: "DDIM does not use it", or, when the
/// run on screen has finished with another sampler than the next run's, which run.
/// (It is kept for that sampler: "n/a" alone read as if the key had been refused.)
private func notApplicable(_ s: AppState, _ set: SamplerSettings) -> String {
    let shown = s.focusHistory.last?.settings.kind
    return set.kind.name + (s.focusedSideFinished && shown != nil && shown != set.kind ? ", the next run's sampler," : "") + " does not use it"
}

/// How many presses of `d` (its cycle: DDPM, DDIM, DPM++) lead from one sampler to another.
private func pressD(from: SamplerKind, to: SamplerKind) -> String {
    var k = from, n = 0
    while k != to { k = k.next; n += 1 }
    return n == 1 ? "press d" : "press d \(n == 2 ? "twice" : "\(n) times")"
}

/// The key after `g`: a digit to guide toward, x for none, anything else (q too) keeps the guide.
private func guideKey(_ s: inout AppState, _ k: Key) -> [Effect] {
    s.choosingGuide = false
    let onFork = s.forking && s.forkFocus
    let before = onFork ? (s.snapshot.forkSettings ?? s.settings) : s.settings
    var set = before
    // A finished side: applySettings says how to use the new guide.
    let done = s.focusedSideFinished
    switch k {
    case .char(let c) where c.isASCII && c.isNumber:
        set.guide = Int(String(c))
        if !done { s.message = String(format: "guiding toward %d at scale %g from the next step (< > change the scale)", set.guide!, set.guideScale) }
    case .char("q"):
        // Leaving a prompt with q must not end the lecture: it cancels, as Esc does.
        s.message = "guidance unchanged" + (before.guide.map { ": toward \($0)" } ?? ": none") + " (q again quits)"
        return []
    case .char("x"), .char("X"), .char("g"):
        set.guide = nil
        if before.guide == nil { s.message = "no guidance (it was off)" } else if !done { s.message = "guidance off from the next step" }
    default:
        s.message = "guidance unchanged" + (before.guide.map { ": toward \($0)" } ?? ": none")
        return []
    }
    return applySettings(&s, set, before: before, onFork: onFork)
}

/// What a key does differently while replaying: the keys that need a model
/// say so, `r` and space at the end play again; nil for keys that act as live.
private func replayKey(_ s: inout AppState, _ k: Key) -> [Effect]? {
    switch k {
    case .char("r"):
        s.scrub = nil; s.message = "playing again from the start"
        return [.command(.restart(seed: s.seed))]
    case .char(" ") where s.snapshot.finished:
        s.scrub = nil; s.message = "playing again from the start"
        return [.command(.restart(seed: s.seed))]
    case .char("t"), .char("T"): s.message = replayRefusal("a new temperature")
    case .char("n"), .char("N"), .char("e"), .char("E"), .char("d"), .char("s"), .char("S"), .char("v"), .char("c"):
        s.message = replayRefusal("changing a sampler setting (noise, eta, sampler, steps, variance, clipping)")
    case .char("g"), .char("<"), .char(">"): s.message = replayRefusal("guidance")
    case .char("f"): s.message = replayRefusal("a new fork")
    case .char("R"): s.message = "this is a recording already (\(s.replay ?? ""))"
    case .right where s.scrub == nil && !s.snapshot.finished, .shiftRight where s.scrub == nil && !s.snapshot.finished,
         .pageDown where s.scrub == nil && !s.snapshot.finished:
        // At the playhead: the recording holds the frames ahead, so step forward (paused).
        let n = k == .right ? 1 : (k == .shiftRight ? 10 : max(1, s.snapshot.timesteps.count / 10))
        return Array(repeating: .command(.singleStep), count: n)
    case .tab where !s.forking:
        s.message = s.replayForks ? "the fork has not started yet: tab switches sides once the replay reaches it"
                                  : "this recording has no fork: tab has no other side to switch to"
    default: return nil
    }
    return []
}

/// Why a key does nothing in a replay.
func replayRefusal(_ what: String) -> String {
    "replay: \(what) needs the model (the recording holds only frames)"
}

private func compareKey(_ s: inout AppState, _ k: Key) -> [Effect] {
    switch k {
    case .char(" "):
        if s.snapshot.compare?.finished ?? false { s.message = "finished: r runs again with a new seed"; return [] }
        if s.snapshot.compare?.running == false && s.trainSnapshot?.running == true {
            s.message = "comparison resumed beside the training run: they share the cores, so training slows meanwhile"
        }
        return [.command(.togglePause)]
    case .char("."): return [.command(.singleStep)]
    case .char("a"):
        s.compareParameter = s.compareParameter.next
        // Guidance needs its classifier: without it the cycle skips the guidance scale.
        if s.compareParameter == .guideScale && s.guideUnavailable != nil { s.compareParameter = s.compareParameter.next }
        s.message = "comparing \(s.compareParameter.rawValue)"
    case .char("e"):
        guard s.compareParameter.editable else {
            s.message = "\(s.compareParameter.rawValue): all \(s.compareParameter.defaults.count) values are shown (a: next setting)"; return []
        }
        s.editing = s.compareSpec.values.map { s.compareParameter.format($0) }.joined(separator: ", ")
        s.editingFresh = true
        return []
    case .char("d"):
        // Rows whose setting fixes their sampler (CompareParameter.apply) would not change: say so,
        // rather than announce a change and start over.
        let spec = s.compareSpec
        var other = spec
        other.base.kind = spec.base.kind.next
        if other.rowSettings == spec.rowSettings {
            let kinds = Set(spec.rowSettings.map(\.kind))
            let rows = kinds.count > 1 ? "each row runs its own sampler" : "the \(spec.parameter.rawValue) rows all run \(spec.shared.kind.name)"
            s.message = rows + ", so d changes nothing here (a: next setting)"
            return []
        }
        // The comparison's own: a paused run in the sample view keeps its sampler.
        s.compareKind = s.compareSpec.base.kind.next
        s.message = "base sampler \(describe(s.compareSpec.base, unicode: s.caps.unicode)) for the comparison (the sample view keeps its own)"
    case .char("r"): s.seed = s.seed &+ 1; s.message = "new seed \(s.seed)"
    case .char("p"): return [.exportComparePNG]
    case .up, .down:
        // Rows that do not fit scroll; all of them are in p's PNG.
        guard let rows = s.snapshot.compare?.rows.count, let shown = CompareView.rowsShown(s), shown < rows else {
            s.message = "every row is on screen"; return []
        }
        let first = CompareView.firstRow(s, rows: rows, shown: shown)
        let next = k == .down ? min(rows - shown, first + 1) : max(0, first - 1)
        if next == first { s.message = k == .down ? "the last row is on screen" : "the first row is on screen"; return [] }
        s.compareFirstRow = next
        return []
    case .char, .left, .right, .shiftLeft, .shiftRight, .pageUp, .pageDown, .home, .end, .tab:
        // Say so rather than ignore it: the sample view's keys do not act here.
        // Within 80 columns: a longer message folds to one row, cut before its second half.
        s.message = compareNotAKey + "; other settings come from the sample view (1)"
        return []
    default:
        s.message = notAKey(k, of: "the compare view")
        return []
    }
    return [.command(.compare(s.compareSpec))]
}

/// Typing the compare view's values: digits, '.', ',' and spaces; Enter applies, Esc cancels, Ctrl-U clears.
private func editKey(_ s: inout AppState, _ k: Key, previous: String?) -> [Effect] {
    guard var text = s.editing else { return [] }
    let fresh = s.editingFresh
    switch k {
    case .escape: s.editing = nil; s.message = "values unchanged"; return []
    // q is no part of a number: it closes the field, as at the g prompt (a nervous presenter's q was "left out" again and again).
    case .char("q"): s.editing = nil; s.message = "values unchanged (q again quits)"; return []
    case .backspace: text = String(text.dropLast()); s.editingFresh = false
    case .char("\u{15}"): text = ""; s.message = nil; s.editingFresh = false   // Ctrl-U, as in a shell: the whole field
    case .enter:
        do {
            let v = try s.compareParameter.parse(text, T: s.schedule.T)
            // The characters left out while typing are said again: "0, 3, abc" compares 0 and 3, not abc.
            let left = leftOut(previous)
            let leftSaid = left.isEmpty ? "" : " (left out: \(left.joined(separator: ", ")))"
            // The same values as the comparison on screen: it goes on rather than starting over.
            if s.snapshot.compare?.spec == s.compareSpec && s.compareSpec.values == v {
                s.editing = nil
                let done = s.snapshot.compare.map { !$0.rows.isEmpty && $0.finished } ?? false
                s.message = (done ? "values unchanged (r runs them again with a new seed)"
                    : s.snapshot.compare?.running == true ? "values unchanged: the comparison goes on" : "values unchanged (space runs it)") + leftSaid
                return []
            }
            s.compareValues[s.compareParameter] = v; s.editing = nil
            s.message = "comparing \(s.compareParameter.rawValue): \(v.map { s.compareParameter.format($0) }.joined(separator: ", "))" + leftSaid
            return [.command(.compare(s.compareSpec))]
        } catch { s.message = "\(error) (Esc cancels)"; return [] }
    case .char(let c) where c.isASCII && (c.isNumber || ".,- e".contains(c)) && (fresh || text.count < 60):
        // (A character left out stays said until Enter: pasted "0.8 abc 2" must not lose "abc" unseen.)
        // A number begun replaces the values filled in; a comma or space goes on from them.
        if fresh && (c.isNumber || c == "." || c == "-") { text = "" }
        s.editingFresh = false
        text.append(c)
        if previous?.contains(" not part of a number") == true { s.message = previous }
    case .char(let c) where c.isASCII && (c.isNumber || ".,- e".contains(c)):
        s.message = "the field is full (60 characters): Enter applies, Ctrl-U clears"
    case .char(let c):
        // Each character left out since the last one taken is named ("'a', 'b', 'c' are not part of a number").
        var left = leftOut(previous)
        if left.count < 8 { left.append(keyName(c)) }
        s.message = left.joined(separator: ", ") + (left.count == 1 ? " is" : " are") + " not part of a number, left out: " + howToType
    default: s.message = howToType + "; Enter applies, Esc cancels, Ctrl-U clears"
    }
    s.editing = text
    return []
}

private func forwardKey(_ s: inout AppState, _ k: Key) -> [Effect] {
    let T = s.schedule.T
    // At either end of t a key that would go further says so.
    let lower: [Key] = [.left, .shiftLeft, .down, .pageDown, .home], higher: [Key] = [.right, .shiftRight, .up, .pageUp, .end]
    if s.forwardT == 0 && lower.contains(k) { s.message = "t = 0 is the first step: the digit with the least noise (→ or ↑ adds noise)"; return [] }
    if s.forwardT == T - 1 && higher.contains(k) { s.message = "t = \(T - 1) is the last step: nearly pure noise (← or ↓ takes noise away)"; return [] }
    switch k {
    case .left: s.forwardT = max(0, s.forwardT - 1)
    case .right: s.forwardT = min(T - 1, s.forwardT + 1)
    case .shiftLeft: s.forwardT = max(0, s.forwardT - 10)
    case .shiftRight: s.forwardT = min(T - 1, s.forwardT + 10)
    case .down, .pageDown: s.forwardT = max(0, s.forwardT - 100)
    case .up, .pageUp: s.forwardT = min(T - 1, s.forwardT + 100)
    case .home: s.forwardT = 0
    case .end: s.forwardT = T - 1
    case .char("j"): s.forwardDigit += 1
    case .char("k"):
        if s.forwardDigit == 0 { s.message = "this is the first digit (j: next)"; return [] }
        s.forwardDigit -= 1
    case .char("b"):
        guard s.hasModel, s.replay == nil else {
            s.message = s.replay != nil ? replayRefusal("the bound") : "no model loaded: \(s.modelNote)"; return []
        }
        guard let data = s.forwardDigits, data.count > 0 else { s.message = "no MNIST test digits to bound"; return [] }
        let d = min(s.forwardDigit, data.count - 1), px = data.side * data.side
        s.message = "the bound of digit #\(d): \(s.schedule.T) model calls of \(ForwardView.boundDraws) draws each..."
        s.boundsAsked += 1
        return [.command(.bound(image: Array(data.images[(d * px)..<((d + 1) * px)]), size: data.side, digit: d,
                                variance: s.settings.variance, draws: ForwardView.boundDraws))]
    case .char(let c) where !c.isWhitespace:
        s.message = notAKey(c, of: "the forward view")
        return []
    default:
        s.message = notAKey(k, of: "the forward view")
        return []
    }
    if let d = s.forwardDigits { s.forwardDigit = min(s.forwardDigit, d.count - 1) }
    return []
}

private func trainKey(_ s: inout AppState, _ k: Key) -> [Effect] {
    switch k {
    case .char(" "):
        guard s.trainSnapshot != nil else { s.message = "no training running: press g to start one"; return [] }
        return [.command(.togglePause)]
    case .char("w"):
        guard s.trainSnapshot != nil else { s.message = "no training running"; return [] }
        return [.command(.saveCheckpoint(""))]
    case .char("g"):
        if s.replay != nil { s.message = "replay: training needs the explorer without a recording (ddpm, then 2 and g)"; return [] }
        // During a run the menu says that starting another stops it (saved first, to resume later).
        guard s.trainingAvailable else { s.message = "no MNIST data found to train on"; return [] }
        s.choosingRecipe = true
        s.nextTrainOut = nil   // the app names the file afresh (ExplorerApp's loop)
        return []
    case .char("s"):
        // On the trained model already: back to the one the explorer opened with.
        if s.sGoesBack { s.openedTrained = true; return [.sampleOpened] }
        guard let run = s.trainSnapshot else { s.message = "no training run to sample: g starts one"; return [] }
        guard run.finished else { s.message = "s samples the model trained here once its run has finished"; return [] }
        s.openedTrained = true
        return [.sampleTrained]
    case .char(let c) where !c.isWhitespace:
        s.message = notAKey(c, of: "the training view")
        return []
    default:
        s.message = notAKey(k, of: "the training view")
        return []
    }
}

/// The characters a left-out message names (empty for any other message).
private func leftOut(_ message: String?) -> [String] {
    guard let m = message, let end = m.range(of: m.contains(" are not part of") ? " are not part of a number" : " is not part of a number") else { return [] }
    return m[..<end.lowerBound].components(separatedBy: ", ")
}

/// "sample 4 of 12 shown selected": the selection among the digits shown, which a resize
/// changes (the selection kept among them).
private func saySelected(_ s: inout AppState) {
    let n = SampleView.selectableDigits(s)
    s.selected = min(s.selected, max(0, n - 1))
    s.message = s.zoom ? "sample \(s.selected + 1) of \(n) selected" : "sample \(s.selected + 1) of \(n) shown selected (z zooms it)"
}

/// How the compare view's values are typed (said where a key is left out or not an edit).
private let howToType = "type 1 to 8 numbers separated by commas or spaces"

/// What a printable key without an action in a view says (rather than nothing).
func notAKey(_ c: Character, of view: String) -> String {
    "\(keyName(c)) is not a key of \(view) (? lists them)"
}

/// A typed character as a message names it: 'x', a control character by its Ctrl name (Ctrl-U
/// showed as "'^'"), anything else "that".
func keyName(_ c: Character) -> String {
    c.asciiValue.map { $0 < 32 ? "Ctrl-" + String(UnicodeScalar($0 + 64)) : "'\(c)'" } ?? "that"
}

/// What a key without a character says where it has no action (nil for a character, which
/// `notAKey(_:of:)` with the character says, and for Esc, which reduceKey handles).
func notAKey(_ k: Key, of view: String) -> String? {
    let name: String
    switch k {
    case .enter: name = "Enter"
    case .backspace: name = "Backspace"
    case .tab: name = "Tab"
    case .up: name = "Up"
    case .down: name = "Down"
    case .left, .shiftLeft: name = "Left"
    case .right, .shiftRight: name = "Right"
    case .home: name = "Home"
    case .end: name = "End"
    case .pageUp: name = "PgUp"
    case .pageDown: name = "PgDn"
    case .char, .escape: return nil
    case .ignored(let what): return what
    }
    return "\(name) is not a key of \(view) (? lists them)"
}

/// Whether a message is `notAKey`'s.
func isNotAKey(_ message: String?) -> Bool {
    message.map { ($0.contains(" is not a key of ") && $0.hasSuffix(" (? lists them)")) || $0.hasPrefix(compareNotAKey) } ?? false
}

/// What the compare view says of a key without an action there.
let compareNotAKey = "not a key here (? lists them)"

/// The recipe menu `g` opens: d, or with no run in progress Enter or g again, for the demo; f for the
/// full run; anything else (q too) cancels. During a run Enter and g cancel: a double g or a flustered
/// Enter must not stop it. A view's key (1, 3, 4, ?) cancels and goes there.
private func recipeKey(_ s: inout AppState, _ k: Key) -> [Effect] {
    s.choosingRecipe = false
    // During a run only d or f stop it (a flustered Enter or a double g must not).
    if (k == .char("g") || k == .enter) && s.trainingInProgress {
        s.message = "no training started: the run in progress goes on (g, then d or f, stops it and starts another)"; return []
    }
    switch k {
    // The run is in progress from now on (trainStartPending): the app clears it if the start fails.
    case .char("d"), .char("g"), .enter:
        s.message = "starting the \(TrainRecipe.demo.title)..."; s.trainStartPending = true; return [.startTraining(.demo)]
    case .char("f"): s.message = "starting the \(TrainRecipe.full.title)..."; s.trainStartPending = true; return [.startTraining(.full)]
    case .char("q"):
        s.message = "no training started" + (s.trainingInProgress ? " (q twice quits: the run is saved first)" : " (q again quits)")
        return []
    case .char("1"), .char("3"), .char("4"), .char("?"):
        // A view's key cancels and goes to that view, as it would without the menu.
        let effects = reduceKey(&s, k, previous: nil)
        // (Not over the help, whose footer says how to page it.)
        if s.message == nil && !s.showHelp { s.message = "no training started" }
        return effects
    default: s.message = "no training started"; return []
    }
}

/// σ² as the panels write it: β, β̃ or "learned".
func varianceSymbol(_ v: VarianceKind, unicode: Bool = true) -> String {
    switch v {
    case .beta: return unicode ? "β" : "beta"
    case .posterior: return unicode ? "β̃" : "post"
    case .learned: return "learned"
    }
}

/// Guidance as the panels write it after a sampler: " guide 7 ×4" (" guide 7 x4" in ASCII), "" without.
func guideSuffix(_ s: SamplerSettings, unicode: Bool = true) -> String {
    s.guide.map { String(format: unicode ? " guide %d ×%g" : " guide %d x%g", $0, s.guideScale) + (s.guideScale == 0 ? " (off)" : "") } ?? ""
}

func describe(_ s: SamplerSettings, unicode: Bool = true) -> String {
    let guide = guideSuffix(s, unicode: unicode)
    switch s.kind {
    case .ddpm: return (unicode ? "DDPM σ²=" : "DDPM var=") + varianceSymbol(s.variance, unicode: unicode) + guide
    case .ddim: return "DDIM \(s.steps) " + (unicode ? "η" : "eta") + "=" + String(format: "%.1f", s.eta) + guide
    case .dpmpp: return "DPM++ 2M \(s.steps)" + guide
    }
}
