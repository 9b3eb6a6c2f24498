import XCTest
@testable import Engine
@testable import TUI

final class AppTests: XCTestCase {
    /// A snapshot as the engine would publish it after 3 DDPM steps of 4 digits.
    static func fakeSnapshot(steps: Int = 3) -> RunnerSnapshot {
        var s = RunnerSnapshot()
        s.n = 4; s.seed = 0; s.running = true
        s.timesteps = Array((0..<1000).reversed())
        let digit = ringDigit()
        for i in 0..<steps {
            let f = Frame(step: i, totalSteps: 1000, t: 999 - i, tNext: 998 - i, n: 4, size: 28,
                          xt: Array(repeating: digit.map { $0 * 0.5 }, count: 4).flatMap { $0 },
                          x0: Array(repeating: digit, count: 4).flatMap { $0 },
                          xNext: [], eps: Stats(), x0Outside: 0.25)
            // Readings as the classifier would give them: digit j reads as j, surer as t falls.
            let readings = (0..<4).map { j -> DigitReader.Reading in
                let p = Float([0.95, 0.6, 0.3, 0.99][j]) * (1 - Float(steps - 1 - i) * 0.01)
                var probs = [Float](repeating: (1 - p) / 9, count: 10); probs[j] = p
                return DigitReader.Reading(digit: j, p: p, entropy: probs.reduce(0) { $0 - ($1 > 0 ? $1 * log2f($1) : 0) }, probs: probs, ink: 0.15)
            }
            s.history.append(RecordedFrame(f, keep: 4, readings: readings))
        }
        s.stepsPerSecond = 12.5
        s.version = steps
        return s
    }

    func makeState() throws -> AppState {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = Self.fakeSnapshot()
        st.forwardDigits = Dataset(images: ringDigit() + ringDigit().map { -$0 }, labels: [0, 1], side: 28)
        st.trainingAvailable = true
        return st
    }

    /// A key's answer longer than the window takes two rows for a while, and
    /// the status line moves up a row above it rather than being hidden;
    /// folded, the status is back on its row and the answer on the hint row.
    func testLongMessageKeepsTheStatusLine() throws {
        var st = try makeState()
        st = AppState(caps: .full, width: 80, height: 24, schedule: st.schedule)
        st.snapshot = Self.fakeSnapshot(steps: 30)
        st.message = String(repeating: "a long answer to a key ", count: 5)
        let rows = render(st).lines()
        XCTAssertTrue(rows[21].hasPrefix("t=970 30/1000 │ DDPM σ²=β"), rows[21])
        XCTAssertTrue(rows[22].hasPrefix("a long answer") && rows[23].hasPrefix("answer to a key"), rows.suffix(3).joined(separator: "\n"))
        st.messageFolded = true
        let folded = render(st).lines()
        XCTAssertTrue(folded[22].hasPrefix("t=970 30/1000 │ DDPM σ²=β") && folded[23].hasPrefix("a long answer"),
                      folded.suffix(3).joined(separator: "\n"))
    }

    /// A message folds after a few seconds; on a moving screen it goes after a while
    /// longer, and on a still one (paused, the forward view, the help) it stays.
    func testMessagesGoWhileTheScreenMovesAndStayWhileItIsStill() throws {
        var st = try makeState()
        st.message = "forked after t=500: tab switches sides"
        _ = reduce(&st, .tick(messageAge: 1))
        XCTAssertEqual(st.message, "forked after t=500: tab switches sides")
        XCTAssertFalse(st.messageFolded)
        _ = reduce(&st, .tick(messageAge: AppState.messageFoldSeconds + 1))
        XCTAssertTrue(st.messageFolded)
        XCTAssertNotNil(st.message)
        _ = reduce(&st, .tick(messageAge: AppState.messageClearSeconds + 1))
        XCTAssertNil(st.message, "a running sample view drops old news")
        XCTAssertFalse(st.messageFolded)
        for still in ["paused", "forward", "help", "train idle"] {
            var s2 = try makeState()
            switch still {
            case "paused": s2.snapshot.running = false
            case "forward": s2.screen = .forward
            case "help": s2.showHelp = true
            default: s2.screen = .train
            }
            s2.message = "exported ddpm-seed0.png"
            _ = reduce(&s2, .tick(messageAge: 600))
            XCTAssertEqual(s2.message, "exported ddpm-seed0.png", still)
        }
        var tr = try makeState()
        tr.screen = .train
        tr.trainSnapshot = RunnerSnapshot(); tr.trainSnapshot!.running = true
        tr.message = "training Tiny (lecture demo, 2400 steps)"
        _ = reduce(&tr, .tick(messageAge: AppState.messageClearSeconds + 1))
        XCTAssertNil(tr.message, "a training run moves the train view")
        // A message that names a file just written stays, whole, while the run plays; the next key clears it.
        var kept = try makeState()
        kept.message = "recorded ddpm-seed0-temp1.0-ddpm-beta-step3of1000.ddpmtraj (3 of 1000 steps, 0.2 MB); ddpm replay plays it"
        kept.keptMessage = kept.message
        _ = reduce(&kept, .tick(messageAge: 600))
        XCTAssertEqual(kept.message, kept.keptMessage)
        // Folded, it keeps two rows: whole, not cut to one.
        let shown = render(kept).lines().suffix(2).joined(separator: " ")
        XCTAssertTrue(shown.contains("ddpm replay plays it") && !shown.contains("…"), shown)
        _ = reduce(&kept, .key(.char("+")))
        XCTAssertNotEqual(kept.message, kept.keptMessage)
    }

    /// A key the sample view does not know says so (as the compare view's do),
    /// changes nothing and sends nothing; `m` says where braille does not show.
    func testUnknownSampleKeySaysSo() throws {
        var st = try makeState()
        let settings = st.settings
        for c: Character in ["~", "%", "Q", "é"] {
            XCTAssertEqual(reduce(&st, .key(.char(c))), [])
            XCTAssertTrue(st.message?.contains("is not a key of the sample view (? lists them)") ?? false, st.message ?? "nil")
            XCTAssertEqual(st.settings, settings)
        }
        XCTAssertEqual(st.message, "that is not a key of the sample view (? lists them)")
        _ = reduce(&st, .key(.char("~")))
        XCTAssertEqual(st.message, "'~' is not a key of the sample view (? lists them)")
        // A control character by its Ctrl name (Ctrl-U outside a field showed as "'^'").
        _ = reduce(&st, .key(.char("\u{15}")))
        XCTAssertEqual(st.message, "Ctrl-U is not a key of the sample view (? lists them)")
        st.mode = .halfBlock
        _ = reduce(&st, .key(.char("m")))
        XCTAssertEqual(st.mode, .braille)
        XCTAssertEqual(st.message, "renderer: braille (the zoom's strip of stages stays half-block)")
    }

    /// The answer to a q q whose save failed stays on screen when the engine has news meanwhile
    /// (the demo's sizing at step 50 replaced it, and a CI run never saw it); the news waits for a key.
    func testUnsavedQuitAnswerOutlivesEngineNews() throws {
        var st = try makeState()
        st.message = "not quitting: could not save the training checkpoint: cannot write x. The run goes on; q q tries again once it can be written (Ctrl-C quits without it)"
        st.keptMessage = st.message
        var snap = RunnerSnapshot(); snap.message = "sized to this machine: 1550 steps, about 4.5 min in all"; snap.version = 1
        _ = reduce(&st, .trainEngine(snap))
        XCTAssertTrue(st.message?.hasPrefix("not quitting: could not save") ?? false, st.message ?? "nil")
        XCTAssertEqual(st.heldMessage, snap.message)
    }

    /// Without colours every press of m changes what is drawn: half-block would draw the
    /// same ASCII shades as ascii, so the cycle skips it (a press once did nothing visible).
    func testRendererKeyWithoutColoursChangesTheDrawingEachTime() throws {
        var st = try makeState()
        st.caps = TermCaps(unicode: true, colors: 0)
        st.mode = .halfBlock
        var drawn = [st.mode.drawn(on: st.caps)]
        for _ in 0..<4 {
            _ = reduce(&st, .key(.char("m")))
            XCTAssertNotEqual(st.mode.drawn(on: st.caps), drawn.last, "m changed nothing visible: \(st.mode), \(st.message ?? "nil")")
            drawn.append(st.mode.drawn(on: st.caps))
        }
        XCTAssertEqual(drawn, [.ascii, .braille, .ascii, .braille, .ascii])
        XCTAssertEqual(st.message, "renderer: ascii")
        _ = reduce(&st, .key(.char("m")))
        XCTAssertEqual(st.message, "renderer: braille (half-block skipped: without colours it draws these same ASCII shades)")
        // With colours the cycle is the three modes, as before.
        st.caps = .full
        var modes: [RenderMode] = []
        for _ in 0..<3 { _ = reduce(&st, .key(.char("m"))); modes.append(st.mode) }
        XCTAssertEqual(modes, [.ascii, .halfBlock, .braille])
        // The help names the mark that is drawn: red / blue with colours, "!" in ASCII without them.
        func mark(_ caps: TermCaps) -> String? { st.caps = caps; return HelpOverlay.spelled(st).first { $0.1.contains("past the range") }?.0 }
        XCTAssertEqual(mark(.full), "red / blue")
        XCTAssertEqual(mark(.ascii), "!")
        XCTAssertEqual(mark(TermCaps(unicode: true, colors: 0)), "past range")
    }

