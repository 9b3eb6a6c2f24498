import XCTest
@testable import Engine
@testable import TUI

/// Buffer snapshots of the widgets. Snapshots live in Tests/TUITests/Snapshots;
/// run with RECORD_SNAPSHOTS=1 to re-record them on purpose.
func assertSnapshot(_ buf: CellBuffer, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
    assertSnapshot(text: buf.text, name, file: file, line: line)
}

func assertSnapshot(text body: String, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
    let dir = URL(fileURLWithPath: "\(file)").deletingLastPathComponent().appendingPathComponent("Snapshots")
    let url = dir.appendingPathComponent(name + ".txt")
    let text = body + "\n"
    if ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] == "1" {
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try! text.write(to: url, atomically: true, encoding: .utf8)
        return
    }
    guard let want = try? String(contentsOf: url, encoding: .utf8) else {
        XCTFail("missing snapshot \(name) (record with RECORD_SNAPSHOTS=1)", file: file, line: line); return
    }
    if want != text { XCTFail("snapshot \(name) differs:\n--- want\n\(want)--- got\n\(text)", file: file, line: line) }
}

/// A synthetic 28x28 "digit": a ring of ink on background.
func ringDigit() -> [Float] {
    (0..<784).map { i in
        let x = Double(i % 28) - 13.5, y = Double(i / 28) - 13.5
        let r = (x * x + y * y).squareRoot()
        return r > 6 && r < 10 ? 1 : -1
    }
}

final class WidgetTests: XCTestCase {
    /// A terminfo entry with too few colour pairs for half-block greys gets fewer colours, or none
    /// (ASCII digits): with pairs#4 every digit was a solid block in the default pair.
    func testColorsFollowThePairs() {
        XCTAssertEqual(Terminal.colorsToUse(colors: 256, pairs: 32767), 256)
        XCTAssertEqual(Terminal.colorsToUse(colors: 256, pairs: 256), 16)
        XCTAssertEqual(Terminal.colorsToUse(colors: 256, pairs: 64), 8)
        XCTAssertEqual(Terminal.colorsToUse(colors: 256, pairs: 4), 0)
        XCTAssertEqual(Terminal.colorsToUse(colors: 8, pairs: 64), 8)
        XCTAssertEqual(Terminal.colorsToUse(colors: 2, pairs: 64), 0)
    }

    func testHalfBlockDigit() {
        var buf = CellBuffer(width: 28, height: 14)
        ImageWidget(pixels: ringDigit(), side: 28, mode: .halfBlock, caps: .full).render(into: &buf, x: 0, y: 0)
        XCTAssertTrue(buf.cells.allSatisfy { $0.ch == "▀" })
        // Top-left is background (black), the ring's top edge is white on the top half.
        XCTAssertEqual(buf[0, 0].fg, 16); XCTAssertEqual(buf[0, 0].bg, 16)
        XCTAssertTrue(buf.cells.contains { $0.fg == 16 && $0.bg == 231 }, "a cell with background above ink")
        XCTAssertTrue(buf.cells.contains { $0.fg == 231 && $0.bg == 231 })
        // Colours as text (fg/bg level per cell) make a readable snapshot.
        var shade = CellBuffer(width: 28, height: 14)
        for y in 0..<14 { for x in 0..<28 {
            let c = buf[x, y]
            shade.put(x, y, c.fg == 231 && c.bg == 231 ? "█" : (c.fg == 231 ? "▀" : (c.bg == 231 ? "▄" : " ")))
        } }
        assertSnapshot(shade, "halfblock-ring")
    }

