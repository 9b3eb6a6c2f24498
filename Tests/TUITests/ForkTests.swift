// ForkTests.swift: forks you can follow (issue #19): from a scrubbed step
// exactly, from a finished run, lined up by t, keys on the focused side.
import XCTest
@testable import Engine
@testable import TUI

final class ForkTests: XCTestCase {
    /// A fork with the original's own settings from recorded step k retraces
    /// the original exactly: the saved state plus replayed steps is that x_t.
    func testForkFromAScrubbedStepIsExact() throws {
        let r = try AppTests.smallRunner(T: 40)
        var set = SamplerSettings(); set.noiseTemperature = 0.7
        r.handle(.startSampling(set, n: 2, seed: 4))
        for _ in 0..<6 { r.tick() }
        // A settings change mid-run: the replay must use what each step used.
        var later = set; later.noiseTemperature = 1.3
        r.handle(.setSettings(later))
        for _ in 0..<6 { r.tick() }
        r.handle(.pause)
        let original = r.snapshot.history
        r.handle(.fork(later, at: 9))
        XCTAssertEqual(r.snapshot.forkFrom, 9)
        XCTAssertEqual(r.snapshot.forkHistory.count, 9, "the shared past")
        r.handle(.resume)
        // The original is ahead (t lower), so the fork steps alone until level.
        for _ in 0..<3 { r.tick() }
        XCTAssertEqual(r.snapshot.history.count, original.count, "the original waits for the fork to reach its t")
        let fork = r.snapshot.forkHistory
        XCTAssertEqual(fork.count, 12)
        for i in 9..<12 {
            XCTAssertEqual(fork[i].t, original[i].t)
            XCTAssertEqual(fork[i].x0, original[i].x0, "step \(i) retraced bit for bit")
        }
    }

    /// A self-conditioned model reads the previous step's x̂0: a fork from a
    /// scrubbed step of a DDIM run (whose kept states would otherwise hold no
    /// x̂0) and of a DDPM run retraces the original bit for bit.
    func testForkOfASelfConditionedModelIsExact() throws {
        for set in [SamplerSettings(kind: .ddim, steps: 30), SamplerSettings()] {
            let r = try AppTests.smallRunner(T: 40, selfCondition: true)
            r.handle(.startSampling(set, n: 2, seed: 4))
            for _ in 0..<14 { r.tick() }
            r.handle(.pause)
            let original = r.snapshot.history
            r.handle(.fork(set, at: 11))
            r.handle(.resume)
            for _ in 0..<3 { r.tick() }
            let fork = r.snapshot.forkHistory
            XCTAssertEqual(fork.count, 14, "\(set.kind)")
            for i in 11..<14 { XCTAssertEqual(fork[i].x0, original[i].x0, "\(set.kind): step \(i) retraced bit for bit") }
        }
    }

    /// `z` zooms the side the keys act on: with the keys on the fork, the
    /// fork's digit at the fork's t (it showed the original's).
    func testZoomShowsTheSideTheKeysActOn() throws {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = AppTests.fakeSnapshot(steps: 6)             // the original at t = 999 ... 994
        st.snapshot.forkSettings = SamplerSettings(kind: .ddim, steps: 20)
        st.snapshot.forkFrom = 2
        st.snapshot.forkHistory = Array(st.snapshot.history.prefix(4))   // the fork at t = 999 ... 996
        st.zoom = true
        var text = render(st).text
        XCTAssertTrue(text.contains("original: sample 1 of 4 at t=994"), text)
        st.forkFocus = true
        text = render(st).text
        XCTAssertTrue(text.contains("fork: sample 1 of 4 at t=996") && !text.contains("at t=994"), text)
        st.scrub = 1
        XCTAssertTrue(render(st).text.contains("sample 1 of 4 at t=998"))
    }

