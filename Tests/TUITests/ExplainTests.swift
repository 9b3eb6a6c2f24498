// ExplainTests.swift: what the sample view explains is right (issue #19): the
// equation panel's numbers against hand computations from the schedule's
// definition, the status line at every width, the layout at 80x24.
import XCTest
@testable import Engine
@testable import TUI

final class ExplainTests: XCTestCase {
    /// A recorded step at `t` (to `tNext`) with `settings`, 4 ring digits.
    func frame(t: Int, tNext: Int, _ settings: SamplerSettings) -> RecordedFrame {
        let d = ringDigit()
        let f = Frame(step: 0, totalSteps: 1, t: t, tNext: tNext, n: 1, size: 28, xt: d, x0: d, xNext: [],
                      eps: Stats(), x0Outside: 0, settings: settings)
        return RecordedFrame(f, keep: 1)
    }

    /// The linear schedule's tables by hand: beta_t = 1e-4 + (0.02 - 1e-4) t / 999, abar_t = prod (1 - beta_s).
    func hand(_ t: Int) -> (beta: Double, abar: Double) {
        let beta = { (s: Int) in 1e-4 + (0.02 - 1e-4) * Double(s) / 999 }
        return (beta(t), (0...t).reduce(1.0) { $0 * (1 - beta($1)) })
    }

    /// The panel's lines as drawn (its non-breaking spaces as spaces).
    func texts(_ f: RecordedFrame, unicode: Bool = true) throws -> String {
        shown(EquationPanel.lines(f, schedule: try NoiseSchedule(), unicode: unicode))
    }

    func shown(_ lines: [EquationPanel.Line]) -> String {
        lines.map { $0.text.replacingOccurrences(of: EquationPanel.nbsp, with: " ") }.joined(separator: "\n")
    }

    /// A model that predicts v or x0: the panel says how ε̂ comes from its output
    /// (the bundled model predicts v); an ε model's panel has no such line.
    func testEquationSaysWhatTheNetworkPredicts() throws {
        let f = frame(t: 500, tNext: 499, SamplerSettings()), sch = try NoiseSchedule()
        func text(_ o: Objective, _ u: Bool) -> String {
            shown(EquationPanel.lines(f, schedule: sch, unicode: u, objective: o))
        }
        XCTAssertTrue(text(.v, true).contains("the net predicts v̂; ε̂ = √ᾱ_t·v̂ + √(1-ᾱ_t)·x_t"), text(.v, true))
        XCTAssertTrue(text(.v, false).contains("the net predicts v^; eps^ = sqrt(abar_t)*v^ + sqrt(1-abar_t)*x_t"), text(.v, false))
        XCTAssertTrue(text(.x0, true).contains("the net predicts x̂0"), text(.x0, true))
        XCTAssertFalse(text(.eps, true).contains("the net predicts"), text(.eps, true))
        XCTAssertEqual(text(.eps, true), try texts(f))
        // A self-conditioned model also reads the step before's x̂0 (none on the first step).
        let later = shown(EquationPanel.lines(f, schedule: sch, unicode: true, previousT: 501, objective: .v, selfConditioned: true))
        XCTAssertTrue(later.contains("the net also reads x̂0 from t=501"), later)
        let first = shown(EquationPanel.lines(f, schedule: sch, unicode: false, objective: .v, selfConditioned: true))
        XCTAssertTrue(first.contains("the net also reads x0^: none yet"), first)
        XCTAssertFalse(text(.v, true).contains("also reads"))
    }