    /// Between every pixel and half of them, a digit drawn s pixels a side: s x ceil(s/2) cells,
    /// each the area-weighted mean of what it covers (a flat image stays flat; a half-inked one
    /// has a grey column where a cell straddles the edge, whites left and blacks right).
    func testResampledDigit() {
        let side = 28
        for (fill, want) in [(Float(1), Int16(231)), (-1, 16)] {
            var w = ImageWidget(pixels: [Float](repeating: fill, count: side * side), side: side, mode: .halfBlock, caps: .full)
            w.fit = 19
            var buf = CellBuffer(width: 19, height: 10)
            w.render(into: &buf, x: 0, y: 0)
            XCTAssertTrue(buf.cells.allSatisfy { $0.ch == "▀" && $0.fg == want && $0.bg == want })
        }
        // Left 14 columns ink, right 14 paper: at 19 pixels the edge falls inside pixel 9 (9.5 of 19).
        let half = (0..<(side * side)).map { Float($0 % side < 14 ? 1 : -1) }
        var w = ImageWidget(pixels: half, side: side, mode: .halfBlock, caps: .full)
        w.fit = 19
        for y in 0..<10 {
            XCTAssertEqual(w.value(8, y, scale: 1), 1, accuracy: 1e-6)
            XCTAssertEqual(w.value(9, y, scale: 1), 0.5, accuracy: 1e-5)
            XCTAssertEqual(w.value(10, y, scale: 1), 0, accuracy: 1e-6)
        }
        // ASCII takes the same sizes: 19 columns, 10 rows, the straddling column mid-ramp.
        var ascii = ImageWidget(pixels: half, side: side, mode: .ascii, caps: .ascii)
        ascii.fit = 19
        var text = CellBuffer(width: 19, height: 10)
        ascii.render(into: &text, x: 0, y: 0)
        for y in 0..<10 { XCTAssertEqual(String((0..<19).map { text[$0, y].ch }), "@@@@@@@@@+         ") }
        XCTAssertEqual(ImageWidget.size(pixels: 19, mode: .halfBlock).w, 19)
        XCTAssertEqual(ImageWidget.size(pixels: 19, mode: .halfBlock).h, 10)
        // A grid takes the largest size that shows all n digits, else halves them; braille keeps every pixel.
        XCTAssertEqual(gridFit(width: 81, height: 55, side: 28, mode: .halfBlock, n: 16).pixels, 19)
        XCTAssertEqual(gridFit(width: 120, height: 60, side: 28, mode: .halfBlock, n: 4).pixels, 28)
        XCTAssertEqual(gridFit(width: 44, height: 35, side: 28, mode: .halfBlock, n: 16).pixels, 14)
        XCTAssertEqual(gridFit(width: 44, height: 35, side: 28, mode: .halfBlock).pixels, 14)
        XCTAssertEqual(gridFit(width: 81, height: 55, side: 28, mode: .braille, n: 16).pixels, 28)
        // Only sizes whose cells and label rows fit count (8 rows: 14x7 cells and the labels' row, as before).
        XCTAssertEqual(gridFit(width: 159, height: 8, side: 28, mode: .halfBlock, n: 4).pixels, 14)
        XCTAssertEqual(gridFit(width: 159, height: 9, side: 28, mode: .halfBlock, n: 4).pixels, 16)
        XCTAssertEqual(gridFit(width: 50, height: 4, side: 28, mode: .halfBlock, n: 4).pixels, 14)
    }

    func testBrailleDigitAndOutOfRangeMarking() {
        var buf = CellBuffer(width: 14, height: 7)
        ImageWidget(pixels: ringDigit(), side: 28, mode: .braille, caps: .full).render(into: &buf, x: 0, y: 0)
        assertSnapshot(buf, "braille-ring")
        var hot = ringDigit(); hot[0] = 5
        var b2 = CellBuffer(width: 14, height: 7)
        ImageWidget(pixels: hot, side: 28, mode: .braille, caps: .full).render(into: &b2, x: 0, y: 0)
        XCTAssertEqual(b2[0, 0].fg, 203, "out-of-range pixels are marked")
        XCTAssertEqual(b2[5, 0].fg, -1)
    }

    func testASCIIRenderer() {
        var buf = CellBuffer(width: 14, height: 7)
        ImageWidget(pixels: ringDigit(), side: 28, mode: .ascii, scale: 2, caps: .ascii).render(into: &buf, x: 0, y: 0)
        assertSnapshot(buf, "ascii-ring-half")
        XCTAssertTrue(buf.cells.allSatisfy { $0.ch.isASCII })
    }

    func testPlotWithCursorAndTicks() throws {
        let s = try NoiseSchedule()
        var buf = CellBuffer(width: 40, height: 8)
        PlotWidget(series: [.init(s.alphasCumprod, color: 114)], title: "abar", cursor: 500, ticks: [0, 250, 500, 750, 999], caps: .full)
            .render(into: &buf, x: 0, y: 0, w: 40, h: 8)
        assertSnapshot(buf, "plot-abar-cursor")
        var ascii = CellBuffer(width: 40, height: 8)
        PlotWidget(series: [.init(s.snr, color: 1)], title: "snr", logScale: true, cursor: 100, caps: .ascii)
            .render(into: &ascii, x: 0, y: 0, w: 40, h: 8)
        assertSnapshot(ascii, "plot-snr-log-ascii")
        // Too narrow for both ends and the name: the name stays (what x counts), the last value goes.
        var narrow = CellBuffer(width: 18, height: 6)
        var p = PlotWidget(series: [.init((0..<20).map { Double($0) }, color: 114)], title: "p", cursor: 16, caps: .full)
        p.xName = "step"
        p.render(into: &narrow, x: 0, y: 0, w: 18, h: 6)
        XCTAssertTrue(narrow.lines().last { $0.contains("└") }?.contains("0 step → ") ?? false, narrow.text)
    }

    /// Two curves without colours (NO_COLOR) are told apart by marker, as in ASCII (braille drew
    /// the train view's raw and smoothed loss alike); one curve, or with colours, stays braille.
    func testCurvesWithoutColoursHaveMarkers() {
        let up = (0..<40).map { Double($0) }, down = up.reversed().map { $0 }
        func drawn(_ caps: TermCaps, _ series: [PlotWidget.Series]) -> String {
            var buf = CellBuffer(width: 40, height: 8)
            PlotWidget(series: series, title: "t", caps: caps).render(into: &buf, x: 0, y: 0, w: 40, h: 8)
            return buf.lines().dropFirst().dropLast().joined()
        }
        let mono = TermCaps(unicode: true, colors: 0), braille = { (s: String) in s.unicodeScalars.contains { (0x2801...0x28FF).contains($0.value) } }
        let two: [PlotWidget.Series] = [.init(up, color: 244), .init(down, color: 226)]
        let marked = drawn(mono, two)
        XCTAssertTrue(marked.contains("*") && marked.contains("o") && !braille(marked), marked)
        XCTAssertTrue(braille(drawn(.full, two)) && !drawn(.full, two).contains("*"))
        XCTAssertTrue(braille(drawn(mono, [.init(up, color: 244)])), "one curve needs no marker")
    }

