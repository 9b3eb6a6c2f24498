// AppState.swift: the explorer's state, actions and effects.
import Engine
import Foundation

/// The explorer's three views.
public enum Screen: Int, Sendable { case sample = 1, train = 2, forward = 3, compare = 4 }

/// A key, decoded from ncurses (or made by tests).
public enum Key: Equatable, Sendable {
    case char(Character)
    case left, right, shiftLeft, shiftRight, up, down
    case pageUp, pageDown, home, end
    case enter, escape, backspace, tab
    /// Input read whole and not acted on (pasted text, a mouse report, a terminal's answer);
    /// what to say about it.
    case ignored(String)
}

/// Something the app loop must do outside the pure reducer.
public enum Effect: Equatable, Sendable {
    case command(RunnerCommand)
    case exportPNG
    /// The compare view's grid as one labelled PNG.
    case exportComparePNG
    /// The trajectory so far as a recording (.ddpmtraj) in the export folder.
    case record
    /// The trajectory as an animated GIF in the export folder.
    case exportGIF
    /// A new training run with this recipe (the choice `g` offers).
    case startTraining(TrainRecipe)
    /// The sample view on the finished training run's checkpoint (`s` in the training view).
    case sampleTrained
    /// The sample view back on the model the explorer opened with (`s` again).
    case sampleOpened
    case quit

    public static func == (a: Effect, b: Effect) -> Bool { String(describing: a) == String(describing: b) }
}

