// RetakeTests.swift: a setting changed while paused applies to the step on
// screen (a frame shows x_t and the step from it, already taken), so that
// "pause, raise eta, step" shows eta's effect at once.
import XCTest
@testable import Engine
@testable import TUI

final class RetakeTests: XCTestCase {
    /// Paused after step k, a change then `retakeLast` gives bit for bit the
    /// run whose settings changed before step k: the same frames (x_t, x̂0,
    /// t, where it went, the settings), and the same steps after it.
    func testARetakenStepIsTheStepTakenWithTheNewSettings() throws {
        var eta = SamplerSettings(kind: .ddim, steps: 20); eta.eta = 0.5
        var clip = SamplerSettings(); clip.clip = true
        let changes: [(String, SamplerSettings, SamplerSettings)] = [
            ("DDIM eta 0 then 0.5", SamplerSettings(kind: .ddim, steps: 20), eta),
            ("DDPM then DDIM 10 (re-planned)", SamplerSettings(), SamplerSettings(kind: .ddim, steps: 10)),
            ("DDPM clip off then on", SamplerSettings(), clip),
            // DPM-Solver++'s second-order step reads the x̂0 of the step before, which DDIM's state did not keep.
            ("DDIM then DPM++ 10 (second order)", SamplerSettings(kind: .ddim, steps: 20), SamplerSettings(kind: .dpmpp, steps: 10)),
        ]
        for selfCondition in [false, true] {
            for (what, set, later) in changes {
                let paused = try AppTests.smallRunner(T: 40, selfCondition: selfCondition)
                paused.handle(.startSampling(set, n: 2, seed: 4))
                for _ in 0..<5 { paused.tick() }
                paused.handle(.pause)
                let shown = paused.snapshot.history[4]
                paused.handle(.setSettings(later))
                paused.handle(.retakeLast(fork: false))
                XCTAssertEqual(paused.snapshot.history.count, 5, "\(what): the step is taken again, not added")
                let retaken = paused.snapshot.history[4]
                XCTAssertEqual(retaken.xt, shown.xt, "\(what): the x_t on screen stays")
                XCTAssertEqual(retaken.t, shown.t)
                XCTAssertEqual(retaken.settings, later, "\(what): the step on screen now uses the new settings")
                for _ in 0..<3 { paused.tick(force: true) }

                let before = try AppTests.smallRunner(T: 40, selfCondition: selfCondition)
                before.handle(.startSampling(set, n: 2, seed: 4))
                for _ in 0..<4 { before.tick() }
                before.handle(.setSettings(later))
                for _ in 0..<4 { before.tick() }
                let a = paused.snapshot.history, b = before.snapshot.history
                XCTAssertEqual(paused.snapshot.timesteps, before.snapshot.timesteps, "\(what): the run's plan (its length on the status line)")
                XCTAssertEqual(a.count, b.count, what)
                for (i, (x, y)) in zip(a, b).enumerated() {
                    XCTAssertEqual(x.t, y.t, "\(what), self-conditioned \(selfCondition): step \(i)")
                    XCTAssertEqual(x.tNext, y.tNext, "\(what): step \(i)")
                    XCTAssertEqual(x.settings, y.settings, "\(what): step \(i)")
                    XCTAssertEqual(x.xt, y.xt, "\(what), self-conditioned \(selfCondition): step \(i) x_t bit for bit")
                    XCTAssertEqual(x.x0, y.x0, "\(what), self-conditioned \(selfCondition): step \(i) x̂0 bit for bit")
                }
                if set.kind != later.kind { XCTAssertNotEqual(shown.tNext, a[4].tNext, "\(what): the step goes where the new plan goes") }
            }
        }
    }

    /// Nothing is taken again while running, on a finished run, with unchanged
    /// settings, or on the past a fork shares with the original; the fork's
    /// own newest step is.
    func testOnlyAPausedSidesOwnNewestStepIsTakenAgain() throws {
        let r = try AppTests.smallRunner(T: 30)
        r.handle(.startSampling(SamplerSettings(), n: 2, seed: 4))
        for _ in 0..<3 { r.tick() }
        var clip = SamplerSettings(); clip.clip = true
        r.handle(.setSettings(clip))
        r.handle(.retakeLast(fork: false))
        XCTAssertEqual(r.snapshot.history.last?.settings.clip, false, "running: from the next step")
        r.handle(.pause)
        r.handle(.retakeLast(fork: false))
        XCTAssertEqual(r.snapshot.history.last?.settings.clip, true, "paused: the step on screen")
        let third = r.snapshot.history[2].x0
        r.handle(.retakeLast(fork: false))
        XCTAssertEqual(r.snapshot.history[2].x0, third, "unchanged settings: nothing to take again")

        // A fork from the step on screen: that step is the original's, shared; the fork's first own step is its own.
        r.handle(.fork(SamplerSettings(), at: 3))
        var eta = SamplerSettings(kind: .ddim, steps: 10); eta.eta = 1
        r.handle(.setForkSettings(eta))
        r.handle(.retakeLast(fork: true))
        XCTAssertEqual(r.snapshot.forkHistory.count, 3)
        XCTAssertEqual(r.snapshot.forkHistory[2].settings.kind, .ddpm, "the shared past stays the original's")
        r.handle(.setSettings(SamplerSettings()))
        r.handle(.retakeLast(fork: false))
        XCTAssertEqual(r.snapshot.history[2].settings.clip, true, "the original's step the fork started from stays")
        r.tick(force: true)
        let own = r.snapshot.forkHistory.count - 1
        XCTAssertEqual(r.snapshot.forkHistory[own].settings, eta)
        eta.eta = 0
        r.handle(.setForkSettings(eta))
        r.handle(.retakeLast(fork: true))
        XCTAssertEqual(r.snapshot.forkHistory.count, own + 1)
        XCTAssertEqual(r.snapshot.forkHistory[own].settings.eta, 0, "the fork's own newest step is taken again")

        // A finished run's last step stays.
        let done = try AppTests.smallRunner(T: 10)
        done.handle(.startSampling(SamplerSettings(), n: 1, seed: 1))
        for _ in 0..<10 { done.tick() }
        XCTAssertTrue(done.snapshot.finished)
        let final = done.snapshot.final
        done.handle(.setSettings(clip))
        done.handle(.retakeLast(fork: false))
        XCTAssertEqual(done.snapshot.final, final)
        XCTAssertEqual(done.snapshot.history.last?.settings.clip, false)
    }