    func testTooSmallMessage() throws {
        let st = AppState(caps: .full, width: 20, height: 5, schedule: try NoiseSchedule())
        let buf = render(st)
        XCTAssertTrue(buf.text.contains("Terminal too small"))
        XCTAssertTrue(buf.text.contains("20x5"))
        assertSnapshot(buf, "too-small")
        // What to do stays on a line of its own ("q." alone on a row at 60x20 before).
        let mid = render(AppState(caps: .full, width: 60, height: 20, schedule: try NoiseSchedule())).lines()
        XCTAssertEqual(Array(mid.prefix(2)), ["Terminal too small: 60x20, need 80x24.", "Enlarge it or press q."])
    }

    /// Text over several lines breaks at spaces; a word longer than a line is cut.
    func testWrappedText() {
        var buf = CellBuffer(width: 12, height: 5)
        XCTAssertEqual(buf.wrappedText(1, 0, "the model at /a/very/long/path is gone", maxWidth: 10), 5)
        XCTAssertEqual(buf.lines().map { $0.trimmingCharacters(in: .whitespaces) },
                       ["the model", "at", "/a/very/", "long/path", "is gone"], "a path breaks between folders")
        var noSlash = CellBuffer(width: 12, height: 5)
        XCTAssertEqual(noSlash.wrappedText(1, 0, "see abcdefghijklmnopq now", maxWidth: 10), 4)
        XCTAssertEqual(noSlash.lines().prefix(4).map { $0.trimmingCharacters(in: .whitespaces) }, ["see", "abcdefghij", "klmnopq", "now"],
                       "without a slash, a long word is cut at the width")
        var named = CellBuffer(width: 24, height: 3)
        XCTAssertEqual(named.wrappedText(0, 0, "exported ddpm-seed0-temp1.0-ddim50-eta0.0-t997-xt.png", maxWidth: 24, breakLongWords: true), 3)
        XCTAssertEqual(named.lines().map { $0.trimmingCharacters(in: .whitespaces) },
                       ["exported ddpm-seed0-", "temp1.0-ddim50-eta0.0-", "t997-xt.png"], "a file name breaks between the settings it names")
        var one = CellBuffer(width: 12, height: 2)
        XCTAssertEqual(one.wrappedText(0, 0, "", maxWidth: 10), 1)
        // A count opening a parenthesis stays with the next word ("(10" / "stages)" at 120x40).
        var count = CellBuffer(width: 16, height: 3)
        XCTAssertEqual(count.wrappedText(0, 0, "written here (10 stages)", maxWidth: 16), 2)
        XCTAssertEqual(count.lines().prefix(2).map { $0.trimmingCharacters(in: .whitespaces) }, ["written here", "(10 stages)"])
    }

    /// Without a model the sample screen shows the whole error, wrapped, and
    /// how to get a model (restore or train), at 80 columns.
    func testNoModelScreenShowsWholeNote() throws {
        var st = AppState(caps: .full, width: 80, height: 24, schedule: try NoiseSchedule())
        st.hasModel = false
        st.modelNote = "/home/user/ddpm/assets/models/mnist-tiny.safetensors: no such file. Restore the bundled model with: git checkout -- assets/models/mnist-tiny.safetensors"
        st.forwardDigits = Dataset(images: [Float](repeating: -1, count: 784), labels: [0], side: 28)
        let buf = render(st)
        let flat = buf.lines().map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        XCTAssertTrue(flat.contains("git checkout -- assets/models/mnist-tiny.safetensors"), buf.text)
        assertSnapshot(buf, "no-model")
        // Without the digits too, the forward view is not offered (it would say they are missing).
        st.forwardDigits = nil
        let none = render(st).text
        XCTAssertFalse(none.contains("Press 3"), none)
        XCTAssertTrue(none.contains("set DDPM_ASSETS"), none)
    }

    func testStatusLine() throws {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = AppTests.fakeSnapshot()
        assertSnapshot(CellBuffer.line(SampleView.statusLine(st)), "status-line")
        st.caps = .ascii
        XCTAssertTrue(SampleView.statusLine(st).allSatisfy { $0.isASCII })
    }

    /// Rendering one full 120x40 frame stays far below the 33 ms frame budget.
    func testFullFrameRenderTime() throws {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = AppTests.fakeSnapshot()
        _ = render(st)
        let t0 = Benchmark.now()
        for _ in 0..<20 { _ = render(st) }
        let ms = (Benchmark.now() - t0) / 20 * 1000
        print(String(format: "render 120x40 frame: %.2f ms", ms))
        XCTAssertLessThan(ms, 33)
    }

