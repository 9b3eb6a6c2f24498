// CompareTests.swift: the compare view (issue #19): rows from the same seeds,
// diversity by hand, value entry, keys, the labelled PNG.
import XCTest
@testable import Engine
@testable import TUI

/// eps^ = 0 everywhere: DDIM with eta 0 then scales x_T deterministically, so rows can be compared by hand.
final class ZeroPredictor: NoisePredictor {
    let imageSize = 28
    func predictNoise(_ x: UnsafePointer<Float>, t: [Int], out: UnsafeMutablePointer<Float>) {
        out.update(repeating: 0, count: t.count * imageSize * imageSize)
    }
}

final class CompareTests: XCTestCase {
    /// A typed value too long for the label column keeps its leading digits and
    /// its exponent (cut, 1.23457e-07 read "temp 1.2345", 0.000123456 "noise 0.000").
    func testRowLabelsKeepTheValueWithinTheColumn() {
        let base = SamplerSettings(kind: .ddim, steps: 50)
        XCTAssertEqual(CompareParameter.temperature.label(0.5, base: base, width: 11), "temp 0.5")
        XCTAssertEqual(CompareParameter.temperature.label(0.000000123456789, base: base, width: 11), "1.235e-07")
        XCTAssertEqual(CompareParameter.noiseTemperature.label(0.000123456, base: base, width: 11), "0.0001235")
        XCTAssertEqual(CompareParameter.noiseTemperature.label(0.000123456, base: base, width: 14), "noise 0.000123")
        XCTAssertEqual(CompareParameter.eta.label(0.123456, base: base, width: 8), "η 0.1235")
        XCTAssertEqual(CompareParameter.temperature.label(5e-324, base: base, width: 11), "4.941e-324")
        XCTAssertEqual(CompareParameter.steps.label(20, base: base, width: 11), "20 steps")
    }

    /// The note on why a comparison shows little difference fits an 80-column
    /// window whole (a shorter sentence there), never cut mid-word.
    func testCompareNoteFitsEightyColumns() {
        for spec in [CompareSpec(parameter: .temperature, base: SamplerSettings(kind: .ddpm)),
                     CompareSpec(parameter: .noiseTemperature, base: SamplerSettings(kind: .ddim, steps: 50)),
                     CompareSpec(parameter: .noiseTemperature, base: SamplerSettings(kind: .dpmpp, steps: 20))] {
            let long = CompareView.note(spec), short = CompareView.note(spec, width: 78)
            XCTAssertNotNil(long)
            XCTAssertGreaterThan(long?.count ?? 0, 78, long ?? "")
            XCTAssertTrue((short?.count ?? 99) <= 78 && short?.hasSuffix(")") == true, short ?? "")
            XCTAssertEqual(CompareView.note(spec, width: 200), long)
        }
        XCTAssertNil(CompareView.note(CompareSpec(parameter: .temperature, base: SamplerSettings(kind: .ddim, steps: 50))))
    }

    /// Mean over pixels of the population variance across images, by hand.
    func testMeanPixelVarianceByHand() {
        // Two pixels, three images: pixel 0 = (0, 0.5, 1) -> var 1/6; pixel 1 = (-1, -1, -1) -> 0.
        let images: [Float] = [0, -1, 0.5, -1, 1, -1]
        XCTAssertEqual(meanPixelVariance(images, n: 3, pixels: 2), (1.0 / 6) / 2, accuracy: 1e-7)
        XCTAssertEqual(meanPixelVariance(images, n: 1, pixels: 2), 0)
    }

    /// Every row starts from the same noise (times its temperature); rows step
    /// together, finish, and report diversity, wall time and no classifier count without a classifier.
    func testRowsShareSeedsAndStepTogether() throws {
        let r = Runner(model: ZeroPredictor(), schedule: try NoiseSchedule(T: 100))
        r.handle(.startSampling(SamplerSettings(), n: 2, seed: 5))
        let spec = CompareSpec(parameter: .temperature, values: [0.5, 1.5], base: SamplerSettings(kind: .ddim, steps: 4), n: 3, seed: 9)
        r.handle(.compare(spec))
        XCTAssertTrue(r.snapshot.comparing && r.isRunning)
        let mainSteps = r.snapshot.history.count
        var ticks = 0
        while r.isRunning { r.tick(); ticks += 1 }
        XCTAssertEqual(ticks, 4)
        XCTAssertEqual(r.snapshot.history.count, mainSteps, "the main run waits while the comparison steps")
        let c = try XCTUnwrap(r.snapshot.compare)
        XCTAssertTrue(c.finished)
        XCTAssertEqual(c.rows.map(\.label), ["temp 0.5", "temp 1.5"])
        // eps^ = 0 and eta = 0: the final image is x_T / sqrt(abar_T-1) in every row, so row 1.5 is 3x row 0.5.
        let (a, b) = (c.rows[0].images, c.rows[1].images)
        XCTAssertEqual(a.count, 3 * 784)
        for i in stride(from: 0, to: a.count, by: 97) { XCTAssertEqual(b[i], 3 * a[i], accuracy: 1e-3 * max(1, abs(b[i]))) }
        let want = meanPixelVariance(a.map { min(1, max(-1, $0)) }, n: 3, pixels: 784)
        XCTAssertEqual(c.rows[0].diversity, want, accuracy: 1e-12)
        XCTAssertGreaterThan(c.rows[1].diversity, c.rows[0].diversity)
        XCTAssertTrue(c.rows.allSatisfy { $0.wallTime > 0 && $0.confident == nil && $0.step == 4 })
        // Back to the sample view: the main run steps again.
        r.handle(.showCompare(false))
        XCTAssertTrue(r.isRunning)
        r.tick()
        XCTAssertEqual(r.snapshot.history.count, mainSteps + 1)
    }