/// All UI state; changed only by `reduce`, drawn only by `render`.
public struct AppState: Sendable {
    public var screen: Screen = .sample
    public var mode: RenderMode = .halfBlock
    public var caps: TermCaps
    public var width: Int, height: Int
    public var showHelp = false
    public var helpPage = 0
    /// The help paused a playing run (sample or compare view) when it opened: closing it plays on.
    public var helpPaused = false
    /// A window made too small paused a playing run (sample or compare view): enlarged again, it plays on.
    public var smallPaused = false
    /// The update equation with this step's numbers, in the sample view's panel (`=`).
    public var showEquation = false
    /// The digit selected with h j k l (marked under the grids), and whether `z` zooms it.
    public var selected = 0
    /// While forking: keys act on the fork (true, right) or the original (false, left); tab switches.
    public var forkFocus = false
    /// `f` was pressed and the engine has not yet published the fork: the
    /// snapshot version then, so that snapshots in between keep the fork
    /// drawn (and keys on it) until the engine's own arrives.
    public var pendingFork: Int? = nil
    /// The snapshot version when r asked for a new run, until the engine's snapshot of it (its seed) arrives.
    public var pendingRestart: Int? = nil
    /// Fork settings a key set, and the snapshot version then, until the engine's snapshot shows them:
    /// snapshots in between keep them (an older one put the fork back, and E E E a few ms apart gave 0.2).
    public var pendingForkSettings: SamplerSettings? = nil
    public var pendingForkSettingsAt = 0
    public var zoom = false
    /// Sampler settings as the user set them (sent to the engine at once).
    public var settings = SamplerSettings()
    public var n = 16
    public var seed: UInt64 = 0
    public var speedIndex = AppState.speeds.count - 1
    public var snapshot = RunnerSnapshot()
    public var trainSnapshot: RunnerSnapshot? = nil
    /// Index into the recorded trajectory while scrubbing (nil: live).
    public var scrub: Int? = nil
    public var message: String? = nil
    /// A message longer than the window has been up for `messageFoldSeconds`:
    /// it gives the status line's row back and stays, cut, on the hint row.
    public var messageFolded = false
    /// A message that names a file just written: it stays until the next key even while the screen moves.
    public var keptMessage: String? = nil
    public static let messageFoldSeconds = 5.0
    /// A message goes after this long while the screen moves under it (`screenMoving`).
    public static let messageClearSeconds = 12.0
    public var hasModel = true
    /// Replaying a recording (its file name): no model, playback keys only.
    public var replay: String? = nil
    /// The recording being replayed holds a fork (tab then switches sides).
    public var replayForks = false
    /// The classifier loaded: digit labels under x̂0 and the compare view's confident counts.
    public var hasClassifier = false
    /// The model learns its variance (`v` then also offers σ² = learned).
    public var learnsVariance = false
    public var modelNote = ""
    /// The model on screen: its file name and training step (from the weights' metadata), for the header.
    public var modelLabel = ""
    /// What the network predicts; the samplers and panels use the ε̂ converted from it.
    public var objective: Objective = .eps
    /// Whether the network also reads the previous step's x̂0 (self-conditioning; the equation panel says so).
    public var selfConditioned = false
    public var schedule: NoiseSchedule
    /// Bounds asked for (`b` in the forward view) of this engine. It computes them on its own
    /// thread, so the run and the comparison wait meanwhile (about 15 s each here).
    public var boundsAsked = 0
    /// Bounds asked for that the engine has not answered yet.
    public var boundsPending: Int { max(0, boundsAsked - snapshot.boundsAnswered) }
    public var forwardT = 250
    public var forwardDigit = 0
    public var forwardDigits: Dataset? = nil
    public var trainingAvailable = false
    /// What `g` in the training view trains on (--data names another set).
    public var trainDataName = "the bundled MNIST"
    /// The folder a run `g` starts saves in, as shown: "." or DDPM_EXPORT_DIR.
    public var trainFolder = "."
    /// `g` asked which recipe to train with (d demo, f full, Esc cancels).
    public var choosingRecipe = false
    /// Where the run the recipe menu starts will save (the app fills it in as the menu opens).
    public var nextTrainOut: String? = nil
    /// The sample view's `g` asked which digit to guide toward (0-9, x off, Esc keeps).
    public var choosingGuide = false
    /// Why classifier guidance is unavailable (nil: the classifier of noisy digits is loaded).
    public var guideUnavailable: String? = "no classifier of noisy digits loaded"
    /// The compare view: which setting it varies, the values typed for each, digits per row.
    public var compareParameter: CompareParameter = .temperature
    public var compareValues: [CompareParameter: [Double]] = [:]
    public var compareN = 8
    /// The first of the compare view's rows on screen, when not all fit (↑/↓ scroll them).
    public var compareFirstRow = 0
    /// The compare view's value entry while `e` edits it (nil: not editing).
    public var editing: String? = nil
    /// The entry still holds the values `e` filled in, untouched: a number typed first replaces them
    /// (typing "1" gave "1.51" after "..., 1.5"); Backspace edits them instead.
    public var editingFresh = false
    public var quitting = false
    /// s in the training view just opened the trained model in the sample view (a second s is dropped).
    public var openedTrained = false
    /// Training runs started here (the latest is number `trainRuns`), and the one whose model the
    /// sample view shows (nil: the model the explorer opened with).
    public var trainRuns = 0
    public var sampledRun: Int? = nil
    /// What `s` in the training view does now: back to the opened model when the sample view shows
    /// the latest run's (or an earlier run's while the latest is not finished), else the finished run.
    public var sGoesBack: Bool {
        guard let r = sampledRun else { return false }
        return r == trainRuns || trainSnapshot?.finished != true
    }
    /// What q asks during a training run (a stray key must not end a lecture's run): a second q,
    /// while this shows, saves it and quits.
    public static let quitQuestion = "training in progress: q again saves it and quits (another key cancels)"
    /// What the first q asks while a fork is open (the sides' steps are not kept anywhere unless recorded).
    public static let forkQuitQuestion = "a fork is open: q again quits and loses it (R in the sample view records it; another key cancels)"
    /// With a training run and a fork both open: the question names both.
    public static let trainingAndForkQuitQuestion = "training in progress and a fork open: q again saves the run, loses the fork and quits (another key cancels)"
    /// How the explorer answers q q when the training run's save failed (it stays open).
    public static let unsavedQuitAnswer = "not quitting: could not save the training checkpoint: "
    /// Whether `message` is one of q's questions: a second q then quits.
    public static func asksToQuit(_ message: String?) -> Bool {
        message == quitQuestion || message == forkQuitQuestion || message == trainingAndForkQuitQuestion
    }
    /// What the training engine said while the quit question was on screen: shown once it is answered.
    public var heldMessage: String? = nil

    public static let speeds: [Double?] = [1, 2, 5, 10, 20, 50, nil]
    public static let ddimSteps = [1, 2, 5, 10, 20, 50, 100, 250, 500, 1000]
    /// The guidance scales `<` and `>` step through.
    public static let guideScales: [Double] = [0, 0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 100]
    public static let minWidth = 80, minHeight = 24

    public init(caps: TermCaps, width: Int, height: Int, schedule: NoiseSchedule) {
        self.caps = caps; self.width = width; self.height = height; self.schedule = schedule
        if !caps.unicode { mode = .ascii }
    }

    public var speedLimit: Double? { AppState.speeds[speedIndex] }