    /// A fork shares the shown step (scrubbed or newest) and goes on from the
    /// step after it: the message names the shown t, both panes keep showing
    /// it until the fork's first own step, which starts where the shown one went.
    /// Home then f forks after the first step (not "fork t=--"); the last step
    /// of a finished run has nothing after it to fork.
    func testForkSharesTheShownStep() throws {
        for scrub in [nil, 2, 0] as [Int?] {
            let r = try AppTests.smallRunner(T: 20)
            r.handle(.startSampling(SamplerSettings(), n: 1, seed: 1))
            for _ in 0..<4 { r.tick() }
            r.handle(.pause)
            var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule(T: 20))
            st.snapshot = r.snapshot
            st.scrub = scrub
            let shown = r.snapshot.history[scrub ?? 3]
            XCTAssertTrue(render(st).text.contains("t=\(shown.t)"))
            let fx = reduce(&st, .key(.char("f")))
            guard case .command(let cmd)? = fx.first else { return XCTFail("no fork command") }
            XCTAssertTrue(st.message?.hasPrefix("forked after t=\(shown.t):") ?? false, "\(st.message ?? "") / shown t=\(shown.t)")
            // Before the engine answers and after: the fork pane shows the step the key was pressed on.
            XCTAssertTrue(render(st).text.contains("▶ fork t=\(shown.t): x̂0"), render(st).text)
            r.handle(cmd)
            _ = reduce(&st, .engine(r.snapshot))
            XCTAssertTrue(st.forking)
            XCTAssertEqual(r.snapshot.forkHistory.last?.t, shown.t)
            // Made by the original's sampler: shared, with the sampler the fork runs (as the status line says).
            XCTAssertTrue(render(st).text.contains("▶ fork t=\(shown.t): x̂0 shared; runs \(describe(st.settings, unicode: true))"), render(st).text)
            // The status line: the original's own t, marked when it ran further than the step shown beside the fork.
            let newest = r.snapshot.history.last!.t, status = SampleView.statusLine(st)
            XCTAssertTrue(status.hasPrefix("fork t=\(shown.t), original t=\(newest)" + (scrub == nil ? " │" : " (ahead) │")), status)
            r.handle(.resume)
            let shared = r.snapshot.forkHistory.count
            while r.snapshot.forkHistory.count <= shared { r.tick() }
            XCTAssertEqual(r.snapshot.forkHistory[shared].t, shown.tNext, "the fork's first own step starts where the shown one went")
            _ = reduce(&st, .engine(r.snapshot))
            XCTAssertTrue(render(st).text.contains("▶ fork t=\(r.snapshot.forkHistory.last!.t): x̂0  DDPM"), render(st).text)
            XCTAssertFalse(render(st).text.contains("shared"), render(st).text)
        }
        let r = try AppTests.smallRunner(T: 10)
        r.handle(.startSampling(SamplerSettings(), n: 1, seed: 1))
        while r.isRunning { r.tick() }
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule(T: 10))
        st.snapshot = r.snapshot
        st.scrub = r.snapshot.history.count - 1
        XCTAssertEqual(reduce(&st, .key(.char("f"))), [])
        XCTAssertTrue(st.message?.contains("nothing after it to fork") ?? false, st.message ?? "")
        XCTAssertFalse(st.forking)
        st.scrub = r.snapshot.history.count - 2
        XCTAssertEqual(reduce(&st, .key(.char("f"))), [.command(.fork(st.settings, at: r.snapshot.history.count - 1))])
        // Both panes at the step forked after (the original's final only once the fork has one too).
        let at = r.snapshot.history[r.snapshot.history.count - 2].t
        XCTAssertTrue(render(st).text.contains("original t=\(at): x̂0") && render(st).text.contains("▶ fork t=\(at): x̂0"), render(st).text)
        // The fork of a finished run waits: space plays it (it said "finished: press r" before).
        XCTAssertTrue(st.message?.hasSuffix("; space plays the fork") ?? false, st.message ?? "")
        XCTAssertEqual(reduce(&st, .key(.char(" "))), [.command(.togglePause)])
    }

    /// A live fork is pinned to the step shown (the engine may step on before it reads f); tab keeps a
    /// scrubbed view at its t on the other side; a temperature change, which would end both sides, is refused.
    func testLiveForkIsPinnedTabKeepsTheScrubTemperatureRefused() throws {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = AppTests.fakeSnapshot(steps: 6)
        XCTAssertEqual(reduce(&st, .key(.char("f"))), [.command(.fork(st.settings, at: 6))])
        st.snapshot.forkSettings = st.settings; st.snapshot.forkHistory = st.snapshot.history
        _ = reduce(&st, .key(.left)); _ = reduce(&st, .key(.left))
        let t = st.focusHistory[st.scrub!].t
        _ = reduce(&st, .key(.tab))
        XCTAssertFalse(st.forkFocus)
        XCTAssertEqual(st.scrub.map { st.focusHistory[$0].t }, t, "the original at the same t")
        let temp = st.settings.temperature
        XCTAssertEqual(reduce(&st, .key(.char("T"))), [])
        XCTAssertEqual(st.settings.temperature, temp)
        XCTAssertTrue(st.forking && (st.message?.contains("f closes the fork first") ?? false), st.message ?? "")
    }

    /// Keys on the fork a few ms apart each count: a snapshot the engine published before it read the
    /// first E put the fork's η back, and the second E built on that (E E E gave 0.2, not 0.3).
    func testForkKeysBuildOnEachOtherAcrossOlderSnapshots() throws {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.settings = SamplerSettings(kind: .ddim, steps: 50)
        st.snapshot = AppTests.fakeSnapshot(steps: 6)
        st.snapshot.settings = st.settings
        _ = reduce(&st, .key(.char("f")))
        var engine = st.snapshot
        engine.forkSettings = st.settings; engine.forkHistory = engine.history; engine.version += 1
        _ = reduce(&st, .engine(engine))
        XCTAssertTrue(st.forkFocus)
        for k in 1...3 {
            _ = reduce(&st, .key(.char("E")))
            XCTAssertEqual(st.snapshot.forkSettings?.eta ?? -1, 0.1 * Double(k), accuracy: 1e-9)
            // The engine's next snapshot still holds the fork's η before this key.
            engine.version += 1
            _ = reduce(&st, .engine(engine))
            XCTAssertEqual(st.snapshot.forkSettings?.eta ?? -1, 0.1 * Double(k), accuracy: 1e-9, "an older snapshot put η back")
        }
        // The engine's own snapshot with the new η ends the wait; a later change of its own shows.
        engine.forkSettings?.eta = 0.3; engine.version += 1
        _ = reduce(&st, .engine(engine))
        XCTAssertNil(st.pendingForkSettings)
        engine.forkSettings?.eta = 0.5; engine.version += 1
        _ = reduce(&st, .engine(engine))
        XCTAssertEqual(st.snapshot.forkSettings?.eta ?? -1, 0.5, accuracy: 1e-9)
    }

    /// The final samples' titles name every sampler a side ran (the fork's shared steps first), as the status line names a run's.
    func testFinalTitlesNameEverySamplerASideRan() throws {
        let r = try AppTests.smallRunner(T: 30)
        r.handle(.startSampling(SamplerSettings(), n: 1, seed: 1))
        while r.isRunning { r.tick() }
        r.handle(.fork(SamplerSettings(kind: .ddim, steps: 10), at: 4))
        r.handle(.togglePause)
        r.tick(); r.tick()
        r.handle(.setForkSettings(SamplerSettings(kind: .dpmpp, steps: 10)))
        while r.isRunning { r.tick() }
        XCTAssertNotNil(r.snapshot.forkFinal)
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule(T: 30))
        _ = reduce(&st, .engine(r.snapshot)); st.forkFocus = true
        let text = render(st).text
        // The fork's title is shortened to fit, and the original's with it (the same spelling level:
        // "original: final  DDPM σ²=β" alone would fit).
        let top = render(st).lines().first { $0.contains("fork: final") } ?? ""
        XCTAssertTrue(top.contains("▶ fork: final DDPM→DDIM 10→DPM++ 2M 10") && top.contains("orig: final DDPM β ") && !top.contains("original"), top)
        st.width = 80; st.height = 24
        let narrow = render(st).lines().first { $0.contains("fork: final") } ?? ""
        XCTAssertTrue(narrow.contains("▶ fork: final DPM++ 2M 10") && narrow.contains("orig: final DDPM β ") && !narrow.contains("original"), narrow)
        // Narrower than the samplers with their settings: the samplers alone (they fit 80 columns with two).
        XCTAssertEqual(SampleView.kindsRan(r.snapshot.forkHistory, unicode: true), "DDPM→DDIM→DPM++")
        XCTAssertEqual(SampleView.kindsRan(r.snapshot.history, unicode: false), "DDPM")
        st.width = 160; st.height = 40
        let wide = render(st).text
        XCTAssertTrue(wide.contains("▶ fork: final  DDPM then DDIM 10 then DPM++ 2M 10"), wide)
        XCTAssertTrue(wide.contains("original: final  DDPM σ²=β"), wide)
    }

    /// A finished run forks only from a scrubbed step; both sides then reach t = 0, lined up by t.
    func testForkAFinishedRunAndStepInT() throws {
        let r = try AppTests.smallRunner(T: 30)
        r.handle(.startSampling(SamplerSettings(), n: 1, seed: 1))
        while r.isRunning { r.tick() }
        XCTAssertTrue(r.snapshot.finished)
        XCTAssertFalse(r.handle(.fork(SamplerSettings(kind: .ddim, steps: 5))).isEmpty, "nothing to fork from the end")
        XCTAssertNil(r.snapshot.forkSettings)
        r.handle(.fork(SamplerSettings(kind: .ddim, steps: 5), at: 4))
        XCTAssertFalse(r.isRunning, "the fork waits for space, as a paused run's does")
        XCTAssertFalse(r.snapshot.finished)
        // Keys on the fork side in a burst (before the engine's next snapshot) each count.
        var burst = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule(T: 30))
        _ = reduce(&burst, .engine(r.snapshot)); burst.forkFocus = true
        burst.snapshot.forkSettings?.eta = 1.0
        for _ in 0..<4 { _ = reduce(&burst, .key(.char("e"))) }
        XCTAssertEqual(burst.snapshot.forkSettings?.eta ?? 0, 0.6, accuracy: 1e-9, burst.message ?? "")
        // Closed before it stepped, the run is finished again (it showed "paused" at its last step).
        r.handle(.fork(nil))
        XCTAssertTrue(r.snapshot.finished); XCTAssertFalse(r.isRunning)
        r.handle(.fork(SamplerSettings(kind: .ddim, steps: 5), at: 4))
        XCTAssertFalse(r.snapshot.finished)
        XCTAssertEqual(r.snapshot.forkHistory.count, 4)
        r.handle(.togglePause)
        XCTAssertTrue(r.isRunning, "space plays the fork")
        var gaps: [Int] = []
        while r.isRunning {
            r.tick()
            if let f = r.snapshot.forkHistory.last, let m = r.snapshot.history.last { gaps.append(abs(f.t - m.t)) }
        }
        XCTAssertNotNil(r.snapshot.forkFinal)
        XCTAssertEqual(r.snapshot.forkHistory.last?.tNext, -1, "the fork's last step made its final samples")
        XCTAssertEqual(r.snapshot.history.count, 30, "the finished original does not step again")
        // The fork's own settings change from its next step; the original's stay.
        r.handle(.fork(nil))
        r.handle(.restart(seed: 2))
        r.tick(); r.tick()
        r.handle(.fork(SamplerSettings()))
        r.handle(.setForkSettings(SamplerSettings(kind: .ddim, steps: 10)))
        XCTAssertEqual(r.snapshot.forkSettings?.kind, .ddim)
        XCTAssertEqual(r.snapshot.settings.kind, .ddpm)
        // Stepping in t: at every tick the side with the larger t steps, so the two never drift apart by more than a DDIM stride.
        for _ in 0..<12 { r.tick() }
        let m = r.snapshot.history.last!.t, f = r.snapshot.forkHistory.last!.t
        XCTAssertLessThanOrEqual(abs(m - f), 3, "original at t=\(m), fork at t=\(f)")
    }

    /// Keys: f focuses the fork, setting keys change the focused side, tab
    /// switches, scrubbing moves through the focused side's recording.
    func testForkKeysActOnTheFocusedSide() throws {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = AppTests.fakeSnapshot(steps: 6)
        XCTAssertEqual(reduce(&st, .key(.tab)), [])
        XCTAssertTrue(st.message?.contains("while forking") ?? false)
        // Fork from a scrubbed step.
        _ = reduce(&st, .key(.left)); _ = reduce(&st, .key(.left))
        XCTAssertEqual(st.scrub, 3)
        var quick = st
        XCTAssertEqual(reduce(&st, .key(.char("f"))), [.command(.fork(st.settings, at: 4))], "the scrubbed step is shared")
        XCTAssertTrue(st.forkFocus)
        XCTAssertNil(st.scrub)
        // Before the engine answers, the next key already acts on the fork (keys typed fast after f).
        quick.settings.kind = .ddim; quick.settings.steps = 40
        _ = reduce(&quick, .key(.char("f")))
        var fewer = quick.settings; fewer.steps = 20
        XCTAssertEqual(reduce(&quick, .key(.char("s"))), [.command(.setForkSettings(fewer))], "40 steps: s gives 20, the next below")
        XCTAssertEqual(quick.settings.steps, 40, "the original keeps its 40")
        var more = fewer; more.steps = 50
        XCTAssertEqual(reduce(&quick, .key(.char("S"))), [.command(.setForkSettings(more))])
        // A snapshot the engine published before it read f (no fork yet) keeps the fork drawn and keyed;
        // the engine's own fork replaces it; a fork that never comes lapses.
        var early = quick.snapshot; early.forkSettings = nil; early.forkHistory = []; early.version += 1
        _ = reduce(&quick, .engine(early))
        XCTAssertTrue(quick.forking, "still forking after an older snapshot")
        var confirmed = early; confirmed.forkSettings = more; confirmed.version += 1
        _ = reduce(&quick, .engine(confirmed))
        XCTAssertNil(quick.pendingFork)
        XCTAssertEqual(quick.snapshot.forkSettings, more)
        var lapsed = quick
        _ = reduce(&lapsed, .key(.char("f")))   // closes it
        XCTAssertFalse(lapsed.forking)
        _ = reduce(&lapsed, .key(.left)); _ = reduce(&lapsed, .key(.char("f")))
        XCTAssertTrue(lapsed.forking)
        var never = lapsed.snapshot; never.forkSettings = nil; never.forkHistory = []; never.version += 10
        _ = reduce(&lapsed, .engine(never))
        XCTAssertFalse(lapsed.forking, "a refused fork does not stay on screen")
        // The engine answers with a fork: 3 shared steps and 2 of its own, in DDIM.
        st.snapshot.forkSettings = SamplerSettings()
        st.snapshot.forkHistory = Array(st.snapshot.history.prefix(5))
        var ddim = SamplerSettings(); ddim.kind = .ddim
        XCTAssertEqual(reduce(&st, .key(.char("d"))), [.command(.setForkSettings(ddim))])
        XCTAssertEqual(st.settings.kind, .ddpm, "the original's settings are untouched")
        XCTAssertTrue(SampleView.statusLine(st).contains("keys: fork"))
        XCTAssertTrue(render(st).text.contains("▶ fork"), render(st).text)
        _ = reduce(&st, .key(.home))
        XCTAssertEqual(st.scrub, 0)
        _ = reduce(&st, .key(.end))
        XCTAssertNil(st.scrub)
        XCTAssertEqual(reduce(&st, .key(.tab)), [])
        XCTAssertFalse(st.forkFocus)
        XCTAssertTrue(render(st).text.contains("▶ original"))
        XCTAssertEqual(reduce(&st, .key(.char("c"))).count, 1)
        XCTAssertTrue(st.settings.clip, "now the original's")
        // A finished run asks to scrub back first.
        st.snapshot.forkSettings = nil
        st.snapshot.finished = true
        XCTAssertEqual(reduce(&st, .key(.char("f"))), [])
        XCTAssertTrue(st.message?.contains("scrub back") ?? false)
    }
    /// A fork with more steps than the original (DDPM from a DPM++ run) is
    /// scrubbed through its own recording: grids, status and the equation
    /// panel show the fork's step, not "starting…".
    func testScrubbingALongerFork() throws {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = AppTests.fakeSnapshot(steps: 4)
        let longer = AppTests.fakeSnapshot(steps: 12)
        st.snapshot.forkSettings = SamplerSettings()
        st.snapshot.forkHistory = longer.history
        st.snapshot.forkFrom = 2
        st.forkFocus = true
        st.showEquation = true
        st.scrub = 10
        XCTAssertNotNil(SampleView.grids(st))
        XCTAssertTrue(SampleView.statusLine(st).contains("SCRUB 11/12"), SampleView.statusLine(st))
        let text = render(st).text
        XCTAssertFalse(text.contains("starting…"), text)
        XCTAssertTrue(text.contains("fork t=\(longer.history[10].t)"), text)
        XCTAssertFalse(text.contains("no step yet"))
    }

    /// A paused T = 20 run of one digit after `steps` steps, forked (f) after its newest step, the
    /// engine's answer read: the runner and the explorer's state.
    struct NoFork: Error {}
    func forkedRun(steps: Int) throws -> (Runner, AppState) {
        let r = try AppTests.smallRunner(T: 20)
        r.handle(.startSampling(SamplerSettings(), n: 1, seed: 1))
        for _ in 0..<steps { r.tick() }
        r.handle(.pause)
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule(T: 20))
        st.snapshot = r.snapshot
        guard case .command(let fork)? = reduce(&st, .key(.char("f"))).first else { throw NoFork() }
        r.handle(fork)
        _ = reduce(&st, .engine(r.snapshot))
        return (r, st)
    }

    /// A side whose sampler changed after the step shown says what it runs next, as the status line
    /// does; `.` with the keys on a side that waits for the other (the sides go down in t together) says so.
    func testForkPanesNameTheNextSamplerAndWhoSteps() throws {
        let (r, forked) = try forkedRun(steps: 3)
        var st = forked
        r.tick(force: true)   // the fork's own first step, DDPM like the original's
        _ = reduce(&st, .engine(r.snapshot))
        XCTAssertFalse(render(st).text.contains("next"), render(st).text)
        let ddim = SamplerSettings(kind: .ddim, steps: 5)
        r.handle(.setForkSettings(ddim))
        _ = reduce(&st, .engine(r.snapshot))
        let t = r.snapshot.forkHistory.last!.t
        let pane = render(st).lines()[1]
        XCTAssertTrue(pane.contains("▶ fork t=\(t): x̂0 DDPM β; next DDIM 5 η0.0") && pane.contains("original t=\(t): x̂0  DDPM σ²=β"), pane)
        XCTAssertTrue(SampleView.statusLine(st).contains(describe(ddim, unicode: true)), SampleView.statusLine(st))
        // At 80 columns the pane still says what runs next.
        var narrow = st; narrow.width = 80; narrow.height = 24
        XCTAssertTrue(render(narrow).text.contains("▶ fork t=\(t) next DDIM"), render(narrow).text)
        // Its first DDIM step goes further down in t than the original's next: then the original steps first.
        // (Level, both step: nothing to say.)
        XCTAssertEqual(reduce(&st, .key(.char("."))), [.command(.singleStep)])
        XCTAssertNil(st.message)
        r.tick(force: true)
        _ = reduce(&st, .engine(r.snapshot))
        XCTAssertFalse(render(st).text.contains("next"), "the step shown ran the fork's sampler: " + render(st).text)
        let mainNext = r.snapshot.history.last!.tNext, forkNext = r.snapshot.forkHistory.last!.tNext
        XCTAssertGreaterThan(mainNext, forkNext)
        st.message = nil
        XCTAssertEqual(reduce(&st, .key(.char("."))), [.command(.singleStep)])
        XCTAssertEqual(st.message, "the original steps first (at t=\(mainNext)): the sides go down in t together, and the fork's next step is at t=\(forkNext)")
        r.tick(force: true)
        XCTAssertEqual(r.snapshot.history.last!.t, mainNext, "the original stepped")
        XCTAssertEqual(r.snapshot.forkHistory.last!.tNext, forkNext, "the fork waited")
        // The screen shows it stepping: the original's pane its newest step, not its step nearest the fork's t.
        _ = reduce(&st, .engine(r.snapshot))
        let panes = render(st).lines()[1]
        XCTAssertTrue(panes.contains("original t=\(mainNext)") && panes.contains("fork t=\(r.snapshot.forkHistory.last!.t)"), panes)
    }

    /// q with a fork open asks first (one stray key lost a lecture's fork); another key keeps it
    /// open, q twice quits, and with the fork closed one q quits again. The too-small screen says so.
    func testQuitWithAForkOpenAsksFirst() throws {
        var st = try forkedRun(steps: 4).1
        // r would drop the fork too (a new run from x_T): refused, as t is.
        XCTAssertEqual(reduce(&st, .key(.char("r"))), [])
        XCTAssertEqual(st.message, "a new seed starts the run over from x_T: f closes the fork first")
        XCTAssertTrue(st.forking)
        XCTAssertEqual(reduce(&st, .key(.char("q"))), [])
        XCTAssertFalse(st.quitting); XCTAssertEqual(st.message, AppState.forkQuitQuestion)
        XCTAssertEqual(reduce(&st, .key(.char("#"))), [])
        XCTAssertEqual(st.message, "not quitting: the fork stays open")
        XCTAssertTrue(st.forking)
        // "n" for no answers the question and only that: the noise temperature stays.
        let noise = st.settings.noiseTemperature
        XCTAssertEqual(reduce(&st, .key(.char("q"))), [])
        XCTAssertEqual(reduce(&st, .key(.char("n"))), [])
        XCTAssertEqual(st.message, "not quitting: the fork stays open")
        XCTAssertEqual(st.settings.noiseTemperature, noise); XCTAssertEqual(st.snapshot.forkSettings?.noiseTemperature, noise)
        var small = st
        small.width = 79; small.height = 20; small.message = nil
        XCTAssertTrue(render(small).text.contains("Enlarge it or press q twice (the fork is lost)."), render(small).text)
        XCTAssertEqual(reduce(&small, .key(.char("q"))), [])
        XCTAssertEqual(reduce(&small, .key(.char("q"))), [.quit])
        XCTAssertEqual(reduce(&st, .key(.char("q"))), [])
        XCTAssertEqual(reduce(&st, .key(.char("q"))), [.quit]); XCTAssertTrue(st.quitting)
        // With a training run in progress too, the question names both.
        var both = st
        both.quitting = false; both.message = nil
        both.trainSnapshot = RunnerSnapshot(); both.trainSnapshot!.train = TrainMetrics()
        XCTAssertEqual(reduce(&both, .key(.char("q"))), [])
        XCTAssertEqual(both.message, AppState.trainingAndForkQuitQuestion)
        XCTAssertEqual(reduce(&both, .key(.char("q"))), [.quit])
        // A replay's fork is in its file: one q.
        var replayed = st
        replayed.quitting = false; replayed.message = nil; replayed.replay = "run.ddpmtraj"
        XCTAssertEqual(reduce(&replayed, .key(.char("q"))), [.quit])
        // Closed, nothing is lost: one q.
        var closed = st
        closed.quitting = false; closed.message = nil
        _ = reduce(&closed, .key(.char("f")))
        XCTAssertFalse(closed.forking)
        XCTAssertEqual(reduce(&closed, .key(.char("q"))), [.quit])
    }

    /// An export's files go to the first base none of whose files is there: one file of an earlier
    /// export (the same fork, another original) is never written over.
    func testFreeBaseChecksEveryFile() throws {
        let dir = Shell.temporaryDirectory("free-base")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertEqual(ExplorerApp.freeBase("\(dir)/x", suffixes: ["-a.png", "-b.png"]), "\(dir)/x")
        FileManager.default.createFile(atPath: "\(dir)/x-b.png", contents: Data())
        XCTAssertEqual(ExplorerApp.freeBase("\(dir)/x", suffixes: ["-a.png", "-b.png"]), "\(dir)/x-2")
        FileManager.default.createFile(atPath: "\(dir)/x-2-a.png", contents: Data())
        XCTAssertEqual(ExplorerApp.freeBase("\(dir)/x", suffixes: ["-a.png", "-b.png"]), "\(dir)/x-3")
    }

    /// An export whose second file cannot be written (here its folder does not exist; on a full disk
    /// the same) leaves nothing behind, not half of its pair, and says so.
    func testExportWritesAllItsFilesOrNone() throws {
        let dir = Shell.temporaryDirectory("export-none")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let digits = [Float](repeating: 0.5, count: 2 * 784)
        let said = ExplorerApp.writePNGs("\(dir)/x", [("-a.png", digits, nil, 1), ("/missing/-b.png", digits, nil, 1)], side: 28).said
        XCTAssertTrue(said.hasPrefix("export failed, nothing written: "), said)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [], "the first file was removed")
        let ok = ExplorerApp.writePNGs("\(dir)/x", [("-a.png", digits, nil, 1), ("-b.png", digits, nil, 1)], side: 28)
        XCTAssertEqual(ok.said, "exported 2 PNGs: \(InputFile.shown(dir + "/x")) + -a.png, -b.png")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["x-a.png", "x-b.png"])
    }

    /// `p` in the zoom writes the zoomed digit (x_t beside x̂0, 8x) and its x̂0 at the strip's stages,
    /// not the grids; the files name the digit and the step.
    func testZoomExportWritesTheDigit() throws {
        let dir = Shell.temporaryDirectory("export-zoom")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = AppTests.fakeSnapshot(steps: 3)
        st.zoom = true; st.selected = 1
        let said = ExplorerApp.export(st, dir: dir).said
        XCTAssertTrue(said.hasSuffix("ddpm-seed0-temp1.0-sample2-t997-ddpm-beta + -xt-x0.png, -stages.png (3 stages)"), said)
        let base = said.components(separatedBy: "PNGs: ")[1].components(separatedBy: " + ")[0]
        let pair = try PNGDecoder.decodeGrey([UInt8](try Data(contentsOf: URL(fileURLWithPath: base + "-xt-x0.png"))))
        // Each labelled ("x_t t=997", "x0 from it": 10 characters, 59 pixels; cells 4 wider, 3 apart), 8x.
        XCTAssertEqual(pair.width, (2 * 63 + 3 * 3) * 8); XCTAssertEqual(pair.height, (3 + 28 + 2 + 9 + 3) * 8)
        // x̂0 (the ring at ±1) on the right at full contrast; x_t (the ring at ±0.5) on the left, shown in its own range
        // (each centred in its cell: 17 pixels in).
        let ring = ringDigit(), r = Float(st.schedule.xtDisplayRange(t: 997, temperature: 1))
        for (y, x) in [(14, 14), (14, 5), (3, 14)] {
            XCTAssertEqual(pair.pixels[((3 + y) * 8) * pair.width + (3 + 63 + 3 + 17 + x) * 8], ImageWriter.byte(ring[y * 28 + x]), "x̂0 at \(y),\(x)")
            XCTAssertEqual(pair.pixels[((3 + y) * 8) * pair.width + (3 + 17 + x) * 8], ImageWriter.byte(ring[y * 28 + x] * 0.5 / r), "x_t at \(y),\(x)")
        }
        let pairLabelRows = ((3 + 28 + 2) * 8)..<((3 + 28 + 2 + 7) * 8)
        for cell in 0..<2 {
            let cols = ((3 + cell * 66) * 8)..<((3 + cell * 66 + 63) * 8)
            XCTAssertTrue(pairLabelRows.contains { y in cols.contains { pair.pixels[y * pair.width + $0] == 200 } }, "image \(cell) is labelled")
        }
        let strip = try PNGDecoder.decodeGrey([UInt8](try Data(contentsOf: URL(fileURLWithPath: base + "-stages.png"))))
        // Each stage with its t under it ("t=999" is 29 pixels: the cells are 4 wider, 3 apart), 4x.
        XCTAssertEqual(strip.width, (3 * 33 + 4 * 3) * 4)
        XCTAssertEqual(strip.height, (3 + 28 + 2 + 9 + 3) * 4)
        let labelRows = ((3 + 28 + 2) * 4)..<((3 + 28 + 2 + 7) * 4)
        for stage in 0..<3 {
            let cols = ((3 + stage * 36) * 4)..<((3 + stage * 36 + 33) * 4)
            XCTAssertTrue(labelRows.contains { y in cols.contains { strip.pixels[y * strip.width + $0] == 200 } }, "stage \(stage) is labelled")
        }
        // Again with nothing new: a new name, never over the first.
        XCTAssertTrue(ExplorerApp.export(st, dir: dir).said.contains("t997-ddpm-beta-2 + -xt-x0.png"))
        // Finished: the final sample where x_t was, as the zoom shows it, and named so.
        var done = st
        done.snapshot.finished = true; done.snapshot.running = false
        done.snapshot.final = [Float](repeating: 1, count: 4 * 784)
        let doneSaid = ExplorerApp.export(done, dir: dir).said
        XCTAssertTrue(doneSaid.hasSuffix("-final-x0.png, -stages.png (3 stages)"), doneSaid)
        let donePair = try PNGDecoder.decodeGrey([UInt8](try Data(contentsOf: URL(fileURLWithPath:
            doneSaid.components(separatedBy: "PNGs: ")[1].components(separatedBy: " + ")[0] + "-final-x0.png"))))
        // ("final", "x0 t=997": 8 characters, 47 pixels; cells 51 wide, the image 11 pixels in.)
        XCTAssertEqual(donePair.pixels[((3 + 3) * 8) * donePair.width + (3 + 11 + 3) * 8], ImageWriter.byte(1), "the final sample (all ink)")
        // One step so far: one stage, said so.
        var first = st; first.scrub = 0
        XCTAssertTrue(ExplorerApp.export(first, dir: dir).said.hasSuffix("-stages.png (1 stage)"))
        st.zoom = false
        XCTAssertTrue(ExplorerApp.export(st, dir: dir).said.contains("t997 + -xt.png"), "the grids again")
        // A run whose variance changed on the way: the grids are named by both, as the zoom's export is.
        var changed = st
        changed.scrub = nil
        let f = changed.snapshot.history[changed.snapshot.history.count - 1]
        var post = f.settings; post.variance = .posterior
        changed.snapshot.history[changed.snapshot.history.count - 1] = RecordedFrame(
            step: f.step, t: f.t, tNext: f.tNext, n: f.n, size: f.size, settings: post, xt: f.xt, x0: f.x0,
            eps: f.eps, x0Outside: f.x0Outside, readings: f.readings)
        let both = ExplorerApp.export(changed, dir: dir).said
        XCTAssertTrue(both.contains("ddpm-beta-then-ddpm-post-t\(f.t) + -xt.png"), both)
    }

    /// `p` names files by seed, sampler, temperature and t, never overwrites an
    /// earlier export, writes the final samples once finished and both sides of a fork.
    func testExportNamesAndForkSides() throws {
        let dir = Shell.temporaryDirectory("export")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = AppTests.fakeSnapshot(steps: 3)
        XCTAssertTrue(ExplorerApp.export(st, dir: dir).said.contains("ddpm-seed0-temp1.0-ddpm-beta-t997"))
        let second = ExplorerApp.export(st, dir: dir).said
        XCTAssertTrue(second.contains("t997-2"), second)
        // The bf16 explorer's files say so (its samples are not the float kernels').
        let tagged = ExplorerApp.export(st, dir: dir, tag: "-bf16").said
        XCTAssertTrue(tagged.contains("ddpm-seed0-temp1.0-ddpm-beta-t997-bf16 + -xt.png"), tagged)
        // Guidance and the sampler's own setting are in the name (recordings share it).
        XCTAssertEqual(SamplerSettings(kind: .ddim, steps: 50, eta: 0.5, guide: 7).fileDescription, "ddim50-eta0.5-guide7x4")
        XCTAssertEqual(SamplerSettings(variance: .posterior).fileDescription, "ddpm-post")
        XCTAssertEqual(SamplerSettings(clip: true).fileDescription, "ddpm-beta-clip")
        // The noise temperature where the steps draw noise (exports at 0.8 and 1 differed only by a number).
        XCTAssertEqual(SamplerSettings(noiseTemperature: 0.8).fileDescription, "ddpm-beta-noise0.8")
        XCTAssertEqual(SamplerSettings(kind: .ddim, steps: 50, eta: 0.5, noiseTemperature: 1.2).fileDescription, "ddim50-eta0.5-noise1.2")
        XCTAssertEqual(SamplerSettings(kind: .ddim, steps: 50, eta: 0, noiseTemperature: 1.2).fileDescription, "ddim50-eta0.0", "η = 0 draws none")
        XCTAssertEqual(SamplerSettings(kind: .dpmpp, steps: 20, noiseTemperature: 0.5).fileDescription, "dpmpp20")
        st.snapshot.forkSettings = SamplerSettings(kind: .ddim, steps: 20)
        st.snapshot.forkHistory = st.snapshot.history
        st.snapshot.final = Array(repeating: 0.5, count: 4 * 784)
        let third = ExplorerApp.export(st, dir: dir).said
        // Both sides as shown, and nothing else: no x_t is on screen while forking. Each file says what its
        // side shows: the original (focused) its final samples, the fork, still going, its newest x̂0.
        XCTAssertTrue(third.hasSuffix("ddpm-seed0-temp1.0 + -original-final-ddpm-beta.png, -fork-t997-x0-ddpm-beta.png"), third)
        for other in ["-xt.png", "-x0.png", "-final.png"] { XCTAssertFalse(third.contains(other), third) }
        // The focused side's step names the files; each side's image its own samplers, and only those.
        st.forkFocus = true
        st.snapshot.forkHistory = st.snapshot.history.map {
            RecordedFrame(step: $0.step, t: $0.t, tNext: $0.tNext, n: $0.n, size: $0.size, settings: SamplerSettings(kind: .ddim, steps: 20),
                          xt: $0.xt, x0: $0.x0, eps: $0.eps, x0Outside: $0.x0Outside, readings: $0.readings)
        }
        let fourth = ExplorerApp.export(st, dir: dir).said
        XCTAssertTrue(fourth.hasSuffix("ddpm-seed0-temp1.0 + -original-t997-x0-ddpm-beta.png, -fork-t997-x0-ddim20-eta0.0.png"), fourth)
        // Both sides finished: the grids show the final samples, and the files say so (not the t of
        // the focused side's last step, whose input x_t is not the image shown).
        st.snapshot.forkFinal = Array(repeating: -0.5, count: 4 * 784)
        let ended = ExplorerApp.export(st, dir: dir).said
        XCTAssertTrue(ended.hasSuffix("ddpm-seed0-temp1.0-2 + -original-final-ddpm-beta.png, -fork-final-ddim20-eta0.0.png"), ended)
        let forkFile = ended.components(separatedBy: "PNGs: ")[1].components(separatedBy: " + ")[0] + "-fork-final-ddim20-eta0.0.png"
        let fork = try PNGDecoder.decodeGrey([UInt8](try Data(contentsOf: URL(fileURLWithPath: forkFile))))
        XCTAssertEqual(Set(fork.pixels), [0, ImageWriter.byte(-0.5)], "the fork's final samples (-0.5) and the black gaps, not a step's x̂0")
        st.snapshot.forkFinal = nil
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        XCTAssertEqual(files.count, 2 + 2 + 2 + 2 + 2 + 2, files.sorted().joined(separator: " "))
        // Finished, not forked: the grids show the final samples and the last step's x̂0, so those are
        // written, not the last step's input x_t (which is not on screen; it was, named -xt).
        st.snapshot.forkSettings = nil; st.snapshot.forkHistory = []; st.forkFocus = false
        st.snapshot.finished = true; st.snapshot.running = false
        let done = ExplorerApp.export(st, dir: dir).said
        XCTAssertTrue(done.contains("ddpm-beta-t997-") && done.hasSuffix("-x0.png, -final.png") && !done.contains("-xt.png"), done)
        // Scrubbed back, x_t is on screen again.
        st.scrub = 1
        XCTAssertTrue(ExplorerApp.export(st, dir: dir).said.contains("t998 + -xt.png, -x0.png"))
        st.scrub = nil
        // After a temperature change the left grid is the run before it: exported under its temperature.
        st.snapshot.finished = false; st.snapshot.final = nil
        st.snapshot.comparison = RunnerSnapshot.Comparison(temperature: 0.5, images: Array(repeating: 0, count: 4 * 784), finished: false, t: 556)
        let before = ExplorerApp.export(st, dir: dir).said
        XCTAssertTrue(before.hasSuffix("-before-temp0.5-ddpm-beta-t556.png, -x0.png"), before)
    }

    /// Escape sequences ncurses does not decode for the TERM at hand are read
    /// whole: Home under tmux with TERM=xterm-256color is ESC [ 1 ~, not "1".
    func testEscapeSequences() {
        XCTAssertEqual(Terminal.escapeSequence("[1~"), .home)
        XCTAssertEqual(Terminal.escapeSequence("[4~"), .end)
        XCTAssertEqual(Terminal.escapeSequence("OH"), .home)
        XCTAssertEqual(Terminal.escapeSequence("[F"), .end)
        XCTAssertEqual(Terminal.escapeSequence("[5~"), .pageUp)
        XCTAssertEqual(Terminal.escapeSequence("[1;2D"), .shiftLeft)
        XCTAssertNil(Terminal.escapeSequence("[3~"), "Delete means nothing here and is swallowed")
        XCTAssertNil(Terminal.escapeSequence("[99;9x"))
    }
    /// In the training view, g starts another run once the last one has finished, or during one
    /// after the menu has said that it stops (and saves) the run in progress.
    func testTrainingCanStartAgainAfterAFinishedRun() throws {
        var st = AppState(caps: .full, width: 80, height: 24, schedule: try NoiseSchedule())
        st.screen = .train; st.trainingAvailable = true
        var snap = RunnerSnapshot(); snap.train = TrainMetrics(); snap.running = false
        snap.train?.step = 340; snap.train?.totalSteps = 1600
        st.trainSnapshot = snap
        XCTAssertTrue(render(st).lines()[23].contains("g new run"), render(st).lines()[23])
        XCTAssertEqual(reduce(&st, .key(.char("g"))), [])
        XCTAssertTrue(st.choosingRecipe)
        let menu = render(st).text
        XCTAssertTrue(menu.contains("In progress: step 340/1600. d or f stop and save it first."), menu)
        // At 80 columns no row of the menu is cut (each ends whole, as the class reads it).
        var narrow = st; narrow.width = 80; narrow.height = 24
        let menu80 = render(narrow).text
        for end in ["turns into digits.", "at lr 0.001 where", "(1000+ steps).", "warm-up 100.", "18740 steps", "35-40 minutes",
                    "(see the ETA)."] {
            XCTAssertTrue(menu80.contains(end + " "), "\(end)\n" + menu80)
        }
        XCTAssertEqual(reduce(&st, .key(.escape)), [])
        XCTAssertFalse(st.choosingRecipe)
        // g twice (a key repeat) does not stop the run in progress, nor does a flustered Enter; g twice
        // with none starts the demo.
        _ = reduce(&st, .key(.char("g")))
        XCTAssertEqual(reduce(&st, .key(.char("g"))), [])
        XCTAssertEqual(st.message, "no training started: the run in progress goes on (g, then d or f, stops it and starts another)")
        _ = reduce(&st, .key(.char("g")))
        XCTAssertTrue(render(st).text.contains("Any other key, Enter and g too, cancels: the run goes on."), render(st).text)
        XCTAssertEqual(reduce(&st, .key(.enter)), [])
        XCTAssertEqual(st.message, "no training started: the run in progress goes on (g, then d or f, stops it and starts another)")
        // A view's key cancels the menu and goes to that view.
        _ = reduce(&st, .key(.char("g")))
        XCTAssertEqual(reduce(&st, .key(.char("3"))), [])
        XCTAssertEqual(st.screen, .forward); XCTAssertFalse(st.choosingRecipe)
        XCTAssertEqual(st.message, "no training started")
        st.screen = .train
        XCTAssertEqual(reduce(&st, .key(.char("s"))), [])
        XCTAssertEqual(st.message, "s samples the model trained here once its run has finished")
        // q during a run asks; another key answers "no" and does nothing else (a view key does not
        // switch views, "n" does not change the noise temperature); q twice quits.
        XCTAssertEqual(reduce(&st, .key(.char("q"))), [])
        XCTAssertFalse(st.quitting); XCTAssertEqual(st.message, "training in progress: q again saves it and quits (another key cancels)")
        XCTAssertEqual(reduce(&st, .key(.char("1"))), []); XCTAssertEqual(st.screen, .train)
        XCTAssertEqual(st.message, "not quitting: the training run is kept (paused: space resumes it)")
        XCTAssertEqual(reduce(&st, .key(.char("1"))), []); XCTAssertEqual(st.screen, .sample, "the key acts once the question is answered")
        XCTAssertEqual(reduce(&st, .key(.char("q"))), [], "the question is asked again after another key")
        st.message = "checkpoint saved to /tmp/t.safetensors (step 500)"
        XCTAssertEqual(reduce(&st, .key(.char("q"))), [], "and again once another message has replaced it")
        XCTAssertEqual(st.message, AppState.quitQuestion)
        // News from the engine while the question shows waits for the answer: q still quits, another key shows it.
        var news = st.trainSnapshot!; news.message = "lecture demo, sized to this machine at step 50: 2400 steps"
        var waiting = st
        XCTAssertEqual(reduce(&waiting, .trainEngine(news)), [])
        XCTAssertEqual(waiting.message, AppState.quitQuestion, "the question stays")
        var quits = waiting
        XCTAssertEqual(reduce(&quits, .key(.char("q"))), [.quit])
        XCTAssertEqual(reduce(&waiting, .key(.char("x"))), [])
        XCTAssertEqual(waiting.message, news.message)
        XCTAssertNil(waiting.heldMessage)
        // A key with an answer of its own does not act while it answers: the news shows, not its answer.
        var answered = st
        answered.screen = .train
        _ = reduce(&answered, .trainEngine(news))
        XCTAssertEqual(reduce(&answered, .key(.char("s"))), [])
        XCTAssertEqual(answered.message, news.message)
        // News held behind one question does not come back after a later one.
        var stale = st
        _ = reduce(&stale, .trainEngine(news))
        stale.message = "something else"
        _ = reduce(&stale, .key(.char("q")))
        XCTAssertEqual(stale.message, AppState.quitQuestion)
        XCTAssertNil(stale.heldMessage)
        // A key without an action answers it by saying that the run goes on.
        var going = st
        going.trainSnapshot?.running = true
        XCTAssertEqual(reduce(&going, .key(.char("x"))), [])
        XCTAssertEqual(going.message, "not quitting: the training run goes on")
        // (A paused run does not go on: it is kept; space resumes it in the training view only.)
        var cancelled = st
        XCTAssertEqual(reduce(&cancelled, .key(.char("x"))), [])
        XCTAssertEqual(cancelled.message, "not quitting: the training run is kept (paused: 2, then space resumes it)")
        var inTrainView = st
        inTrainView.screen = .train
        XCTAssertEqual(reduce(&inTrainView, .key(.char("x"))), [])
        XCTAssertEqual(inTrainView.message, "not quitting: the training run is kept (paused: space resumes it)")
        cancelled.screen = .train
        XCTAssertEqual(reduce(&cancelled, .key(.char("x"))), [])
        XCTAssertEqual(cancelled.message, "'x' is not a key of the training view (? lists them)")
        // The too-small screen (a lecture hall's big font) asks too, and shows the question.
        var small = st
        small.width = 79; small.height = 20; small.message = nil
        XCTAssertTrue(render(small).text.contains("Enlarge it or press q twice (the training run is saved first)."), render(small).text)
        XCTAssertEqual(reduce(&small, .key(.char("q"))), [])
        XCTAssertTrue(render(small).text.contains("q again saves it and quits"), render(small).text)
        XCTAssertEqual(reduce(&small, .key(.char("q"))), [.quit])
        XCTAssertEqual(reduce(&st, .key(.char("q"))), [.quit]); XCTAssertTrue(st.quitting)
        st.quitting = false; st.screen = .train
        st.width = 120; st.height = 40
        st.trainSnapshot?.running = false; st.trainSnapshot?.finished = true
        var done = st
        XCTAssertEqual(reduce(&done, .key(.char("s"))), [.sampleTrained], "after a finished run s samples its model")
        // s again (the sample view on run 1's model, the app says): back to the model the explorer opened with,
        // and the status line and hints say so; a second run, once finished, is sampled; while it trains, back.
        var back = st
        back.trainRuns = 1; back.sampledRun = 1
        XCTAssertTrue(render(back).text.contains("finished (s: back to the opened model)"), render(back).text)
        XCTAssertEqual(reduce(&back, .key(.char("s"))), [.sampleOpened])
        back.trainRuns = 2
        XCTAssertEqual(reduce(&back, .key(.char("x"))), []); XCTAssertEqual(reduce(&back, .key(.char("s"))), [.sampleTrained])
        back.trainSnapshot?.finished = false; back.trainSnapshot?.running = true
        XCTAssertEqual(reduce(&back, .key(.char("x"))), []); XCTAssertEqual(reduce(&back, .key(.char("s"))), [.sampleOpened])
        XCTAssertEqual(reduce(&done, .key(.char("q"))), [.quit], "after a finished run q quits at once")
        _ = reduce(&st, .key(.char("g")))
        XCTAssertFalse(render(st).text.contains("In progress"), "a finished run is not in progress")
        XCTAssertEqual(reduce(&st, .key(.char("g"))), [.startTraining(.demo)], "g twice after a finished run: the demo")
        XCTAssertEqual(reduce(&st, .key(.char("g"))), [], "g asks which recipe first")
        XCTAssertTrue(st.choosingRecipe)
        XCTAssertEqual(reduce(&st, .key(.escape)), [])
        XCTAssertFalse(st.choosingRecipe); XCTAssertEqual(st.message, "no training started")
        // A periodic save after w's replaces w's message, which would otherwise name an older step.
        var saving = RunnerSnapshot(); saving.train = TrainMetrics(); saving.running = true
        saving.train?.lastSaved = "/tmp/t.safetensors (step 318)"; saving.message = "checkpoint saved to /tmp/t.safetensors (step 318)"
        _ = reduce(&st, .trainEngine(saving))
        XCTAssertEqual(st.message, "checkpoint saved to /tmp/t.safetensors (step 318)")
        saving.train?.lastSaved = "/tmp/t.safetensors (step 500)"
        _ = reduce(&st, .trainEngine(saving))
        XCTAssertEqual(st.message, "checkpoint saved to /tmp/t.safetensors (step 500)")
        st.message = "an answer to a key"
        saving.train?.lastSaved = "/tmp/t.safetensors (step 1000)"
        _ = reduce(&st, .trainEngine(saving))
        XCTAssertEqual(st.message, "an answer to a key", "other messages stay")
        st.trainSnapshot?.running = false; st.trainSnapshot?.finished = true
        // q in the menu cancels it rather than quitting the explorer (a lecture's run would go with it).
        _ = reduce(&st, .key(.char("g")))
        XCTAssertEqual(reduce(&st, .key(.char("q"))), [])
        XCTAssertFalse(st.choosingRecipe || st.quitting); XCTAssertEqual(st.message, "no training started (q again quits)")
        _ = reduce(&st, .key(.char("g")))
        XCTAssertEqual(reduce(&st, .key(.char("f"))), [.startTraining(.full)])
        _ = reduce(&st, .key(.char("g")))
        XCTAssertEqual(reduce(&st, .key(.char("d"))), [.startTraining(.demo)])
        // A held g (keys of one burst, before the new run's engine reports): the run just started is in
        // progress, so g g does not stop it and start another (it started one every second g, each
        // saved a step-1 checkpoint, and the screen said no run); the engine's state from before
        // it took the start does not replace the run on screen, its first report does.
        var burst = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        burst.trainingAvailable = true
        burst.screen = .train
        XCTAssertEqual(reduce(&burst, .key(.char("g"))), [])
        XCTAssertEqual(reduce(&burst, .key(.char("g"))), [.startTraining(.demo)])
        XCTAssertTrue(burst.trainStartPending, "in progress from the start (the app clears it if the start fails)")
        for _ in 0..<10 { XCTAssertEqual(reduce(&burst, .key(.char("g"))), []) }
        XCTAssertTrue(burst.trainingInProgress)
        _ = reduce(&burst, .trainEngine(RunnerSnapshot()))
        XCTAssertTrue(burst.trainingInProgress && burst.trainSnapshot == nil, "a report from before the start is not the run")
        var started = RunnerSnapshot(); started.train = TrainMetrics(); started.running = true
        _ = reduce(&burst, .trainEngine(started))
        XCTAssertFalse(burst.trainStartPending)
        XCTAssertTrue(burst.trainingInProgress)
        XCTAssertEqual(ExplorerApp.numbered("ddpm-train.safetensors", 2), "ddpm-train-2.safetensors")
        // A second run after `train --tui --out demo.safetensors` is numbered from that name.
        let dir = NSTemporaryDirectory() + "free-train-out-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/demo.safetensors", contents: Data())
        XCTAssertEqual(ExplorerApp.freeTrainOut(dir + "/demo.safetensors"), dir + "/demo-2.safetensors")
        // The run in progress, not written yet, takes its name as well (the menu says where the next saves),
        // however it is spelled.
        FileManager.default.createFile(atPath: dir + "/demo-2.safetensors", contents: Data())
        XCTAssertEqual(ExplorerApp.freeTrainOut(dir + "/demo.safetensors", besides: dir + "/./demo-3.safetensors"),
                       dir + "/demo-4.safetensors")
        // The menu names that file.
        var named = st
        named.screen = .train; named.choosingRecipe = true
        _ = reduce(&named, .nextTrainOut("demo-4.safetensors"))
        XCTAssertTrue(render(named).lines().contains { $0.contains("│    demo-4.safetensors ") }, render(named).text)
        // At 80 columns a long path keeps its end, the name that tells the runs apart.
        named.width = 80; named.height = 24
        _ = reduce(&named, .nextTrainOut("/home/lecturer/courses/generative-models/week-3/live-demo/runs/ddpm-train-12.safetensors"))
        XCTAssertTrue(render(named).lines().contains { $0.contains("│    …") && $0.contains("/runs/ddpm-train-12.safetensors │") }, render(named).text)
    }

    /// `f` pressed just after t, T or r: the screen still shows the run before the restart, so it asks for
    /// a step the new run has not reached. The engine refuses it (it read past the new recording and
    /// the explorer died, SIGILL), says why, and the screen drops the fork it drew ahead of the answer.
    func testForkOfAStepTheRestartedRunLacksIsRefused() throws {
        let r = try AppTests.smallRunner(T: 40)
        r.handle(.startSampling(SamplerSettings(), n: 2, seed: 4))
        for _ in 0..<12 { r.tick() }
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule(T: 40))
        st.snapshot = r.snapshot
        var warmer = SamplerSettings(); warmer.temperature = 1.1
        r.handle(.retemper(warmer))
        r.tick()
        XCTAssertEqual(r.snapshot.history.count, 1, "the new run has taken one step")
        let ask = reduce(&st, .key(.char("f")))
        XCTAssertEqual(ask, [.command(.fork(st.settings, at: 12))], "f asks for the step the screen shows")
        XCTAssertTrue(st.forking && st.message?.hasPrefix("forked after") == true)
        for case .command(let c) in ask { r.handle(c) }
        XCTAssertNil(r.snapshot.forkSettings)
        XCTAssertEqual(r.snapshot.refusals, 1)
        XCTAssertEqual(r.snapshot.message, "not forked: the run started again before f arrived; f forks the new run")
        _ = reduce(&st, .engine(r.snapshot))
        XCTAssertFalse(st.forking, "no fork on screen")
        XCTAssertFalse(st.forkFocus)
        XCTAssertEqual(st.message, r.snapshot.message)
        // The run goes on, and f now forks it.
        r.tick()
        _ = reduce(&st, .engine(r.snapshot))
        for case .command(let c) in reduce(&st, .key(.char("f"))) { r.handle(c) }
        XCTAssertNotNil(r.snapshot.forkSettings)
        XCTAssertEqual(r.snapshot.refusals, 1)
    }
}