    /// Pause and single step act on the comparison while it is shown.
    func testPauseAndStepActOnTheComparison() throws {
        let r = Runner(model: ZeroPredictor(), schedule: try NoiseSchedule(T: 50))
        r.handle(.startSampling(SamplerSettings(), n: 1, seed: 0))
        r.handle(.compare(CompareSpec(parameter: .steps, values: [2, 5], base: SamplerSettings(), n: 2)))
        r.handle(.togglePause)
        XCTAssertFalse(r.isRunning)
        XCTAssertEqual(r.snapshot.compare?.running, false)
        XCTAssertTrue(r.snapshot.running, "the main run's state is its own")
        r.handle(.singleStep)
        XCTAssertEqual(r.snapshot.compare?.rows.map(\.step), [1, 1])
        XCTAssertEqual(r.snapshot.compare?.rows.map(\.totalSteps), [2, 5])
        XCTAssertEqual(r.snapshot.compare?.rows.map { $0.settings.kind }, [.ddim, .ddim], "DDIM steps compare DDIM runs")
    }

    func testParameterValues() throws {
        XCTAssertEqual(CompareParameter.steps.label(1, base: SamplerSettings()), "1 step")
        XCTAssertEqual(CompareParameter.steps.label(20, base: SamplerSettings()), "20 steps")
        // The variance's rows look alike: a note says why, as the temperature's does under DDPM.
        let note = try XCTUnwrap(CompareView.note(CompareSpec(parameter: .variance, base: SamplerSettings())))
        XCTAssertTrue(note.contains("differ only in the last steps"), note)
        XCTAssertLessThanOrEqual(try XCTUnwrap(CompareView.note(CompareSpec(parameter: .variance, base: SamplerSettings()), width: 78)).count, 78)
        // In ASCII the variances go by the rows' names: β and β̃ both came out "b" ("s2=b and b differ").
        for width in [200, 78] {
            let ascii = try XCTUnwrap(CompareView.note(CompareSpec(parameter: .variance, base: SamplerSettings()), width: width, unicode: false))
            XCTAssertTrue(ascii.hasPrefix("var=beta and var=post differ only") && ascii.allSatisfy(\.isASCII) && ascii.count <= width, ascii)
        }
        // DDIM steps with the sample view's η left above 0: the rows' digits differ at every count, and the note says why.
        let noisy = CompareSpec(parameter: .steps, base: SamplerSettings(kind: .ddim, steps: 50, eta: 0.2))
        let etaNote = try XCTUnwrap(CompareView.note(noisy))
        XCTAssertTrue(etaNote.contains("η=0.2 draws fresh noise at every step"), etaNote)
        XCTAssertLessThanOrEqual(try XCTUnwrap(CompareView.note(noisy, width: 78)).count, 78)
        XCTAssertNil(CompareView.note(CompareSpec(parameter: .steps, base: SamplerSettings(kind: .ddim, steps: 50))))
        XCTAssertEqual(try CompareParameter.temperature.parse("0.5, 1,1.5", T: 1000), [0.5, 1, 1.5])
        XCTAssertEqual(try CompareParameter.steps.parse("50 5 1000, 20", T: 1000), [5, 20, 50, 1000], "rows in order, as typed or not")
        XCTAssertThrowsError(try CompareParameter.eta.parse("0.5, 2", T: 1000)) { XCTAssertTrue("\($0)".contains("eta"), "\($0)") }
        XCTAssertThrowsError(try CompareParameter.steps.parse("10, 2000", T: 1000))
        XCTAssertThrowsError(try CompareParameter.steps.parse("2.5", T: 1000))
        XCTAssertThrowsError(try CompareParameter.temperature.parse("", T: 1000))
        XCTAssertThrowsError(try CompareParameter.temperature.parse("1,2,3,4,5,6,7,8,9", T: 1000))
        XCTAssertThrowsError(try CompareParameter.temperature.parse("1..2", T: 1000)) { XCTAssertTrue("\($0)".contains("not a number")) }
        // -0 is 0; a value spelled twice differently is still twice.
        XCTAssertEqual(try CompareParameter.temperature.parse("-0, 1", T: 1000).map { $0.sign }, [.plus, .plus])
        XCTAssertThrowsError(try CompareParameter.temperature.parse("0.5, .5", T: 1000)) { XCTAssertTrue("\($0)".contains("twice"), "\($0)") }
        XCTAssertThrowsError(try CompareParameter.temperature.parse("0, -0", T: 1000))
        XCTAssertEqual(CompareParameter.variance.apply(1, to: SamplerSettings(kind: .ddim)).kind, .ddpm)
        XCTAssertEqual(CompareParameter.variance.apply(1, to: SamplerSettings()).variance, .posterior)
        XCTAssertEqual(CompareParameter.variance.apply(2, to: SamplerSettings()).variance, .learned)
        XCTAssertEqual(CompareParameter.variance.label(2, base: SamplerSettings()), "σ²=learned")
        XCTAssertEqual(CompareParameter.eta.apply(0.5, to: SamplerSettings()).kind, .ddim)
    }

