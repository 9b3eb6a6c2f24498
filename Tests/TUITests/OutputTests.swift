// OutputTests.swift: what the commands write, read back by independent
// readers: PNG, PGM and IDX of the same samples agree; trajectory sheets;
// exported weights; schedule tables; info; progress lines off a terminal.
@testable import Engine
import Foundation
import XCTest

final class OutputTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = Shell.temporaryDirectory("out") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func ddpm(_ args: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) \(args)")
        XCTAssertEqual(code, 0, "ddpm \(args):\n\(out)", file: file, line: line)
        return out
    }
    func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    /// Tile i of a grid written by ImageWriter (1-pixel gaps), as 784 bytes.
    func tile(_ px: [UInt8], width: Int, cols: Int, _ i: Int) -> [UInt8] {
        let gx = 1 + (i % cols) * 29, gy = 1 + (i / cols) * 29
        return (0..<28).flatMap { y in (0..<28).map { x in px[(gy + y) * width + gx + x] } }
    }

    /// The same samples as PNG, PGM and IDX: every image identical in all three,
    /// digits (not blank), and no carriage-return progress off a terminal.
    func testSampleFormatsAgree() throws {
        let common = "sample --n 5 --sampler ddim --steps 20 --seed 7"
        let out = ddpm("\(common) --out \(dir)/s.png")
        XCTAssertFalse(out.contains("\r"), "progress redraws off a terminal: \(out)")
        XCTAssertEqual(out.split(separator: "\n").count, 1, out)
        // The line names every setting that shaped the samples.
        XCTAssertTrue(out.contains("wrote 5 samples to \(dir)/s.png (ddim 20 steps eta 0.0, seed 7, "), out)
        let warm = ddpm("sample --n 1 --temperature 1.5 --clip --out \(dir)/warm.png")
        XCTAssertTrue(warm.contains("(ddpm 1000 steps, temperature 1.5, x0 clipped, seed 0, "), warm)
        let one = ddpm("sample --n 1 --sampler ddim --steps 1 --out \(dir)/one.png")
        XCTAssertTrue(one.contains("(ddim 1 step eta 0.0, seed 0, "), one)
        _ = ddpm("\(common) --out \(dir)/s.pgm")
        _ = ddpm("\(common) --out \(dir)/s.idx")
        let png = try PNGDecoder.decodeGrey(try bytes(dir + "/s.png"))
        XCTAssertEqual(png.width, 3 * 28 + 4); XCTAssertEqual(png.height, 2 * 28 + 3)   // 3 columns (ceil sqrt 5), 2 rows
        let pgm = try bytes(dir + "/s.pgm")
        let header = Array("P5\n\(png.width) \(png.height)\n255\n".utf8)
        XCTAssertEqual(Array(pgm.prefix(header.count)), header)
        XCTAssertEqual(Array(pgm.dropFirst(header.count)), png.pixels)
        let idx = try IDXFile.read(dir + "/s.idx")
        XCTAssertEqual(idx.dims, [5, 28, 28])
        for i in 0..<5 {
            let img = Array(idx.bytes[(i * 784)..<((i + 1) * 784)])
            XCTAssertEqual(tile(png.pixels, width: png.width, cols: 3, i), img, "image \(i)")
            let ink = Double(img.filter { $0 > 127 }.count) / 784
            XCTAssertTrue(ink > 0.05 && ink < 0.5, "image \(i) is not a digit: \(ink)")
        }
    }

    /// The exports' font has both cases, every letter and digit its own glyph (none drawn as the box).
    func testFontHasBothCases() {
        let chars = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        let glyphs = chars.map { BitmapFont.glyphs[$0] }
        XCTAssertFalse(glyphs.contains { $0 == nil }, "a letter or digit without a glyph")
        XCTAssertEqual(Set(glyphs.compactMap { $0 }).count, chars.count, "two characters share a glyph")
        XCTAssertFalse(glyphs.contains { $0 == BitmapFont.box })
        // Every row of a glyph fits its 5 columns; g, j, p, q and y reach below the baseline, nothing else does.
        XCTAssertFalse(BitmapFont.glyphs.values.contains { $0.contains { $0 > 0x1F } })
        for (c, g) in BitmapFont.glyphs {
            let descends = "gjpqy".contains(c)
            XCTAssertEqual(g.count, BitmapFont.height + (descends ? BitmapFont.descent : 0), "\(c)")
            if descends { XCTAssertNotEqual(g.last, 0, "\(c)'s descender"); XCTAssertEqual(g[BitmapFont.height - 1] & 0x1F != 0, true, "\(c) meets its baseline") }
        }
        // Drawn, a descender goes into the rows below the line and no further.
        var px = [UInt8](repeating: 0, count: 12 * 12)
        BitmapFont.draw("p", into: &px, imageWidth: 12, x: 0, y: 0)
        XCTAssertEqual(px[8 * 12], 255, "p's stem at row 8")
        // and a letter without one leaves the rows below the baseline empty.
        var flat = [UInt8](repeating: 0, count: 12 * 12)
        BitmapFont.draw("a", into: &flat, imageWidth: 12, x: 0, y: 0)
        XCTAssertTrue(flat[BitmapFont.height * 12 ..< 12 * 12].allSatisfy { $0 == 0 })
        XCTAssertTrue(flat[0 ..< BitmapFont.height * 12].contains(255))
    }

    /// --trajectory: a labelled contact sheet, 10 step columns and the final
    /// samples, two rows (x_t, x̂0) per digit; with DDIM the last step's x̂0 is
    /// the final sample, byte for byte, and the first x_t is far from it.
    func testTrajectorySheet() throws {
        _ = ddpm("sample --n 3 --sampler ddim --steps 12 --seed 4 --out \(dir)/t.idx --trajectory --scale 1")
        let sheet = try PNGDecoder.decodeGrey(try bytes(dir + "/t-trajectory.png"))
        typealias S = TrajectorySheet
        let pairH = 2 * 28 + S.pairGap
        XCTAssertEqual(sheet.width, 2 * S.margin + S.labelW + 11 * (28 + S.colGap) - S.colGap)
        XCTAssertEqual(sheet.height, 2 * S.margin + S.head + 3 * (pairH + S.rowGap) - S.rowGap)
        /// The 28x28 tile of column c, digit r, x_t (row 0) or x̂0 (row 1).
        func tile(_ c: Int, _ r: Int, _ row: Int) -> [UInt8] {
            let x0 = S.margin + S.labelW + c * (28 + S.colGap), y0 = S.margin + S.head + r * (pairH + S.rowGap) + row * (28 + S.pairGap)
            return (0..<28).flatMap { y in (0..<28).map { x in sheet.pixels[(y0 + y) * sheet.width + x0 + x] } }
        }
        let final = try IDXFile.read(dir + "/t.idx")
        for i in 0..<3 {
            let want = Array(final.bytes[(i * 784)..<((i + 1) * 784)])
            XCTAssertEqual(tile(9, i, 1), want, "last step, x0^ of image \(i)")
            XCTAssertEqual(tile(10, i, 1), want, "final column of image \(i)")
            XCTAssertGreaterThan(zip(tile(0, i, 0), want).filter { abs(Int($0) - Int($1)) > 64 }.count, 100, "x_t at the first step is noise")
        }
        // The t labels are drawn above every column.
        for c in 0..<11 {
            let x0 = S.margin + S.labelW + c * (28 + S.colGap)
            let ink = (S.margin..<(S.margin + 7)).reduce(0) { a, y in a + (x0..<(x0 + 28)).filter { sheet.pixels[y * sheet.width + $0] > 100 }.count }
            XCTAssertGreaterThan(ink, 15, "label of column \(c)")
        }
        // Each digit's row label in the explorer's spelling, lowercase: "1 x_t" (it was drawn "1 X_T").
        var want = [UInt8](repeating: 0, count: sheet.width * sheet.height)
        let labelY = S.margin + S.head + (28 - BitmapFont.height) / 2
        BitmapFont.draw("1 x_t", into: &want, imageWidth: sheet.width, x: S.margin, y: labelY, ink: 160)
        let region = (labelY..<(labelY + BitmapFont.height)).flatMap { y in (S.margin..<(S.margin + BitmapFont.width(of: "1 x_t"))).map { y * sheet.width + $0 } }
        XCTAssertEqual(region.map { sheet.pixels[$0] }, region.map { want[$0] }, "the label of the first digit's x_t row")
        // --rows picks the digits shown; --scale scales the whole sheet.
        _ = ddpm("sample --n 5 --sampler ddim --steps 12 --seed 4 --out \(dir)/u.png --trajectory --rows 2 --scale 3")
        let big = try PNGDecoder.decodeGrey(try bytes(dir + "/u-trajectory.png"))
        XCTAssertEqual(big.width, 3 * sheet.width)
        XCTAssertEqual(big.height, 3 * (2 * S.margin + S.head + 2 * (pairH + S.rowGap) - S.rowGap))
    }

    /// export: the weights file holds exactly the model's tensors, equal to
    /// the checkpoint's EMA weights, and samples.
    func testExportedWeightsAreTheCheckpointsEMA() throws {
        let ck = dir + "/ck.safetensors", w = dir + "/w.safetensors"
        _ = ddpm("train --steps 3 --batch 4 --limit 64 --checkpoint-every 10 --out \(ck)")
        _ = ddpm("export --checkpoint \(ck) --out \(w)")
        let c = try SafeTensors.read(ck), e = try SafeTensors.read(w)
        let layout = try UNet(.tiny).layout
        XCTAssertEqual(Set(e.tensors.keys), Set(layout.entries.map(\.name)))
        for entry in layout.entries {
            XCTAssertEqual(e.tensors[entry.name]!.data, c.tensors[entry.name]!.data, entry.name)
        }
        XCTAssertNotEqual(c.tensors["conv_in.weight"]!.data, c.tensors["train.conv_in.weight"]!.data,
                          "EMA and raw weights differ after training, so the check above means something")
        _ = ddpm("sample --weights \(w) --n 1 --sampler ddim --steps 2 --out \(dir)/x.png")
    }

    /// schedule: the CSV and JSON carry T rows of the linear schedule's tables.
    func testScheduleOutputs() throws {
        let csv = ddpm("schedule --csv").split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        XCTAssertEqual(csv.first, ["t", "beta", "alpha", "alpha_bar", "alpha_bar_prev", "snr", "posterior_variance"])
        XCTAssertEqual(csv.count, 1001)
        var abar = 1.0
        for (t, row) in csv.dropFirst().enumerated() {
            let beta = 1e-4 + Double(t) * (0.02 - 1e-4) / 999
            XCTAssertEqual(Double(row[1])!, beta, accuracy: 1e-12)
            XCTAssertEqual(Double(row[4])!, abar, accuracy: 1e-12)
            abar *= 1 - beta
            XCTAssertEqual(Double(row[3])!, abar, accuracy: 1e-12)
        }
        let json = try JSONSerialization.jsonObject(with: Data(ddpm("schedule --kind cosine --steps 50 --json").utf8)) as! [String: Any]
        XCTAssertEqual(json["kind"] as? String, "cosine"); XCTAssertEqual(json["T"] as? Int, 50)
        XCTAssertEqual((json["alpha_bar"] as? [Double])?.count, 50)
        let table = ddpm("schedule --steps 10")
        XCTAssertTrue(table.contains("alpha_bar") && table.split(separator: "\n").count >= 11, table)
        // The table names its last column as --csv and the help do; sigmoid's beta_0 is above
        // --beta-start (its curve never reaches the ends), printed as the table prints numbers.
        XCTAssertTrue(table.contains(" posterior_variance\n"), table)
        let sigmoid = ddpm("schedule --kind sigmoid")
        XCTAssertTrue(sigmoid.contains("beta_0 = 0.000149205\n"), sigmoid)
    }

    /// info: the parameter counts of SPEC (Tiny 396,801; Small 4,333,505);
    /// alone, the bundled model that sample and the explorer run.
    func testInfo() {
        XCTAssertTrue(ddpm("info --config tiny").contains("parameters:           396,801"))
        let alone = ddpm("info")
        XCTAssertTrue(alone.contains("file:                 \(Shell.assets)/models/mnist-tiny.safetensors")
                      && alone.contains("parameters:           426,961"), alone)
        XCTAssertTrue(ddpm("info --config small").contains("4,333,505"))
        // --weights: what a file holds, from its metadata.
        let lv = ddpm("info --weights \(Shell.assets)/models/mnist-tiny-learned-variance.safetensors")
        for want in ["tiny + learned variance", "parameters:           396,946", "linear, T 1000", "predicts:             eps and its variance (the interpolation",
                     "training step:        6000", "--learn-sigma"] {
            XCTAssertTrue(lv.contains(want), "\(want) in:\n\(lv)")
        }
        // The bundled model: what it is and its whole recipe (the model it was fine-tuned from, resumed runs included).
        let bundled = ddpm("info --weights \(Shell.assets)/models/mnist-tiny.safetensors")
        for want in ["tiny + attention at 7x7 + self-conditioning", "parameters:           426,961", "predicts:             v",
                     "training step:        4000", "note:", "--init assets/models/mnist-tiny-v4.safetensors",
                     "--teacher assets/models/mnist-tiny-v4.safetensors --weak-teacher assets/models/mnist-tiny-v1.safetensors --guidance-weight 3 --guidance-max-t 500 --guidance-on-noise",
                     "--class-weights 1.01,0.60,1.23,0.91,1.11,1.28,1.09,1.02,0.96,0.79"] {
            XCTAssertTrue(bundled.contains(want), "\(want) in:\n\(bundled)")
        }
        // The models it was grown from, kept for comparison.
        let v4 = ddpm("info --weights \(Shell.assets)/models/mnist-tiny-v4.safetensors")
        for want in ["training step:        5000", "--init assets/models/mnist-tiny-v3.safetensors",
                     "--class-weights 0.97,0.73,0.99,1.03,1.38,1.21,1.0,0.94,1.19,0.87", "the last of three commands"] {
            XCTAssertTrue(v4.contains(want), "\(want) in:\n\(v4)")
        }
        let v3 = ddpm("info --weights \(Shell.assets)/models/mnist-tiny-v3.safetensors")
        for want in ["tiny + attention at 7x7 + self-conditioning", "parameters:           426,961", "training step:        5000",
                     "--init assets/models/mnist-tiny-v2.safetensors --self-condition", "--resume --steps 5000"] {
            XCTAssertTrue(v3.contains(want), "\(want) in:\n\(v3)")
        }
        let v2 = ddpm("info --weights \(Shell.assets)/models/mnist-tiny-v2.safetensors")
        for want in ["tiny + attention at 7x7 (", "parameters:           426,817", "training step:        38000",
                     "--attention 2 --objective v --weighting min-snr", "--resume --steps 38000"] {
            XCTAssertTrue(v2.contains(want), "\(want) in:\n\(v2)")
        }
        let noisy = ddpm("info --weights \(Shell.assets)/models/mnist-noisy-classifier.safetensors")
        XCTAssertTrue(noisy.contains("not a U-Net") && noisy.contains("\nschedule:             linear, T 1000, beta 0.0001...0.02\n"), noisy)
        // A step no run reaches (a negative one here, the header's length kept) is called so, not shown as the training step.
        var bytes = try! Data(contentsOf: URL(fileURLWithPath: "\(Shell.assets)/models/mnist-tiny.safetensors"))
        let at = try! XCTUnwrap(bytes.range(of: Data(#""step":"4000""#.utf8)))
        bytes.replaceSubrange(at, with: Data(#""step":"-500""#.utf8))
        try! bytes.write(to: URL(fileURLWithPath: dir + "/negative-step.safetensors"))
        let negative = ddpm("info --weights \(dir)/negative-step.safetensors")
        XCTAssertTrue(negative.contains("training step:        not a step a run can reach: -500"), negative)
    }

    /// On a terminal (a pty from script(1)) sample and train redraw one
    /// progress line with carriage returns; off a terminal they print plain lines.
    func testProgressOnATerminal() throws {
        guard Shell.sh("command -v script").0 == 0 else { throw XCTSkip("script(1) is not installed") }
        let log = dir + "/tty.log"
        let (code, out) = Shell.sh("script -qec 'DDPM_ASSETS=\(Shell.assets) \(Shell.binary) sample --n 2 --sampler ddim --steps 30 --out \(dir)/p.png' \(log)")
        XCTAssertEqual(code, 0, out)
        let text = Shell.read(log)
        XCTAssertTrue(text.contains("\rstep ") && text.contains("steps/s"), text)
        let plain = ddpm("train --steps 3 --batch 4 --limit 32 --checkpoint-every 10 --out \(dir)/c.safetensors")
        XCTAssertFalse(plain.contains("\r"), plain)
        XCTAssertTrue(plain.contains("step 3/3"), plain)
    }

    /// `train --config` takes a config JSON as the other commands do: the run
    /// trains that model and its files say so (`info` reads the custom config).
    func testTrainsAConfigJSON() throws {
        let ck = dir + "/j.safetensors", w = dir + "/j-ema.safetensors"
        let json = #"'{"nChannels":8,"chMults":[1,2,4],"nBlocks":1,"imageSize":28}'"#
        let out = ddpm("train --config \(json) --attention 2 --steps 2 --batch 4 --limit 16 --checkpoint-every 10 --out \(ck) --export \(w)")
        XCTAssertTrue(out.contains("training custom(c8,1-2-4,b1,s28,attn2)"), out)
        let cfg = try JSONDecoder().decode(UNetConfig.self, from: Data(try SafeTensors.read(w).metadata["config"]!.utf8))
        XCTAssertEqual(cfg.chMults, [1, 2, 4])
        XCTAssertEqual(cfg.nBlocks, 1)
        XCTAssertEqual(cfg.attention, [2])
        XCTAssertTrue(ddpm("info --weights \(w)").contains("custom(c8,1-2-4,b1,s28,attn2)"))
        let resumed = ddpm("train --resume --steps 3 --out \(ck)")
        XCTAssertTrue(resumed.contains("resumed \(ck) at step 2 of 3"), resumed)
    }

    /// Autoguidance in `sample`: guided by the model itself at w = 0 it is the
    /// plain sampler bit for bit (ε_weak + 0·(…) is ε_weak); guided away from v1
    /// it differs, and the summary says so. Distillation in `train`: a short run
    /// says what it learns from, `info` gives the flags that made it, and it resumes.
    func testAutoguideAndDistillation() throws {
        let m = "\(Shell.assets)/models", common = "sample --n 3 --sampler ddim --steps 4 --seed 7"
        _ = ddpm("\(common) --out \(dir)/plain.idx")
        _ = ddpm("\(common) --out \(dir)/v1plain.idx --weights \(m)/mnist-tiny-v1.safetensors")
        // At w = 0 the pair is the weak model alone: v1's own samples, bit for bit.
        let weakOnly = ddpm("\(common) --out \(dir)/w0.idx --autoguide \(m)/mnist-tiny-v1.safetensors --autoguide-weight 0")
        XCTAssertTrue(weakOnly.contains("autoguided away from mnist-tiny-v1.safetensors at w = 0.0"), weakOnly)
        XCTAssertEqual(try bytes("\(dir)/v1plain.idx"), try bytes("\(dir)/w0.idx"))
        XCTAssertNotEqual(try bytes("\(dir)/plain.idx"), try bytes("\(dir)/w0.idx"))
        let v1 = ddpm("\(common) --out \(dir)/v1.idx --autoguide \(m)/mnist-tiny-v1.safetensors --autoguide-weight 3 --autoguide-max-t 500")
        XCTAssertTrue(v1.contains("autoguided away from mnist-tiny-v1.safetensors at w = 3.0, t <= 500"), v1)
        XCTAssertNotEqual(try bytes("\(dir)/plain.idx"), try bytes("\(dir)/v1.idx"))

        let ck = dir + "/d.safetensors"
        let out = ddpm("train --init \(m)/mnist-tiny.safetensors --teacher \(m)/mnist-tiny.safetensors --weak-teacher \(m)/mnist-tiny-v1.safetensors"
                       + " --guidance-weight 3 --guidance-max-t 500 --guidance-on-noise --objective v --steps 2 --batch 4 --limit 16 --checkpoint-every 10 --out \(ck)")
        XCTAssertTrue(out.contains("guided away from \(m)/mnist-tiny-v1.safetensors at w = 3.0, t <= 500, as an offset to the noise"), out)
        let info = ddpm("info --weights \(ck)")
        XCTAssertTrue(info.contains("--teacher \(m)/mnist-tiny.safetensors --weak-teacher \(m)/mnist-tiny-v1.safetensors --guidance-weight 3.0 --guidance-max-t 500 --guidance-on-noise"), info)
        let resumed = ddpm("train --resume --steps 3 --out \(ck)")
        XCTAssertTrue(resumed.contains("resumed \(ck) at step 2 of 3") && resumed.contains("as an offset to the noise"), resumed)
        let (code, tui) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) train --resume --steps 4 --tui --out \(ck) 2>&1")
        XCTAssertTrue(code != 0 && tui.contains("distils a teacher: continue it in the plain loop, not --tui"), tui)
        let (c2, big) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) \(common) --out \(dir)/x.idx --autoguide \(m)/mnist-tiny-v1.safetensors --autoguide-max-t 1000 2>&1")
        XCTAssertTrue(c2 != 0 && big.contains("--autoguide-max-t must be in 0...999 (the model's timesteps), got 1000"), big)
    }

    /// A fine-tune says what it keeps from its weights (their schedule) and what it changes (an
    /// objective other than theirs); a resume says it keeps its schedule over -T and --schedule.
    func testFineTuneSaysWhatItKeepsAndRetargets() throws {
        let ck = dir + "/ft.safetensors", m = Shell.assets + "/models"
        let out = ddpm("train --init \(m)/mnist-tiny-v1.safetensors --objective v --steps 1 --batch 4 --limit 16 --checkpoint-every 10 --out \(ck)")
        XCTAssertTrue(out.contains("linear schedule with T 1000, predicts v"), out)
        XCTAssertTrue(out.contains("note: \(m)/mnist-tiny-v1.safetensors predicts eps; the run retrains its output to predict v"), out)
        let same = ddpm("train --init \(m)/mnist-tiny.safetensors -T 1000 --steps 1 --batch 4 --limit 16 --checkpoint-every 10 --out \(dir)/ft2.safetensors")
        XCTAssertFalse(same.contains("note:"), "the bundled model's own T and objective are no change: \(same)")
        let resumed = ddpm("train --resume --steps 2 -T 20 --schedule cosine --out \(ck)")
        XCTAssertTrue(resumed.contains("not applied: --schedule (linear), -T (1000)"), resumed)
    }

    /// A resumed distilling run reads the teachers its checkpoint names: a file replaced since
    /// (another model at the same path) is refused by its SHA-256, the checkpoint itself as its
    /// own teacher is refused as an input it would overwrite, and paths are printed escaped.
    func testResumedDistillationChecksItsTeachers() throws {
        let m = Shell.assets + "/models", teacher = dir + "/t\u{1b}[2Jx.safetensors", d = dir + "/dist.safetensors"
        let small = "--steps 2 --batch 4 --limit 16 --checkpoint-every 10"
        _ = ddpm("train \(small) --out '\(teacher)'")
        let out = ddpm("train \(small) --teacher '\(teacher)' --weak-teacher \(m)/mnist-tiny-v1.safetensors --out \(d)")
        XCTAssertTrue(out.contains("distilling \(dir)/t\\u001b[2Jx.safetensors guided away"), out)
        XCTAssertFalse(out.contains("\u{1b}"), "a path's escape character reached the terminal: \(out)")
        let opts = try Checkpoint.trainState(try SafeTensors.read(d).metadata, path: d).options
        XCTAssertEqual(opts.distill?.teacherSHA256, try sha256(ofFile: teacher))
        // Another model where the teacher was.
        try FileManager.default.removeItem(atPath: teacher)
        _ = ddpm("train \(small) --seed 7 --out '\(teacher)'")
        let (code, replaced) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) train --resume --steps 3 --out \(d) 2>&1")
        XCTAssertTrue(code != 0 && replaced.contains("'s --teacher \(dir)/t\\u001b[2Jx.safetensors is not the file this run started distilling from"), replaced)
        // The checkpoint as its own teacher.
        try FileManager.default.removeItem(atPath: teacher)
        try FileManager.default.copyItem(atPath: d, toPath: teacher)
        let (c2, own) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) train --resume --steps 3 --out '\(teacher)' 2>&1")
        XCTAssertTrue(c2 != 0 && own.contains("(its --teacher); choose another path for --out"), own)
    }

    /// --resume with --epochs and --ema: the run's length and EMA decay change from there on.
    func testResumeWithEpochsAndEMA() throws {
        let ck = dir + "/r.safetensors"
        _ = ddpm("train --steps 2 --batch 16 --limit 64 --checkpoint-every 10 --out \(ck)")
        let out = ddpm("train --resume --epochs 2 --ema 0.9 --batch 16 --limit 64 --checkpoint-every 10 --out \(ck)")
        XCTAssertTrue(out.contains("resumed \(ck) at step 2 of 8") && out.contains("EMA 0.9"), out)   // 2 epochs of 64/16 steps
        XCTAssertFalse(out.contains("note:"), "--batch as the checkpoint's is no change: \(out)")
        var meta = try SafeTensors.read(ck).metadata
        XCTAssertEqual(try Checkpoint.trainState(meta, path: ck).step, 8)
        // Without --batch, or with another, epochs count at the checkpoint's batch 16, and the note says --batch is kept.
        let again = ddpm("train --resume --epochs 3 --batch 32 --limit 64 --checkpoint-every 10 --out \(ck)")
        XCTAssertTrue(again.contains("resumed \(ck) at step 8 of 12"), again)
        XCTAssertTrue(again.contains("note: a resumed run keeps its checkpoint's settings; not applied: --batch (it trains at 16)"), again)
        meta = try SafeTensors.read(ck).metadata
        let opts = try JSONSerialization.jsonObject(with: Data(meta["options"]!.utf8)) as! [String: Any]
        XCTAssertEqual(opts["emaDecay"] as? Double, 0.9)
        XCTAssertEqual(opts["totalSteps"] as? Int, 12)
    }

    /// --resume trains on as many images as the run started with (`images` in
    /// the file) without --limit; another --limit is refused.
    func testResumeKeepsTheRunsLimit() throws {
        let a = dir + "/a.safetensors"
        let first = ddpm("train --steps 2 --batch 8 --limit 40 --checkpoint-every 10 --out \(a)")
        XCTAssertEqual(try SafeTensors.read(a).metadata["images"], "40")
        // The warm-up of 300 steps is cut to a tenth of the 2 (0): said at the start.
        XCTAssertTrue(first.contains("; warm-up 0 steps (--warmup 300: a warm-up is at most a tenth of the run)") && first.contains("\ndone: 2 steps in "), first)
        let out = ddpm("train --steps 5 --checkpoint-every 10 --out \(a) --resume")
        XCTAssertTrue(out.contains("resumed \(a) at step 2 of 5"), out)
        // The time is of the steps this run trained, and the line says which.
        XCTAssertTrue(out.contains("\ndone: step 5; steps 3-5 trained in ") && out.contains(" (resumed at 2), final smoothed loss "), out)
        // 5 steps of 8 images: one epoch of the 40 (of all 60,000 it would be 0.001).
        let meta = try SafeTensors.read(a).metadata
        XCTAssertEqual(meta["epochs"], "1.000")
        XCTAssertEqual(meta["images"], "40")
        let (code, bad) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) train --steps 6 --limit 32 --checkpoint-every 10 --out \(a) --resume")
        XCTAssertEqual(code, 1, bad)
        XCTAssertTrue(bad.contains("trained on 40 images") && bad.contains("--limit 40"), bad)
        // ... and on its set: a run of the bundled MNIST records no data, and another --data is refused
        // (it switched the resumed run to the other set).
        let other = dir + "/other-set"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        for f in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"] {
            try FileManager.default.copyItem(atPath: "\(Shell.assets)/mnist/\(f)", toPath: "\(other)/\(f)")
        }
        let (code3, switched) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) train --steps 6 --data \(other) --checkpoint-every 10 --out \(a) --resume")
        XCTAssertEqual(code3, 1, switched)
        XCTAssertTrue(switched.contains("Error: \(a) trained on the bundled MNIST; --resume continues on it (leave out --data)"), switched)
        // --seed and --loss other than the run's are refused (they were dropped), its own pass.
        for (flag, said) in [("--seed 9", "--seed 9: --resume continues with the checkpoint's own, 0 (leave out --seed)"),
                             ("--loss l1", "--loss l1: --resume continues with the checkpoint's own, mse (leave out --loss)")] {
            let (code4, out4) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) train --steps 5 \(flag) --checkpoint-every 10 --out \(a) --resume")
            XCTAssertEqual(code4, 1, out4)
            XCTAssertTrue(out4.contains("Error: " + said), out4)
        }
        XCTAssertTrue(ddpm("train --steps 5 --seed 0 --loss mse --checkpoint-every 10 --out \(a) --resume").contains("nothing to train"))
        // Resuming the finished run trains nothing and says so (no "nan" loss).
        let again = ddpm("train --steps 5 --checkpoint-every 10 --out \(a) --resume")
        XCTAssertTrue(again.contains("already at step 5 of 5, nothing to train") && !again.contains("nan"), again)
        // A length the run has passed is refused, and the checkpoint stays as it was.
        let before = try bytes(a)
        let (shortCode, short) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) train --steps 3 --checkpoint-every 10 --out \(a) --resume")
        XCTAssertEqual(shortCode, 1, short)
        XCTAssertTrue(short.contains("--steps 3 is fewer than the 5 steps \(a) has trained: a resumed run goes on from its step"), short)
        XCTAssertEqual(try bytes(a), before)
        // A malformed count is refused, not ignored (the header edited in place, same length).
        var file = try bytes(a)
        let key = Array(#""images":"40""#.utf8), bad4x = Array(#""images":"4x""#.utf8)
        guard let at = (0...(min(file.count, 1 << 16) - key.count)).first(where: { Array(file[$0..<($0 + key.count)]) == key }) else {
            return XCTFail("no images field in \(a)")
        }
        file.replaceSubrange(at..<(at + key.count), with: bad4x)
        let broken = dir + "/broken.safetensors"
        try Data(file).write(to: URL(fileURLWithPath: broken))
        let (code2, out2) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) train --steps 6 --checkpoint-every 10 --out \(broken) --resume")
        XCTAssertEqual(code2, 1, out2)
        XCTAssertTrue(out2.contains("images (4x) is not a count"), out2)
    }

    /// A Small checkpoint resumes without --config small (the model comes from
    /// the checkpoint, so the data is padded to 32); export refuses --meta that
    /// would make an unloadable file.
    func testResumeSmallAndExportMeta() throws {
        let ck = dir + "/small.safetensors"
        _ = ddpm("train --config small --steps 1 --batch 2 --limit 8 --checkpoint-every 10 --out \(ck)")
        XCTAssertTrue(ddpm("train --steps 2 --batch 2 --limit 8 --checkpoint-every 10 --out \(ck) --resume").contains("training small"))
        let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) export --checkpoint \(ck) --out \(dir)/junk.safetensors --meta config=junk")
        XCTAssertEqual(code, 1, out)
        XCTAssertTrue(out.contains("--meta cannot change 'config': the checkpoint records it for these weights"), out)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/junk.safetensors"))
        // Nor another recorded fact (a schedule of T 5 made a file that sampled 5 steps); a note is added.
        // One key twice: which was meant is said to be unclear, not the last taken.
        let twice = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) export --checkpoint \(ck) --out \(dir)/junk.safetensors --meta note=a --meta note=b")
        XCTAssertEqual(twice.0, 1, twice.1)
        XCTAssertTrue(twice.1.contains("--meta gives 'note' twice: give each key once"), twice.1)
        for kv in ["step=abc", "command=x", "schedule='{\"kind\":\"linear\",\"T\":5,\"betaStart\":0.0001,\"betaEnd\":0.02}'"] {
            let (c, o) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) export --checkpoint \(ck) --out \(dir)/junk.safetensors --meta \(kv)")
            XCTAssertEqual(c, 1, o)
            XCTAssertTrue(o.contains("--meta cannot change '"), o)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/junk.safetensors"))
        let png = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) export --checkpoint \(ck) --out \(dir)/weights.png")
        XCTAssertTrue(png.0 == 1 && png.1.contains("--out must be a file name ending in .safetensors (weights)"), png.1)
        let (c, o) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) export --checkpoint \(ck) --out \(dir)/noted.safetensors --meta note=lecture")
        XCTAssertEqual(c, 0, o)
        XCTAssertEqual(try SafeTensors.read(dir + "/noted.safetensors").metadata["note"], "lecture")
        // info shows a note on one line, newlines escaped, and cuts a long one saying how long it was.
        let long = "a" + String(repeating: "x", count: 2999)
        _ = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) export --checkpoint \(ck) --out \(dir)/long.safetensors --meta \"note=$(printf 'line1\\nline2')\(long)\"")
        let info = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) info --weights \(dir)/long.safetensors").1
        let note = try XCTUnwrap(info.split(separator: "\n").first { $0.hasPrefix("note:") }, info)
        XCTAssertTrue(note.contains("line1\\u000aline2a") && note.hasSuffix("… (3011 characters)") && note.count < 2100, String(note.prefix(100)))
    }

    /// --recipe picks the starting options (flags change them); --minutes stops
    /// and saves; --report-every prints the confident share of 64 EMA preview
    /// digits (the demo's timing script reads these lines).
    func testRecipesMinutesAndReports() throws {
        func options(_ ck: String) throws -> TrainOptions {
            try Checkpoint.trainState(try SafeTensors.read(ck).metadata, path: ck).options
        }
        let demo = dir + "/demo.safetensors", full = dir + "/full.safetensors"
        _ = ddpm("train --recipe demo --steps 2 --limit 64 --checkpoint-every 10 --out \(demo)")
        XCTAssertEqual(try options(demo), { var o = TrainRecipe.demo.options(images: 64); o.totalSteps = 2; return o }())
        // The demo predicts v, and its file says so (every command converts v̂ to ε̂); a learned variance
        // trains with ε whatever the recipe predicts, and --objective chooses over both.
        XCTAssertEqual(try options(demo).objective, .v)
        XCTAssertEqual(try SafeTensors.read(demo).metadata["objective"], "v")
        // A fine-tune keeps its file's objective, except with --learn-sigma.
        for (flags, objective) in [("--learn-sigma", Objective.eps), ("--objective x0", .x0), ("--recipe full --init \(demo)", .v),
                                   ("--init \(demo) --learn-sigma", .eps)] {
            let other = dir + "/demo-other.safetensors"
            try? FileManager.default.removeItem(atPath: other)
            let said = ddpm("train --recipe demo \(flags) --steps 2 --limit 64 --checkpoint-every 10 --out \(other)")
            XCTAssertEqual(try options(other).objective, objective, said)
        }
        _ = ddpm("train --steps 2 --limit 64 --lr 3e-4 --weighting snr --checkpoint-every 10 --out \(full)")
        let f = try options(full)
        XCTAssertEqual(f.batch, 64); XCTAssertEqual(f.emaDecay, 0.999); XCTAssertEqual(f.config.dropout, 0)
        XCTAssertEqual(f.lr, 3e-4); XCTAssertEqual(f.weighting, .snr)
        // info gives a run's flags (its model, T and images too); they train the same run again.
        let other = dir + "/other.safetensors"
        _ = ddpm("train --steps 2 --limit 64 -T 500 --attention 2 --dropout 0.1 --class-weights=-0,2,1,1,1,1,1,1,1,1 --checkpoint-every 10 --out \(other)")
        for (ck, words) in [(full, ["--batch 64 --lr 0.0003 ", "--weighting snr", "--limit 64"]), (other, ["-T 500", "--attention 2", "--dropout 0.1", "--class-weights=-0.0,2.0,"])] {
            let info = ddpm("info --weights \(ck)")
            let flags = try XCTUnwrap(info.split(separator: "\n").first { $0.hasPrefix("trained with:") }).dropFirst("trained with:".count)
            for w in words { XCTAssertTrue(flags.contains(w), "\(w): \(info)") }
            let again = dir + "/again.safetensors"
            try? FileManager.default.removeItem(atPath: again)
            _ = ddpm("train \(flags) --checkpoint-every 10 --out \(again)")
            XCTAssertEqual(try options(again), try options(ck))
            XCTAssertEqual(try SafeTensors.read(again).metadata["images"], "64")
        }
        XCTAssertEqual(TrainRecipe.full.options(images: 60_000).totalSteps, 20 * 937, "20 epochs of 60,000 at batch 64")
        let (code, bad) = Shell.sh("\(Shell.binary) train --recipe quick --out \(dir)/x.safetensors")
        XCTAssertEqual(code, 64, bad)
        XCTAssertTrue(bad.contains("unknown --recipe 'quick' (demo or full)"), bad)

        let timed = dir + "/timed.safetensors"
        let t0 = Date()
        let exported = dir + "/timed-ema.safetensors"
        let out = ddpm("train --recipe demo --limit 256 --steps 100000 --minutes 0.1 --report-every 2 --out \(timed) --export \(exported)")
        let took = Date().timeIntervalSince(t0)
        XCTAssertTrue(out.contains("stopped after") && out.contains("(--minutes)") && out.contains("checkpoint saved to \(timed), EMA weights to \(exported);"), out)
        // --export is written when --minutes stops the run (it was written only at a run's end, so never here).
        XCTAssertEqual(try SafeTensors.read(exported).metadata["step"], try SafeTensors.read(timed).metadata["step"])
        XCTAssertGreaterThan(took, 6); XCTAssertLessThan(took, 40, out)
        XCTAssertFalse(out.contains("sized to this machine"), "--steps gives the length")
        let reports = out.split(separator: "\n").filter { $0.hasPrefix("report ") }
        XCTAssertGreaterThanOrEqual(reports.count, 2, out)
        // "report 0:02 step 41 confident 0/64 (0.000) classes 0,0,0,0,0,0,0,0,0,0 loss 0.4213"
        let r = reports.last!.split(separator: " ")
        XCTAssertEqual(r[2], "step"); XCTAssertEqual(r[4], "confident"); XCTAssertTrue(r[5].hasSuffix("/64"), String(reports.last!))
        XCTAssertEqual(try Checkpoint.trainState(try SafeTensors.read(timed).metadata, path: timed).step, Int(r[3]),
                       "the last report is at the step the checkpoint holds")

        // Without --steps the demo sizes itself to the machine's pace after its
        // first 50 steps. Stopped before then (after 0.06 s, a few steps), its
        // checkpoint says the fit is still to come, and the resumed run is sized
        // 50 steps after the resume; --steps on the resume gives the length instead.
        let fitted = dir + "/fitted.safetensors", given = dir + "/given.safetensors"
        let said = ddpm("train --recipe demo --limit 256 --minutes 0.001 --out \(fitted)")
        XCTAssertTrue(said.contains("\(TrainRecipe.demoSteps) steps (") && said.contains("; at most: sized to this machine's pace after 50 steps"), said)
        // Its first step's line gives the length as a bound and no ETA yet (not "ETA 16m47s").
        XCTAssertTrue(said.contains("step 1/<=\(TrainRecipe.demoSteps) ") && said.contains("ETA at step 50"), said)
        let meta = try SafeTensors.read(fitted).metadata
        let stoppedAt = try Checkpoint.trainState(meta, path: fitted).step
        XCTAssertLessThan(stoppedAt, TrainRecipe.demoFit.atStep, said)
        XCTAssertNotNil(meta["length_fit"], "the checkpoint says the fit is still to come")
        try FileManager.default.copyItem(atPath: fitted, toPath: given)
        // info's flags for it leave the sizing (and the start-over) to come: no length, warm-up, batch or rate.
        let unsized = ddpm("info --weights \(given)")
        let unsizedFlags = try XCTUnwrap(unsized.split(separator: "\n").first { $0.hasPrefix("trained with:") }, unsized)
        XCTAssertTrue(unsizedFlags.contains("--recipe demo") && unsizedFlags.contains("--objective v"), unsized)
        for w in ["--steps", "--warmup", "--batch", "--lr"] { XCTAssertFalse(unsizedFlags.contains(w), "\(w): \(unsized)") }
        // Ctrl-C (which saves) once it is sized: the sizing is what this checks, and it comes
        // 50 steps after the resume, or 100 when the run starts over (14 s here).
        let job = Shell.background("env DDPM_ASSETS=\(Shell.assets) \(Shell.binary) train --resume --limit 256 --minutes 1.5 --out \(fitted)", at: dir + "/resume")
        XCTAssertTrue(Shell.poll(timeout: 100) { Shell.read(job.log).contains("\nsized to this machine: ") || !Shell.read(job.code).isEmpty }, Shell.read(job.log))
        Shell.sh("kill -INT $(cat \(job.pid))")
        XCTAssertTrue(Shell.poll(timeout: 30) { !Shell.read(job.code).isEmpty })
        XCTAssertEqual(Shell.read(job.code).trimmingCharacters(in: .whitespacesAndNewlines), "0")
        let resumed = Shell.read(job.log)
        XCTAssertTrue(resumed.contains("; at most: sized to this machine's pace after 50 steps"), resumed)
        // "sized to this machine: 1450 steps, 4.5 min at this pace" or, fast enough for the other setting,
        // "fast machine: started over at batch 32, lr 0.001; sized again at step 50"
        // and, 50 steps into that, "sized to this machine: 2150 steps of batch 32, 4.5 min at this pace".
        let sizedLines = resumed.split(separator: "\n").filter { $0.hasPrefix("sized to this machine: ") }
        let sized = String(try XCTUnwrap(sizedLines.first, resumed))
        XCTAssertEqual(sizedLines.count, 1, resumed)
        XCTAssertEqual(sized.contains("of batch 32"), resumed.contains("started over"), resumed)
        let words = sized.split(separator: " ").map(String.init)
        let n = try XCTUnwrap(words.indices.dropFirst().first { words[$0].hasPrefix("steps") }.flatMap { Int(words[$0 - 1]) }, sized)
        let faster = try XCTUnwrap(TrainRecipe.demoFit.faster)
        if resumed.contains("started over") {
            XCTAssertTrue(faster.steps.contains(n) && n % 50 == 0, sized)
            XCTAssertEqual(try options(fitted).batch, faster.batch); XCTAssertEqual(try options(fitted).lr, faster.lr)
        } else {
            XCTAssertTrue(TrainRecipe.demoFit.steps.contains(n) && n % 50 == 0, sized)
        }
        XCTAssertEqual(try options(fitted).totalSteps, n, "the checkpoint keeps the length chosen")
        XCTAssertNil(try SafeTensors.read(fitted).metadata["length_fit"])
        // A batch given stays: the fit sizes the length only, never starting over with the faster setting.
        let kept = dir + "/kept.safetensors"
        let keptOut = ddpm("train --recipe demo --limit 256 --batch 8 --minutes 0.05 --out \(kept)")
        XCTAssertFalse(keptOut.contains("started over"), keptOut)
        XCTAssertEqual(try options(kept).batch, 8)
        if let fit = try SafeTensors.read(kept).metadata["length_fit"] { XCTAssertFalse(fit.contains("faster"), fit) }
        let set = ddpm("train --resume --limit 256 --steps \(stoppedAt + 10) --out \(given)")
        XCTAssertFalse(set.contains("sized to this machine"), set)
        XCTAssertEqual(try options(given).totalSteps, stoppedAt + 10)
    }
}
