// GuidanceUITests.swift: classifier guidance in the explorer — the g prompt,
// the scale keys, the fork, the equation panel and the compare rows — and the
// bundled classifier of noisy digits steering the bundled model.
import XCTest
@testable import Engine
@testable import TUI

final class GuidanceUITests: XCTestCase {
    func makeState() throws -> AppState {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = AppTests.fakeSnapshot()
        st.guideUnavailable = nil
        return st
    }

    func testGuideKeysReachTheEngineFromTheNextStep() throws {
        var st = try makeState()
        XCTAssertEqual(reduce(&st, .key(.char("g"))), [])
        XCTAssertTrue(st.choosingGuide)
        XCTAssertTrue(st.message?.contains("guide toward which digit? 0-9") ?? false, st.message ?? "")
        // The digit after g is the guide's, not a view switch.
        var want = st.settings; want.guide = 1
        XCTAssertEqual(reduce(&st, .key(.char("1"))), [.command(.setSettings(want))])
        XCTAssertEqual(st.screen, .sample)
        XCTAssertFalse(st.choosingGuide)
        XCTAssertTrue(SampleView.statusLine(st).contains("DDPM σ²=β guide 1 ×4"), SampleView.statusLine(st))
        // q at the prompt keeps the guide and the explorer.
        _ = reduce(&st, .key(.char("g")))
        XCTAssertEqual(reduce(&st, .key(.char("q"))), [])
        XCTAssertFalse(st.choosingGuide || st.quitting)
        XCTAssertEqual(st.message, "guidance unchanged: toward 1 (q again quits)")
        // > and < step through the scales; the engine gets each.
        want.guideScale = 6
        XCTAssertEqual(reduce(&st, .key(.char(">"))), [.command(.setSettings(want))])
        _ = reduce(&st, .key(.char("<"))); _ = reduce(&st, .key(.char("<")))
        XCTAssertEqual(st.settings.guideScale, 3)
        for _ in 0..<20 { _ = reduce(&st, .key(.char(">"))) }
        XCTAssertEqual(st.settings.guideScale, AppState.guideScales.last)
        XCTAssertEqual(reduce(&st, .key(.char(">"))), [], "past the end: nothing sent")
        XCTAssertTrue(st.message?.contains("is the largest") ?? false, st.message ?? "")
        // Esc keeps the guide; g x turns it off.
        _ = reduce(&st, .key(.char("g")))
        XCTAssertEqual(reduce(&st, .key(.escape)), [])
        XCTAssertEqual(st.settings.guide, 1)
        var quitting = st
        _ = reduce(&quitting, .key(.char("g")))
        XCTAssertEqual(reduce(&quitting, .key(.char("q"))), [], "q at the prompt closes the prompt")
        XCTAssertEqual(reduce(&quitting, .key(.char("q"))), [.quit], "and q again quits")
        _ = reduce(&st, .key(.char("g")))
        want = st.settings; want.guide = nil
        XCTAssertEqual(reduce(&st, .key(.char("x"))), [.command(.setSettings(want))])
        XCTAssertFalse(SampleView.statusLine(st).contains("→"))
        // Without a terminal that speaks UTF-8 the status line says "guide".
        _ = reduce(&st, .key(.char("g"))); _ = reduce(&st, .key(.char("7")))
        st.caps = .ascii
        XCTAssertTrue(SampleView.statusLine(st).contains("guide 7 x100"), SampleView.statusLine(st))
    }

    /// Guidance turned on mid-run: the status line says from which step (the steps before ran unguided).
    func testGuidanceTurnedOnMidRunNamesItsStart() throws {
        var st = try makeState()
        st.settings.guide = 7
        func guided(from k: Int) -> [RecordedFrame] {
            st.snapshot.history.enumerated().map { i, f in
                var set = f.settings
                set.guide = i >= k ? 7 : nil
                return RecordedFrame(step: f.step, t: f.t, tNext: f.tNext, n: f.n, size: f.size, settings: set, xt: f.xt, x0: f.x0,
                                     eps: f.eps, x0Outside: f.x0Outside, readings: f.readings)
            }
        }
        st.snapshot.history = guided(from: 2)
        XCTAssertTrue(SampleView.statusLine(st).contains("DDPM σ²=β guide 7 ×4 from t=997"), SampleView.statusLine(st))
        // Another digit later: from the step the present guidance began at.
        st.snapshot.history = guided(from: 1).enumerated().map { i, f in
            var set = f.settings
            if i == 1 { set.guide = 3 }
            return RecordedFrame(step: f.step, t: f.t, tNext: f.tNext, n: f.n, size: f.size, settings: set, xt: f.xt, x0: f.x0,
                                 eps: f.eps, x0Outside: f.x0Outside, readings: f.readings)
        }
        XCTAssertTrue(SampleView.statusLine(st).contains("guide 7 ×4 from t=997"), SampleView.statusLine(st))
        st.snapshot.history = guided(from: 0)
        XCTAssertTrue(SampleView.statusLine(st).contains("DDPM σ²=β guide 7 ×4"), SampleView.statusLine(st))
        XCTAssertFalse(SampleView.statusLine(st).contains("from t="), SampleView.statusLine(st))
    }