    /// The reducer: 4 starts a comparison of the sample view's settings; a, e (typing, Enter, Esc), d, r, p.
    func testCompareKeys() throws {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = AppTests.fakeSnapshot()
        st.settings = SamplerSettings(kind: .ddim, steps: 20)
        var fx = reduce(&st, .key(.char("4")))
        XCTAssertEqual(st.screen, .compare)
        XCTAssertEqual(fx, [.command(.compare(CompareSpec(parameter: .temperature, base: st.settings, n: 8, seed: st.seed)))])
        // Beside a training run the comparison starts paused (the two would share the cores).
        var training = st
        training.screen = .train
        var run = RunnerSnapshot(); run.train = TrainMetrics(); run.running = true
        training.trainSnapshot = run
        training.snapshot.compare = nil
        XCTAssertEqual(reduce(&training, .key(.char("4"))), [.command(.compare(training.compareSpec)), .command(.pause)])
        XCTAssertEqual(training.message, "comparison paused beside the training run: space runs it (training slows)")
        // The sample view, paused when the run started, says so too; the training view says when a sampler runs beside it.
        training.hasModel = true; training.snapshot.running = false; training.snapshot.finished = false
        _ = reduce(&training, .key(.char("1")))
        XCTAssertEqual(training.message, "sampling paused beside the training run: space runs it (training slows)")
        training.screen = .train; training.message = nil
        training.trainSnapshot?.train?.step = 10; training.trainSnapshot?.train?.totalSteps = 100
        XCTAssertTrue(render(training).lines()[38].contains("│ running │"), render(training).lines()[38])
        training.snapshot.running = true
        XCTAssertTrue(render(training).lines()[38].contains("│ running beside sampling │"), render(training).lines()[38])
        // At 80 columns, before the demo is sized: the ETA keeps its end ("at step 50"), the loss goes first.
        var narrowRun = training
        narrowRun.width = 80; narrowRun.height = 24
        narrowRun.trainSnapshot?.train?.sizedAtStep = 50; narrowRun.trainSnapshot?.train?.losses = [0.1785]
        narrowRun.trainSnapshot?.train?.stepsPerSecond = 8.4
        narrowRun.trainSnapshot?.train?.step = 1234; narrowRun.trainSnapshot?.train?.totalSteps = 4800
        let status = render(narrowRun).lines()[22]
        XCTAssertTrue(status.hasSuffix("ETA at step 50") || status.contains("ETA at step 50 "), status)
        XCTAssertTrue(status.contains("│ +sampling │ loss 0.1785 │"), status)
        fx = reduce(&st, .key(.char("a")))
        XCTAssertEqual(st.compareParameter, .noiseTemperature)
        XCTAssertEqual(fx, [.command(.compare(st.compareSpec))])
        XCTAssertEqual(st.compareSpec.values, [0, 0.5, 1.0, 1.5])
        XCTAssertEqual(reduce(&st, .key(.char("e"))), [])
        XCTAssertEqual(st.editing, "0.0, 0.5, 1.0, 1.5")
        // A number typed first replaces the values filled in (typing 1 gave "..., 1.51"); Backspace edits them.
        var replaced = st
        _ = reduce(&replaced, .key(.char("1")))
        XCTAssertEqual(replaced.editing, "1")
        var edited = st
        _ = reduce(&edited, .key(.backspace)); _ = reduce(&edited, .key(.char("2")))
        XCTAssertEqual(edited.editing, "0.0, 0.5, 1.0, 1.2")
        var added = st
        for c in ", 2" { _ = reduce(&added, .key(.char(c))) }
        XCTAssertEqual(added.editing, "0.0, 0.5, 1.0, 1.5, 2", "a comma goes on from the values")
        var arrowFirst = st
        _ = reduce(&arrowFirst, .key(.left)); _ = reduce(&arrowFirst, .key(.char("3")))
        XCTAssertEqual(arrowFirst.editing, "3", "a key that edits nothing leaves the values to be replaced")
        for _ in 0..<18 { _ = reduce(&st, .key(.backspace)) }
        for c in "0.2,x 0.8" { _ = reduce(&st, .key(.char(c))) }
        XCTAssertEqual(st.editing, "0.2, 0.8", "letters are not taken")
        XCTAssertEqual(st.message, "'x' is not part of a number, left out: type 1 to 8 numbers separated by commas or spaces",
                       "and that stays said while the digits after it are typed")
        for c in "ab" { _ = reduce(&st, .key(.char(c))) }
        XCTAssertEqual(st.message, "'x', 'a', 'b' are not part of a number, left out: type 1 to 8 numbers separated by commas or spaces")
        XCTAssertEqual(st.editing, "0.2, 0.8")
        fx = reduce(&st, .key(.enter))
        XCTAssertNil(st.editing)
        XCTAssertEqual(st.compareSpec.values, [0.2, 0.8])
        XCTAssertEqual(fx, [.command(.compare(st.compareSpec))])
        XCTAssertEqual(st.message, "comparing noise temperature: 0.2, 0.8 (left out: 'x', 'a', 'b')", "what was left out is said again")
        // The same values again (Enter without an edit) do not start the comparison over.
        st.snapshot.compare = CompareSnapshot(spec: st.compareSpec, rows: [], running: true)
        _ = reduce(&st, .key(.char("e")))
        XCTAssertEqual(reduce(&st, .key(.enter)), [])
        XCTAssertNil(st.editing)
        XCTAssertEqual(st.message, "values unchanged: the comparison goes on")
        // ... and what was left out is said there too.
        _ = reduce(&st, .key(.char("e")))
        _ = reduce(&st, .key(.char("x")))
        XCTAssertEqual(reduce(&st, .key(.enter)), [])
        XCTAssertEqual(st.message, "values unchanged: the comparison goes on (left out: 'x')")
        // A bad value keeps the entry open with the reason; Esc leaves the values as they were.
        _ = reduce(&st, .key(.char("e")))
        for _ in 0..<20 { _ = reduce(&st, .key(.backspace)) }
        _ = reduce(&st, .key(.char("5")))
        _ = reduce(&st, .key(.char("0")))
        XCTAssertEqual(reduce(&st, .key(.enter)), [])
        XCTAssertEqual(st.editing, "50")
        XCTAssertTrue(st.message?.contains("noise temperature must be in [0, 10]") ?? false, st.message ?? "")
        // At 80 columns the reason does not fit beside a long entry: it takes the status row, whole.
        var narrow = st
        narrow.width = 80; narrow.height = 24
        narrow.editing = "0.5, 0.7, 0, 100, 1e30, 2.5, 3.5"
        var buf = CellBuffer(width: 80, height: 24)
        CompareView.render(narrow, &buf)
        let rows = buf.lines()
        XCTAssertTrue(rows[22].contains(st.message!), rows[22])
        XCTAssertTrue(rows[23].hasPrefix("noise temperature values (up to 8): 0.5, 0.7, 0, 100, 1e30, 2.5, 3.5_"), rows[23])
        // A reason wider than the window is wrapped between words over two rows, not cut.
        narrow.message = "the field is full (60 characters): Enter applies, Ctrl-U clears; " + String(repeating: "word ", count: 6)
        buf = CellBuffer(width: 80, height: 24)
        CompareView.render(narrow, &buf)
        let wrapped = buf.lines()
        XCTAssertEqual(wrapped[21] + " " + wrapped[22], narrow.message!.trimmingCharacters(in: .whitespaces), wrapped.suffix(3).joined(separator: "\n"))
        // Ctrl-U clears the field.
        _ = reduce(&st, .key(.char("\u{15}")))
        XCTAssertEqual(st.editing, "")
        _ = reduce(&st, .key(.char("5")))
        _ = reduce(&st, .key(.char("0")))
        _ = reduce(&st, .key(.escape))
        XCTAssertNil(st.editing)
        XCTAssertEqual(st.compareSpec.values, [0.2, 0.8])
        // q closes the field as Esc does (it is no part of a number); the next q is the quit key again.
        _ = reduce(&st, .key(.char("e")))
        _ = reduce(&st, .key(.char("7")))
        XCTAssertEqual(reduce(&st, .key(.char("q"))), [])
        XCTAssertNil(st.editing)
        XCTAssertEqual(st.message, "values unchanged (q again quits)")
        XCTAssertEqual(st.compareSpec.values, [0.2, 0.8])
        // Keys while editing are text, not commands.
        XCTAssertEqual(st.screen, .compare)
        let seed = st.seed
        XCTAssertEqual(reduce(&st, .key(.char("r"))), [.command(.compare(st.compareSpec))])
        XCTAssertEqual(st.seed, seed + 1)
        XCTAssertEqual(reduce(&st, .key(.char("p"))), [.exportComparePNG])
        // The PNG's name has the sampler the rows share: none in a sampler comparison, DDIM in eta's.
        let base = SamplerSettings(kind: .ddpm)
        XCTAssertEqual(ExplorerApp.compareSamplerTag(CompareSpec(parameter: .sampler, base: base)), "")
        XCTAssertEqual(ExplorerApp.compareSamplerTag(CompareSpec(parameter: .eta, base: base)), "-ddim50")
        XCTAssertEqual(ExplorerApp.compareSamplerTag(CompareSpec(parameter: .steps, base: base)), "-ddim")
        XCTAssertEqual(ExplorerApp.compareSamplerTag(CompareSpec(parameter: .temperature, base: base)), "-ddpm")
        // And the temperatures the rows share, when not 1 (not the compared one; noise only where a row draws it).
        let warm = SamplerSettings(kind: .ddim, eta: 0, temperature: 0.9, noiseTemperature: 0.8)
        XCTAssertEqual(ExplorerApp.compareTemperatureTag(CompareSpec(parameter: .eta, base: warm)), "-temp0.9-noise0.8")
        XCTAssertEqual(ExplorerApp.compareTemperatureTag(CompareSpec(parameter: .steps, base: warm)), "-temp0.9", "DDIM eta 0 draws no noise")
        XCTAssertEqual(ExplorerApp.compareTemperatureTag(CompareSpec(parameter: .temperature, base: warm)), "")
        XCTAssertEqual(ExplorerApp.compareTemperatureTag(CompareSpec(parameter: .eta, base: base)), "")
        // d changes the comparison's sampler only: a paused run in the sample view keeps its own.
        XCTAssertEqual(reduce(&st, .key(.char("d"))), [.command(.compare(st.compareSpec))])
        XCTAssertEqual(st.compareSpec.base.kind, .dpmpp)
        XCTAssertEqual(st.settings.kind, .ddim)
        XCTAssertTrue(st.message?.hasPrefix("base sampler DPM") ?? false, st.message ?? "")
        // Where the compared setting fixes the rows' sampler, d says it changes nothing, and nothing restarts.
        for (p, says) in [(CompareParameter.eta, "the DDIM eta rows all run DDIM"), (.steps, "the DDIM steps rows all run DDIM"),
                          (.variance, "the variance rows all run DDPM"), (.sampler, "each row runs its own sampler")] {
            var fixed = st
            fixed.compareParameter = p
            let kind = fixed.compareSpec.base.kind
            XCTAssertEqual(reduce(&fixed, .key(.char("d"))), [], "\(p)")
            XCTAssertEqual(fixed.compareSpec.base.kind, kind, "\(p)")
            XCTAssertEqual(fixed.message, says + ", so d changes nothing here (a: next setting)")
            XCTAssertLessThanOrEqual(fixed.message?.count ?? 0, 80)
        }
        // A sample-view key says it does not act here, rather than nothing.
        XCTAssertEqual(reduce(&st, .key(.char("s"))), [])
        XCTAssertTrue(st.message?.hasPrefix("not a key here") ?? false, st.message ?? "")
        XCTAssertLessThanOrEqual(st.message?.count ?? 0, 80)
        XCTAssertEqual(reduce(&st, .key(.char("1"))), [.command(.showCompare(false))])
        XCTAssertEqual(st.screen, .sample)
    }