    /// The speed step nearest `pace` steps a second (nil, the fastest, stands for `fastest`).
    public static func speedIndex(nearest pace: Double, fastest: Double) -> Int {
        let logs = speeds.map { abs(log(($0 ?? fastest) / pace)) }
        return logs.indices.min { logs[$0] < logs[$1] }!
    }
    public var forking: Bool { snapshot.forkSettings != nil }
    /// Whether quitting now loses a fork (a replay's is in its file): q asks first.
    public var quitLosesFork: Bool { forking && replay == nil }
    /// While forking, the t of each side's next step (-1: finished), as Runner.tick reads them:
    /// the side with the larger one steps (both when level).
    public var forkNextT: (main: Int, fork: Int)? {
        guard forking, let m = snapshot.history.last, let f = snapshot.forkHistory.last else { return nil }
        return (snapshot.final != nil ? -1 : m.tNext, snapshot.forkFinal != nil ? -1 : f.tNext)
    }
    /// The range a frame's x_t is shown in (its pixels divided by it fill the grey scale): the grids, the zoom, `p`.
    public func xtRange(_ f: RecordedFrame) -> Float {
        schedule.xtDisplayRange(t: f.t, temperature: snapshot.runTemperature)
    }
    /// A training run that has neither finished nor stopped on an error (paused counts).
    public var trainingInProgress: Bool {
        trainStartPending || (trainSnapshot.map { !$0.finished && $0.train?.error == nil && $0.train != nil } ?? false)
    }
    /// A training run was started and its engine has not reported it yet: it is in progress (keys of
    /// the same burst, a held `g`, must not stop it and start another).
    public var trainStartPending = false
    /// The recording scrubbing moves through: the focused side's while forking.
    public var focusHistory: [RecordedFrame] { forking && forkFocus ? snapshot.forkHistory : snapshot.history }
    /// The focused side's final samples (nil until it finishes) and their readings.
    public var focusFinal: [Float]? { forking && forkFocus ? snapshot.forkFinal : snapshot.final }
    public var focusFinalReadings: [DigitReader.Reading] { forking && forkFocus ? snapshot.forkFinalReadings : snapshot.finalReadings }
    /// Whether the focused side's newest step is on screen (live, or scrubbed to it).
    public var onNewestStep: Bool { scrub == nil || scrub == focusHistory.count - 1 }
    /// Whether the side the keys act on has taken its last step (a setting changed now changes nothing on screen).
    public var focusedSideFinished: Bool {
        forking ? focusFinal != nil : snapshot.finished
    }

    /// The compare view's own base sampler once `d` is pressed there (nil: the sample view's).
    public var compareKind: SamplerKind? = nil
    /// The comparison the compare view runs now: the chosen parameter's values
    /// over the sample view's settings (with the compare view's own sampler,
    /// if chosen), from the sample view's seed.
    public var compareSpec: CompareSpec {
        // The side the keys act on: with a fork focused, its settings (the original's were used, unsaid).
        var base = forking && forkFocus ? snapshot.forkSettings ?? settings : settings
        if let compareKind { base.kind = compareKind }
        return CompareSpec(parameter: compareParameter, values: compareValues[compareParameter] ?? compareParameter.defaults,
                           base: base, n: compareN, seed: seed)
    }
    /// Whether the view on screen is changing by itself: a run playing (sample or compare view) or training.
    public var screenMoving: Bool {
        if showHelp { return false }
        switch screen {
        case .sample: return snapshot.running
        case .compare: return snapshot.compare.map { $0.running && !$0.finished } ?? false
        case .train: return trainSnapshot?.running == true
        case .forward: return false
        }
    }
    public var tooSmall: Bool { width < AppState.minWidth || height < AppState.minHeight }
    /// A trajectory or comparison playing on screen, which the help or a too-small window would
    /// hide: it waits behind them (training does not).
    public var runWouldPlayUnseen: Bool { screen != .train && screen != .forward && screenMoving }
}