    /// The train view with real numbers: loss curve, buckets labelled by the
    /// trainer's T (here 200, not 1000), rates, preview digits, saved path.
    func testTrainViewWithMetrics() throws {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.screen = .train
        var snap = RunnerSnapshot()
        var m = TrainMetrics()
        m.step = 340; m.totalSteps = 1000; m.T = 200
        m.losses = (0..<340).map { (i: Int) -> Double in
            let decay: Double = 1.0 / (1.0 + Double(i) / 20.0)
            return decay + 0.02 * Double(i % 7)
        }
        m.bucketLoss = (0..<10).map { (i: Int) -> Double in 0.3 - 0.025 * Double(i) }
        m.lr = 1.5e-4; m.stepsPerSecond = 2.5; m.imagesPerSecond = 160; m.epoch = 0.36
        m.preview = (0..<4).flatMap { _ in ringDigit() }; m.previewN = 4; m.previewStep = 300
        m.lastSaved = "/tmp/run.safetensors at step 300"
        snap.train = m; snap.running = true
        st.trainSnapshot = snap
        let buf = render(st)
        let text = buf.text
        XCTAssertTrue(text.contains("running │") && text.contains("ETA 4m24s"), text)
        var paused = st
        paused.trainSnapshot?.running = false
        XCTAssertTrue(render(paused).text.contains("paused │") && render(paused).text.contains("ETA -- "), "no estimate while paused")
        XCTAssertTrue(text.contains("2.50 steps/s (160 img/s)"), text)
        XCTAssertTrue(render(paused).text.contains("│ -- steps/s │") && !render(paused).text.contains("2.50 steps/s"),
                      "no speed while paused:\n\(render(paused).text)")
        XCTAssertTrue(text.contains("t 180-199"), "buckets follow the trainer's T:\n\(text)")
        XCTAssertFalse(text.contains("t 900-999"))
        XCTAssertTrue(text.contains("/tmp/run.safetensors at step 300"))
        assertSnapshot(buf, "train-view-metrics")
        // Before its first save the panel says where the run will save (w, periodically, at the end).
        for (w, h, want) in [(120, 40, "saves to: /tmp/ddpm-train.safetensors"), (80, 24, "saves: ddpm-train.safetensors")] {
            var fresh = st
            fresh.width = w; fresh.height = h
            fresh.trainSnapshot?.train?.lastSaved = nil
            fresh.trainSnapshot?.train?.savesTo = "/tmp/ddpm-train.safetensors"
            XCTAssertTrue(render(fresh).text.contains(want), render(fresh).text)
            fresh.trainSnapshot?.train?.savesTo = nil
            XCTAssertFalse(render(fresh).text.contains("saves"))
        }
        // A longer name at 80 columns: the label, then the whole name on the row under it where there is one.
        var numbered = st
        numbered.width = 80; numbered.height = 30
        numbered.trainSnapshot?.train?.lastSaved = nil
        numbered.trainSnapshot?.train?.savesTo = "/tmp/ddpm-train-5.safetensors"
        let lines = render(numbered).lines()
        let at = lines.firstIndex { $0.hasSuffix("saves to:") || $0.contains("saves to: ") }
        XCTAssertNotNil(at, render(numbered).text)
        if let at { XCTAssertTrue(lines[at + 1].contains("ddpm-train-5.safetensors"), render(numbered).text) }
        XCTAssertFalse(text.contains("bf16"))
        // A preview sampled with --backend bf16 says so.
        var bf16 = st
        bf16.trainSnapshot?.train?.previewBF16 = true
        XCTAssertTrue(render(bf16).text.contains("EMA preview, step 300 (DDIM 20, x̂0 clipped, bf16)"), render(bf16).text)
        // Before the lecture demo is sized to the machine, its length is a bound and its ETA to come.
        var sizing = st
        sizing.trainSnapshot?.train?.sizedAtStep = 50
        for w in [120, 80] {
            sizing.width = w
            let line = render(sizing).lines()[st.height - 2]
            XCTAssertTrue(line.contains("step 340/≤1000") && line.contains("ETA at step 50") && !line.contains("4m24s"), line)
        }
        // Once sized, the panel keeps why the run is as long as it is (the message that said it goes after 12 s).
        var sized = st
        sized.trainSnapshot?.train?.sized = "sized to this machine: 1550 steps, about 4.4 min in all"
        XCTAssertTrue(render(sized).text.contains("sized: 1550 steps, about 4.4 min in all"), render(sized).text)
        sized.width = 80; sized.height = 30
        XCTAssertTrue(render(sized).text.contains("sized: 1550 steps,"), render(sized).text)
        // Before its first step the status line has no numbers yet: not "step 0/0 … lr 0.00e+00".
        var starting = st
        starting.trainSnapshot?.train = TrainMetrics()
        let startLine = render(starting).lines()[st.height - 2]
        XCTAssertTrue(startLine.hasPrefix("starting the run │ running") && !startLine.contains("0/0"), startLine)
        // A weighted loss (the demo's min-SNR-5) says so, and the bars that they are not weighted.
        XCTAssertTrue(text.contains("loss per step (grey)") && text.contains("loss by t (running mean)"), text)
        XCTAssertFalse(text.contains("weighted"), text)
        for (w, h) in [(120, 40), (80, 24)] {
            var weighted = st
            weighted.width = w; weighted.height = h
            weighted.trainSnapshot?.train?.lossWeighting = .minSnr
            let shown = render(weighted).text
            XCTAssertTrue(shown.contains("min-SNR-5 weighted loss"), shown)
            XCTAssertTrue(shown.contains("unweighted loss by t"), shown)
            weighted.trainSnapshot?.train?.minSnrGamma = 3
            XCTAssertTrue(render(weighted).text.contains("min-SNR-3 weighted loss"), "the run's own gamma")
        }
    }