    /// At 80x24 a refused character's reason takes two rows above the prompt, whole: the legend row
    /// no longer draws over its first (a playtest saw "…s: time on the rowcommas / or spaces").
    /// With a fork open and its side focused, the comparison's base is the fork's settings, as the keys were.
    func testCompareBaseIsTheFocusedSide() throws {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = AppTests.fakeSnapshot()
        st.settings = SamplerSettings(kind: .ddim, steps: 50)
        st.snapshot.forkSettings = SamplerSettings(kind: .ddim, steps: 50, eta: 0.5); st.snapshot.forkFrom = 1
        st.forkFocus = true
        guard case .command(.compare(let spec))? = reduce(&st, .key(.char("4"))).first else { return XCTFail("no comparison") }
        XCTAssertEqual(spec.base.eta, 0.5)
        // The original focused: its own.
        st.screen = .sample; st.forkFocus = false
        guard case .command(.compare(let own))? = reduce(&st, .key(.char("4"))).first else { return XCTFail("no comparison") }
        XCTAssertEqual(own.base.eta, 0)
    }

    func testEditReasonOnTwoRowsIsNotDrawnOver() throws {
        var st = AppState(caps: .full, width: 80, height: 24, schedule: try NoiseSchedule())
        st.screen = .compare; st.hasModel = true
        let row = CompareRow(label: "temp 1.0", settings: SamplerSettings(), images: [Float](repeating: -1, count: 8 * 784), size: 28)
        st.snapshot.compare = CompareSnapshot(spec: CompareSpec(parameter: .temperature, base: SamplerSettings(), n: 8), rows: [row, row])
        _ = reduce(&st, .key(.char("e")))
        for c in "0.5 x" { _ = reduce(&st, .key(.char(c))) }
        let m = try XCTUnwrap(st.message)
        XCTAssertGreaterThan(m.count, 80)
        let lines = render(st).lines()
        XCTAssertEqual((lines[21] + " " + lines[22]).split(separator: " ").joined(separator: " "), m, lines[20...23].joined(separator: "\n"))
        XCTAssertTrue(lines[23].hasPrefix("temperature values (up to 8): 0.5 _"), lines[23])
    }