    func testDDPMEquationHasThisStepsNumbers() throws {
        let t = 500, (beta, abar) = hand(t)
        let text = try texts(frame(t: t, tNext: t - 1, SamplerSettings()))
        XCTAssertTrue(text.contains("DDPM step t=500 → 499"), text)
        XCTAssertTrue(text.contains("x_{t-1}=a·(x_t-b·ε̂)+σ_t·z"), text)
        XCTAssertTrue(text.contains(String(format: "a = 1/√α_t = %.5f", 1 / (1 - beta).squareRoot())), text)
        XCTAssertTrue(text.contains(String(format: "b = β_t/√(1-ᾱ_t) = %.5f", beta / (1 - abar).squareRoot())), text)
        XCTAssertTrue(text.contains(String(format: "σ_t = √β_t = %.5f", beta.squareRoot())), text)
        // The other variance's σ_t beside it (at t = 500 they differ in the fourth decimal).
        let prev = hand(t - 1).abar, tilde = (beta * (1 - prev) / (1 - abar)).squareRoot()
        XCTAssertTrue(text.contains(String(format: "(√β̃_t = %.5f)", tilde)), text)
        // In ASCII the other σ_t is named as a square root too (it read "(beta~ = 0.11483)", β̃ itself off by 9x).
        let ascii = try texts(frame(t: t, tNext: t - 1, SamplerSettings()), unicode: false)
        XCTAssertTrue(ascii.contains(String(format: "(sqrt(beta~_t) = %.5f)", tilde)), ascii)
        // At large t they agree to the digits shown: said, not two equal numbers (v seemed to do nothing).
        let early = try texts(frame(t: 994, tNext: 993, SamplerSettings()))
        XCTAssertTrue(early.contains("(√β̃_t: equal here, not near t=0)"), early)
        XCTAssertTrue(text.contains(String(format: "β_t=%.5f", beta)) && text.contains(String(format: "ᾱ_t=%.5f", abar)), text)
        // The posterior variance and the clipped form: mu~ = a x0^ + b x_t.
        var set = SamplerSettings(); set.variance = .posterior; set.clip = true; set.noiseTemperature = 0.5
        let clipped = try texts(frame(t: t, tNext: t - 1, set))
        XCTAssertTrue(clipped.contains(String(format: "= %.5f", prev.squareRoot() * beta / (1 - abar))), clipped)
        XCTAssertTrue(clipped.contains(String(format: "= %.5f", (1 - beta).squareRoot() * (1 - prev) / (1 - abar))), clipped)
        XCTAssertTrue(clipped.contains(String(format: "σ_t = √β̃_t = %.5f", (beta * (1 - prev) / (1 - abar)).squareRoot())), clipped)
        XCTAssertTrue(clipped.contains("z ~ 0.5·N(0, I)"), clipped)
        XCTAssertTrue(clipped.contains(String(format: "(√β_t = %.5f)", beta.squareRoot())), clipped)
        // The last step adds no noise.
        let last = try texts(frame(t: 0, tNext: -1, SamplerSettings()))
        XCTAssertTrue(last.contains("σ_t = 0 (last step: no z)") && !last.contains("z ~"), last)
        // There the chapter's equations would read x_{-1}: the panel says how its t counts.
        XCTAssertTrue(last.contains("(t counts from 0 as in the chapter's code: this is its equations' step t=1 → x_0)") && !last.contains("(√β̃_t"), last)
        XCTAssertFalse(text.contains("t counts from 0"), "only on the last step")
    }

    func testDDIMEquationHasThisStepsNumbers() throws {
        var set = SamplerSettings(kind: .ddim, steps: 50); set.eta = 0.5
        let (ab, abPrev) = (hand(500).abar, hand(480).abar)
        let sigma = 0.5 * ((1 - abPrev) / (1 - ab)).squareRoot() * (1 - ab / abPrev).squareRoot()
        let text = try texts(frame(t: 500, tNext: 480, set))
        XCTAssertTrue(text.contains("DDIM step t=500 → 480  η=0.5"), text)
        XCTAssertTrue(text.contains(String(format: "a = √ᾱ_prev = %.5f", abPrev.squareRoot())), text)
        XCTAssertTrue(text.contains(String(format: "d = √(1-ᾱ_prev-σ²) = %.5f", (1 - abPrev - sigma * sigma).squareRoot())), text)
        XCTAssertTrue(text.contains(String(format: "= %.5f", sigma)), text)
        XCTAssertTrue(text.contains("z ~ N(0, I)"), text)
        // The last DDIM step goes to the clean image: abar_prev = 1, no noise.
        let last = try texts(frame(t: 0, tNext: -1, set))
        XCTAssertTrue(last.contains("→ final") && last.contains("a = √ᾱ_prev = 1.00000") && !last.contains("z ~"), last)
        // LANG=C: the same numbers, spelled in ASCII.
        let ascii = try texts(frame(t: 500, tNext: 480, set), unicode: false)
        XCTAssertTrue(ascii.allSatisfy(\.isASCII), ascii)
        XCTAssertTrue(ascii.contains(String(format: "a = sqrt(abar_prev) = %.5f", abPrev.squareRoot())), ascii)
    }

