// RecordingTests.swift: recordings (issue #23): the replay draws what the live
// run drew, forks and readings survive the file, bad files say one line, the
// GIF decodes with giflib, the cast is asciicast v2, the sheet is labelled.
import CGif
import Foundation
import XCTest
@testable import Engine
@testable import TUI

final class RecordingTests: XCTestCase {
    /// The bundled model and classifier, loaded as the explorer loads them.
    static func bundledRunner() throws -> Runner {
        let (net, params, sched, file) = try loadModel(Shell.assets + "/models/mnist-tiny.safetensors")
        let r = Runner(model: try predictor(net, params, sched, file), schedule: sched)
        let (cls, cp) = try Classifier.read(Shell.assets + "/models/mnist-classifier.safetensors")
        r.reader = DigitReader(net: cls, params: cp)
        return r
    }

    static let model = Recording.Model(file: "mnist-tiny.safetensors", sha256: String(repeating: "ab", count: 32), step: 72000)

    /// Cells of rows 1...H-2 (everything but the tab bar, which says "replay",
    /// and the key hints, which list the replay's keys): must be identical.
    func assertSameBody(_ a: CellBuffer, _ b: CellBuffer, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.width, b.width); XCTAssertEqual(a.height, b.height)
        for y in 1..<(a.height - 1) {
            let ra = (0..<a.width).map { a[$0, y] }, rb = (0..<b.width).map { b[$0, y] }
            if ra != rb {
                XCTFail("\(what): row \(y) differs:\n live  \(a.lines()[y])\n replay \(b.lines()[y])", file: file, line: line)
                return
            }
        }
    }

    /// 200 DDIM steps of 16 digits with the bundled model (eta changed
    /// mid-run), recorded, written, read back and replayed: every step's
    /// screen is the live run's, cell for cell (grids, labels, panels, status);
    /// then the same keys (scrub, equation, zoom) give the same screens, and
    /// the final screen matches at 80x24 too.
    func testReplayDrawsWhatTheLiveRunDrew() throws {
        let r = try Self.bundledRunner()
        var set = SamplerSettings(kind: .ddim, steps: 200)
        var live = AppState(caps: .full, width: 120, height: 40, schedule: r.schedule)
        live.hasClassifier = true; live.n = 16; live.seed = 3
        live.speedIndex = 2   // "5 st/s (limit)": the measured rate differs between the runs, a limit does not
        live.settings = set
        r.handle(.startSampling(set, n: 16, seed: 3))
        var screens: [CellBuffer] = []
        while r.isRunning {
            if r.snapshot.history.count == 100 {
                set.eta = 0.5; live.settings = set
                r.handle(.setSettings(set))
            }
            r.tick()
            _ = reduce(&live, .engine(r.snapshot))
            screens.append(render(live))
        }
        XCTAssertEqual(screens.count, 200)
        XCTAssertNotEqual(screens[0].cells, screens[199].cells, "the screens change as the run goes")
        XCTAssertNotNil(r.snapshot.final)

        let dir = Shell.temporaryDirectory("recording")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/run.ddpmtraj"
        try XCTUnwrap(Recording(r.snapshot, model: Self.model, schedule: r.schedule.spec)).write(path)
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        XCTAssertLessThan(size, 200 * 16 * 784 * 4 + 200 * 16 * 48 + 200_000, "F16 frames, F32 readings, JSON per frame")
        let rec = try Recording.read(path)
        XCTAssertEqual(rec.model, Self.model)

        let player = ReplayPlayer(rec)
        var replay = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule(rec.schedule))
        replay.replay = "run.ddpmtraj"; replay.hasClassifier = true; replay.n = rec.n; replay.seed = rec.seed
        replay.speedIndex = 2
        replay.settings = rec.main.frames[0].settings
        for i in 0..<200 {
            player.step()
            _ = reduce(&replay, .engine(player.snapshot))
            assertSameBody(screens[i], render(replay), "step \(i + 1)")
        }
        XCTAssertTrue(player.isFinished)
        XCTAssertEqual(render(replay).lines()[38].contains("finished"), true)
        for k: Key in [.home, .right, .right, .char("="), .pageDown, .char("z"), .char("l"), .end] {
            _ = reduce(&live, .key(k)); _ = reduce(&replay, .key(k))
            assertSameBody(render(live), render(replay), "after key \(k)")
        }
        _ = reduce(&live, .resize(width: 80, height: 24)); _ = reduce(&replay, .resize(width: 80, height: 24))
        assertSameBody(render(live), render(replay), "at 80x24")
        // The keys that need a model say so and change nothing.
        let before = replay.settings
        for k: Key in [.char("t"), .char("d"), .char("e"), .char("f"), .char("4")] {
            XCTAssertEqual(reduce(&replay, .key(k)), [])
            XCTAssertTrue(replay.message?.hasPrefix("replay:") ?? false, "\(k): \(replay.message ?? "no message")")
        }
        XCTAssertEqual(replay.settings, before)
        // At the playhead, → steps the replay on (the recording holds the frames ahead).
        var paused = replay
        paused.scrub = nil
        XCTAssertEqual(reduce(&paused, .key(.right)), [], "at the end of the recording nothing is ahead")
        XCTAssertTrue(paused.message?.hasPrefix("at the end of the run") ?? false, paused.message ?? "")
        paused.snapshot.finished = false
        XCTAssertEqual(reduce(&paused, .key(.right)), [.command(.singleStep)])
        XCTAssertEqual(reduce(&paused, .key(.shiftRight)).count, 10)
        // r plays again from the start.
        XCTAssertEqual(reduce(&replay, .key(.char("r"))), [.command(.restart(seed: rec.seed))])
        XCTAssertTrue(player.handle(.restart(seed: 0)))
        XCTAssertEqual(player.snapshot.history.count, 0)
        XCTAssertTrue(player.snapshot.running)
    }

    /// A run with a fork from a scrubbed step: the file keeps both sides (the
    /// fork's shared past once), the readings, the final samples and the
    /// settings of every step; the replay ends with the live run's recordings.
    func testForkSurvivesTheFile() throws {
        let r = try AppTests.smallRunner(T: 40)
        var set = SamplerSettings(); set.noiseTemperature = 0.8
        r.handle(.startSampling(set, n: 3, seed: 5))
        for _ in 0..<12 { r.tick() }
        var other = set; other.kind = .ddim; other.steps = 10; other.eta = 0.3
        r.handle(.fork(other, at: 6))
        r.handle(.resume)
        while r.isRunning { r.tick() }
        let snap = r.snapshot
        XCTAssertNotNil(snap.forkFinal)
        let dir = Shell.temporaryDirectory("recording-fork")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/fork.ddpmtraj"
        let written = try XCTUnwrap(Recording(snap, model: Self.model, schedule: r.schedule.spec))
        try written.write(path)
        let rec = try Recording.read(path)
        // A fork whose steps do not go on from each other (edited by hand) is refused, not replayed.
        var jumped = written
        let f1 = try XCTUnwrap(jumped.fork?.side.frames[1])
        jumped.fork!.side.frames[1] = RecordedFrame(step: f1.step, t: 39, tNext: f1.tNext, n: f1.n, size: f1.size, settings: f1.settings,
                                                    xt: f1.xt, x0: f1.x0, eps: f1.eps, x0Outside: f1.x0Outside, readings: f1.readings)
        try jumped.write(dir + "/jumped.ddpmtraj")
        XCTAssertThrowsError(try Recording.read(dir + "/jumped.ddpmtraj")) {
            XCTAssertTrue("\($0)".contains("fork frame \(f1.step) goes from t=39 to t=\(f1.tNext), where the fork was at t="), "\($0)")
        }
        XCTAssertEqual(rec.fork?.from, 6)
        XCTAssertEqual(rec.fork?.settings, other)
        XCTAssertEqual(rec.main.frames.count, snap.history.count)
        XCTAssertEqual(rec.fork?.side.frames.count, snap.forkHistory.count - 6)
        XCTAssertEqual(rec.main.final, snap.final)
        XCTAssertEqual(rec.fork?.side.final, snap.forkFinal)
        for (a, b) in zip(rec.main.frames + rec.fork!.side.frames, snap.history + snap.forkHistory.dropFirst(6)) {
            XCTAssertEqual(a.xt, b.xt); XCTAssertEqual(a.x0, b.x0)
            XCTAssertEqual(a.t, b.t); XCTAssertEqual(a.tNext, b.tNext); XCTAssertEqual(a.step, b.step)
            XCTAssertEqual(a.settings, b.settings); XCTAssertEqual(a.eps, b.eps); XCTAssertEqual(a.x0Outside, b.x0Outside)
        }
        let player = ReplayPlayer(rec)
        while !player.isFinished { player.step() }
        XCTAssertEqual(player.snapshot.history.map(\.t), snap.history.map(\.t))
        XCTAssertEqual(player.snapshot.forkHistory.map(\.t), snap.forkHistory.map(\.t))
        XCTAssertEqual(player.snapshot.forkHistory.map(\.x0), snap.forkHistory.map(\.x0))
        XCTAssertEqual(player.snapshot.forkFinal, snap.forkFinal)
        XCTAssertTrue(player.snapshot.finished)
        // The fork appears at its branch point and then steps beside the original in t.
        let fresh = ReplayPlayer(rec)
        for _ in 0..<6 { fresh.step() }
        XCTAssertNil(fresh.snapshot.forkSettings)
        fresh.step()
        XCTAssertEqual(fresh.snapshot.forkHistory.count, 6 + 1)
        XCTAssertEqual(fresh.snapshot.forkFrom, 6)
    }

    /// Readings go through the file exactly (digit and p rebuilt from the probabilities).
    func testReadingsRoundTrip() throws {
        let snap = AppTests.fakeSnapshot(steps: 5)
        let dir = Shell.temporaryDirectory("recording-readings")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try XCTUnwrap(Recording(snap, model: Self.model, schedule: try NoiseSchedule().spec)).write(dir + "/r.ddpmtraj")
        let rec = try Recording.read(dir + "/r.ddpmtraj")
        XCTAssertEqual(rec.main.frames.map(\.readings), snap.history.map(\.readings))
        XCTAssertEqual(rec.model.objective, .eps)
        XCTAssertFalse(rec.model.selfConditioned)
        XCTAssertFalse(rec.model.bfloat16)
        // What the network predicts, whether it read the last x̂0 and whether it sampled in
        // bfloat16 go through the file (a replay's panels and header say so as the live run's do).
        var v = Self.model; v.objective = .v; v.selfConditioned = true; v.bfloat16 = true
        try XCTUnwrap(Recording(snap, model: v, schedule: try NoiseSchedule().spec)).write(dir + "/v.ddpmtraj")
        XCTAssertEqual(try Recording.read(dir + "/v.ddpmtraj").model, v)
        // Each field with a value it cannot hold is refused by name.
        func refused(_ field: String, _ good: String, _ bad: String, _ says: String) throws {
            var bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/v.ddpmtraj"))
            let at = try XCTUnwrap(bytes.range(of: Data("\"\(field)\":\"\(good)\"".utf8)), field)
            bytes.replaceSubrange(at, with: Data("\"\(field)\":\"\(bad)\"".utf8))
            try bytes.write(to: URL(fileURLWithPath: dir + "/bad.ddpmtraj"))
            XCTAssertThrowsError(try Recording.read(dir + "/bad.ddpmtraj")) { e in XCTAssertTrue("\(e)".contains(says), "\(e)") }
        }
        try refused("model_objective", "v", "q", "model_objective is not eps, x0 or v")
        try refused("model_self_conditioned", "true", "yess", "model_self_conditioned is not true or false")
        try refused("model_bfloat16", "true", "sure", "model_bfloat16 is not true or false")
    }

    /// The binary: a recording says whether it was sampled in bfloat16, and
    /// sample's summary line does too.
    func testRecordingNamesBF16Sampling() throws {
        guard Shell.sh("grep -q avx512_bf16 /proc/cpuinfo").0 == 0 else { throw XCTSkip("this CPU lacks AVX512_BF16") }
        let dir = Shell.temporaryDirectory("bf16-record")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for backend in ["avx512", "bf16"] {
            let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) sample --backend \(backend) --sampler ddim --steps 3 --n 2 --out \(dir)/\(backend).png --record \(dir)/\(backend).ddpmtraj")
            XCTAssertEqual(code, 0, out)
            XCTAssertEqual(out.contains(", bfloat16,"), backend == "bf16", out)
            XCTAssertEqual(try Recording.read(dir + "/\(backend).ddpmtraj").model.bfloat16, backend == "bf16")
        }
    }

    /// The binary: sample --record, then export-gif; the GIF decoded by giflib
    /// has the frames chosen, the size, the delays, and its last frame's x̂0
    /// panels are the final samples quantised as PNG exports quantise them.
    func testGIFDecodesWithGiflib() throws {
        let dir = Shell.temporaryDirectory("gif")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) sample --sampler ddim --steps 30 --n 5 --seed 2 --out \(dir)/s.png --record \(dir)/r.ddpmtraj")
        XCTAssertEqual(code, 0, out)
        XCTAssertTrue(out.contains("recorded 30 steps of 5 digits"), out)
        (code, out) = Shell.sh("\(Shell.binary) export-gif \(dir)/r.ddpmtraj --out \(dir)/a.gif --frames 12 --delay 50 --hold 1500 --scale 1")
        XCTAssertEqual(code, 0, out)
        // How long it plays (12 frames 50 ms apart, the final held 1.5 s), not only the encoding time.
        XCTAssertTrue(out.contains("13 frames, 50 ms apart, plays 2.1 s;"), out)
        let rec = try Recording.read(dir + "/r.ddpmtraj")
        let chosen = TrajectoryGIF.frameIndices(total: 30, count: 12)
        XCTAssertEqual(chosen.count, 12)
        XCTAssertEqual(chosen.last, 29)
        XCTAssertTrue(zip(chosen, chosen.dropFirst()).allSatisfy { $0 < $1 })
        XCTAssertGreaterThan(chosen[11] - chosen[10], 0)
        XCTAssertLessThan(chosen[11] - chosen[10], chosen[1] - chosen[0], "denser near t = 0")

        var err: Int32 = 0
        let gif = try XCTUnwrap(DGifOpenFileName(dir + "/a.gif", &err))
        defer { DGifCloseFile(gif, &err) }
        XCTAssertEqual(DGifSlurp(gif), GIF_OK)
        XCTAssertEqual(Int(gif.pointee.ImageCount), 13, "12 frames and the final samples")
        let g = TrajectoryGIF.Geometry(k: 5, side: 28)
        XCTAssertEqual(Int(gif.pointee.SWidth), g.width)
        XCTAssertEqual(Int(gif.pointee.SHeight), g.height)
        var gcb = GraphicsControlBlock()
        XCTAssertEqual(DGifSavedExtensionToGCB(gif, 0, &gcb), GIF_OK)
        XCTAssertEqual(gcb.DelayTime, 5)
        XCTAssertEqual(DGifSavedExtensionToGCB(gif, 12, &gcb), GIF_OK)
        XCTAssertEqual(gcb.DelayTime, 150)
        let last = gif.pointee.SavedImages[12]
        let raster = UnsafeBufferPointer(start: last.RasterBits, count: g.width * g.height)
        let fin = try XCTUnwrap(rec.main.final)
        var mismatched = 0
        for i in 0..<5 {
            let (ox, oy) = g.origin(i)
            for y in 0..<28 {
                for x in 0..<28 {
                    let v = raster[(oy + y) * g.width + ox + 28 + TrajectoryGIF.Geometry.gap + x]
                    if v != ImageWriter.byte(fin[i * 784 + y * 28 + x]) { mismatched += 1 }
                }
            }
        }
        XCTAssertEqual(mismatched, 0, "last frame's x̂0 panels against the final samples")
        // The palette is grey: index i is (i, i, i).
        let map = try XCTUnwrap(gif.pointee.SColorMap)
        XCTAssertEqual(Int(map.pointee.ColorCount), 256)
        XCTAssertEqual(map.pointee.Colors[200].Green, 200)
        // A recording that is not one: one line, nothing written.
        (code, out) = Shell.sh("\(Shell.binary) export-gif \(Shell.assets)/models/mnist-tiny.safetensors --out \(dir)/b.gif")
        XCTAssertNotEqual(code, 0)
        XCTAssertTrue(out.contains("not a usable recording: this is a model's weights file"), out)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/b.gif"))
    }

    /// Truncated, corrupted and foreign files: one clear line from replay and
    /// export-gif (and from the parser the fuzz target runs), never a crash.
    func testBadRecordingsSayOneLine() throws {
        let dir = Shell.temporaryDirectory("bad-recording")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let snap = AppTests.fakeSnapshot(steps: 4)
        try XCTUnwrap(Recording(snap, model: Self.model, schedule: try NoiseSchedule().spec)).write(dir + "/good.ddpmtraj")
        let good = try Data(contentsOf: URL(fileURLWithPath: dir + "/good.ddpmtraj"))
        XCTAssertNoThrow(try ParserChecks.recording(good))
        var cases: [(String, Data)] = [("truncated", good.prefix(good.count / 2)), ("empty", Data())]
        var wrongVersion = good
        let at = try XCTUnwrap(good.range(of: Data("\"version\":\"1\"".utf8)))
        wrongVersion[at.upperBound - 2] = UInt8(ascii: "9")
        cases.append(("version 9", wrongVersion))
        var flipped = good
        flipped[flipped.count - 3] ^= 0xFF   // data bytes may change: an F16 value, still a recording
        cases.append(("flipped data", flipped))
        // A share of x̂0 outside [-1, 1] above 1 (replay showed "-700.0%") is refused.
        var share = good
        let x0o = try XCTUnwrap(good.range(of: Data("x0_outside\\\":0.25".utf8)))   // (JSON inside the header's JSON: quotes escaped)
        share[x0o.upperBound - 4] = UInt8(ascii: "7")
        cases.append(("share out of range", share))
        // ε̂'s statistics that no set of numbers has (std 9 where min = max = 0; a std of -1e308 was shown as it was).
        var stats = good
        let eps = try XCTUnwrap(good.range(of: Data("eps\\\":[0,0,0,0]".utf8)))
        stats[eps.upperBound - 6] = UInt8(ascii: "9")
        cases.append(("impossible eps statistics", stats))
        // A sampler this ddpm does not know: the message names the field (it said only "'frames' is not valid").
        var kind = good
        let k = try XCTUnwrap(good.range(of: Data("kind\\\":\\\"ddpm".utf8)))
        kind[k.upperBound - 3] = UInt8(ascii: "x")
        cases.append(("unknown sampler", kind))
        for (name, data) in cases {
            XCTAssertNoThrow(try ParserChecks.recording(data), name)
            let path = dir + "/\(name.replacingOccurrences(of: " ", with: "-")).ddpmtraj"
            try data.write(to: URL(fileURLWithPath: path))
            if name == "flipped data" { continue }
            for cmd in ["replay \(path)", "export-gif \(path) --out \(dir)/x.gif"] {
                let (code, out) = Shell.sh("\(Shell.binary) \(cmd)")
                XCTAssertEqual(code, 1, "\(name): \(cmd): \(out)")
                let lines = out.split(separator: "\n")
                XCTAssertEqual(lines.count, 1, "\(name): \(cmd): \(out)")
                XCTAssertTrue(out.hasPrefix("Error: \(path)"), "\(name): names the file: \(out)")
            }
        }
        XCTAssertTrue(Shell.sh("\(Shell.binary) replay \(dir)/version-9.ddpmtraj").1.contains("version 9 is not supported"))
        let unknown = Shell.sh("\(Shell.binary) replay \(dir)/unknown-sampler.ddpmtraj").1
        XCTAssertTrue(unknown.contains("not a usable recording: metadata 'frames' is not valid ('frames.0.settings.kind' does not fit its type): "), unknown)
        // A PNG (the sample's picture) given where the recording was meant says what it is.
        try Data(ImageWriter.png(width: 2, height: 2, grey: [0, 1, 2, 3])).write(to: URL(fileURLWithPath: dir + "/s.png"))
        let png = Shell.sh("\(Shell.binary) export-gif \(dir)/s.png --out \(dir)/x.gif")
        XCTAssertEqual(png.0, 1, png.1)
        XCTAssertTrue(png.1.hasPrefix("Error: \(dir)/s.png: is a PNG image, not a recording (.ddpmtraj"), png.1)
    }

    /// A GIF frame's caption names what shaped the digits (it said "DDIM 20" for a guided, warmer
    /// run), in parts that drop from the end where the frame is narrow.
    func testGIFCaptionNamesTheSettings() {
        XCTAssertEqual(SamplerSettings(kind: .ddim, steps: 20, eta: 0.3, clip: true, guide: 7).caption(temperature: 1.1),
                       "DDIM 20 eta 0.3  guide 7 x4  temp 1.1  clip")
        XCTAssertEqual(SamplerSettings(noiseTemperature: 0.8, variance: .posterior).caption(temperature: 1), "DDPM var post  noise 0.8")
        XCTAssertEqual(SamplerSettings(kind: .dpmpp, steps: 20, noiseTemperature: 0.8).caption(temperature: 1), "DPM++ 20", "no noise drawn")
        // Every character has a glyph in the figures' font.
        let text = "t=999  step 1/20  " + SamplerSettings(kind: .ddim, steps: 20, eta: 0.3, clip: true, guide: 7).caption(temperature: 1.1)
        XCTAssertTrue(text.allSatisfy { BitmapFont.glyphs[$0] != nil }, text)
    }

    /// A replay starts at the speed step nearest its whole run in about ten seconds, short or long
    /// (a 20-step recording was over in a second); + from there is faster, up to the fastest (faster
    /// than every limit: it had been 2 steps/s for a short recording, slower than "at most 50");
    /// unlimited, the status line says the rate is the replay's.
    func testReplayPaceFitsTheRecording() throws {
        for (steps, pace, start) in [(20, 2.0, 2.0), (50, 5.0, 5.0), (5, 2.0, 2.0), (300, 30.0, 20.0), (1000, 100.0, nil)] {
            var snap = AppTests.fakeSnapshot(steps: steps)
            snap.final = Array(repeating: 0, count: 4 * 784)
            let rec = try XCTUnwrap(Recording(snap, model: Self.model, schedule: try NoiseSchedule().spec))
            let player = ReplayPlayer(rec)
            XCTAssertEqual(player.naturalPace, pace, "\(steps) steps")
            XCTAssertGreaterThan(player.fullSpeed, 50, "\(steps) steps: the fastest is faster than every limit")
            XCTAssertEqual(AppState.speeds[AppState.speedIndex(nearest: pace, fastest: player.fullSpeed)], start, "\(steps) steps")
        }
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = AppTests.fakeSnapshot(steps: 3)
        st.replay = "r.ddpmtraj"
        XCTAssertTrue(SampleView.statusLine(st).contains("replay 12.5 st/s"), SampleView.statusLine(st))
    }

    /// The real binary in tmux at 80x24: a recording replays (message, digits,
    /// finished), model keys are refused, r plays again, scrubbing works; the
    /// --cast file is asciicast v2: a header, then [time, code, text] lines
    /// with times that never go back, the resize as an "r" event.
    func testReplayAndCastInTmux() throws {
        guard Shell.sh("command -v tmux").0 == 0 else { throw XCTSkip("tmux is not installed") }
        let dir = Shell.temporaryDirectory("replay-tmux")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) sample --sampler ddim --steps 100 --n 16 --out \(dir)/s.png --record \(dir)/r.ddpmtraj")
        XCTAssertEqual(code, 0, out)
        let session = "ddpm-replay-\(getpid())"
        func pane() -> String { Shell.sh("tmux capture-pane -p -t \(session)").1 }
        // Generous: the replay plays 10 s at its natural pace, and a stalled terminal (a loaded CI host
        // once drew 76 of its 100 steps in 20 s) plays at most a second's steps per frame.
        func wait(_ what: String, timeout: Double = 30, _ pred: (String) -> Bool) {
            var last = ""
            XCTAssertTrue(Shell.poll(timeout: timeout) { last = pane(); return pred(last) }, "waiting for \(what); pane:\n\(last)")
        }
        let cmd = "cd \(dir) && DDPM_ASSETS=\(Shell.assets) \(Shell.binary) replay r.ddpmtraj --cast s.cast; echo EXIT=$? > done.txt; sleep 30"
        Shell.sh("tmux kill-session -t \(session) 2>/dev/null")
        XCTAssertEqual(Shell.sh("tmux new-session -d -s \(session) -x 80 -y 24 '\(cmd)'").0, 0)
        defer { Shell.sh("tmux kill-session -t \(session) 2>/dev/null") }
        wait("the replay to finish", timeout: 90) { $0.contains("finished") && EndToEndTests.showsDigits($0, unicode: true) }
        XCTAssertTrue(pane().contains("100 steps"), pane())
        Shell.sh("tmux send-keys -t \(session) t")
        wait("the refusal") { $0.contains("replay: a new temperature needs the model") }
        Shell.sh("tmux send-keys -t \(session) -- -")   // slower: 5 st/s after four presses, so that it is still playing below
        Shell.sh("tmux send-keys -t \(session) -- - - -")
        Shell.sh("tmux send-keys -t \(session) r")
        wait("playing again") { $0.contains("playing again") || $0.contains("running") }
        Shell.sh("tmux send-keys -t \(session) Left")
        wait("scrubbing") { $0.contains("SCRUB") }
        Shell.sh("tmux resize-window -t \(session) -x 120 -y 40")
        wait("the wider layout") { $0.split(separator: "\n").count >= 39 && $0.contains("DDPM Explorer") }
        Shell.sh("tmux send-keys -t \(session) q")
        XCTAssertTrue(Shell.poll(timeout: 30) { FileManager.default.fileExists(atPath: dir + "/done.txt") })
        XCTAssertEqual(Shell.read(dir + "/done.txt").trimmingCharacters(in: .whitespacesAndNewlines), "EXIT=0")

        let lines = Shell.read(dir + "/s.cast").split(separator: "\n").map(String.init)
        XCTAssertGreaterThan(lines.count, 10)
        let header = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        XCTAssertEqual(header["version"] as? Int, 2)
        XCTAssertEqual(header["width"] as? Int, 80)
        XCTAssertEqual(header["height"] as? Int, 24)
        var last = 0.0, output = "", resizes: [String] = []
        for l in lines.dropFirst() {
            let e = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [Any], l)
            XCTAssertEqual(e.count, 3, l)
            let t = try XCTUnwrap(e[0] as? Double, l), kind = try XCTUnwrap(e[1] as? String, l), text = try XCTUnwrap(e[2] as? String, l)
            XCTAssertGreaterThanOrEqual(t, last, "times never go back")
            last = t
            if kind == "o" { output += text } else if kind == "r" { resizes.append(text) } else { XCTFail("event \(kind)") }
        }
        XCTAssertEqual(resizes, ["120x40"])
        XCTAssertTrue(output.contains("replay"), "the session's text is in the cast")
        XCTAssertTrue(output.contains("\u{1b}["), "escape sequences (colours, cursor moves) are kept")
        XCTAssertTrue(output.contains("▀") || output.contains("▄"), "the half-block digits are in it")
    }

    /// The explorer in tmux: a finished DDIM run, scrubbed back and forked
    /// with fewer steps; R records both sides to the export folder, G writes
    /// a GIF, and the recording holds the fork from the scrubbed step.
    func testRecordAndGIFKeysInTheExplorer() throws {
        guard Shell.sh("command -v tmux").0 == 0 else { throw XCTSkip("tmux is not installed") }
        let dir = Shell.temporaryDirectory("record-keys")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let session = "ddpm-record-\(getpid())"
        func pane() -> String { Shell.sh("tmux capture-pane -p -t \(session)").1 }
        func wait(_ what: String, _ pred: (String) -> Bool) {
            var last = ""
            XCTAssertTrue(Shell.poll(timeout: 30) { last = pane(); return pred(last) }, "waiting for \(what); pane:\n\(last)")
        }
        func keys(_ k: String) { Shell.sh("tmux send-keys -t \(session) \(k)") }
        let cmd = "DDPM_ASSETS=\(Shell.assets) DDPM_EXPORT_DIR=\(dir) \(Shell.binary) --sampler ddim --steps 40 --seed 2 --n 8; sleep 30"
        Shell.sh("tmux kill-session -t \(session) 2>/dev/null")
        XCTAssertEqual(Shell.sh("tmux new-session -d -s \(session) -x 120 -y 40 '\(cmd)'").0, 0)
        defer { Shell.sh("tmux kill-session -t \(session) 2>/dev/null") }
        wait("the run to finish") { $0.contains("finished") && $0.contains("done, 40 steps") }
        keys("Home")
        for _ in 0..<2 { keys("S-Right") }   // scrubbed to step 21
        wait("scrubbing") { $0.contains("SCRUB 21/40") }
        keys("f")
        keys("s")                             // at once, before the engine's next snapshot: the fork gets DDIM 20
        keys("Space")                         // the fork of a finished run waits for space
        wait("both sides final") { $0.contains("original: final") && $0.contains("fork: final") }
        keys("R")
        wait("the recording") { $0.contains("recorded /") && $0.contains("ddpm-seed2-temp1.0-ddim40-eta0.0.ddpmtraj") }
        keys("G")
        // (40 frames 80 ms apart, the final samples held 2 s: how long it plays, as export-gif says.)
        wait("the GIF") { $0.contains("exported") && $0.contains(".gif") && $0.contains("41 frames,") && $0.contains("plays 5.2 s") }
        // Again, with no step since: no second 50 MB copy, the answer names the first.
        keys("R")
        // Both sides finished: it holds the whole run (not "again after a step", which cannot come).
        wait("no second recording") {
            $0.contains("already recorded: ") && $0.contains("ddpm-seed2-temp1.0-ddim40-eta0.0.ddpmtraj") && $0.contains("the whole run")
        }
        keys("G")
        wait("no second GIF") { $0.contains("already exported the whole run of the original: ") && $0.contains(".gif") }
        keys("q")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        XCTAssertEqual(files.filter { $0.hasSuffix(".ddpmtraj") }.count, 1, "\(files)")
        XCTAssertEqual(files.filter { $0.hasSuffix(".gif") }.count, 1, "\(files)")
        let traj = try XCTUnwrap(files.first { $0.hasSuffix(".ddpmtraj") }, "\(files)")
        XCTAssertEqual(traj, "ddpm-seed2-temp1.0-ddim40-eta0.0.ddpmtraj", "named by what made the digits")
        XCTAssertTrue(files.contains("ddpm-seed2-temp1.0-ddim40-eta0.0.gif"), "named as the recording, the run being finished: \(files)")
        let rec = try Recording.read(dir + "/" + traj)
        XCTAssertEqual(rec.main.frames.count, 40)
        XCTAssertEqual(rec.n, 8)
        XCTAssertEqual(rec.fork?.from, 21, "the scrubbed step (21 of 40) is shared")
        XCTAssertEqual(rec.fork?.settings.steps, 20)
        XCTAssertNotNil(rec.fork?.side.final)
        XCTAssertEqual(rec.model.file, "mnist-tiny.safetensors")
        XCTAssertEqual(rec.model.sha256, try Engine.sha256(ofFile: Shell.assets + "/models/mnist-tiny.safetensors"))
        XCTAssertFalse(rec.main.frames[0].readings.isEmpty, "the classifier's readings are kept")
    }

    /// A recording made mid-run ends paused where it stopped, not "finished";
    /// space then plays it again from the start.
    func testPartialRecordingEndsPaused() throws {
        let snap = AppTests.fakeSnapshot(steps: 5)   // 5 of 1000 steps, no final samples
        let rec = try XCTUnwrap(Recording(snap, model: Self.model, schedule: try NoiseSchedule().spec))
        let player = ReplayPlayer(rec)
        while !player.isFinished { player.step() }
        XCTAssertFalse(player.snapshot.finished)
        XCTAssertFalse(player.snapshot.running)
        // The status line says why it stopped there.
        var st = AppState(caps: .full, width: 120, height: 40, schedule: try NoiseSchedule())
        st.snapshot = player.snapshot; st.replay = "partial.ddpmtraj"
        XCTAssertTrue(SampleView.statusLine(st).hasSuffix("│ end of recording (made mid-run)"), SampleView.statusLine(st))
        XCTAssertTrue(player.handle(.togglePause))
        XCTAssertEqual(player.snapshot.history.count, 0, "played again from the start")
        XCTAssertTrue(player.snapshot.running)
    }

    /// Hostile per-frame fields are refused with one line: frames numbered out
    /// of order (a huge step once trapped in the status line), t that does not fall,
    /// a run's timesteps that do not fall or are not the frames'.
    /// A 30x30 model (28x28 padded by one a side, which train, sample and the explorer run) records
    /// what replay reads back: recordings took 28 or 32 only.
    func testThirtyPixelRecordingReadsBack() throws {
        let dir = Shell.temporaryDirectory("recording-30")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var s = RunnerSnapshot()
        s.n = 2; s.seed = 0; s.timesteps = Array((0..<1000).reversed())
        for i in 0..<2 {
            let f = Frame(step: i, totalSteps: 1000, t: 999 - i, tNext: 998 - i, n: 2, size: 30,
                          xt: Array(repeating: 0.5, count: 2 * 900), x0: Array(repeating: -0.25, count: 2 * 900),
                          xNext: [], eps: Stats(), x0Outside: 0)
            s.history.append(RecordedFrame(f, keep: 2))
        }
        try XCTUnwrap(Recording(s, model: Self.model, schedule: try NoiseSchedule().spec)).write(dir + "/r30.ddpmtraj")
        let back = try Recording.read(dir + "/r30.ddpmtraj")
        XCTAssertEqual(back.main.frames.map(\.size), [30, 30])
        XCTAssertEqual(back.main.frames[1].x0.first, -0.25)
    }

    func testFramesMustBeNumberedAndFall() throws {
        let dir = Shell.temporaryDirectory("recording-fields")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let good = try XCTUnwrap(Recording(AppTests.fakeSnapshot(steps: 3), model: Self.model, schedule: try NoiseSchedule().spec))
        func with(_ change: (RecordedFrame) -> (step: Int, t: Int, tNext: Int)) -> Recording {
            var r = good
            r.main.frames = r.main.frames.map { f in
                let c = change(f)
                return RecordedFrame(step: c.step, t: c.t, tNext: c.tNext, n: f.n, size: f.size, settings: f.settings, xt: f.xt, x0: f.x0,
                                     eps: f.eps, x0Outside: f.x0Outside, readings: f.readings)
            }
            return r
        }
        let cases: [(String, Recording, String)] = [
            ("huge step", with { ($0.step == 1 ? Int.max : $0.step, $0.t, $0.tNext) }, "numbered"),
            ("t rising", with { ($0.step, $0.t, $0.step == 2 ? $0.t + 1 : $0.tNext) }, "not down"),
            ("DDPM jumping", with { ($0.step, $0.t, $0.step == 2 ? $0.t - 2 : $0.tNext) }, "frame 2 is a DDPM step from t=997 to t=995, not one down"),
            ("timesteps rising", { var r = good; r.timesteps.reverse(); return r }(), "do not fall"),
            ("timesteps short", { var r = good; r.timesteps = [999, 998]; return r }(), "3 frames of a run of 2 steps"),
            ("final before the end", { var r = good; r.timesteps = [999, 998, 997, 996]; r.main.final = r.main.frames[2].x0.map(Float.init); return r }(),
             "final samples after 3 of its run's 4 steps"),
            ("timesteps not the frames'", { var r = good; r.timesteps = [999] + (0..<997).reversed(); return r }(), "the run's timesteps say"),
            // A run stops before recording a step that is not finite: NaN in a frame is damage.
            ("NaN in x0", { var r = good; let f = r.main.frames[1]; var x0 = f.x0; x0[5] = .nan
                r.main.frames[1] = RecordedFrame(step: f.step, t: f.t, tNext: f.tNext, n: f.n, size: f.size, settings: f.settings,
                                                 xt: f.xt, x0: x0, eps: f.eps, x0Outside: f.x0Outside, readings: f.readings)
                return r }(), "tensor 'x0_hat' holds a value that is not a number (frame 1)"),
        ]
        // A frame list that does not match the images (an empty one was reported as a tensor's wrong shape).
        try good.write(dir + "/good.ddpmtraj")
        let file = try SafeTensors.read(dir + "/good.ddpmtraj")
        var meta = file.metadata
        meta["frames"] = "[]"
        let blobs = file.tensors.values.map { t in (t.name, t.shape, t.dtype, t.storage.subdata(in: t.offset..<(t.offset + t.count * t.dtype.bytes))) }
        let owned = blobs.map { b -> UnsafeMutableRawBufferPointer in
            let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, b.3.count), alignment: 8)
            p.copyBytes(from: b.3)
            return p
        }
        defer { owned.forEach { $0.deallocate() } }
        let raws = zip(blobs, owned).map { b, p in (name: b.0, shape: b.1, dtype: b.2, bytes: UnsafeRawBufferPointer(rebasing: p[0..<b.3.count])) }
        try SafeTensors.write(dir + "/no-frames.ddpmtraj", raw: raws, metadata: meta)
        XCTAssertThrowsError(try Recording.read(dir + "/no-frames.ddpmtraj")) { e in
            XCTAssertTrue("\(e)".contains("'frames' describes 0 frames while tensor 'x_t' holds 3"), "\(e)")
        }
        // A negative seed is said as one (it said "seed is not a number").
        meta = file.metadata
        meta["seed"] = "-1"
        try SafeTensors.write(dir + "/negative-seed.ddpmtraj", raw: raws, metadata: meta)
        XCTAssertThrowsError(try Recording.read(dir + "/negative-seed.ddpmtraj")) { e in
            XCTAssertTrue("\(e)".contains("seed '-1' is not a whole number from 0 to 18446744073709551615"), "\(e)")
        }
        for (name, rec, needle) in cases {
            let path = dir + "/\(name.replacingOccurrences(of: " ", with: "-")).ddpmtraj"
            try rec.write(path)
            XCTAssertThrowsError(try Recording.read(path), name) { e in
                XCTAssertTrue("\(e)".contains(needle), "\(name): \(e)")
                XCTAssertFalse("\(e)".contains("\n"))
            }
            XCTAssertNoThrow(try ParserChecks.recording(try Data(contentsOf: URL(fileURLWithPath: path))), name)
        }
    }
}