    /// The zoom view's caption is whole beside the equation panel at 80x24
    /// (it was cut to "(half size; a larger wi"): the longest that fits.
    func testZoomCaptionIsWholeBesideTheEquation() throws {
        for (w, h, equation) in [(80, 24, true), (80, 24, false), (120, 40, true)] {
            var st = AppState(caps: .full, width: w, height: h, schedule: try NoiseSchedule())
            st.snapshot = AppTests.fakeSnapshot(steps: 6)
            st.zoom = true; st.selected = 1; st.showEquation = equation
            let buf = render(st)
            let text = buf.lines().joined(separator: "\n")
            XCTAssertTrue(text.contains("x̂0"), text)
            for line in buf.lines() where line.contains("(half size") {
                XCTAssertTrue(line.contains("(half size)") || line.contains("x28)"), "\(w)x\(h): \(line)")
            }
            // Forked, the title names the side; its key hint is whole or absent, never cut ("(h/l · z g").
            var forked = st
            forked.snapshot.forkSettings = SamplerSettings(kind: .ddim, steps: 20)
            forked.snapshot.forkHistory = st.snapshot.history
            let title = render(forked).lines()[1]
            XCTAssertTrue(title.contains("original: sample 2 of 4 at t="), "\(w)x\(h): \(title)")
            XCTAssertTrue(!title.contains("(h/l") || title.contains("z grid)"), "\(w)x\(h): \(title)")
        }
    }

    /// Near the end of a run most of x̂0 lies a hair past -1 (paper), which read as "45% outside";
    /// the panel says how much lies well past it.
    func testPanelSaysHowFarX0IsOutside() throws {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = AppTests.fakeSnapshot(steps: 1)
        // 4 digits: 90% of pixels at -1.001, 5% at 1.5, the rest 0.
        let one = (0..<784).map { i -> Float in i < 706 ? -1.001 : (i < 745 ? 1.5 : 0) }
        let f = Frame(step: 0, totalSteps: 1000, t: 0, tNext: -1, n: 4, size: 28, xt: [Float](repeating: 0, count: 4 * 784),
                      x0: Array(repeating: one, count: 4).flatMap { $0 }, xNext: [], eps: Stats(), x0Outside: 745.0 / 784)
        st.snapshot.history = [RecordedFrame(f, keep: 4, readings: [])]
        let text = render(st).text
        // How far first (a lecturer read "95% outside" on clean digits as a fault), any amount under it.
        XCTAssertTrue(text.contains("x̂0 past [-1,1] by >0.1: 5.0%"), text)
        XCTAssertTrue(text.contains("(any amount: 95.0%; c clips)"), text)
        var narrow = st
        narrow.width = 80; narrow.height = 24
        XCTAssertTrue(render(narrow).text.contains("x̂0 past>.1 5.0%") && render(narrow).text.contains("(any: 95.0%)"), render(narrow).text)
        st.settings.clip = true
        st.snapshot.history = [RecordedFrame(Frame(step: 0, totalSteps: 1000, t: 0, tNext: -1, n: 4, size: 28, xt: f.xt, x0: f.x0, xNext: [],
                                                   eps: Stats(), x0Outside: f.x0Outside, settings: st.settings), keep: 4, readings: [])]
        XCTAssertTrue(render(st).text.contains("(before clip; drawn clipped)"))
    }