/// What the help overlay lists, per view: keys and what they do.
public enum KeyHelp {
    public static let sample: [(String, String)] = [
        ("space", "pause / resume"), (".", "single step (pauses; scrubbed: the next step)"), ("+ / -", "faster / slower"),
        ("r", "restart with a new seed"), ("t / T", "temperature of x_T -/+: restarts now, same seed, old beside"),
        ("n / N", "noise temperature (each step's z) -/+"), ("e / E", "DDIM eta down / up"),
        ("d", "sampler DDPM / DDIM / DPM-Solver++"), ("s / S", "DDIM / DPM++ steps fewer / more"),
        ("v", "variance beta / posterior / learned (DDPM)"), ("c", "clip predicted x̂0 to [-1, 1]"),
        ("g then 0-9", "guide toward a digit (g x: off)"), ("< / >", "guidance scale down / up"),
        ("paused", "a setting's key takes the newest step again"),
        ("=", "update equation with this step's numbers"), ("m", "renderer half-block / braille / ASCII"),
        ("← / →", "scrub back / forward a step (pauses)"), ("shift ← / →", "scrub 10 steps"),
        ("PgUp / PgDn", "scrub a tenth of the run"), ("Home / End", "scrub to the start / back to live"),
        ("h l / k j", "select the previous / next digit, a row up / down"),
        ("z", "zoom the selected digit: x_t and x̂0, its stages, p(class)"),
        ("f", "fork after the step shown (again: close)"), ("tab", "keys act on the fork / the original"),
        ("p", "export the grids as PNG (zoomed: the digit and its stages)"), ("R", "record the trajectory to a file: ddpm replay"),
        ("G", "export the trajectory as an animated GIF"), ("1 2 3 4", "sample / train / forward / compare view"),
        ("?", "this help"), ("q", "quit (asks first with a fork open or during training)"),
        ("8 85%", "under a digit: the classifier's guess, its p (90%+: sure)"),
        ("no ink", "under a digit: too few inked pixels (all ink: too many)"),
        ("red / blue", "pixels past the range shown (blue: below it, half-block)"),
        ("side panel", "ε̂: predicted noise, about N(0,1) (smaller near t=0); x̂0 past>.1: its pixels outside [-1,1] by over 0.1 (any: at all)"),
        ("plots", "over t (T-1 at the right): the line and ▲ mark the step shown; ┴ the steps a DDIM or DPM++ run takes"),
    ]
    /// The sample view while replaying a recording.
    public static let replay: [(String, String)] = [
        ("space", "play / pause (at the end: play again)"), (".", "single step (pauses)"), ("+ / -", "faster / slower"),
        ("r", "play again from the start"), ("=", "update equation with this step's numbers"), ("m", "renderer half-block / braille / ASCII"),
        ("← / →", "scrub a step (pauses; → at the playhead plays one more)"), ("shift ← / →", "scrub 10 steps"),
        ("PgUp / PgDn", "scrub a tenth of the run"), ("Home / End", "scrub to the start / back to the playhead"),
        ("h j k l", "select a digit"), ("z", "zoom the selected digit"), ("tab", "keys act on the fork / the original"),
        ("p", "export the grids as PNG (zoomed: the digit and its stages)"), ("G", "export the recording as an animated GIF"),
        ("3", "forward view"), ("? / q", "this help / quit"),
        ("8 85%", "under a digit: the classifier's guess, its p (90%+: sure)"),
    ]
    public static let train: [(String, String)] = [
        ("space", "pause / resume training"), ("g", "train a new Tiny model here: d lecture demo / f full run (a run in progress is stopped and saved first)"),
        ("w", "write a checkpoint now (it also saves every \(ExplorerApp.trainCheckpointEvery) steps and at the end)"),
        ("s", "after a finished run: sample the model it trained in the sample view (again: back to the model the explorer opened with)"),
        ("m", "renderer"), ("1 2 3 4", "sample / train / forward / compare view"),
        ("?", "this help"), ("q", "quit (during a run q twice: it is saved first, then says where)"),
        // What the panels show (a student asks; the keys alone explained none of it).
        ("loss", "the loss of each step (grey) and smoothed (yellow), log scale; a min-SNR-weighted run (its title says so) scales each t's loss down, most where x_t is nearly clean, so it reads below the unweighted bars"),
        ("loss by t", "the unweighted loss of recent steps in each tenth of t: highest where the target is hardest to infer from x_t (near t=0 the noise is faint beside the digit; near T the digit is a guess from noise)"),
        ("EMA preview", "digits of the weights' moving average (what the run saves), DDIM 20 steps from the same noise every time, so a change is the model's; refreshed every 10 s"),
        ("8 10%", "under a preview digit: the classifier's guess and its p; on noise every digit is near 10%, so a guess under 90% says little"),
        ("share curve", "the share of the preview's digits the classifier reads with p ≥ 0.9, among those inked like a digit, over minutes; 16 digits, so it moves in steps of 1/16"),
    ]
    public static let compare: [(String, String)] = [
        ("a", "next setting to compare (temperature, noise, eta, steps, …)"), ("e", "type the values (Enter applies, Esc cancels, Ctrl-U clears)"),
        ("d", "base sampler DDPM / DDIM / DPM++"), ("r", "run again with a new seed"), ("space", "pause / resume"),
        (".", "single step (pauses)"), ("↑ / ↓", "scroll the rows when not all fit"), ("p", "export the grid as one labelled PNG"),
        ("m", "renderer half-block / braille / ASCII"), ("1 2 3 4", "sample / train / forward / compare view"), ("?", "this help"), ("q", "quit"),
        ("div", "beside a row: its diversity, the mean per-pixel variance across its digits"),
        ("sure", "beside a row: its digits the classifier reads with p ≥ 0.9, of all the row's digits (a narrow window shows fewer)"),
    ]
    public static let forward: [(String, String)] = [
        ("← / →", "t down / up by 1"), ("shift ← / →", "t down / up by 10"), ("↓ / ↑", "t down / up by 100"),
        ("PgUp / PgDn", "t up / down by 100"), ("Home / End", "t = 0 / T-1"),
        ("j / k", "next / previous digit"), ("b", "the model's bound for this digit, term by term (bits/dim by t)"), ("m", "renderer"), ("1 2 3 4", "sample / train / forward / compare view"),
        ("?", "this help"), ("q", "quit"),
    ]
}