    /// At 80x24 with a note (DDIM steps at η > 0), the digits a row does not show are said
    /// before it: the note alone stood over rows of 6 digits labelled "sure 8/8".
    func testNoteKeepsTheDigitsNotShown() throws {
        var st = AppState(caps: .full, width: 80, height: 24, schedule: try NoiseSchedule())
        st.screen = .compare
        let spec = CompareSpec(parameter: .steps, values: [20, 50], base: SamplerSettings(kind: .ddim, steps: 50, eta: 0.5), n: 12)
        let row = CompareRow(label: "20 steps", settings: SamplerSettings(kind: .ddim, steps: 20, eta: 0.5),
                             images: [Float](repeating: -1, count: 12 * 784), size: 28, finished: true, diversity: 0.1)
        st.snapshot.compare = CompareSnapshot(spec: spec, rows: [row, row])
        var buf = CellBuffer(width: 80, height: 24)
        CompareView.render(st, &buf)
        let noteRow = buf.lines()[21]
        XCTAssertTrue(noteRow.contains(" of 12 digits per row · η=0.5: fresh noise, the rows differ (η=0 agrees)"), buf.lines().joined(separator: "\n"))
    }

    /// The hint row offers space only while the comparison has rows left to run.
    func testFinishedComparisonOffersNoPause() throws {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.screen = .compare
        let row = CompareRow(label: "temp 1.0", settings: SamplerSettings(), images: [Float](repeating: -1, count: 8 * 784),
                             size: 28, finished: true, diversity: 0.25)
        var c = CompareSnapshot(spec: CompareSpec(parameter: .temperature, base: SamplerSettings(), n: 8), rows: [row, row])
        st.snapshot.compare = c
        var buf = CellBuffer(width: 120, height: 40)
        CompareView.render(st, &buf)
        XCTAssertFalse(buf.lines()[39].contains("space"), buf.lines()[39])
        c.rows[1].finished = false
        st.snapshot.compare = c
        buf = CellBuffer(width: 120, height: 40)
        CompareView.render(st, &buf)
        XCTAssertTrue(buf.lines()[39].contains("space"), buf.lines()[39])
    }