    /// The panel shows the numbers of the step on screen (scrubbed too), with the settings that step used.
    func testEquationPanelFollowsTheShownStep() throws {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = AppTests.fakeSnapshot(steps: 5)
        _ = reduce(&st, .key(.char("=")))
        XCTAssertTrue(st.showEquation)
        XCTAssertTrue(render(st).text.contains("DDPM step t=995 → 994"), render(st).text)
        XCTAssertFalse(render(st).text.contains("changed:"), render(st).text)
        // A setting changed after the shown step (paused, say): the panel keeps
        // the step taken and says what the next one uses, as the status line does.
        _ = reduce(&st, .key(.char("v")))
        XCTAssertNotEqual(st.settings.variance, st.snapshot.history.last!.settings.variance)
        func next() -> String? { EquationPanel.nextStepChange(st, shown: st.snapshot.history.last!, isLast: true)?.text }
        let changed = "changed: the next step uses " + describe(st.settings)
        XCTAssertEqual(next(), changed)
        XCTAssertTrue(render(st).text.contains("changed:") && render(st).text.contains("DDPM step t=995 → 994"), render(st).text)
        _ = reduce(&st, .key(.char("c")))
        XCTAssertEqual(next(), changed + ", clip on")
        st.snapshot.running = false; st.snapshot.finished = true
        XCTAssertNil(next(), "a finished run takes no next step")
        st.snapshot.running = true; st.snapshot.finished = false
        _ = reduce(&st, .key(.home))
        XCTAssertEqual(st.scrub, 0)
        XCTAssertTrue(render(st).text.contains("DDPM step t=999 → 998"))
        XCTAssertFalse(render(st).text.contains("changed:"), "a scrubbed-back step is not followed by the next one")
        _ = reduce(&st, .key(.char("=")))
        XCTAssertFalse(render(st).text.contains("DDPM step"))
    }

    /// At every width the status line fits and keeps where the run is and whether it runs.
    func testStatusLineKeepsRunStateAtEveryWidth() throws {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = AppTests.fakeSnapshot()
        st.speedIndex = 0
        for w in 50...220 {
            for caps in [TermCaps.full, .ascii] {
                st.caps = caps
                let line = SampleView.statusLine(st, width: w)
                XCTAssertLessThanOrEqual(line.count, w, line)
                XCTAssertTrue(line.contains("t=997"), "width \(w): \(line)")
                XCTAssertTrue(line.contains("run"), "width \(w): \(line)")
                if w >= 80 { XCTAssertTrue(line.contains("running") && line.contains("temp 1.0"), "width \(w): \(line)") }
                // The renderer as drawn: without UTF-8 every mode draws ASCII.
                if w >= 130 { XCTAssertTrue(line.contains("st/s (limit)") && line.contains(caps.unicode ? "half-block" : "ascii"), "width \(w): \(line)") }
            }
        }
        // Finished: said once at every width (the short line said "done ... done").
        st.snapshot.running = false; st.snapshot.finished = true
        st.snapshot.final = Array(repeating: 0, count: 4 * 784)
        for w in 50...220 {
            let line = SampleView.statusLine(st, width: w)
            XCTAssertTrue(line.contains("done"), "width \(w): \(line)")
            XCTAssertEqual(line.components(separatedBy: "done").count, 2, "width \(w): \(line)")
        }
    }