    /// A step taken again that comes out not finite stops the run there, as a
    /// step taken the first time does; the stop is not undone by a later change.
    func testARetakeDoesNotGoPastANonFiniteStop() throws {
        final class Poisoned: NoisePredictor {
            let imageSize = 28
            var poison = false
            func predictNoise(_ x: UnsafePointer<Float>, t: [Int], out: UnsafeMutablePointer<Float>) {
                out.update(repeating: poison ? .nan : 0, count: t.count * imageSize * imageSize)
            }
        }
        let model = Poisoned()
        let r = Runner(model: model, schedule: try NoiseSchedule(T: 40))
        r.handle(.startSampling(SamplerSettings(kind: .ddim, steps: 10), n: 2, seed: 3))
        for _ in 0..<3 { r.tick() }
        r.handle(.pause)
        var eta = SamplerSettings(kind: .ddim, steps: 10); eta.eta = 0.5
        model.poison = true
        r.handle(.setSettings(eta))
        XCTAssertEqual(r.handle(.retakeLast(fork: false)).count, 1, "the stop is an error event")
        XCTAssertNotNil(r.snapshot.nonFinite)
        XCTAssertEqual(r.snapshot.history.count, 3)
        XCTAssertEqual(r.snapshot.history[2].settings.eta, 0, "the frame on screen stays the one taken")
        model.poison = false
        eta.eta = 0.7
        r.handle(.setSettings(eta))
        r.handle(.retakeLast(fork: false))
        XCTAssertNotNil(r.snapshot.nonFinite, "still stopped")
        XCTAssertEqual(r.snapshot.history[2].settings.eta, 0)

        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule(T: 40))
        st.settings = eta
        _ = reduce(&st, .engine(r.snapshot))
        XCTAssertFalse(reduce(&st, .key(.char("E"))).contains(.command(.retakeLast(fork: false))), "nothing to take again past the stop")
    }

    /// The explorer asks for it exactly when paused on a side with steps of its own,
    /// and says which step the change applies to.
    func testTheKeysAskForItOnlyWhenPaused() throws {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.settings = SamplerSettings(kind: .ddim, steps: 50)
        st.snapshot = AppTests.fakeSnapshot(steps: 6)
        var eta = st.settings; eta.eta = 0.1
        XCTAssertEqual(reduce(&st, .key(.char("E"))), [.command(.setSettings(eta))], "running: from the next step")
        XCTAssertTrue(st.message?.contains("from the next step") == true, st.message ?? "")

        st.snapshot.running = false
        eta.eta = 0.2
        XCTAssertEqual(reduce(&st, .key(.char("E"))), [.command(.setSettings(eta)), .command(.retakeLast(fork: false))])
        XCTAssertTrue(st.message?.contains("from the step on screen, taken again") == true, st.message ?? "")

        XCTAssertEqual(reduce(&st, .key(.char("d"))).last, .command(.retakeLast(fork: false)))
        XCTAssertTrue(st.message?.contains("from the step on screen, taken again") == true, st.message ?? "")
        XCTAssertFalse(st.message?.contains("the result of the last step") == true, st.message ?? "")

        // Scrubbed back: the newest step is taken again all the same (its result was never shown),
        // and the message says it is not the one on screen.
        _ = reduce(&st, .key(.left))
        var set = st.settings; set.clip.toggle()
        XCTAssertEqual(reduce(&st, .key(.char("c"))), [.command(.setSettings(set)), .command(.retakeLast(fork: false))])
        XCTAssertTrue(st.message?.contains("from the newest step, taken again") == true, st.message ?? "")

        // A setting the step does not use (η under DDPM) takes nothing again.
        var ddpm = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        ddpm.snapshot = AppTests.fakeSnapshot(steps: 6); ddpm.snapshot.running = false
        var unused = ddpm.settings; unused.eta = 0.1
        XCTAssertEqual(reduce(&ddpm, .key(.char("E"))), [.command(.setSettings(unused))])
        var clipped = unused; clipped.clip = true
        XCTAssertEqual(reduce(&ddpm, .key(.char("c"))), [.command(.setSettings(clipped)), .command(.retakeLast(fork: false))])

        // Playing: from the next step.
        st.snapshot.running = true
        set.clip.toggle()
        XCTAssertEqual(reduce(&st, .key(.char("c"))), [.command(.setSettings(set))])
        XCTAssertTrue(st.message?.contains("from the next step") == true, st.message ?? "")
    }
}