    /// More rows than fit at 80x24: ↑/↓ scroll them, the note says which are
    /// shown, and at either end the key says so.
    func testRowsThatDoNotFitScroll() throws {
        var st = AppState(caps: .full, width: 80, height: 24, schedule: try NoiseSchedule())
        st.screen = .compare
        let rows = (0..<8).map { i in CompareRow(label: "temp \(i)", settings: SamplerSettings(), images: [Float](repeating: -1, count: 8 * 784),
                                                 size: 28, finished: true, diversity: 0) }
        st.snapshot.compare = CompareSnapshot(spec: CompareSpec(parameter: .temperature, base: SamplerSettings(), n: 8), rows: rows)
        let shown = try XCTUnwrap(CompareView.rowsShown(st))
        XCTAssertLessThan(shown, 8)
        func screen() -> String { var buf = CellBuffer(width: 80, height: 24); CompareView.render(st, &buf); return buf.lines().joined(separator: "\n") }
        // In the status line (the notes' row holds the chapter's note on DDPM and temperature here).
        XCTAssertTrue(screen().contains("rows 1-\(shown) of 8 ↑↓") && screen().contains("temp 0") && !screen().contains("temp 7"), screen())
        XCTAssertEqual(reduce(&st, .key(.up)), [])
        XCTAssertEqual(st.message, "the first row is on screen")
        for _ in 0..<20 { _ = reduce(&st, .key(.down)) }
        XCTAssertEqual(st.message, "the last row is on screen")
        XCTAssertTrue(screen().contains("rows \(8 - shown + 1)-8 of 8 ↑↓") && screen().contains("temp 7") && !screen().contains("temp 0"), screen())
        _ = reduce(&st, .key(.up))
        XCTAssertTrue(screen().contains("rows \(8 - shown)-7 of 8 ↑↓"), screen())
        st.snapshot.compare?.rows = Array(rows.prefix(2))
        _ = reduce(&st, .key(.down))
        XCTAssertEqual(st.message, "every row is on screen")
        XCTAssertTrue(screen().contains("temp 0") && screen().contains("temp 1"), "a smaller comparison starts at its first row")
    }