    /// d on a model of 10 steps: DDIM at most 10 steps, which the engine runs (it refused DDIM 50).
    func testDdimOnAModelOfFewStepsFitsItsT() throws {
        let r = try Self.smallRunner(T: 10)
        r.handle(.startSampling(SamplerSettings(), n: 1, seed: 1))
        r.tick()
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule(T: 10))
        _ = reduce(&st, .engine(r.snapshot))
        for case .command(let c) in reduce(&st, .key(.char("d"))) { r.handle(c) }
        XCTAssertEqual(st.settings.kind, .ddim); XCTAssertEqual(st.settings.steps, 10)
        XCTAssertEqual(r.snapshot.refusals, 0, r.snapshot.message ?? "")
        XCTAssertEqual(r.snapshot.settings.steps, 10)
    }

    /// "DDIM 50 from the next step" stays while steps are left and goes once the run has finished.
    func testFromTheNextStepMessageGoesWhenTheRunEnds() throws {
        // (T = 100: d's DDIM 50 is a sampler the engine runs; at T = 10 it refused it, and said so.)
        let r = try Self.smallRunner(T: 100)
        r.handle(.startSampling(SamplerSettings(), n: 1, seed: 1))
        r.tick(); r.tick()
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule(T: 100))
        _ = reduce(&st, .engine(r.snapshot))
        guard case .command(let cmd)? = reduce(&st, .key(.char("d"))).first else { return XCTFail("no command") }
        XCTAssertTrue(st.message?.contains("from the next step") ?? false, st.message ?? "")
        r.handle(cmd); r.tick()
        _ = reduce(&st, .engine(r.snapshot))
        XCTAssertTrue(st.message?.contains("from the next step") ?? false, "steps are left: the message stays")
        while r.isRunning { r.tick() }
        _ = reduce(&st, .engine(r.snapshot))
        XCTAssertNil(st.message, "the run has finished: nothing is left to apply it to")
        // r then space at once (one batch of keys, before the engine's next snapshot): space pauses the new run.
        XCTAssertEqual(reduce(&st, .key(.char("r"))), [.command(.restart(seed: st.seed))])
        XCTAssertEqual(reduce(&st, .key(.char(" "))), [.command(.togglePause)], st.message ?? "")
        // A snapshot of the finished run published before the engine read r does not bring "finished" back.
        var old = r.snapshot; old.version += 1
        st.snapshot = r.snapshot
        _ = reduce(&st, .key(.char("r")))
        _ = reduce(&st, .engine(old))
        XCTAssertEqual(reduce(&st, .key(.char(" "))), [.command(.togglePause)], st.message ?? "")
        r.handle(.restart(seed: st.seed))
        _ = reduce(&st, .engine(r.snapshot))
        XCTAssertNil(st.pendingRestart, "the new run's snapshot ends the wait")
    }

    /// The selection's message counts the digits shown; a resize changes that
    /// count, and the message with it (it said "digit 4 of 4" beside 12 digits).
    func testSelectionMessageFollowsAResize() throws {
        var st = try makeState()
        st.snapshot.n = 16
        st.width = 80; st.height = 24
        for _ in 0..<3 { _ = reduce(&st, .key(.char("l"))) }
        let small = SampleView.shownDigits(st)
        XCTAssertEqual(st.message, "sample 4 of \(small) shown selected (z zooms it)")
        _ = reduce(&st, .resize(width: 120, height: 40))
        let large = SampleView.shownDigits(st)
        XCTAssertGreaterThan(large, small)
        XCTAssertEqual(st.message, "sample 4 of \(large) shown selected (z zooms it)")
    }

    /// Why a training run stopped stays whole at 80 columns, on the rows it needs, however long it
    /// is up (a full disk's reason was cut on one row at "write failed: No…").
    func testTrainingStopReasonStaysWhole() throws {
        var st = try makeState()
        st.width = 80; st.height = 24; st.screen = .train
        var snap = RunnerSnapshot(), m = TrainMetrics()
        m.error = "cannot write /home/teacher/lecture/full/t.safetensors: write failed: No space left on device"
        snap.train = m; snap.message = "training stopped at step 10: " + m.error!
        _ = reduce(&st, .trainEngine(snap))
        XCTAssertEqual(st.keptMessage, snap.message)
        _ = reduce(&st, .tick(messageAge: 30))
        let bottom = render(st).lines().suffix(3).joined(separator: " ")
        XCTAssertTrue(bottom.contains("No space left on device"), bottom)
        // The status line says the run stopped, not "paused" (space goes on, as it would after a pause).
        st.width = 120; st.height = 40
        let screen = render(st).lines()
        let status = screen.first { $0.contains("step 0/") } ?? ""
        XCTAssertTrue(status.contains("stopped (space goes on)") && !status.contains("paused"), screen.joined(separator: "\n"))
    }

    /// ← on the run's first step says there is nothing before it: scrubbed there, and live on it
    /// (`--paused` opens there), where it scrubbed to the same step without a word.
    func testLeftOnTheFirstStepSaysSo() throws {
        var st = try makeState()
        st.snapshot = Self.fakeSnapshot(steps: 1)
        st.snapshot.running = false
        _ = reduce(&st, .key(.left))
        XCTAssertNil(st.scrub)
        XCTAssertEqual(st.message, "at the first step of the run: → or End goes forward")
        st.snapshot = Self.fakeSnapshot(steps: 3)
        st.snapshot.running = false; st.message = nil
        _ = reduce(&st, .key(.left)); _ = reduce(&st, .key(.left))
        XCTAssertEqual(st.scrub, 0)
        XCTAssertNil(st.message)
        _ = reduce(&st, .key(.left))
        XCTAssertEqual(st.message, "at the first step of the run: → or End goes forward")
    }

    /// The zoom shows one digit at a time, so h/l reach every digit the run records, those the
    /// grid has no room for too (13 to 16 at 80x24 could not be zoomed); back on the grid the
    /// selection is the last digit shown.
    func testZoomReachesDigitsTheGridDoesNotShow() throws {
        var st = try makeState()
        let digits = Array(repeating: ringDigit(), count: 16).flatMap { $0 }
        let f = Frame(step: 0, totalSteps: 1000, t: 999, tNext: 998, n: 16, size: 28, xt: digits, x0: digits,
                      xNext: [], eps: Stats(), x0Outside: 0)
        st.snapshot.n = 16; st.snapshot.history = [RecordedFrame(f, keep: 16)]
        st.width = 80; st.height = 24
        let shown = SampleView.shownDigits(st)
        XCTAssertLessThan(shown, 16)
        for _ in 0..<20 { _ = reduce(&st, .key(.char("l"))) }
        XCTAssertEqual(st.selected, shown - 1, "the grid selects among the digits shown")
        _ = reduce(&st, .key(.char("z")))
        for _ in 0..<20 { _ = reduce(&st, .key(.char("l"))) }
        XCTAssertEqual(st.selected, 15)
        XCTAssertEqual(st.message, "sample 16 of 16 selected")
        var buf = CellBuffer(width: 80, height: 24)
        SampleView.render(st, &buf)
        XCTAssertTrue(buf.lines().contains { $0.contains("sample 16 of 16 at t=999") }, buf.lines().joined(separator: "\n"))
        _ = reduce(&st, .key(.char("h")))
        XCTAssertEqual(st.selected, 14)
        _ = reduce(&st, .key(.char("z")))
        XCTAssertEqual(st.selected, shown - 1)
        XCTAssertEqual(st.message, "sample 15 has no room in the grid at this size: sample \(shown) of \(shown) shown selected (z zooms it)")
    }

    /// At 80 columns a run whose σ² changed twice keeps its position in the run
    /// and plain words: the samplers before the current one become "… then "
    /// (it was "t=879 DDPM β seed2 temp1.0 clip run"); narrower, the short line
    /// still spells its fields out.
    func testNarrowStatusLineKeepsThePositionAndPlainWords() throws {
        var st = try makeState()
        st.width = 80
        st.snapshot = Self.fakeSnapshot(steps: 120)
        var ran = st.snapshot.history
        for i in ran.indices {
            var set = ran[i].settings; set.variance = (40..<80).contains(i) ? .posterior : .beta; set.clip = true
            let f = ran[i]
            ran[i] = RecordedFrame(step: f.step, t: f.t, tNext: f.tNext, n: f.n, size: f.size, settings: set, xt: f.xt, x0: f.x0,
                                   eps: f.eps, x0Outside: f.x0Outside, readings: f.readings)
        }
        st.snapshot.history = ran
        st.settings.clip = true
        let wide = SampleView.statusLine(st, width: 200)
        XCTAssertTrue(wide.contains("t=880 120/1000 │ DDPM σ²=β then DDPM σ²=β̃ then DDPM σ²=β │"), wide)
        let line = SampleView.statusLine(st, width: 80)
        XCTAssertEqual(line, "t=880 120/1000 │ … then DDPM σ²=β │ temp 1.0 │ clip on │ running")
        let narrow = SampleView.statusLine(st, width: 50)
        XCTAssertTrue(narrow.hasPrefix("t=880 120/1000 ") && narrow.contains("clip on") && narrow.hasSuffix("running"), narrow)
    }

    /// PgUp / PgDn move a tenth of the whole run (100 of 1000 steps), not of
    /// the steps taken so far; `d` mid-run says the new sampler takes over from
    /// the next step, and the status names both samplers of the run.
    func testPagingIsATenthOfTheRunAndSamplerChangeMidRunIsNamed() throws {
        var st = try makeState()
        st.snapshot = Self.fakeSnapshot(steps: 300)
        _ = reduce(&st, .key(.pageUp))
        XCTAssertEqual(st.scrub, 199)
        _ = reduce(&st, .key(.pageDown))
        XCTAssertEqual(st.scrub, 299)
        _ = reduce(&st, .key(.pageDown))
        XCTAssertNil(st.scrub, "back to live")
        _ = reduce(&st, .key(.char("d")))
        // The frame on screen shows x_700 and the step from it, already taken: DDIM goes on from the x_t
        // that step made. Playing, the engine may take another step before it reads the key: no x_t is named.
        XCTAssertEqual(st.snapshot.history.last?.t, 700)
        XCTAssertEqual(st.message, "DDIM 50 η=0.0 from the next step: on from the x_t the last step made (r starts a new run with it)")
        // Paused in the steps a fork shares with the original (nothing is taken again there), it is named: x_699.
        var shared = st
        shared.snapshot.running = false; shared.settings.kind = .ddpm
        shared.snapshot.forkSettings = SamplerSettings(); shared.snapshot.forkFrom = 300
        _ = reduce(&shared, .key(.char("d")))
        XCTAssertEqual(shared.message, "DDIM 50 η=0.0 from the next step: on from x_699, the result of the last step (r starts a new run with it)")
        XCTAssertTrue(SampleView.statusLine(st).contains("│ DDPM then DDIM 50 η=0.0 │"), SampleView.statusLine(st))
        // Three samplers in one run: each named in turn, not the first and the last.
        var ran = st.snapshot.history
        for i in 200..<ran.count { var set = ran[i].settings; set.kind = i < 250 ? .ddim : .dpmpp; set.steps = i < 250 ? 50 : 20; let f = ran[i]
            ran[i] = RecordedFrame(step: f.step, t: f.t, tNext: f.tNext, n: f.n, size: f.size, settings: set, xt: f.xt, x0: f.x0,
                                   eps: f.eps, x0Outside: f.x0Outside, readings: f.readings) }
        XCTAssertEqual(SampleView.samplersBefore(ran, st.settings), "DDPM then DDIM 50 then DPM++ 20 then ")
        XCTAssertEqual(SampleView.samplersBefore(Array(ran.prefix(250)), st.settings), "DDPM then ")
        // Exports and recordings of that run are named by all three.
        XCTAssertEqual(ExplorerApp.samplersInName(ran, else: st.settings), "ddpm-beta-then-ddim50-eta0.0-then-dpmpp20")
        XCTAssertEqual(ExplorerApp.samplersInName(Array(ran.prefix(200)), else: st.settings), "ddpm-beta")
        XCTAssertEqual(ExplorerApp.samplersInName([RecordedFrame](), else: st.settings), "ddim50-eta0.0")
        // Guidance on for a stretch, then off: no stretch of its own (the status line's settings say it);
        // file names add the last guidance used. A change of steps is a stretch of its own.
        for i in 250..<260 {
            var set = ran[i].settings; set.guide = 7; set.guideScale = 4; let f = ran[i]
            ran[i] = RecordedFrame(step: f.step, t: f.t, tNext: f.tNext, n: f.n, size: f.size, settings: set, xt: f.xt, x0: f.x0,
                                   eps: f.eps, x0Outside: f.x0Outside, readings: f.readings)
        }
        XCTAssertEqual(SampleView.samplersBefore(ran, st.settings), "DDPM then DDIM 50 then DPM++ 20 then ")
        XCTAssertEqual(ExplorerApp.samplersInName(ran, else: st.settings), "ddpm-beta-then-ddim50-eta0.0-then-dpmpp20-guide7x4")
        var fewer = st.settings; fewer.steps = 20
        XCTAssertEqual(SampleView.samplersBefore(Array(ran.prefix(250)), fewer), "DDPM then DDIM 50 then ", "50 steps, then 20")
        // A change of DDIM's η mid-run, or of DDPM's σ², is a stretch of its own as well (the status line
        // named only the last η); guidance is not.
        var etaRun = Array(ran.prefix(250))
        for i in 220..<250 {
            var set = etaRun[i].settings; set.eta = 0.3; let f = etaRun[i]
            etaRun[i] = RecordedFrame(step: f.step, t: f.t, tNext: f.tNext, n: f.n, size: f.size, settings: set, xt: f.xt, x0: f.x0,
                                      eps: f.eps, x0Outside: f.x0Outside, readings: f.readings)
        }
        var eta3 = st.settings; eta3.eta = 0.3
        XCTAssertEqual(SampleView.samplersBefore(etaRun, eta3), "DDPM then DDIM 50 η=0.0 then ")
        XCTAssertEqual(SampleView.samplersBefore(etaRun, eta3, unicode: false), "DDPM then DDIM 50 eta=0.0 then ")
        XCTAssertEqual(SampleView.samplersBefore(etaRun, eta3, compact: true), "DDPM then ", "a narrow title: the samplers alone")
        var eta5 = eta3; eta5.eta = 0.5
        XCTAssertEqual(SampleView.samplersBefore(etaRun, eta5), "DDPM then DDIM 50 η=0.0 then DDIM 50 η=0.3 then ")
        var steps20 = eta3; steps20.steps = 20
        XCTAssertEqual(SampleView.samplersBefore(etaRun, steps20), "DDPM then DDIM 50 η=0.0 then DDIM 50 η=0.3 then ",
                       "each η named beside the other, though the next differs in steps")
        var posterior = Array(ran.prefix(200))
        for i in 100..<200 {
            var set = posterior[i].settings; set.variance = .posterior; let f = posterior[i]
            posterior[i] = RecordedFrame(step: f.step, t: f.t, tNext: f.tNext, n: f.n, size: f.size, settings: set, xt: f.xt, x0: f.x0,
                                         eps: f.eps, x0Outside: f.x0Outside, readings: f.readings)
        }
        var ddpm = st.settings; ddpm.kind = .ddpm
        XCTAssertEqual(SampleView.samplersBefore(posterior, ddpm), "DDPM σ²=β then DDPM σ²=β̃ then ")
        // Twenty-one stretches (DDPM and DDIM 50 in turn every ten steps, DDIM 50 on to 250, then DPM++ 20):
        // the first, a count, the last, in both.
        for i in 0..<200 {
            var set = ran[i].settings; set.kind = (i / 10) % 2 == 0 ? .ddpm : .ddim; set.steps = 50; let f = ran[i]
            ran[i] = RecordedFrame(step: f.step, t: f.t, tNext: f.tNext, n: f.n, size: f.size, settings: set, xt: f.xt, x0: f.x0,
                                   eps: f.eps, x0Outside: f.x0Outside, readings: f.readings)
        }
        XCTAssertEqual(SampleView.samplersBefore(ran, st.settings), "DDPM then 19 more then DPM++ 20 then ")
        XCTAssertEqual(ExplorerApp.samplersInName(ran, else: st.settings), "ddpm-beta-then-19-more-then-dpmpp20-guide7x4")
        // x̂0 clipped for any stretch (c toggles it live): the name says so after the samplers.
        do {
            var set = ran[299].settings; set.clip = true; let f = ran[299]
            ran[299] = RecordedFrame(step: f.step, t: f.t, tNext: f.tNext, n: f.n, size: f.size, settings: set, xt: f.xt, x0: f.x0,
                                     eps: f.eps, x0Outside: f.x0Outside, readings: f.readings)
        }
        XCTAssertEqual(ExplorerApp.samplersInName(ran, else: st.settings), "ddpm-beta-then-19-more-then-dpmpp20-guide7x4-clip")
        XCTAssertEqual(ExplorerApp.samplersInName(Array(ran.prefix(299)), else: st.settings), "ddpm-beta-then-19-more-then-dpmpp20-guide7x4")
        // A 20-step run pages by 2 steps, not by 10 (half of it).
        st = try makeState()
        st.snapshot = Self.fakeSnapshot(steps: 20)
        st.snapshot.timesteps = Array(stride(from: 950, through: 0, by: -50))
        st.snapshot.running = false; st.snapshot.finished = true
        _ = reduce(&st, .key(.pageUp))
        XCTAssertEqual(st.scrub, 17)
        _ = reduce(&st, .key(.pageUp))
        XCTAssertEqual(st.scrub, 15)
        _ = reduce(&st, .key(.pageDown))
        XCTAssertEqual(st.scrub, 17)        // On a finished run (its final sample on screen), one step back is its last step, t = 0.
        st.scrub = nil
        _ = reduce(&st, .key(.left))
        XCTAssertEqual(st.scrub, 19, "← from the final sample shows the run's last step")
        _ = reduce(&st, .key(.right))
        XCTAssertNil(st.scrub, "and → returns to the final sample")
    }

    /// A key that lengthens the run (d to DDPM's T steps) is refused in one line when the history it
    /// keeps cannot be had (a tight ulimit -v: under one, d d r crashed the explorer with exit 134);
    /// the settings stay. Here the digits are too many for any machine.
    func testALongerSamplerTheHistoryCannotHoldIsRefused() throws {
        var st = try makeState()
        st.settings = SamplerSettings(kind: .dpmpp, steps: 50)
        st.snapshot.n = 1 << 22
        XCTAssertEqual(reduce(&st, .key(.char("d"))), [])
        XCTAssertEqual(st.settings.kind, .dpmpp)
        XCTAssertTrue(st.message?.hasPrefix("out of memory: DDPM σ²=β keeps its 1000 steps of 4194304 digits for scrubbing and forks, about ") ?? false,
                      st.message ?? "")
        XCTAssertTrue(st.message?.hasSuffix("which cannot be had now (ulimit -v?); the setting stays") ?? false, st.message ?? "")
        // Fewer steps always go; with digits that fit, so does DDPM.
        XCTAssertEqual(reduce(&st, .key(.char("s"))), [.command(.setSettings(SamplerSettings(kind: .dpmpp, steps: 20)))])
        st.snapshot.n = 4
        guard case .command(.setSettings(let set))? = reduce(&st, .key(.char("d"))).first else { return XCTFail("d refused: \(st.message ?? "")") }
        XCTAssertEqual(set.kind, .ddpm)
    }

    /// A replay's help lists tab only for a recording with a fork, and fits one
    /// page at 80x24; its opening notice is cut between words, not inside one;
    /// tab in a replay without a fork says why it does nothing.
    func testReplayHelpAndNotice() throws {
        var st = try makeState()
        st.width = 80; st.height = 24
        st.replay = "run.ddpmtraj"
        XCTAssertFalse(HelpOverlay.keys(st).contains { $0.0 == "tab" })
        XCTAssertEqual(HelpOverlay.pages(st), 1)
        st.replayForks = true
        XCTAssertTrue(HelpOverlay.keys(st).contains { $0.0 == "tab" })
        XCTAssertEqual(HelpOverlay.pages(st), 1)
        st.replayForks = false
        _ = reduce(&st, .key(.tab))
        XCTAssertEqual(st.message, "this recording has no fork: tab has no other side to switch to")
        st.message = "replay (space pauses, ←/→ scrub, r plays again): 1000 steps of 16 digits from trajectory-ddpm-seed0.ddpmtraj"
        // First whole on two rows (the status line a row up), then folded to one, cut between words.
        let rows = render(st).lines()
        XCTAssertEqual(rows[22] + " " + rows[23], st.message!)
        st.messageFolded = true
        XCTAssertEqual(render(st).lines()[23], "replay (space pauses, ←/→ scrub, r plays again): 1000 steps of 16 digits from…")
        // → and . on a finished run say why nothing moves.
        st.snapshot.running = false; st.snapshot.finished = true; st.message = nil
        XCTAssertEqual(reduce(&st, .key(.right)), [])
        XCTAssertEqual(st.message, "at the end of the run: ← or Home scrubs back")
        XCTAssertEqual(reduce(&st, .key(.char("."))), [])
        XCTAssertEqual(st.message, "the run has finished: r plays it again")
    }

    func keys(_ help: [(String, String)]) -> [Key] {
        var out: [Key] = []
        for (k, _) in help {
            for part in k.split(separator: "/").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                switch part {
                case "space": out.append(.char(" "))
                case "←": out.append(.left)
                case "→": out.append(.right)
                case "↓": out.append(.down)
                case "↑": out.append(.up)
                case "shift ←": out.append(.shiftLeft)
                case "→ ": out.append(.right)
                case "1 2 3", "1 2 3 4": out += [.char("1"), .char("2"), .char("3")]
                case "Home": out.append(.home)
                case "End": out.append(.end)
                case "PgUp": out.append(.pageUp)
                case "PgDn": out.append(.pageDown)
                case "tab": out.append(.tab)
                default:
                    if part.hasPrefix("shift") { out.append(.shiftRight) }
                    else if part.count == 1 { out.append(.char(part.first!)) }
                }
            }
        }
        return out
    }

    /// Every key the sample view's help lists changes the screen or sends the engine a command.
    func testEverySampleKeyDoesSomething() throws {
        for key in keys(KeyHelp.sample) {
            var st = try makeState()
            if [.right, .shiftRight, .end, .pageDown].contains(key) { st.scrub = 0 }   // these only act while scrubbing
            if key == .char("s") { st.settings.steps = 100 }
            if key == .char("e") { st.settings.eta = 0.5 }
            if key == .char("1") { st.screen = .forward }
            let before = render(st).text
            let effects = reduce(&st, .key(key))
            let after = render(st).text
            XCTAssertTrue(before != after || !effects.isEmpty, "key \(key) did nothing")
            XCTAssertFalse(isNotAKey(st.message), "key \(key) is listed but not a key: \(st.message ?? "")")
        }
    }

    func testEveryForwardAndTrainKeyDoesSomething() throws {
        for (screen, help) in [(Screen.forward, KeyHelp.forward), (.train, KeyHelp.train), (.compare, KeyHelp.compare)] {
            for key in keys(help) {
                var st = try makeState()
                st.screen = screen
                if screen == .forward && [.char("k")].contains(key) { st.forwardDigit = 1 }
                if key == .char(Character(String(screen.rawValue))) { st.screen = .sample }
                if screen == .train && key != .char("g") { st.trainSnapshot = RunnerSnapshot(); st.trainSnapshot!.train = TrainMetrics() }
                let before = render(st).text
                let effects = reduce(&st, .key(key))
                XCTAssertTrue(before != render(st).text || !effects.isEmpty, "\(screen) key \(key) did nothing")
                XCTAssertFalse(isNotAKey(st.message), "\(screen) key \(key) is listed but not a key: \(st.message ?? "")")
            }
        }
    }

    /// A printable key without an action in the forward and training views says so, as in the sample view.
    func testKeysWithoutActionSaySo() throws {
        for (screen, name) in [(Screen.forward, "the forward view"), (.train, "the training view"), (.sample, "the sample view")] {
            var st = try makeState()
            st.screen = screen
            XCTAssertEqual(reduce(&st, .key(.char("Y"))), [])
            XCTAssertEqual(st.message, "'Y' is not a key of \(name) (? lists them)")
            XCTAssertTrue(isNotAKey(st.message))
            // So do Enter and Backspace (a nervous presenter's keys), rather than nothing.
            for (key, spelled) in [(Key.enter, "Enter"), (.backspace, "Backspace")] {
                XCTAssertEqual(reduce(&st, .key(key)), [])
                XCTAssertEqual(st.message, "\(spelled) is not a key of \(name) (? lists them)")
            }
            // Esc clears what is said, silently; with nothing said it says there is nothing to close.
            XCTAssertEqual(reduce(&st, .key(.escape)), [])
            XCTAssertNil(st.message)
            XCTAssertEqual(reduce(&st, .key(.escape)), [])
            XCTAssertEqual(st.message, "Esc: nothing open to close (? lists the keys, q quits)")
        }
        var st = try makeState()
        st.screen = .compare
        XCTAssertEqual(reduce(&st, .key(.enter)), [])
        XCTAssertEqual(st.message, "Enter is not a key of the compare view (? lists them)")
        // End while live (nothing scrubbed) says so; after the run, that it is at the end.
        st = try makeState()
        st.snapshot = Self.fakeSnapshot(steps: 30)
        XCTAssertEqual(reduce(&st, .key(.end)), [])
        XCTAssertEqual(st.message, "live: the newest step is on screen (← or Home scrubs back)")
        st.snapshot.finished = true; st.snapshot.running = false
        XCTAssertEqual(reduce(&st, .key(.end)), [])
        XCTAssertEqual(st.message, "at the end of the run: ← or Home scrubs back")
        // Esc closes the zoom, then the equation panel; a fork it leaves open, saying which key closes it.
        st.zoom = true; st.showEquation = true
        XCTAssertEqual(reduce(&st, .key(.escape)), [])
        XCTAssertFalse(st.zoom); XCTAssertTrue(st.showEquation); XCTAssertEqual(st.message, "zoom closed")
        XCTAssertEqual(reduce(&st, .key(.escape)), [])
        XCTAssertFalse(st.showEquation)
        st.snapshot.forkSettings = st.settings
        XCTAssertEqual(reduce(&st, .key(.escape)), [])
        XCTAssertTrue(st.forking); XCTAssertEqual(st.message, "f closes the fork (Esc does not: it would be lost)")
    }

    /// S stops at the model's T when it has fewer than 1000 steps (the engine would refuse more).
    func testStepsKeyStopsAtTheModelsT() throws {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule(T: 30))
        st.hasModel = true
        st.settings.kind = .ddim; st.settings.steps = 20
        _ = reduce(&st, .key(.char("S")))
        XCTAssertEqual(st.settings.steps, 30)
        _ = reduce(&st, .key(.char("S")))
        XCTAssertEqual(st.settings.steps, 30)
        XCTAssertEqual(st.message, "steps at their most, 30 (s lowers them)")
        _ = reduce(&st, .key(.char("s")))
        XCTAssertEqual(st.settings.steps, 20)
    }

    /// A new run of the sample view during a training run says that the two share the cores (the
    /// sample view paused when training started; space says it as well).
    func testANewRunBesideTrainingSaysItSlowsIt() throws {
        var st = try makeState()
        st.snapshot = Self.fakeSnapshot(steps: 30)
        var train = RunnerSnapshot(); train.train = TrainMetrics(); train.running = true
        st.trainSnapshot = train
        XCTAssertEqual(reduce(&st, .key(.char("r"))), [.command(.restart(seed: st.seed))])
        XCTAssertEqual(st.message, "new run beside the training run: training slows meanwhile (space pauses)")
        var warmer = st.settings; warmer.temperature = 1.1
        XCTAssertEqual(reduce(&st, .key(.char("T"))), [.command(.retemper(warmer))])
        XCTAssertTrue(st.message?.hasSuffix("; training slows meanwhile") ?? false, st.message ?? "")
        XCTAssertLessThanOrEqual(st.message?.count ?? 0, 160, "two rows at 80 columns: " + (st.message ?? ""))
        // Without a training run nothing of the sort is said.
        st.trainSnapshot = nil
        _ = reduce(&st, .key(.char("r")))
        XCTAssertNil(st.message)
    }

    func testSettingsShowImmediatelyAndReachTheEngine() throws {
        var st = try makeState()
        // Temperature is live: the run starts over from x_T with the same seed.
        XCTAssertEqual(reduce(&st, .key(.char("T"))), [.command(.retemper(st.settings))])
        XCTAssertEqual(st.settings.temperature, 1.1, accuracy: 1e-12)
        XCTAssertFalse(SampleView.statusLine(st).contains("*"), "no pending marker: nothing waits for a restart")
        // DDPM's why (its fresh noise washes out x_T's scale) stays while the run plays: the result comes much later.
        let why = st.message
        XCTAssertTrue(why?.contains("DDPM's noise z washes out x_T's scale") == true, why ?? "")
        XCTAssertLessThanOrEqual(why?.count ?? 99, 80, "one row at 80x24, so the key hints stay in view for the whole run")
        st.snapshot.running = true
        _ = reduce(&st, .tick(messageAge: 60))
        XCTAssertEqual(st.message, why)
        _ = reduce(&st, .key(.char("d")))
        XCTAssertTrue(SampleView.statusLine(st).contains("DDIM 50"))
        _ = reduce(&st, .key(.char("E"))); _ = reduce(&st, .key(.char("E")))
        XCTAssertTrue(SampleView.statusLine(st).contains("η=0.2"))
        for _ in 0..<20 { _ = reduce(&st, .key(.char("E"))) }
        XCTAssertEqual(st.settings.eta, 1, "eta stays in [0, 1]")
        _ = reduce(&st, .key(.char("m")))
        XCTAssertTrue(SampleView.statusLine(st).contains("braille"))
        // Under DDIM too t says what it did; a paused run starts over running, and says so.
        st.snapshot.running = false
        _ = reduce(&st, .key(.char("t")))
        XCTAssertEqual(st.message, "temperature 1.0: the run starts over from x_T, same seed, the last result beside it; running again (space pauses)")
    }

    /// v cycles β → β̃ → (learned, when the model learns its variance) → β, and the status line says which.
    func testVarianceKeyOffersLearnedOnlyWhenTheModelLearnsIt() throws {
        var st = try makeState()
        _ = reduce(&st, .key(.char("v"))); XCTAssertEqual(st.settings.variance, .posterior)
        XCTAssertEqual(st.message, "DDPM variance σ² = β̃ from the next step", "both ways are acknowledged")
        _ = reduce(&st, .key(.char("v"))); XCTAssertEqual(st.settings.variance, .beta, "no learned variance to offer")
        st.learnsVariance = true
        _ = reduce(&st, .key(.char("v"))); _ = reduce(&st, .key(.char("v")))
        XCTAssertEqual(st.settings.variance, .learned)
        XCTAssertTrue(SampleView.statusLine(st).contains("DDPM σ²=learned"), SampleView.statusLine(st))
        st.caps = .ascii
        XCTAssertTrue(SampleView.statusLine(st).contains("learned"), SampleView.statusLine(st))
        _ = reduce(&st, .key(.char("v"))); XCTAssertEqual(st.settings.variance, .beta)
    }

    func testScrubbingAndHelpOverlay() throws {
        var st = try makeState()
        XCTAssertEqual(reduce(&st, .key(.left)), [.command(.pause)])
        XCTAssertEqual(st.scrub, 1)
        XCTAssertTrue(render(st).text.contains("SCRUB 2/3 t=998"))
        _ = reduce(&st, .key(.right)); _ = reduce(&st, .key(.right))
        XCTAssertNil(st.scrub, "scrubbing past the end returns to live")
        _ = reduce(&st, .key(.char("?")))
        // Every page (space turns them).
        var text = render(st).text, pages = 1
        while text.contains("space: more keys"), pages < 5 {
            _ = reduce(&st, .key(.char(" "))); pages += 1
            let page = render(st).text
            text += page
            if !page.contains("space: more keys") { break }
        }
        XCTAssertTrue(st.showHelp)
        for (k, d) in KeyHelp.sample { XCTAssertTrue(text.contains(k) && text.contains(String(d.prefix(20))), "help lists \(k)") }
        _ = reduce(&st, .key(.char("x")))
        XCTAssertFalse(st.showHelp)
        // q closes the help, as in less; it does not quit (nor plays a run that was paused).
        st.snapshot.running = false
        _ = reduce(&st, .key(.char("?")))
        XCTAssertTrue(reduce(&st, .key(.char("q"))).isEmpty)
        XCTAssertFalse(st.showHelp || st.quitting)
        // At eta's ends a key says so rather than nothing.
        st.settings = SamplerSettings(kind: .ddim, steps: 50)
        _ = reduce(&st, .key(.char("e")))
        XCTAssertEqual(st.message, "eta is at 0.0, deterministic DDIM (E raises it)")
    }

    /// The help pauses a playing trajectory or comparison (it would go on unseen behind the box) and
    /// closing it plays on; a paused run stays paused, and training goes on behind it.
    func testHelpPausesAPlayingRun() throws {
        var st = try makeState()
        st.snapshot.running = true
        XCTAssertEqual(reduce(&st, .key(.char("?"))), [.command(.pause)])
        XCTAssertTrue(st.showHelp && st.helpPaused)
        XCTAssertTrue(render(st).text.contains("key closes this help and the run plays on"), render(st).text)
        st.snapshot.running = false   // the engine's answer
        XCTAssertEqual(reduce(&st, .key(.char("x"))), [.command(.resume)])
        XCTAssertFalse(st.showHelp || st.helpPaused)
        // Paused before: the help leaves it paused.
        XCTAssertEqual(reduce(&st, .key(.char("?"))), [])
        XCTAssertFalse(render(st).text.contains("plays on"))
        XCTAssertEqual(reduce(&st, .key(.char("q"))), [])
        // Turning a page does not play it; the last key does.
        st = AppState(caps: .full, width: 80, height: 24, schedule: st.schedule)
        st.snapshot = Self.fakeSnapshot(steps: 30); st.snapshot.running = true
        XCTAssertEqual(reduce(&st, .key(.char("?"))), [.command(.pause)])
        XCTAssertGreaterThan(HelpOverlay.pages(st), 1)
        XCTAssertTrue(render(st).text.contains("space: more keys · any other key closes this help and the run plays on"))
        // The hint row under the help says the same (it said "space resume", and space turns the page).
        XCTAssertEqual(render(st).lines()[23].trimmingCharacters(in: .whitespaces), "space: more keys · any other key closes this help and the run plays on")
        XCTAssertEqual(reduce(&st, .key(.char(" "))), [])
        XCTAssertEqual(reduce(&st, .key(.escape)), [.command(.resume)])
        // The compare view's rows wait as well.
        st = try makeState()
        st.screen = .compare
        let row = CompareRow(label: "temp 1.0", settings: SamplerSettings(), images: [Float](repeating: -1, count: 8 * 784), size: 28)
        st.snapshot.compare = CompareSnapshot(spec: st.compareSpec, rows: [row, row])
        XCTAssertEqual(reduce(&st, .key(.char("?"))), [.command(.pause)])
        XCTAssertEqual(reduce(&st, .key(.char("?"))), [.command(.resume)])
        // A training run does not wait for the help.
        st = try makeState()
        st.screen = .train
        st.trainSnapshot = Self.fakeSnapshot(); st.trainSnapshot?.running = true
        XCTAssertEqual(reduce(&st, .key(.char("?"))), [])
        XCTAssertFalse(st.helpPaused)
        XCTAssertEqual(reduce(&st, .key(.char("x"))), [])
    }

    /// A window made too small pauses a playing run (it went on unseen behind "Terminal too small"),
    /// says so, and plays on when enlarged; a paused run stays paused, and training goes on.
    func testRunWaitsWhileTheWindowIsTooSmall() throws {
        var st = try makeState()
        st.snapshot.running = true
        XCTAssertEqual(reduce(&st, .resize(width: 60, height: 20)), [.command(.pause)])
        XCTAssertTrue(st.smallPaused)
        st.snapshot.running = false   // the engine's answer
        XCTAssertTrue(render(st).text.contains("The run waits until then."), render(st).text)
        // Sizes still too small change nothing; keys other than q do nothing there.
        XCTAssertEqual(reduce(&st, .resize(width: 70, height: 10)), [])
        XCTAssertEqual(reduce(&st, .key(.char(" "))), [])
        XCTAssertEqual(reduce(&st, .resize(width: 80, height: 24)), [.command(.resume)])
        XCTAssertFalse(st.smallPaused)
        XCTAssertEqual(st.message, "the window is large enough again: the run plays on")
        // Paused before: it stays paused, and the too-small screen does not say it waits.
        XCTAssertEqual(reduce(&st, .resize(width: 60, height: 20)), [])
        XCTAssertFalse(render(st).text.contains("waits"))
        XCTAssertEqual(reduce(&st, .resize(width: 120, height: 40)), [])
        // The compare view's rows wait too.
        st.screen = .compare
        let row = CompareRow(label: "temp 1.0", settings: SamplerSettings(), images: [Float](repeating: -1, count: 8 * 784), size: 28)
        st.snapshot.compare = CompareSnapshot(spec: st.compareSpec, rows: [row, row])
        XCTAssertEqual(reduce(&st, .resize(width: 40, height: 30)), [.command(.pause)])
        XCTAssertEqual(reduce(&st, .resize(width: 100, height: 30)), [.command(.resume)])
        // q's question asked while too small (a fork would be lost) is not replaced when the window grows.
        st.screen = .sample; st.snapshot.running = true; st.snapshot.compare = nil
        st.snapshot.forkSettings = SamplerSettings(); st.snapshot.forkFrom = 1
        XCTAssertEqual(reduce(&st, .resize(width: 60, height: 20)), [.command(.pause)])
        _ = reduce(&st, .key(.char("q")))
        let asked = st.message
        XCTAssertTrue(AppState.asksToQuit(asked), asked ?? "")
        XCTAssertEqual(reduce(&st, .resize(width: 80, height: 24)), [.command(.resume)])
        XCTAssertEqual(st.message, asked)
        st.snapshot.forkSettings = nil
        // Training does not wait.
        st.screen = .train
        st.trainSnapshot = Self.fakeSnapshot(); st.trainSnapshot?.running = true
        XCTAssertEqual(reduce(&st, .resize(width: 60, height: 20)), [])
        XCTAssertEqual(reduce(&st, .resize(width: 80, height: 24)), [])
    }

    /// Broken weights' huge ε̂ statistics show in powers of ten, whole, in both panel widths.
    func testHugeEpsStatisticsFitThePanel() throws {
        var st = try makeState()
        st.snapshot.running = false
        let f = st.snapshot.history[st.snapshot.history.count - 1]
        var e = Stats(); e.max = 1e308; e.mean = -3.5e300
        st.snapshot.history[st.snapshot.history.count - 1] = RecordedFrame(step: f.step, t: f.t, tNext: f.tNext, n: f.n, size: f.size, settings: f.settings,
                                                                          xt: f.xt, x0: f.x0, eps: e, x0Outside: f.x0Outside, readings: f.readings)
        XCTAssertTrue(render(st).text.contains("min +0.00  max +1.00e+308"), render(st).text)
        XCTAssertTrue(render(st).text.contains("mean -3.50e+300"), render(st).text)
        XCTAssertEqual(SampleView.statNumber(12.5, "%.3f"), "12.500")
        XCTAssertEqual(SampleView.statNumber(-12345.0, "%+.3f"), "-1.23e+04")
        XCTAssertEqual(SampleView.statNumber(Double.infinity, "%.3f"), "inf")
    }

    func testResizeRelayoutsAndAsciiFallback() throws {
        var st = try makeState()
        _ = reduce(&st, .resize(width: 80, height: 24))
        let small = render(st)
        XCTAssertEqual(small.width, 80)
        XCTAssertTrue(small.lines()[0].contains("1 Sample") && small.lines()[0].contains("4 Compare"), small.lines()[0])
        _ = reduce(&st, .resize(width: 60, height: 20))
        XCTAssertTrue(render(st).lines()[0].contains("too small"))
        var a = AppState(caps: .ascii, width: 120, height: 40, schedule: try NoiseSchedule())
        a.snapshot = Self.fakeSnapshot()
        XCTAssertEqual(a.mode, .ascii)
        XCTAssertTrue(render(a).cells.allSatisfy { $0.ch.isASCII }, "no UTF-8: ASCII only")
    }

    /// A Runner on a small U-Net with random weights and a T-step schedule.
    static func smallRunner(T: Int, selfCondition: Bool = false) throws -> Runner {
        let net = try UNet(UNetConfig(nChannels: 8, chMults: [1, 2], nBlocks: 1, nMidBlocks: 1, imageSize: 28, selfCondition: selfCondition))
        let p = FloatBuffer(count: net.parameterCount)
        var rng = RNG(seed: 1); net.layout.initialize(p.ptr, rng: &rng)
        return Runner(model: UNetPredictor(net: net, params: p), schedule: try NoiseSchedule(T: T))
    }

    /// Weights whose output overflows: the run stops at the first step that is not numbers,
    /// keeps no such step (so R has nothing of NaN to record), will not resume, and says why.
    func testRunStopsWhereTheOutputStopsBeingNumbers() throws {
        let net = try UNet(UNetConfig(nChannels: 8, chMults: [1, 2], nBlocks: 1, nMidBlocks: 1, imageSize: 28))
        let p = FloatBuffer(count: net.parameterCount)
        var rng = RNG(seed: 1); net.layout.initialize(p.ptr, rng: &rng)
        let w = try XCTUnwrap(net.layout["conv_in.weight"])
        for i in 0..<w.count { p.ptr[w.offset + i] = 3e38 }
        let r = Runner(model: UNetPredictor(net: net, params: p), schedule: try NoiseSchedule(T: 20))
        r.handle(.startSampling(SamplerSettings(kind: .ddim, steps: 5), n: 2, seed: 3))
        XCTAssertEqual(r.tick(), [.error(RunnerSnapshot.nonFiniteMessage(19))])
        XCTAssertEqual(r.snapshot.nonFinite, 19)
        XCTAssertFalse(r.snapshot.running)
        XCTAssertTrue(r.snapshot.history.isEmpty)
        r.handle(.resume)
        XCTAssertFalse(r.snapshot.running, "no resuming past it")
        XCTAssertEqual(r.handle(.singleStep), [])
        XCTAssertTrue(r.snapshot.history.isEmpty)
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule(T: 20))
        _ = reduce(&st, .engine(r.snapshot))
        XCTAssertEqual(st.message, RunnerSnapshot.nonFiniteMessage(19))
        XCTAssertTrue(SampleView.statusLine(st).contains("stopped: output not finite"), SampleView.statusLine(st))
        XCTAssertEqual(reduce(&st, .key(.char(" "))), [])
        XCTAssertTrue(st.message?.hasSuffix("(r tries a new seed)") == true, st.message ?? "")
        XCTAssertEqual(reduce(&st, .key(.char("R"))), [], "nothing to record")
        // A new seed starts over (and says it again, if it overflows again).
        r.handle(.restart(seed: 4))
        XCTAssertNil(r.snapshot.nonFinite)
    }

    /// The synchronous engine core, driven by hand with a real (random) model.
    func testRunnerCore() throws {
        let r = try Self.smallRunner(T: 20)
        r.handle(.startSampling(SamplerSettings(steps: 5), n: 2, seed: 3))
        XCTAssertEqual(r.tick(), [.frame(step: 0, t: 19)])
        r.handle(.pause)
        XCTAssertEqual(r.tick(), [])
        XCTAssertEqual(r.handle(.singleStep), [.frame(step: 1, t: 18)])
        var set = SamplerSettings(); set.kind = .ddim; set.steps = 5; set.spacing = .leading
        r.handle(.fork(set))
        XCTAssertFalse(r.isRunning, "a fork of a paused run stays paused")
        XCTAssertEqual(r.tick(), [])
        r.handle(.resume)
        var events: [RunnerEvent] = []
        while r.isRunning { events += r.tick() }
        XCTAssertEqual(events.last, .finished)
        XCTAssertEqual(r.snapshot.history.count, 20)
        XCTAssertEqual(r.snapshot.forkHistory.count, 2 + 1 + 5, "shared past + t=17 + the 5 DDIM steps below it")
        XCTAssertNotNil(r.snapshot.final); XCTAssertNotNil(r.snapshot.forkFinal)
        XCTAssertEqual(r.handle(.setSettings(SamplerSettings(eta: 3))).count, 1, "bad settings are an error event")
    }

    /// Keys that do nothing in the current sampler say so; the header names the
    /// model and its training step; the status line shows a speed limit as such.
    func testExplanationsOnScreen() throws {
        var st = try makeState()
        st.modelLabel = "mnist-tiny.safetensors · step 72000"
        _ = reduce(&st, .key(.char("E")))
        XCTAssertEqual(st.message, "DDIM eta set to 0.1, kept for DDIM (DDPM does not use it: press d for DDIM)")
        _ = reduce(&st, .key(.char("d")))
        _ = reduce(&st, .key(.char("v")))
        XCTAssertEqual(st.message, "DDPM variance set to β̃, kept for DDPM (DDIM does not use it: press d twice for DDPM)")
        // A finished DDPM run on screen, DDIM chosen for the next: the message says which run it means.
        var done = try makeState()
        done.snapshot = Self.fakeSnapshot(steps: 3)
        done.snapshot.running = false; done.snapshot.finished = true
        _ = reduce(&done, .key(.char("d")))
        _ = reduce(&done, .key(.char("v")))
        XCTAssertEqual(done.message, "DDPM variance set to β̃, kept for DDPM (DDIM, the next run's sampler, does not use it: press d twice for DDPM)")
        XCTAssertTrue(render(st).lines()[0].contains("mnist-tiny.safetensors · step 72000"))
        // At 80 columns a v model keeps "predicts v" and drops the step first.
        var narrow = try makeState()
        narrow.width = 80; narrow.height = 24
        narrow.modelLabel = "mnist-tiny · step 38000 · predicts v"
        let top = render(narrow).lines()[0]
        XCTAssertTrue(top.contains("mnist-tiny · predicts v") && !top.contains("step"), top)
        // bfloat16 sampling (--backend bf16) is named where it fits, and goes before "predicts v" does.
        narrow.modelLabel = "mnist-tiny · step 38000 · predicts v · bf16"
        let bf = render(narrow).lines()[0]
        XCTAssertTrue(bf.contains("mnist-tiny · predicts v") && !bf.contains("step"), bf)
        narrow.width = 120; narrow.height = 40
        XCTAssertTrue(render(narrow).lines()[0].contains("predicts v · bf16"), render(narrow).lines()[0])
        narrow.width = 80; narrow.height = 24
        // A replay at 120 columns: the recording and what the model predicted, when the model's name does not fit.
        var replay = try makeState()
        replay.width = 120; replay.height = 40
        replay.modelLabel = "replay run-3.ddpmtraj · mnist-tiny · step 38000 · predicts v"
        let replayTop = render(replay).lines()[0]
        XCTAssertTrue(replayTop.contains("replay run-3.ddpmtraj · predicts v"), replayTop)
        replay.modelLabel += " · bf16"
        XCTAssertTrue(render(replay).lines()[0].contains("replay run-3.ddpmtraj · predicts v · bf16"), render(replay).lines()[0])
        replay.width = 80; replay.height = 24
        XCTAssertTrue(render(replay).lines()[0].contains("replay · predicts v · bf16"), render(replay).lines()[0])
        replay.modelLabel = "replay run-3.ddpmtraj · mnist-tiny · step 38000 · predicts v"
        XCTAssertTrue(render(replay).lines()[0].contains("replay · predicts v"), render(replay).lines()[0])
        // A file whose name starts with "step " keeps it (only the step part goes).
        narrow.modelLabel = "step 5.safetensors · step 38000 · predicts v"
        let stepFile = render(narrow).lines()[0]
        XCTAssertTrue(stepFile.contains("step 5.safetensors") && !stepFile.contains("38000"), stepFile)
        XCTAssertFalse(SampleView.statusLine(st).contains("eta 0"), "eta is in the DDIM description, not repeated")
        _ = reduce(&st, .key(.char("-")))
        XCTAssertTrue(SampleView.statusLine(st).contains("st/s (limit)"), SampleView.statusLine(st))
    }

    /// At 80 columns a message longer than the window shows whole on the last
    /// two rows (over the status line while it shows); longer than two rows, it
    /// ends in "…". The status line is back on the next key.
    func testLongMessagesWrapOverTheStatusLine() throws {
        var st = try makeState()
        st.width = 80; st.height = 24
        st.snapshot.running = false; st.snapshot.finished = true
        for k in ["v", "c", "N"] { _ = reduce(&st, .key(.char(Character(k)))) }
        let m = try XCTUnwrap(st.message)
        XCTAssertGreaterThan(m.count, 80, m)
        let rows = render(st).lines()
        XCTAssertEqual(rows[22] + " " + rows[23], m)
        st.message = String(repeating: "word ", count: 60)
        let cut = render(st).lines()
        XCTAssertTrue(cut[23].hasSuffix("…") && cut[23].count <= 80 && cut[22].hasPrefix("word"), cut[23])
        // After a few seconds it folds: the status line is back, the message cut on the hint row.
        st.messageFolded = true
        let folded = render(st).lines()
        XCTAssertTrue(folded[22].contains("DDPM") && folded[23].hasPrefix("word") && folded[23].hasSuffix("…"), folded[22] + "\n" + folded[23])
        st.messageFolded = false
        // A path longer than the window is split, and still ends in … on the second row.
        st.message = "exported /tmp/" + String(repeating: "long-directory-name/", count: 10) + "ddpm-seed0-temp1.0-ddpm-beta-t997-x0.png"
        let path = render(st).lines()
        XCTAssertTrue(path[22].hasPrefix("exported") && path[23].hasSuffix("…") && path[23].count == 80, path[23])
        // A long file name fills the first row up to a "-" between the settings it names and goes on
        // in the second, so what follows it shows too.
        let file = "ddpm-seed2-temp1.0-ddim50-eta0.0-guide7x4-then-dpmpp50-guide7x4.ddpmtraj"
        st.message = "recorded \(file) (50 steps, 5.2 MB); ddpm replay plays it"
        let named = render(st).lines()
        XCTAssertTrue(named[22].hasSuffix("-then-dpmpp50-") && named[23].hasPrefix("guide7x4.ddpmtraj"), named[22] + "\n" + named[23])
        XCTAssertEqual(named[22] + named[23], st.message!, named[22] + "\n" + named[23])
        _ = reduce(&st, .key(.char("?"))); _ = reduce(&st, .key(.char("?")))
        XCTAssertNil(st.message)
        XCTAssertTrue(render(st).lines()[22].contains("DDPM"), render(st).lines()[22])
        // A message that stays (where an export went) takes the rows it needs, up to four, the
        // status line above them: at 80x24 a fork's PNGs named 170 characters were cut at two.
        let pngs = "exported /home/teacher/lecture-3/exports/ddpm-seed7-temp1.0-ddim50-eta0.1-guide3x100-t19-original-ddpm-post-then-ddim50-eta0.0.png, -fork-ddim50-eta0.1-guide3x100.png"
        st.message = pngs; st.keptMessage = pngs
        let kept = render(st).lines()
        XCTAssertTrue(kept[20].contains("DDPM"), kept.suffix(4).joined(separator: "\n"))
        XCTAssertEqual(kept[21...23].joined(separator: " ").replacingOccurrences(of: "  ", with: " ").hasSuffix("-fork-ddim50-eta0.1-guide3x100.png"), true,
                       kept.suffix(4).joined(separator: "\n"))
        XCTAssertFalse(kept.suffix(3).joined().contains("…"), kept.suffix(3).joined(separator: "\n"))
        // While a run plays it folds to two rows after a few seconds (not one: it names a file), and a key clears it.
        st.snapshot.running = true; st.snapshot.finished = false
        _ = reduce(&st, .tick(messageAge: AppState.messageFoldSeconds + 1))
        XCTAssertTrue(st.messageFolded); XCTAssertEqual(st.message, pngs)
        let folded2 = render(st).lines()
        XCTAssertTrue(folded2[21].contains("DDPM") && folded2[22].hasPrefix("exported") && folded2[23].hasSuffix("…"), folded2.suffix(3).joined(separator: "\n"))
        st.messageFolded = false
        // ... at most four, the rest cut; and a message that does not stay keeps to two.
        st.message = String(repeating: "word ", count: 90); st.keptMessage = st.message
        let four = render(st).lines()
        XCTAssertTrue(four[19].contains("DDPM") && four[20].hasPrefix("word") && four[23].hasSuffix("…"), four.suffix(5).joined(separator: "\n"))
        st.keptMessage = nil
        let two = render(st).lines()
        XCTAssertTrue(two[21].contains("DDPM") && two[22].hasPrefix("word") && two[23].hasSuffix("…"), two.suffix(3).joined(separator: "\n"))
    }

    /// Keys at a limit say so, a change of eta mid-run is named as s and d name theirs, and
    /// behind "Terminal too small" only q acts.
    func testLimitsEtaMidRunAndTooSmall() throws {
        var st = try makeState()
        st.snapshot = Self.fakeSnapshot(steps: 30)
        _ = reduce(&st, .key(.char("d")))
        XCTAssertEqual(st.settings.kind, .ddim)
        _ = reduce(&st, .key(.char("E")))
        XCTAssertEqual(st.message, "DDIM 50 η=0.1 from the next step: fresh noise from here")
        _ = reduce(&st, .key(.char("E")))
        XCTAssertEqual(st.message, "DDIM 50 η=0.2 from the next step")
        _ = reduce(&st, .key(.char("e"))); _ = reduce(&st, .key(.char("e")))
        XCTAssertEqual(st.message, "DDIM 50 η=0.0 from the next step: deterministic from here")
        for _ in 0..<9 { _ = reduce(&st, .key(.char("S"))) }
        XCTAssertEqual(st.settings.steps, 1000)
        XCTAssertEqual(st.message, "steps at their most, 1000 (s lowers them)")
        for _ in 0..<10 { _ = reduce(&st, .key(.char("s"))) }
        XCTAssertEqual(st.message, "steps at their fewest, 1 (S raises them)")
        // s never raises them: DDIM 2 from the command line goes to 1, not back up the list.
        st.settings.steps = 3
        _ = reduce(&st, .key(.char("s")))
        XCTAssertEqual(st.settings.steps, 2)
        for _ in 0..<20 { _ = reduce(&st, .key(.char("-"))) }
        XCTAssertTrue(st.message?.hasPrefix("speed: at most 1 step/s (the slowest)") ?? false, st.message ?? "")
        st.width = 50; st.height = 15
        let before = st
        for k: Key in [.char("?"), .char("3"), .char("4"), .escape, .char("d"), .char("r")] { XCTAssertTrue(reduce(&st, .key(k)).isEmpty, "\(k)") }
        XCTAssertEqual(st.screen, before.screen); XCTAssertFalse(st.showHelp); XCTAssertEqual(st.settings, before.settings)
        XCTAssertEqual(reduce(&st, .key(.char("q"))).count, 1)
        XCTAssertTrue(st.quitting)
    }

    /// Messages name a written file by its name when it is in the current
    /// folder (the default export folder), else by its whole path.
    func testMessagesNameFilesInTheCurrentFolderByName() {
        let here = FileManager.default.currentDirectoryPath
        XCTAssertEqual(InputFile.shown(here + "/ddpm-seed0-temp1.0-ddpm-beta-t997"), "ddpm-seed0-temp1.0-ddpm-beta-t997")
        XCTAssertEqual(InputFile.shown(here + "/./run.gif"), "run.gif")
        XCTAssertEqual(InputFile.shown("/nonexistent-dir/run.gif"), "/nonexistent-dir/run.gif")
        XCTAssertEqual(InputFile.shown(here + "/sub/run.gif"), here + "/sub/run.gif")
    }

    /// After a run has finished, a changed setting does not relabel the digits
    /// on screen: the status line keeps the settings they were made with and
    /// says what r runs next.
    func testFinishedRunKeepsItsSettingsInTheStatusLine() throws {
        var st = try makeState()
        st.snapshot.running = false; st.snapshot.finished = true
        let made = SampleView.statusLine(st)
        XCTAssertTrue(made.contains("DDPM σ²=β │") && !made.contains("r runs"), made)
        _ = reduce(&st, .key(.char("v")))
        // The message names the seed r runs, and r runs it.
        XCTAssertTrue(st.message?.contains("r runs seed 1 with DDPM σ²=β̃") == true, st.message ?? "")
        var pressed = st
        _ = reduce(&pressed, .key(.char("r")))
        XCTAssertEqual(pressed.seed, 1)
        let line = SampleView.statusLine(st)
        XCTAssertTrue(line.contains("DDPM σ²=β │") && line.contains("r runs DDPM σ²=β̃"), line)
        _ = reduce(&st, .key(.char("c")))
        XCTAssertTrue(SampleView.statusLine(st).contains("r runs DDPM σ²=β̃, clip on"), SampleView.statusLine(st))
        XCTAssertTrue(SampleView.statusLine(st).contains("clip off"), "the shown run's clip")
        // At 80 columns it is still spelled out (without the seed, which the message names);
        // narrower, the short form brackets what r runs.
        let at80 = SampleView.statusLine(st, width: 80)
        XCTAssertTrue(at80.contains("r runs DDPM σ²=β̃, clip on │") && at80.hasSuffix("finished") && at80.count <= 80, at80)
        let short = SampleView.statusLine(st, width: 60)
        XCTAssertTrue(short.contains("(r: DDPM β̃ clip)") && short.hasPrefix("done") && short.components(separatedBy: "done").count == 2 && short.count <= 60, short)
        // The hint line offers r once the run has finished.
        st.message = nil
        XCTAssertTrue(render(st).lines()[39].hasPrefix("r new seed"), render(st).lines()[39])
        // Scrubbed back to a step taken with other settings, the fields are that step's; what r runs
        // is still measured from the run's last step.
        var first = Frame(step: 0, totalSteps: 1000, t: 999, tNext: 998, n: 4, size: 28, xt: st.snapshot.history[0].xtFloats(),
                          x0: st.snapshot.history[0].x0Floats(), xNext: [], eps: Stats(), x0Outside: 0)
        first.settings.noiseTemperature = 0.7
        st.snapshot.history[0] = RecordedFrame(first, keep: 4, readings: [])
        st.scrub = 0
        let scrubbedLine = SampleView.statusLine(st)
        XCTAssertTrue(scrubbedLine.contains("SCRUB 1/3") && scrubbedLine.contains("noise 0.7") && scrubbedLine.contains("r runs DDPM σ²=β̃, clip on │"),
                      scrubbedLine)
        st.scrub = nil
        // In a replay r plays the recording again: no "r runs".
        st.replay = "r.ddpmtraj"
        XCTAssertFalse(SampleView.statusLine(st).contains("r runs"), SampleView.statusLine(st))
        st.replay = nil
        // Forked: each side's fields are its own, the original's from the frames it was made with.
        var forked = try makeState()
        forked.snapshot.final = [0]; forked.settings.clip = true; forked.settings.noiseTemperature = 1.1
        forked.snapshot.forkSettings = SamplerSettings(kind: .ddim, steps: 20, noiseTemperature: 0.5)
        forked.snapshot.forkHistory = Array(forked.snapshot.history.prefix(2))
        // (Wide enough for every field: at 120 columns the noise temperature at its default drops out.)
        let original = SampleView.statusLine(forked, width: 200)
        XCTAssertTrue(original.hasPrefix("original done, fork t=998 │ keys: original │ DDPM σ²=β │") && original.contains("noise 1.0")
                      && original.contains("r runs noise 1.1, clip on"), original)
        forked.forkFocus = true
        let fork = SampleView.statusLine(forked, width: 200)
        // DDIM with eta 0 draws no fresh noise: no noise temperature to show.
        XCTAssertTrue(fork.hasPrefix("fork t=998, original done │ keys: fork │ DDIM 20 η=0.0") && !fork.contains("noise"), fork)
        // The original finished, the fork running: a key on the original says what r runs, on both lines.
        forked.forkFocus = false; forked.message = nil
        _ = reduce(&forked, .key(.char("c")))
        XCTAssertTrue(forked.message?.contains("r runs seed 1 with noise 1.1;") == true, forked.message ?? "")
        XCTAssertTrue(SampleView.statusLine(forked).contains("r runs noise 1.1 │"), SampleView.statusLine(forked))
        // A deterministic sampler draws no noise z: its noise temperature is not a change r would show.
        let quiet = SamplerSettings(kind: .ddim, steps: 50, noiseTemperature: 0.5)
        XCTAssertNil(SampleView.pendingChange(quiet, from: SamplerSettings(kind: .ddim, steps: 50)))
        XCTAssertEqual(SampleView.pendingChange(SamplerSettings(kind: .ddim, steps: 50, eta: 1, noiseTemperature: 0.5),
                                                from: SamplerSettings(kind: .ddim, steps: 50, eta: 1))?.full, "noise 0.5")
        // While running, the settings are the live ones (they apply from the next step).
        st.snapshot.finished = false; st.snapshot.running = true
        XCTAssertFalse(SampleView.statusLine(st).contains("r runs"), SampleView.statusLine(st))
        XCTAssertTrue(SampleView.statusLine(st).contains("DDPM σ²=β̃"), SampleView.statusLine(st))
    }

    /// A temperature change restarts at once from x_T = temperature * N(0, I)
    /// with the same seed (x_T scales exactly), keeps the previous result
    /// beside it, and a new seed (r) drops that comparison.
    func testTemperatureIsLive() throws {
        let r = try Self.smallRunner(T: 20)
        r.handle(.startSampling(SamplerSettings(temperature: 1), n: 2, seed: 3))
        while r.isRunning { r.tick() }
        let first = r.snapshot.history[0].xtFloats(), final = r.snapshot.final!
        r.handle(.retemper(SamplerSettings(temperature: 0.5)))
        XCTAssertEqual(r.snapshot.seed, 3)
        XCTAssertEqual(r.snapshot.runTemperature, 0.5)
        XCTAssertEqual(r.snapshot.comparison?.temperature, 1)
        XCTAssertEqual(r.snapshot.comparison?.images, final)
        XCTAssertEqual(r.snapshot.comparison?.finished, true)
        XCTAssertTrue(r.snapshot.history.isEmpty && r.isRunning, "the new run starts at once")
        r.tick()
        let again = r.snapshot.history[0].xtFloats()
        for i in 0..<first.count { XCTAssertEqual(again[i], 0.5 * first[i], accuracy: 2e-3 * max(1, abs(first[i]))) }
        // The screen shows both: before (temp 1.0, final) and now (temp 0.5).
        var st = try makeState()
        st.snapshot = r.snapshot
        let text = render(st).text
        XCTAssertTrue(text.contains("before: temp 1.0  final") && text.contains("now: temp 0.5"), text)
        r.handle(.restart(seed: 4))
        XCTAssertNil(r.snapshot.comparison)
        // Changes in quick succession keep the furthest earlier result, not the
        // x̂0 of a run just begun: run 8 steps, change, run 2, change again.
        for _ in 0..<8 { r.tick() }
        let t8 = r.snapshot.history.last!.t
        r.handle(.retemper(SamplerSettings(temperature: 0.7)))
        XCTAssertEqual(r.snapshot.comparison?.t, t8)
        for _ in 0..<2 { r.tick() }
        r.handle(.retemper(SamplerSettings(temperature: 0.9)))
        XCTAssertEqual(r.snapshot.comparison?.t, t8, "the 8-step result stays")
        XCTAssertEqual(r.snapshot.comparison?.temperature, 0.5)
        for _ in 0..<12 { r.tick() }
        r.handle(.retemper(SamplerSettings(temperature: 1.1)))
        XCTAssertLessThan(r.snapshot.comparison!.t, t8, "a run that got further replaces it")
        XCTAssertEqual(r.snapshot.comparison?.temperature, 0.9)
        // Back at the kept run's temperature before the new run got as far (T then t): the new run is
        // that run again, so nothing stays beside it ("before: temp 0.9 … now: temp 0.9"), and the key says so.
        r.tick()
        var st2 = try makeState()
        st2.snapshot = r.snapshot; st2.settings = SamplerSettings(temperature: 1.0)
        XCTAssertEqual(reduce(&st2, .key(.char("t"))), [.command(.retemper(SamplerSettings(temperature: 0.9)))])
        XCTAssertTrue(st2.message?.hasPrefix("temperature 0.9 again, as the run kept beside it had") == true, st2.message ?? "")
        XCTAssertNotEqual(st2.keptMessage, st2.message, "it goes as other news does")
        r.handle(.retemper(SamplerSettings(temperature: 0.9)))
        XCTAssertNil(r.snapshot.comparison)
        XCTAssertFalse(render({ var v = st2; v.snapshot = r.snapshot; return v }()).text.contains("before:"))
    }

    /// The result kept beside a temperature change is named by the samplers its steps ran, not by
    /// settings changed on the finished run since (the new run's: it said "DDPM σ²=β" and exported
    /// "-before-…-ddpm-beta-clip" for DDIM digits made without clipping), and a run switched
    /// part-way names both ("DDPM then DDIM").
    func testTemperatureChangeNamesWhatTheRunBeforeRan() throws {
        let r = try Self.smallRunner(T: 20)
        let ddim = SamplerSettings(kind: .ddim, steps: 5)
        r.handle(.startSampling(ddim, n: 2, seed: 3))
        while r.isRunning { r.tick() }
        var changed = SamplerSettings(temperature: 1); changed.clip = true
        r.handle(.setSettings(changed))
        r.handle(.retemper(SamplerSettings(temperature: 0.5, clip: true)))
        XCTAssertEqual(r.snapshot.comparison?.settings, ddim)
        XCTAssertEqual(r.snapshot.comparison?.ran, [ddim])
        r.tick()
        var st = try makeState()
        st.snapshot = r.snapshot
        var text = render(st).text
        XCTAssertTrue(text.contains("before: temp 1.0  final  DDIM 5 η=0.0"), text)
        XCTAssertFalse(text.contains("before: temp 1.0  final  DDPM"), text)
        // At 80x24 the short title keeps the sampler.
        var small = AppState(caps: .full, width: 80, height: 24, schedule: st.schedule)
        small.snapshot = r.snapshot
        XCTAssertTrue(render(small).text.contains("before temp 1.0 final DDIM 5"), render(small).text)
        XCTAssertEqual(ExplorerApp.samplersInName(r.snapshot.comparison!.ran, else: changed), ddim.fileDescription)
        // Switched part-way: both, in order.
        r.handle(.startSampling(SamplerSettings(), n: 2, seed: 3))
        for _ in 0..<3 { r.tick() }
        r.handle(.setSettings(ddim))
        while r.isRunning { r.tick() }
        r.handle(.retemper(SamplerSettings(kind: .ddim, steps: 5, temperature: 0.5)))
        XCTAssertEqual(r.snapshot.comparison?.ran, [SamplerSettings(), ddim])
        r.tick()
        st.snapshot = r.snapshot
        text = render(st).text
        XCTAssertTrue(text.contains("before: temp 1.0  final  DDPM→DDIM 5"), text)
        XCTAssertTrue(SampleView.grids(st)!.leftTitle.hasSuffix("final  DDPM then DDIM 5 η=0.0"), SampleView.grids(st)!.leftTitle)
        // At 80x24 too: a mixed run keeps its samplers before the word "before" (it read "before: temp 1.0  final").
        small.snapshot = r.snapshot
        XCTAssertTrue(render(small).text.contains("final DDPM→DDIM 5"), render(small).text)
    }

    /// Where the clip moved x̂0, the step uses the clipped x̂0 (DDIM recomputes ε̂ from it): the ε̂
    /// statistics say they are the net's (a student comparing with the chapter's 3.7 code, which
    /// keeps the net's, was lost); where nothing was clipped they are the step's.
    func testEpsStatisticsSayWhoseUnderClip() throws {
        var st = try makeState()
        var snap = AppTests.fakeSnapshot(steps: 3)
        var set = SamplerSettings(kind: .ddim, steps: 50); set.clip = true
        func clipped(_ outside: Double) -> [RecordedFrame] {
            AppTests.fakeSnapshot(steps: 3).history.map { f in
                RecordedFrame(step: f.step, t: f.t, tNext: f.tNext, n: f.n, size: f.size, settings: set, xt: f.xt, x0: f.x0,
                              eps: f.eps, x0Outside: outside, readings: f.readings)
            }
        }
        snap.history = clipped(0.2)
        st.snapshot = snap
        let text = render(st).text
        XCTAssertTrue(text.contains("(net's ε̂, before the clip)"), text)
        var wide = AppState(caps: .full, width: 200, height: 60, schedule: st.schedule)
        wide.snapshot = snap
        XCTAssertTrue(render(wide).text.contains("net's ε̂"), render(wide).text)
        st.snapshot = AppTests.fakeSnapshot(steps: 3)
        XCTAssertFalse(render(st).text.contains("net's ε̂"), "without clipping the step uses the net's ε̂")
        st.snapshot.history = clipped(0)
        XCTAssertFalse(render(st).text.contains("net's ε̂"), "nothing clipped: the step's ε̂ is the net's")
    }

    /// The thread wrapper: commands never block and the newest snapshot appears.
    func testRunnerThread() throws {
        let net = try UNet(UNetConfig(nChannels: 8, chMults: [1, 2], nBlocks: 1, nMidBlocks: 1, imageSize: 28))
        let p = FloatBuffer(count: net.parameterCount)
        let r = Runner(model: UNetPredictor(net: net, params: p), schedule: try NoiseSchedule(T: 30))
        let th = RunnerThread(r)
        th.start()
        th.send(.startSampling(SamplerSettings(steps: 5), n: 1, seed: 0))
        let deadline = Date().addingTimeInterval(10)
        while !th.snapshot.finished && Date() < deadline { usleep(10_000) }
        XCTAssertTrue(th.snapshot.finished)
        XCTAssertEqual(th.snapshot.history.count, 30)
        th.stop()
        // A stopped engine the app lets go is freed with its runner (each training run the explorer
        // replaced stayed, about 260 MB a run: the thread's closure held it).
        weak var gone: RunnerThread?
        weak var goneRunner: Runner?
        do {
            let r2 = Runner(model: UNetPredictor(net: net, params: p), schedule: try NoiseSchedule(T: 30))
            let th2 = RunnerThread(r2)
            gone = th2; goneRunner = r2
            th2.start()
            th2.send(.startSampling(SamplerSettings(steps: 5), n: 1, seed: 0))
            XCTAssertTrue(th2.stop())
        }
        let freed = Date().addingTimeInterval(5)
        while (gone != nil || goneRunner != nil) && Date() < freed { usleep(10_000) }
        XCTAssertNil(gone, "the engine thread's object outlives its loop")
        XCTAssertNil(goneRunner, "the runner outlives its engine")
    }

    /// `b` in the forward view: the engine computes the shown digit's bound
    /// (T terms, positive, summing with the prior to the total) and the view
    /// plots it under the SNR curves; a replay says it needs the model.
    func testForwardViewBound() throws {
        let r = try Self.smallRunner(T: 30)
        var st = try makeState()
        st.schedule = r.schedule
        st.screen = .forward
        st.forwardDigit = 1
        let effects = reduce(&st, .key(.char("b")))
        guard case .command(let cmd)? = effects.first, case .bound(_, let size, let digit, _, let draws) = cmd else {
            return XCTFail("b sends no bound command: \(effects)")
        }
        XCTAssertEqual(size, 28); XCTAssertEqual(digit, 1); XCTAssertEqual(draws, ForwardView.boundDraws)
        // Until the engine answers, the run waits behind the bound, and the sample view says so, not "running".
        st.screen = .sample; st.snapshot.running = true
        XCTAssertTrue(SampleView.statusLine(st).hasSuffix("waits while the engine computes a bound (view 3, b)"), SampleView.statusLine(st))
        st.screen = .forward
        r.handle(cmd)
        XCTAssertEqual(r.snapshot.boundsAnswered, 1)
        var answered = r.snapshot, seen = st; answered.running = true
        seen.screen = .sample
        _ = reduce(&seen, .engine(answered))
        XCTAssertEqual(seen.boundsPending, 0)
        XCTAssertTrue(SampleView.statusLine(seen).hasSuffix("running"), SampleView.statusLine(seen))
        st.snapshot.running = false
        let b = try XCTUnwrap(r.snapshot.bound)
        XCTAssertEqual(b.result.perT.count, 30)
        XCTAssertTrue(b.result.perT.allSatisfy { $0 >= 0 && $0.isFinite })
        XCTAssertEqual(b.result.perT.reduce(0, +) + b.result.prior, b.result.total, accuracy: 1e-9)
        // k while it computed: the result names its digit, its σ², and the way back to its curve.
        _ = reduce(&st, .key(.char("k")))
        _ = reduce(&st, .engine(r.snapshot))
        let said = st.message ?? ""
        XCTAssertTrue(said.hasPrefix("bound of digit #1, σ²=\(varianceSymbol(st.settings.variance)):") && said.hasSuffix("; j back to #1 shows its curve"), said)
        // Without UTF-8, the variance is spelled as everywhere else.
        var plain = st; plain.caps = .ascii; plain.snapshot.bound = nil
        _ = reduce(&plain, .engine(r.snapshot))
        XCTAssertTrue(plain.message?.hasPrefix("bound of digit #1, var=\(varianceSymbol(st.settings.variance, unicode: false)):") ?? false, plain.message ?? "")
        XCTAssertFalse(render(st).text.contains("bound of this digit"), "another digit's bound is not shown")
        _ = reduce(&st, .key(.char("j")))
        XCTAssertTrue(render(st).text.contains("bound of this digit by t"), render(st).text)
        var again = r.snapshot; again.bound?.seconds += 1
        _ = reduce(&st, .engine(again))
        XCTAssertFalse(st.message?.contains("back to") ?? true, st.message ?? "")
        st.forwardDigit = 0
        XCTAssertFalse(render(st).text.contains("bound of this digit"), "another digit's bound is not shown")
        // A second digit's bound keeps the first's: each shows with its digit.
        guard case .command(let second)? = reduce(&st, .key(.char("b"))).first else { return XCTFail("no second bound") }
        r.handle(second)
        _ = reduce(&st, .engine(r.snapshot))
        XCTAssertTrue(st.message?.hasPrefix("bound of digit #0,") ?? false, st.message ?? "")
        XCTAssertTrue(render(st).text.contains("bound of this digit by t"), render(st).text)
        _ = reduce(&st, .key(.char("j")))
        XCTAssertTrue(render(st).text.contains("bound of this digit by t"), "digit #1's bound is still there: " + render(st).text)
        st.replay = "x.ddpmtraj"
        XCTAssertEqual(reduce(&st, .key(.char("b"))), [])
        XCTAssertTrue(st.message?.hasPrefix("replay:") ?? false)
    }

    /// A word of a command the explorer prints to copy (the farewell's, info's "trained with:"):
    /// bash reads it back as the same text, and it holds no raw control character.
    func testShellWordsReadBackWhole() {
        for w in ["ck.safetensors", "my run's ck.safetensors", "a b\\c", "-x.safetensors", "dir/\u{1b}[31mred", "tab\there", "ü\u{9b}x", "{\"a\":[1,2]}", "rtl\u{202e}txt.safetensors", "$(touch pwned)`id`"] {
            let word = shellWord(w)
            XCTAssertFalse(word.unicodeScalars.contains(where: EngineError.isControl), word)
            let script = NSTemporaryDirectory() + "shellword-\(getpid()).sh"
            defer { try? FileManager.default.removeItem(atPath: script) }
            try? ("printf %s " + word + "\n").write(toFile: script, atomically: true, encoding: .utf8)
            let (code, out) = Shell.sh("bash \(script)")
            XCTAssertEqual(code, 0, word)
            XCTAssertEqual(out, w.hasPrefix("-") ? "./" + w : w, word)
        }
        XCTAssertEqual(shellWord("ck.safetensors"), "ck.safetensors")
        XCTAssertEqual(shellWord("my run's ck"), "'my run'\\''s ck'")
    }
}