    func testGuideActsOnTheForkAndIsRefusedWithoutItsClassifier() throws {
        var st = try makeState()
        _ = reduce(&st, .key(.char("f")))
        XCTAssertTrue(st.forkFocus)
        _ = reduce(&st, .key(.char("g")))
        var want = st.snapshot.forkSettings!; want.guide = 4
        XCTAssertEqual(reduce(&st, .key(.char("4"))), [.command(.setForkSettings(want))])
        XCTAssertNil(st.settings.guide, "the original stays unguided")
        XCTAssertEqual(st.screen, .sample)
        // No classifier of noisy digits: g and < > say why and change nothing.
        var none = try makeState()
        none.guideUnavailable = "file not found"
        for k in ["g", "<", ">"] {
            XCTAssertEqual(reduce(&none, .key(.char(Character(k)))), [])
            XCTAssertEqual(none.message, "guidance: file not found")
            XCTAssertFalse(none.choosingGuide)
        }
        // A replay has no model to guide.
        var replay = try makeState()
        replay.replay = "run.ddpmtraj"
        _ = reduce(&replay, .key(.char("g")))
        XCTAssertTrue(replay.message?.contains("needs the model") ?? false, replay.message ?? "")
    }

    /// The panel's guidance line with this step's numbers: s σ_t² (DDPM) or s √(1 − ᾱ_t) (DDIM).
    func testEquationPanelShowsTheGuidance() throws {
        let sch = try NoiseSchedule()
        let h = AppTests.fakeSnapshot().history[1]
        func frame(_ set: SamplerSettings) -> RecordedFrame {
            RecordedFrame(step: h.step, t: h.t, tNext: h.tNext, n: h.n, size: h.size, settings: set, xt: h.xt, x0: h.x0,
                          eps: h.eps, x0Outside: h.x0Outside, readings: h.readings)
        }
        // The panel draws its non-breaking spaces as spaces.
        func texts(_ f: RecordedFrame, unicode: Bool) -> [String] {
            EquationPanel.lines(f, schedule: sch, unicode: unicode).map { $0.text.replacingOccurrences(of: EquationPanel.nbsp, with: " ") }
        }
        var f = frame(SamplerSettings(kind: .ddpm, guide: 7, guideScale: 2))
        var text = texts(f, unicode: true)
        XCTAssertTrue(text.contains("guided: mean += s·σ_t²·∇log p(7|x_t)"), "\(text)")
        XCTAssertTrue(text.contains(String(format: "s·σ_t² = %.5f, s = 2", 2 * sch.betas[f.t])), "\(text)")
        f = frame(SamplerSettings(kind: .ddim, steps: 50, guide: 3, guideScale: 4))
        text = texts(f, unicode: false)
        XCTAssertTrue(text.contains("guided: eps^ = eps_theta - scale*sqrt(1-abar_t) * grad log p(3|x_t)"), "\(text)")
        XCTAssertTrue(text.contains(String(format: "scale*sqrt(1-abar_t) = %.5f, scale = 4", 4 * sch.sqrtOneMinusAlphasCumprod[f.t])), "\(text)")
        f = frame(SamplerSettings(kind: .ddim, steps: 50))
        XCTAssertFalse(EquationPanel.lines(f, schedule: sch, unicode: true).contains { $0.text.contains("guided") })
        // In the narrowest panel (26 columns) a wrapped line keeps the gradient whole.
        for (caps, g) in [(TermCaps.full, "∇log p(7|x_t)"), (.ascii, "grad log p(7|x_t)")] {
            for kind in [SamplerKind.ddpm, .ddim] {
                var st = AppState(caps: caps, width: 80, height: 40, schedule: sch)
                st.snapshot.history = [frame(SamplerSettings(kind: kind, steps: 50, guide: 7, guideScale: 2))]
                var buf = CellBuffer(width: 26, height: 30)
                _ = EquationPanel.render(st, &buf, x: 0, y: 0, w: 26, h: 30)
                let rows = buf.lines()
                XCTAssertTrue(rows.contains { $0.contains(g) }, rows.joined(separator: "\n"))
                XCTAssertFalse(rows.joined().contains(EquationPanel.nbsp))
            }
        }
    }