    /// Braille chosen with `m` is what the compare view draws: every pixel a dot
    /// where 14x7 cells fit (120x40, two rows with a blank line between them,
    /// five without), the brightest of every 2x2 pixels a dot at 80x24 with four
    /// rows (7x4 cells, where half-block draws 7x7 pixels).
    func testCompareDrawsBraille() throws {
        // A digit whose left 8 columns are white: full cells there, blank braille after.
        let digit = (0..<784).map { Float($0 % 28 < 8 ? 1 : -1) }
        func rows(_ k: Int) -> [CompareRow] {
            (0..<k).map { _ in CompareRow(label: "temp 1.0", settings: SamplerSettings(), images: Array((0..<8).map { _ in digit }.joined()),
                                          size: 28, finished: true, diversity: 0) }
        }
        for (w, h, k, scale) in [(120, 40, 2, 1), (120, 40, 5, 1), (80, 24, 4, 2)] {
            var st = AppState(caps: .full, width: w, height: h, schedule: try NoiseSchedule())
            st.screen = .compare
            st.mode = .braille
            st.snapshot.compare = CompareSnapshot(spec: CompareSpec(parameter: .temperature, base: SamplerSettings(), n: 8), rows: rows(k))
            let l = CompareView.Layout(width: w, height: h, rows: k, n: 8, side: 28, mode: .braille)
            XCTAssertEqual(l.scale, scale, "\(w)x\(h), \(k) rows")
            XCTAssertEqual(l.rowsShown, k, "\(w)x\(h), \(k) rows")
            XCTAssertEqual([l.cell.w, l.cell.h], scale == 1 ? [14, 7] : [7, 4])
            var buf = CellBuffer(width: w, height: h)
            CompareView.render(st, &buf)
            let lines = buf.lines()
            XCTAssertFalse(lines.joined().contains("▀"), "\(w)x\(h): no half-blocks")
            // The first digit of the first row: 8 of 28 pixels is 4 of 14 cells, or 2 of 7.
            let digitRow = Array(lines[l.top])
            let cells = digitRow[l.labelW..<(l.labelW + l.cell.w)]
            let full = l.cell.w * 2 / 7
            XCTAssertEqual(String(cells), String(repeating: "⣿", count: full) + String(repeating: "\u{2800}", count: l.cell.w - full),
                           "\(w)x\(h): \(String(cells))")
        }
    }
    /// The exported figure: a title, and per row the label and numbers beside full-size digits.
    /// On a big window (a projector) half-block rows draw their digits larger, where every row and all
    /// n digits a row still fit; 80x24 keeps its sizes, braille its dots; where half size would cut
    /// a row short, smaller digits hold all n.
    func testRowsGrowOnABigWindow() {
        let big = CompareView.Layout(width: 200, height: 60, rows: 3, n: 8, side: 28, mode: .halfBlock)
        XCTAssertEqual(big.fit, 21)
        XCTAssertEqual(big.perRow, 8); XCTAssertEqual(big.rowsShown, 3)
        XCTAssertEqual([big.cell.w, big.cell.h], [21, 11])
        XCTAssertLessThanOrEqual(big.labelW + 8 * (big.cell.w + 1) - 1, 200)
        let five = CompareView.Layout(width: 200, height: 60, rows: 5, n: 8, side: 28, mode: .halfBlock)
        XCTAssertEqual(five.rowsShown, 5); XCTAssertEqual(five.perRow, 8)
        XCTAssertGreaterThan(five.fit ?? 0, 14)
        XCTAssertLessThanOrEqual(five.top + 5 * five.rowH, 60 - 3 + 1)
        XCTAssertNil(CompareView.Layout(width: 80, height: 24, rows: 3, n: 8, side: 28, mode: .halfBlock).fit)
        // At 120x40 three rows at half size showed 6 of 8 digits: now all 8, at 11 pixels (five rows: 8 at 18).
        let wide = CompareView.Layout(width: 120, height: 40, rows: 3, n: 8, side: 28, mode: .halfBlock)
        XCTAssertEqual(wide.fit, 11); XCTAssertEqual(wide.perRow, 8)
        XCTAssertLessThanOrEqual(wide.labelW + 8 * (wide.cell.w + 1) - 1, 120)
        XCTAssertEqual(CompareView.Layout(width: 120, height: 40, rows: 5, n: 8, side: 28, mode: .halfBlock).perRow, 8)
        // Where even a quarter size would not hold n across, half size shows what fits.
        let many = CompareView.Layout(width: 120, height: 40, rows: 3, n: 16, side: 28, mode: .halfBlock)
        XCTAssertNil(many.fit); XCTAssertEqual(many.perRow, 6)
        XCTAssertNil(CompareView.Layout(width: 200, height: 60, rows: 3, n: 8, side: 28, mode: .braille).fit)
    }