    /// DPM-Solver++'s last step goes to lambda = infinity: in the narrowest
    /// panel the arrow stays with it when the line wraps.
    func testEquationPanelKeepsTheArrowWithInfinity() throws {
        for (caps, want) in [(TermCaps.full, "→ ∞"), (.ascii, "-> inf")] {
            var st = AppState(caps: caps, width: 80, height: 40, schedule: try NoiseSchedule())
            st.snapshot.history = [frame(t: 20, tNext: -1, SamplerSettings(kind: .dpmpp, steps: 20))]
            for w in 20...34 {
                var buf = CellBuffer(width: w, height: 30)
                _ = EquationPanel.render(st, &buf, x: 0, y: 0, w: w, h: 30)
                let rows = buf.lines()
                XCTAssertTrue(rows.contains { $0.contains(want) }, "width \(w):\n" + rows.joined(separator: "\n"))
            }
            // Before the last step the panel gives h, the step in λ, as a number (README says so).
            st.snapshot.history = [frame(t: 500, tNext: 450, SamplerSettings(kind: .dpmpp, steps: 20))]
            var buf = CellBuffer(width: 40, height: 30)
            _ = EquationPanel.render(st, &buf, x: 0, y: 0, w: 40, h: 30)
            let c = DPMSolverStep.coefficients(try NoiseSchedule(), t: 500, tNext: 450, tPrev: nil)
            XCTAssertTrue(buf.text.contains("h = " + String(format: "%.5f", c.h)), "h = \(c.h):\n" + buf.text)
            // Its α is √ᾱ_t, not the DDPM panel's α_t = 1 - β_t: said where it is used.
            XCTAssertTrue(buf.text.contains(caps.unicode ? "here α = √ᾱ_t, σ = √(1-ᾱ_t)" : "here alpha = sqrt(abar_t),"), buf.text)
        }
    }

    /// A narrow status line keeps a noise temperature the sampler uses, or
    /// clipping, that the user changed longer than the same fields at their
    /// defaults, and spells the fields out in full at 80 columns.
    func testStatusLineKeepsChangedSettingsLonger() throws {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = AppTests.fakeSnapshot()
        st.speedIndex = 0
        // Too long in full at 80 columns (a finished run, another sampler next): the short spelling
        // keeps what matters and leaves out the speed and the renderer.
        var pending = st
        pending.snapshot.running = false; pending.snapshot.finished = true
        pending.settings = SamplerSettings(kind: .ddim, steps: 20); pending.mode = .braille
        let short = SampleView.statusLine(pending, width: 80)
        XCTAssertTrue(short.contains("DDIM 20 η") && !short.contains("braille") && !short.contains("/s"), short)
        let narrower = SampleView.statusLine(pending, width: 60)
        XCTAssertTrue(narrower.contains("(r: DDIM 20 η0.0)") && !narrower.contains("braille") && !narrower.contains("/s"), narrower)
        var changed = st
        changed.settings.noiseTemperature = 0.5; changed.settings.clip = true
        let line = SampleView.statusLine(changed, width: 80)
        XCTAssertTrue(line.contains("noise 0.5 │") && line.contains("clip on") && line.contains("temp 1.0") && line.contains("seed 0"), line)
        // The first width (going down) at which the default noise is dropped still shows the changed one, and the clip.
        let w = try XCTUnwrap((30...80).reversed().first { w in
            let d = SampleView.statusLine(st, width: w)
            return !d.contains("noise") && !d.contains("n1.0")
        })
        let narrow = SampleView.statusLine(changed, width: w)
        XCTAssertTrue((narrow.contains("noise 0.5") || narrow.contains("n0.5")) && narrow.contains("clip"), "width \(w): \(narrow)")
        // DDIM with eta 0 draws no noise: its noise temperature is not promoted.
        var ddim = changed
        ddim.settings = SamplerSettings(kind: .ddim, steps: 50, noiseTemperature: 0.5)
        let plain = st
        var ddimDefault = plain; ddimDefault.settings = SamplerSettings(kind: .ddim, steps: 50)
        for w in 30...80 {
            let a = SampleView.statusLine(ddimDefault, width: w), b = SampleView.statusLine(ddim, width: w)
            XCTAssertEqual(a.contains("noise") || a.contains("n1.0"), b.contains("noise") || b.contains("n0.5"), "width \(w): \(a) / \(b)")
        }
    }