    /// The zoomed digit grows with the window (it stayed 28 cells wide at 200x60) while the strip's
    /// 10 stages still fit under it; from 2x up in whole multiples, so every pixel is an equal block.
    func testZoomGrowsOnALargeWindow() throws {
        XCTAssertNil(ZoomView.grown(side: 28, mode: .halfBlock, width: 50, height: 40), "1:1 does not fit: half size")
        XCTAssertEqual(ZoomView.grown(side: 28, mode: .halfBlock, width: 61, height: 30), 28)
        XCTAssertEqual(ZoomView.grown(side: 28, mode: .halfBlock, width: 200, height: 90), 84)
        XCTAssertEqual(ZoomView.grown(side: 28, mode: .halfBlock, width: 150, height: 70), 56, "71 fits; whole multiples from 2x")
        for (w, h, cells) in [(80, 24, 14), (120, 40, 30), (200, 60, 56)] {
            var st = AppState(caps: .full, width: w, height: h, schedule: try NoiseSchedule())
            st.snapshot = AppTests.fakeSnapshot(steps: 12)
            st.zoom = true; st.selected = 1
            let lines = render(st).lines()
            // The x_t image's first row: half-blocks from column 1.
            let row = try XCTUnwrap(lines.first { $0.hasPrefix(" ▀") }, "\(w)x\(h)")
            XCTAssertEqual(row.dropFirst().prefix { $0 == "▀" }.count, cells, "\(w)x\(h): \(row)")
            if w >= 120 {
                // All the run's (up to) 10 stages, each labelled.
                XCTAssertTrue(lines.contains { $0.contains("x̂0 along the trajectory (10 stages)") }, "\(w)x\(h)")
                XCTAssertTrue(lines.contains { $0.contains("t=999") } && lines.contains { $0.contains("t=988") }, "\(w)x\(h): the first and last stages")
                // The stages grow into the rows left from 3/4 size up: 22 of 28 pixels at 200x60, half size (14) at 120x40.
                let caption = try XCTUnwrap(lines.firstIndex { $0.contains("x̂0 along the trajectory") })
                let stage = lines[caption + 1].dropFirst().prefix { $0 == "▀" }.count
                XCTAssertEqual(stage, w == 200 ? 22 : 14, "\(w)x\(h): \(lines[caption + 1])")
            }
        }
    }

    /// A finished run's zoom shows the digit's final sample where x_t was, as the grid does, with the
    /// final sample's reading; scrubbed back, x_t again (it showed the last step's input, "at t=997",
    /// as if the run had stopped there).
    func testZoomOfAFinishedRunShowsTheFinalSample() throws {
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = AppTests.fakeSnapshot(steps: 3)
        st.snapshot.running = false; st.snapshot.finished = true
        st.snapshot.final = [Float](repeating: 1, count: 4 * 784)   // all ink: distinct from x_t and x̂0
        st.snapshot.finalReadings = (0..<4).map { _ in DigitReader.Reading(digit: 7, p: 0.97, entropy: 0.2, probs: [Float](repeating: 0.01, count: 10), ink: 0.15) }
        st.zoom = true; st.selected = 1
        let text = render(st).text
        XCTAssertTrue(text.contains("sample 2 of 4 final (last step from t=997)") && text.contains("x_0  final sample"), text)
        XCTAssertTrue(text.contains("x̂0 (t=997)") && text.contains("reads as 7 (97%)"), text)
        // At 80x24 (half-size digits, 14 columns) the label is shorter and does not run into x̂0's caption.
        var small = st
        small.width = 80; small.height = 24
        let row = try XCTUnwrap(render(small).lines().first { $0.contains("x̂0 (t=997)") }, render(small).text)
        XCTAssertNotNil(row.range(of: "final sample +x̂0 \\(t=997\\)", options: .regularExpression), row)
        st.scrub = 1
        let scrubbed = render(st).text
        XCTAssertTrue(scrubbed.contains("sample 2 of 4 at t=998") && !scrubbed.contains("final sample"), scrubbed)
    }

    /// The zoom view's strip labels each stage by its t, whole or not at all: at 80x30 and 100x30
    /// the strip's digits were 4 columns wide and "t=999" showed as "t=99"; now the strip shows
    /// fewer, larger stages there, and a label is never cut to other digits.
    func testZoomStripLabelsAreRealTimesteps() throws {
        for (w, h) in [(80, 24), (80, 30), (85, 30), (90, 26), (100, 30), (110, 35), (120, 30), (120, 40)] {
            var st = AppState(caps: .full, width: w, height: h, schedule: try NoiseSchedule())
            st.snapshot = AppTests.fakeSnapshot(steps: 12)
            st.zoom = true; st.selected = 1
            let lines = render(st).lines()
            let top = try XCTUnwrap(lines.firstIndex(where: { $0.contains("along the trajectory") }), "\(w)x\(h): no strip")
            let ts = Set(st.snapshot.history.map(\.t))
            var labels = 0
            // The strip's rows, above the status and key lines; its labels are "t=N" or N (2 digits and more).
            for line in lines[(top + 1)..<(h - 2)] {
                // Left of the panel's border: its numbers are not the strip's.
                for word in line.prefix { $0 != "│" }.split(separator: " ") where word.hasPrefix("t=") || (word.count >= 2 && word.allSatisfy(\.isNumber)) {
                    let t = Int(word.hasPrefix("t=") ? word.dropFirst(2) : word[...])
                    XCTAssertTrue(t.map(ts.contains) ?? false, "\(w)x\(h): '\(word)' is not a t of the run: \(line)")
                    labels += 1
                }
            }
            XCTAssertGreaterThanOrEqual(labels, 5, "\(w)x\(h): \(lines.joined(separator: "\n"))")
        }
    }