    func testFigureLayout() {
        let rows = (0..<3).map { r in
            CompareRow(label: ["σ²=β", "σ²=β̃", "η 0.5"][r], settings: SamplerSettings(),
                       images: [Float](repeating: r == 0 ? 1 : -1, count: 4 * 784), size: 28, finished: true, diversity: 0.25)
        }
        let fig = CompareFigure.image(CompareSnapshot(spec: CompareSpec(parameter: .variance, base: SamplerSettings(), n: 4), rows: rows))
        XCTAssertEqual(fig.pixels.count, fig.width * fig.height)
        XCTAssertGreaterThanOrEqual(fig.width, 4 * 30)
        // A title wider than the rows goes on two lines: the figure is as wide as its rows or its
        // wider title line, no wider (8 digits of noise temperature, the base with guidance: 2132
        // pixels wide at export scale before, the rows' 1280 or so).
        let guidedBase = SamplerSettings(kind: .ddim, steps: 50, eta: 0.5, noiseTemperature: 0.9, clip: true, guide: 7)
        let long = CompareSnapshot(spec: CompareSpec(parameter: .noiseTemperature, base: guidedBase, n: 8), rows: rows)
        let wideFig = CompareFigure.image(long)
        let oneLine = "noise temperature: 8 digits per row, seed 0, base " + CompareFigure.base(long.spec)
        XCTAssertLessThan(wideFig.width, BitmapFont.width(of: oneLine) + 12, "no wider than its widest title line or its rows")
        let short8 = CompareFigure.image(CompareSnapshot(spec: CompareSpec(parameter: .variance, base: SamplerSettings(), n: 8), rows: rows))
        XCTAssertEqual(wideFig.width, max(short8.width, BitmapFont.width(of: "base " + CompareFigure.base(long.spec)) + 12))
        XCTAssertEqual(wideFig.height, short8.height + BitmapFont.height + 3, "one more title line than a title that fits")
        XCTAssertEqual(CompareFigure.ascii("σ²=β̃"), "var post")
        // The title names the base's settings but the one compared.
        XCTAssertEqual(CompareFigure.base(CompareSpec(parameter: .temperature, base: SamplerSettings(kind: .ddim, steps: 20, eta: 0.1), n: 4)),
                       "ddim 20 steps, eta 0.1")
        XCTAssertEqual(CompareFigure.base(CompareSpec(parameter: .eta, base: SamplerSettings(kind: .ddim, steps: 20, eta: 0.1), n: 4)), "ddim 20 steps")
        XCTAssertEqual(CompareFigure.base(CompareSpec(parameter: .temperature, base: SamplerSettings(kind: .ddim, steps: 1), n: 4)),
                       "ddim 1 step, eta 0.0")
        XCTAssertEqual(CompareFigure.base(CompareSpec(parameter: .variance, base: SamplerSettings(), n: 4)), "ddpm")
        // ... as the rows run: the steps' rows DDIM, the variance's DDPM, whatever the base sampler.
        XCTAssertEqual(CompareFigure.base(CompareSpec(parameter: .steps, base: SamplerSettings(variance: .posterior, guide: 7), n: 4)),
                       "ddim, eta 0.0, guide 7 x4")
        XCTAssertEqual(CompareFigure.base(CompareSpec(parameter: .variance, base: SamplerSettings(kind: .ddim, steps: 50, eta: 0.1), n: 4)), "ddpm")
        // The status line says the same, clipping and the temperatures included.
        var clipped = SamplerSettings(kind: .ddim, steps: 50, eta: 0.1)
        clipped.clip = true; clipped.noiseTemperature = 0.9
        for (p, want) in [(CompareParameter.temperature, "DDIM 50 η=0.1 clip noise 0.9"), (.variance, "DDPM clip noise 0.9"),
                          (.eta, "DDIM 50 clip noise 0.9"), (.steps, "DDIM η=0.1 clip noise 0.9"), (.clip, "DDIM 50 η=0.1 noise 0.9"),
                          (.noiseTemperature, "DDIM 50 η=0.1 clip"), (.sampler, "clip noise 0.9")] {
            XCTAssertEqual(CompareView.base(CompareSpec(parameter: p, base: clipped, n: 4), unicode: true), want, p.rawValue)
        }
        XCTAssertEqual(CompareView.base(CompareSpec(parameter: .temperature, base: SamplerSettings(), n: 4), unicode: false), "DDPM var=beta")
        // Guidance is named whatever is compared; a noise temperature wherever a row draws noise
        // (eta's rows from a base of eta 0 do), in the status line and the PNG's title alike.
        var guided = SamplerSettings(guide: 7)
        guided.noiseTemperature = 0.9
        XCTAssertEqual(CompareView.base(CompareSpec(parameter: .steps, base: guided, n: 4), unicode: true), "DDIM η=0.0 guide 7 ×4")
        XCTAssertEqual(CompareView.base(CompareSpec(parameter: .eta, base: guided, n: 4), unicode: true), "DDIM 50 guide 7 ×4 noise 0.9")
        XCTAssertEqual(CompareView.base(CompareSpec(parameter: .guideScale, base: guided, n: 4), unicode: true), "DDPM σ²=β guide 7 noise 0.9")
        XCTAssertEqual(CompareFigure.base(CompareSpec(parameter: .eta, base: guided, n: 4)), "ddim 50 steps, guide 7 x4, noise 0.9")
        // Row 0's first digit is white (all pixels 1), row 1's black: find the digit block of row 0.
        let white = fig.pixels.filter { $0 == 255 }.count
        XCTAssertGreaterThanOrEqual(white, 4 * 784, "row 0's four white digits plus white text")
        // The title's first letter ("V" of "variance") is drawn at the margin.
        XCTAssertTrue((0..<7).contains { y in (6..<11).contains { x in fig.pixels[(6 + y) * fig.width + x] == 255 } })
    }
}