    /// 80x24 shows 4 of 16 digits per grid (2 columns, 2 rows); 120x40 more.
    func testDigitsPerGrid() throws {
        for (w, h, want) in [(80, 24, 4), (120, 40, 12), (200, 60, 16)] {
            var st = AppState(caps: .full, width: w, height: h, schedule: try NoiseSchedule())
            var snap = AppTests.fakeSnapshot()
            snap.n = 16
            snap.history = snap.history.map { f in
                let d = ringDigit()
                return RecordedFrame(Frame(step: f.step, totalSteps: 1000, t: f.t, tNext: f.tNext, n: 16, size: 28,
                                           xt: Array(repeating: d, count: 16).flatMap { $0 }, x0: Array(repeating: d, count: 16).flatMap { $0 },
                                           xNext: [], eps: Stats(), x0Outside: 0), keep: 16)
            }
            st.snapshot = snap
            let text = render(st).text
            if want < 16 { XCTAssertTrue(text.contains("showing \(want) of 16"), "\(w)x\(h):\n\(text)") }
            else { XCTAssertFalse(text.contains("showing"), "\(w)x\(h):\n\(text)") }
        }
    }

    /// x_t is drawn on ±(sqrt(abar_t) + 2.5 sqrt(1 - abar_t)): ±1 at t = 0, about ±2.5 at t = T-1.
    func testXtRangeDependsOnT() throws {
        let s = try NoiseSchedule()
        XCTAssertEqual(s.xtDisplayRange(t: 0), Float(s.alphasCumprod[0].squareRoot() + 2.5 * (1 - s.alphasCumprod[0]).squareRoot()))
        XCTAssertLessThan(abs(s.xtDisplayRange(t: 0) - 1), 0.03)
        XCTAssertLessThan(abs(s.xtDisplayRange(t: 999) - 2.5), 0.01)
        XCTAssertLessThan(abs(s.xtDisplayRange(t: 999, temperature: 1.5) - 3.75), 0.02)
    }

    /// 8 colours: the four schedules' curves stay four colours, and axes are not black.
    func testEightColourPalette() {
        let curves = ForwardView.colors.map { Terminal.reduce($0, 8) }
        XCTAssertEqual(Set(curves).count, 4, "\(curves)")
        XCTAssertFalse(curves.contains(0))
        XCTAssertNotEqual(Terminal.reduce(244, 8), 0, "axes")
        XCTAssertEqual(Terminal.reduce(16, 8), 0); XCTAssertEqual(Terminal.reduce(231, 8), 7)
        XCTAssertEqual(Set(ForwardView.colors.map { Terminal.reduce($0, 16) }).count, 4)
    }
}

/// `ddpm eval`'s verdict lines: below `verdictMinimum` samples a bootstrap
/// interval says more than the set can (two images resample to one FD), so
/// no "better" is claimed; from it on, the paired intervals decide.
final class EvalVerdictTests: XCTestCase {
    func scores(fd: Double, spread: Double, confident: Int, n: Int) -> Evaluation.Scores {
        Evaluation.Scores(values: ["frechet": fd, "kid": fd / 1000], n: n, confident: confident,
                          frechetReplicates: (0..<200).map { fd + spread * sin(Double($0)) },
                          kernelReplicates: (0..<200).map { (fd + spread * sin(Double($0))) / 1000 })
    }

    func testNoVerdictFromTooFewSamples() {
        let n = EvalCommand.verdictMinimum
        // Two sets whose FDs differ by far more than their (degenerate) spread.
        let a = scores(fd: 2597.8, spread: 0, confident: 2, n: 2), b = scores(fd: 3986, spread: 0, confident: 0, n: 2)
        let few = EvalCommand.verdict("generated", a, "real", b)
        XCTAssertTrue(few.contains("too few samples to tell (n = 2"), few)
        XCTAssertFalse(few.contains("better"), few)
        let many = EvalCommand.verdict("generated", scores(fd: 40, spread: 2, confident: 30, n: n), "real",
                                       scores(fd: 80, spread: 2, confident: 49, n: n))
        XCTAssertTrue(many.hasPrefix("generated - real: FD -40.00"), many)
        XCTAssertTrue(many.contains("(generated better)") && many.contains("(real better)"), many)
    }
}