    /// The zoom's stages and its p(class) curve are spread by t, not by step: a run that went from
    /// DDPM (steps of one t) to DDIM (steps of 20) midway had four of five stages in its first tenth
    /// of t and its curve's t's where the schedule's plots beside it do not put them. For steps of
    /// one t, the same stages as by step, and the values in t order.
    func testZoomStagesAndCurveAreSpreadByT() throws {
        func frames(_ ts: [Int]) -> [RecordedFrame] {
            ts.enumerated().map { i, t in
                RecordedFrame(Frame(step: i, totalSteps: ts.count, t: t, tNext: max(0, t - 1), n: 1, size: 28,
                                    xt: [Float](repeating: 0, count: 784), x0: [Float](repeating: 0, count: 784),
                                    xNext: [], eps: Stats(), x0Outside: 0), keep: 1, readings: [])
            }
        }
        // DDPM: 1000 steps; every 111th frame, as evenly by step.
        let ddpm = frames(Array((0..<1000).reversed()))
        XCTAssertEqual(ZoomView.stages(ddpm, count: 1000), (0..<10).map { $0 * 111 })
        XCTAssertEqual(ZoomView.stages(ddpm, count: 50, most: 10), (0..<10).map { Int((Double($0) * 49 / 9).rounded()) })
        XCTAssertEqual(ZoomView.stages(ddpm, count: 1), [0])
        XCTAssertEqual(ZoomView.byT(Array(ddpm[..<5]), [0, 1, 2, 3, 4]), [4, 3, 2, 1, 0], "t = 995...999")
        // DDPM for 88 steps (t = 999...912), then DDIM by 20 to t = 11 or so.
        let mixed = frames(Array(stride(from: 999, through: 912, by: -1)) + Array(stride(from: 911, through: 0, by: -20)))
        let picked = ZoomView.stages(mixed, count: mixed.count).map { mixed[$0].t }
        XCTAssertEqual(picked.first, 999); XCTAssertEqual(picked.last, mixed.last!.t)
        XCTAssertEqual(picked.count, 10)
        for (a, b) in zip(picked, picked.dropFirst()) {
            XCTAssertEqual(Double(a - b), Double(999 - mixed.last!.t) / 9, accuracy: 11, "stages \(picked) evenly in t")
        }
        // The curve: one value a t, linear between the frames' t's (here the value is the t itself).
        let last3 = Array(mixed.suffix(3))                          // t = 51, 31, 11
        XCTAssertEqual(ZoomView.byT(last3, last3.map { Double($0.t) }), (11...51).map(Double.init))
        // Readings the zoom draws: the cursor at the shown step's t, the curve over t = 11 ... 999.
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = AppTests.fakeSnapshot(steps: 1)
        let reading = st.snapshot.history[0].readings
        st.snapshot.history = mixed.map { RecordedFrame(Frame(step: $0.step, totalSteps: mixed.count, t: $0.t, tNext: $0.tNext, n: 4, size: 28,
                                                                xt: st.snapshot.history[0].xtFloats(), x0: st.snapshot.history[0].x0Floats(),
                                                                xNext: [], eps: Stats(), x0Outside: 0), keep: 4, readings: reading) }
        st.zoom = true
        let text = render(st).text
        // The strip labels the stages by t: one near the middle of t, which spread by step it lacked.
        XCTAssertTrue(text.contains("t=\(picked[4])") || text.contains(" \(picked[4]) "), text)
        XCTAssertTrue(text.contains("t=999"), text)
    }