    /// A guided DDIM step in ASCII in a panel 34 wide (80 columns), at heights
    /// 8 to 24 (80x24 gives it 21 rows): the panel ends on whole lines: every
    /// formula it starts it finishes, σ's fraction is never broken inside its
    /// brackets, and the grey notes give way top down: at 19 rows the v note
    /// (3 rows) is left out while the one-row self-conditioning note after it stays.
    func testGuidedEquationPanelEndsOnWholeLines() throws {
        let sch = try NoiseSchedule()
        let h = AppTests.fakeSnapshot().history[1]
        let set = SamplerSettings(kind: .ddim, steps: 50, guide: 7, guideScale: 4)
        let f = RecordedFrame(step: h.step, t: h.t, tNext: h.tNext, n: h.n, size: h.size, settings: set, xt: h.xt, x0: h.x0,
                              eps: h.eps, x0Outside: h.x0Outside, readings: h.readings)
        var st = AppState(caps: .ascii, width: 80, height: 24, schedule: sch)
        st.snapshot.history = [h, f]; st.settings = set; st.objective = .v; st.selfConditioned = true
        for rowsFree in 8...24 {
            var buf = CellBuffer(width: 34, height: rowsFree)
            let used = EquationPanel.render(st, &buf, x: 0, y: 0, w: 34, h: rowsFree)
            let rows = Array(buf.lines().prefix(used))
            let all = rows.joined(separator: "\n")
            XCTAssertTrue(rows[0].hasPrefix("DDIM step t="), all)
            // Rows joined back into lines (a continuation row starts with two spaces, then the text) are whole lines.
            var merged: [String] = []
            for r in rows {
                let cont = r.hasPrefix("  ") && !merged.isEmpty
                if cont { merged[merged.count - 1] += " " + r.trimmingCharacters(in: .whitespaces) } else { merged.append(r) }
            }
            let whole = EquationPanel.lines(f, schedule: sch, unicode: false, previousT: h.t, objective: .v, selfConditioned: true)
                .map { $0.text.replacingOccurrences(of: EquationPanel.nbsp, with: " ").split(whereSeparator: { $0 == " " || $0 == "\n" })
                    .joined(separator: " ") }
            for m in merged {
                XCTAssertTrue(whole.contains(m.split(separator: " ").joined(separator: " ")), "not a whole line: \(m)\n\(all)")
            }
            for (i, r) in rows.enumerated() where r.hasPrefix("sigma = ") {
                XCTAssertTrue(r == "sigma = eta*sqrt(1-abar_prev)" && i + 2 < rows.count && rows[i + 1] == "    / sqrt(1-abar_t)"
                              && rows[i + 2].hasPrefix("    *sqrt(1-abar_t/abar_prev)"), all)
            }
            if let g = rows.firstIndex(where: { $0.hasPrefix("guided: eps^") }) {
                XCTAssertTrue(rows[g...].contains { $0.contains("grad log p(7|x_t)") }, "a guided formula cut: \(all)")
            }
            XCTAssertFalse(rows.contains { $0.contains("((1-abar_prev)") }, all)
            if rowsFree == 19 {
                XCTAssertTrue(rows.contains { $0.contains("grad log p(7|x_t)") } && rows.contains { $0.contains("reads x0^ from t=") }, all)
                XCTAssertFalse(rows.contains { $0.contains("the net predicts v^") }, all)
            }
            if rowsFree == 21 { XCTAssertTrue(rows.contains { $0.contains("the net predicts v^") }, "all fit: \(all)") }
        }
    }