    /// Every view at 80x24 and 120x40, on a 256-colour terminal, an 8-colour
    /// one (with the colours each cell gets there: fg and bg as 0-7, '.' for
    /// the default) and under LANG=C (ASCII). Re-record with RECORD_SNAPSHOTS=1
    /// after a deliberate change, and read the diff.
    func testEveryViewAtTwoSizesAndThreeTerminals() throws {
        let terms: [(String, TermCaps)] = [("256", .full), ("8", TermCaps(unicode: true, colors: 8)),
                                           ("langC", TermCaps(unicode: false, colors: 256))]
        for (w, h) in [(80, 24), (120, 40)] {
            for (termName, caps) in terms {
                for view in ["sample", "equation", "help", "forward", "train", "recipe", "compare", "zoom", "fork"] {
                    var st = AppState(caps: caps, width: w, height: h, schedule: try NoiseSchedule())
                    st.snapshot = AppTests.fakeSnapshot(steps: 6)
                    st.modelLabel = "mnist-tiny.safetensors · step 72000"
                    st.forwardDigits = Dataset(images: ringDigit() + ringDigit().map { -$0 }, labels: [0, 1], side: 28)
                    switch view {
                    case "equation": st.showEquation = true
                    case "zoom": st.zoom = true; st.selected = 1
                    case "fork":
                        st.snapshot.forkSettings = SamplerSettings(kind: .ddim, steps: 20)
                        st.snapshot.forkHistory = Array(st.snapshot.history.prefix(4))
                        st.snapshot.forkFrom = 4   // forked after step 4, as f does: its frames are shared
                        st.forkFocus = true
                    case "compare":
                        st.screen = .compare
                        let spec = CompareSpec(parameter: .temperature, base: SamplerSettings(kind: .ddim, steps: 50), n: 8, seed: 3)
                        let rows = spec.values.enumerated().map { (r, v) in
                            CompareRow(label: spec.parameter.label(v, base: spec.base), settings: spec.parameter.apply(v, to: spec.base),
                                       images: (0..<8).flatMap { j in ringDigit().map { $0 * Float(j % 2 == 0 ? 1 : -1) } }, size: 28,
                                       t: 0, step: 50, totalSteps: 50, finished: true, diversity: 0.05 * Double(r + 1),
                                       confident: 8 - r, wallTime: 1.5 + Double(r) / 10)
                        }
                        st.snapshot.compare = CompareSnapshot(spec: spec, rows: rows, running: false)
                        st.snapshot.comparing = true
                    case "help": st.showHelp = true
                    case "recipe": st.screen = .train; st.trainingAvailable = true; st.choosingRecipe = true
                    case "forward": st.screen = .forward
                    case "train":
                        st.screen = .train
                        var snap = RunnerSnapshot(), m = TrainMetrics()
                        m.step = 340; m.totalSteps = 1000; m.T = 1000
                        m.losses = (0..<340).map { (i: Int) -> Double in
                            let decay: Double = 1.0 / (1.0 + Double(i) / 20.0)
                            return decay + 0.02 * Double(i % 7)
                        }
                        m.bucketLoss = (0..<10).map { (i: Int) -> Double in 0.3 - 0.025 * Double(i) }
                        m.preview = (0..<8).flatMap { _ in ringDigit() }; m.previewN = 8; m.previewStep = 300
                        m.confidentMinutes = [0.2, 1, 2, 3, 4]; m.confidentRates = [0.1, 0.3, 0.45, 0.55, 0.6]
                        snap.train = m; snap.running = true
                        st.trainSnapshot = snap
                    default: break
                    }
                    let buf = render(st)
                    var out = buf.text
                    if termName == "8" {
                        // Two more layers: what the 8-colour terminal shows as fg and bg.
                        func layer(_ c: (Cell) -> Int16) -> String {
                            var rows: [String] = []
                            for y in 0..<h {
                                var row = ""
                                for x in 0..<w {
                                    let v = c(buf[x, y])
                                    row += v < 0 ? "." : String(Terminal.reduce(v, 8))
                                }
                                rows.append(row)
                            }
                            return rows.joined(separator: "\n")
                        }
                        out += "\n--- fg (8 colours)\n" + layer { $0.fg } + "\n--- bg (8 colours)\n" + layer { $0.bg }
                    }
                    assertSnapshot(text: out, "screen-\(view)-\(w)x\(h)-\(termName)")
                    if !caps.unicode { XCTAssertTrue(buf.text.allSatisfy(\.isASCII), "\(view) \(w)x\(h) LANG=C") }
                }
            }
        }
    }

    /// The grey ramp on 256, 16 and 8 colours: black to white in order, and
    /// out-of-range values marked in every palette that has colour.
    func testGreyMappingPerPalette() {
        for colors in [256, 16, 8] {
            let w = ImageWidget(pixels: [], side: 28, lo: -1, hi: 1, mode: .halfBlock, scale: 1,
                                caps: TermCaps(unicode: true, colors: colors))
            let ramp = stride(from: Float(0), through: 1, by: 0.05).map { w.grey($0) }
            switch colors {
            case 256:
                XCTAssertEqual(ramp.first, 16); XCTAssertEqual(ramp.last, 231)
                XCTAssertEqual(ramp.dropFirst().dropLast().filter { !(232...255).contains($0) }, [], "greys in between")
            case 16: XCTAssertEqual(Set(ramp), [0, 8, 7, 15]); XCTAssertEqual(ramp.first, 0); XCTAssertEqual(ramp.last, 15)
            default: XCTAssertEqual(Set(ramp), [0, 7]); XCTAssertEqual(ramp.first, 0); XCTAssertEqual(ramp.last, 7)
            }
            // Brighter never maps darker (the 16-colour order is 0 < 8 < 7 < 15).
            let order: [Int16: Int] = colors == 16 ? [0: 0, 8: 1, 7: 2, 15: 3] : [:]
            let keys = ramp.map { order[$0] ?? Int($0 == 16 ? 0 : ($0 == 231 ? 999 : Int($0))) }
            XCTAssertEqual(keys, keys.sorted(), "ramp of \(colors) colours not monotonic: \(ramp)")
            XCTAssertEqual(w.grey(1.5), 203); XCTAssertEqual(w.grey(-0.5), 69)
            if colors == 8 {
                // Black and white only: a grey is the share of white pixels in a 4x4 tile (it was one threshold at 0.5).
                // (Solid below 0.25 and above 0.75, where a halved stroke or its paper lies.)
                for (v, whites) in [(Float(0), 0), (0.2, 0), (0.375, 4), (0.5, 8), (0.625, 12), (0.8, 16), (1, 16)] {
                    let n = (0..<4).flatMap { y in (0..<4).map { x in w.grey(v, x, y) } }.filter { $0 == 7 }.count
                    XCTAssertEqual(n, whites, "grey \(v)")
                }
            }
        }
    }

}

extension CellBuffer {
    static func line(_ s: String) -> CellBuffer {
        var b = CellBuffer(width: s.count, height: 1); b.text(0, 0, s); return b
    }
}