    func testCompareRowsByGuidanceScale() throws {
        let p = CompareParameter.guideScale
        XCTAssertEqual(p.defaults, [0, 1, 2, 4, 8])
        let base = SamplerSettings(kind: .ddim, steps: 20)
        XCTAssertEqual(p.apply(2, to: base).guide, CompareParameter.defaultGuideDigit)
        XCTAssertEqual(p.apply(2, to: base).guideScale, 2)
        var three = base; three.guide = 3
        XCTAssertEqual(p.label(8, base: three), "→3 ×8")
        XCTAssertEqual(try p.parse("0, 0.5, 16", T: 1000), [0, 0.5, 16])
        XCTAssertThrowsError(try p.parse("200", T: 1000))
        // Without the classifier the a key skips it.
        var st = try makeState()
        st.screen = .compare; st.compareParameter = .sampler
        st.guideUnavailable = "missing"
        _ = reduce(&st, .key(.char("a")))
        XCTAssertNotEqual(st.compareParameter, .guideScale)
        st.guideUnavailable = nil; st.compareParameter = .sampler
        _ = reduce(&st, .key(.char("a")))
        XCTAssertEqual(st.compareParameter, .guideScale)
        // Each row counts the digits read as the guided one (any confident digit counted the misses too):
        // 3 sure 7s and 2 sure 1s of 8 are "as 7: 3/8" ("7s" read as seconds); unguided rows say "sure 5/8".
        func reading(_ d: Int, _ p: Float) -> DigitReader.Reading {
            var probs = [Float](repeating: (1 - p) / 9, count: 10); probs[d] = p
            return DigitReader.Reading(digit: d, p: p, entropy: 0.5, probs: probs, ink: 0.15)
        }
        let readings = [reading(7, 0.99), reading(7, 0.95), reading(7, 0.92), reading(1, 0.99), reading(1, 0.97),
                        reading(7, 0.6), reading(3, 0.5), reading(9, 0.4)]
        let spec = CompareSpec(parameter: .guideScale, base: base, n: 8)
        let rows = spec.values.map { v -> CompareRow in
            var r = CompareRow(label: p.label(v, base: base), settings: p.apply(v, to: base), images: [Float](repeating: -1, count: 8 * 784), size: 28)
            r.readings = readings; r.confident = readings.filter(\.isConfidentDigit).count
            return r
        }
        let guided = CompareSnapshot(spec: spec, rows: rows)
        XCTAssertEqual(guided.guidedDigit, CompareParameter.defaultGuideDigit)
        XCTAssertEqual(guided.sure(rows[2]).map { "\($0.label) \($0.count)" }, "as 7: 3")
        st.snapshot.compare = guided
        XCTAssertTrue(render(st).text.contains("as 7: 3/8"), render(st).text)
        XCTAssertTrue(CompareFigure.image(guided).width > 0)
        var plain = rows[0]; plain.settings = base
        XCTAssertEqual(CompareSnapshot(spec: CompareSpec(parameter: .temperature, base: base, n: 8), rows: [plain, plain]).sure(plain).map { "\($0.label) \($0.count)" }, "sure 5")
    }

    /// The bundled classifier of noisy digits steers the bundled model: 16
    /// DDIM-20 samples guided to each of three digits at the default scale are
    /// read as that digit by the clean classifier at least 14 times (measured:
    /// the README's table); the same seeds unguided give it at most 6 times.
    func testBundledGuidanceMakesTheDigitAskedFor() throws {
        let (net, params, sched, file) = try loadModel(Shell.assets + "/models/mnist-tiny.safetensors")
        let model = try predictor(net, params, sched, file)
        let guidance = try ClassifierGuidance.read(Shell.assets + "/models/mnist-noisy-classifier.safetensors")
        let (cls, cp) = try Classifier.read(Shell.assets + "/models/mnist-classifier.safetensors")
        func count(_ digit: Int, guided: Bool) throws -> Int {
            let set = SamplerSettings(kind: .ddim, steps: 20, guide: guided ? digit : nil)
            let x = try Sampler(schedule: sched, settings: set, n: 16, size: 28, seed: 9, guidance: guidance).run(model)
            let probs = cls.evaluate(cp.ptr, images: x, n: 16).probs
            return (0..<16).filter { i in (0..<10).max { probs[i * 10 + $0] < probs[i * 10 + $1] } == digit }.count
        }
        for d in [2, 5, 7] {
            let guided = try count(d, guided: true), plain = try count(d, guided: false)
            XCTAssertGreaterThanOrEqual(guided, 14, "digit \(d): \(guided) of 16 guided samples read as \(d)")
            XCTAssertLessThanOrEqual(plain, 6, "digit \(d): \(plain) of 16 unguided samples read as \(d)")
        }
    }
}
