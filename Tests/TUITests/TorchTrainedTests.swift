// TorchTrainedTests.swift: models trained by PyTorch (scripts/train_torch.py,
// under torchrun) open in `ddpm` and predict what PyTorch predicts.
import Compute
@testable import Engine
import Foundation
@testable import TUI
import XCTest

final class TorchTrainedTests: XCTestCase {
    static var fixtures: String { Shell.root.path + "/Tests/TUITests/Fixtures" }

    /// The largest difference between our U-Net's output and PyTorch's on the
    /// probe batch train_torch.py wrote, relative to the largest output.
    func relativeError(weights: String, probe: String, file: StaticString = #filePath, line: UInt = #line) throws -> Double {
        let (net, params, _, _) = try loadModel(weights)
        let p = try SafeTensors.read(probe)
        let x = FloatBuffer(p.tensors["x"]!.data), ref = p.tensors["out"]!.data
        let t = p.tensors["t"]!.data.map { Int($0) }
        XCTAssertEqual(ref.count, t.count * net.config.imageSize * net.config.imageSize, file: file, line: line)
        var rng = RNG(seed: 0)
        let y = net.forward(params.ptr, x: x.ptr, t: t, mode: .evaluation, rng: &rng)
        var diff = 0.0, scale = 0.0
        for i in 0..<ref.count {
            diff = max(diff, Double(abs(y[i] - ref[i]))); scale = max(scale, Double(abs(ref[i])))
        }
        XCTAssertGreaterThan(scale, 0.1, "the probe's output is not trivial", file: file, line: line)
        return diff / scale
    }

    /// The committed fixture: a 4-level model at 32x32 with attention at level 2,
    /// on the cosine schedule, trained 100 steps by `torchrun --nproc_per_node 2
    /// scripts/train_torch.py` (command in its metadata). ddpm builds it from the
    /// metadata alone and predicts PyTorch's ε.
    func testTorchTrainedFixtureOpensAndMatchesPyTorch() throws {
        let path = Self.fixtures + "/torch-ddp-32.safetensors"
        let (net, _, schedule, file) = try loadModel(path)
        XCTAssertEqual(net.config.imageSize, 32)
        XCTAssertEqual(net.config.chMults, [1, 2, 2, 2])
        XCTAssertEqual(net.config.attention, [2])
        XCTAssertEqual(net.config.nMidBlocks, 1)
        XCTAssertEqual(schedule.kind, .cosine)
        XCTAssertEqual(schedule.T, 1000)
        XCTAssertEqual(file.metadata["step"], "100")
        XCTAssertTrue(file.metadata["trainer"]?.contains("2 process(es)") == true, file.metadata["trainer"] ?? "no trainer")
        let rel = try relativeError(weights: path, probe: Self.fixtures + "/torch-ddp-32-probe.safetensors")
        XCTAssertLessThan(rel, 1e-4, "relative difference \(rel)")
    }

    /// `ddpm info --weights` and `ddpm sample` on the fixture: what the file holds, and 32x32 samples.
    func testCommandsOpenTheFixture() throws {
        let path = Self.fixtures + "/torch-ddp-32.safetensors"
        let (code, out) = Shell.sh("\(Shell.binary) info --weights \(path)")
        XCTAssertEqual(code, 0, out)
        for s in ["cosine, T 1000", "attention at levels [2]", "32x32", "train_torch.py", "training step:        100"] {
            XCTAssertTrue(out.contains(s), "info lacks '\(s)':\n\(out)")
        }
        let dir = Shell.temporaryDirectory("torch-sample")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (c2, o2) = Shell.sh("\(Shell.binary) sample --weights \(path) --n 3 --sampler ddim --steps 5 --out \(dir)/s.idx")
        XCTAssertEqual(c2, 0, o2)
        let idx = try IDXFile.read(dir + "/s.idx")
        XCTAssertEqual(idx.dims, [3, 28, 28], "32x32 samples are cropped to the 28x28 of the data they were padded from")
    }

    /// A folder of IDX files holding 20 28x28 grey images (squares of growing
    /// size) labelled 7, 3, 7, 3, ...: another data set than MNIST.
    static func syntheticIDX(_ dir: String) throws {
        var images: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 20, 0, 0, 0, 28, 0, 0, 0, 28]
        var labels: [UInt8] = [0, 0, 8, 1, 0, 0, 0, 20]
        for i in 0..<20 {
            let r = 3 + i / 2
            for y in 0..<28 { for x in 0..<28 { images.append(abs(y - 14) < r && abs(x - 14) < r ? 255 : 0) } }
            labels.append(i % 2 == 0 ? 7 : 3)
        }
        try Data(images).write(to: URL(fileURLWithPath: dir + "/t10k-images-idx3-ubyte"))
        try Data(labels).write(to: URL(fileURLWithPath: dir + "/t10k-labels-idx1-ubyte"))
    }

    /// The explorer in tmux at 80x24 on the torch-trained 32x32 fixture with
    /// another data set (--data): it samples to the end with the model named in
    /// the header, the forward view shows that set's images, and q exits 0.
    func testExplorerOpensTheFixtureWithAnotherDataSet() throws {
        guard Shell.sh("command -v tmux").0 == 0 else { throw XCTSkip("tmux is not installed") }
        let dir = Shell.temporaryDirectory("torch-explore")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.syntheticIDX(dir)
        let session = "ddpm-torch-\(getpid())"
        let exitFile = dir + "/exit"
        func pane() -> String { Shell.sh("tmux capture-pane -p -t \(session)").1 }
        func waitFor(_ what: String, _ pred: (String) -> Bool, line: UInt = #line) {
            var last = ""
            if !Shell.poll(timeout: 30, { last = pane(); return pred(last) }) { XCTFail("timed out waiting for \(what); pane:\n\(last)", line: line) }
        }
        let cmd = "env LANG=C.UTF-8 DDPM_ASSETS=\(Shell.assets) \(Shell.binary) --weights \(Self.fixtures)/torch-ddp-32.safetensors"
            + " --data \(dir) --sampler ddim --steps 20 --seed 1; echo $? > \(exitFile); sleep 60"
        Shell.sh("tmux kill-session -t \(session) 2>/dev/null")
        XCTAssertEqual(Shell.sh("tmux new-session -d -s \(session) -x 80 -y 24 '\(cmd)'").0, 0)
        defer { Shell.sh("tmux kill-session -t \(session) 2>/dev/null") }
        waitFor("the fixture sampled to the end") { $0.contains("torch-ddp-32 · step 100") && EndToEndTests.status($0).contains("finished") }
        Shell.sh("tmux send-keys -t \(session) 3")
        waitFor("the forward view on --data's images") { $0.contains("digit #0 (label 7)") && $0.contains("cosine") }
        Shell.sh("tmux send-keys -t \(session) j")
        waitFor("the next image") { $0.contains("digit #1 (label 3)") }
        Shell.sh("tmux send-keys -t \(session) q")
        // Written, not just created: the shell's `>` makes the file before echo writes the status.
        XCTAssertTrue(Shell.poll(timeout: 10) { !Shell.read(exitFile).isEmpty }, pane())
        XCTAssertEqual((try? String(contentsOfFile: exitFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines), "0")
    }

    /// A state_dict saved without ddpm's metadata (as safetensors.torch.save_file
    /// writes one), through the binary: refused without --config, opened with
    /// it, refused with the wrong one; the samples equal the original file's.
    func testWeightsWithoutMetadataOpenWithConfig() throws {
        let dir = Shell.temporaryDirectory("nometa")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = "DDPM_ASSETS=\(Shell.assets) \(Shell.binary)"
        /// `source`'s weights written to `copy` without any metadata, as safetensors.torch.save_file writes them.
        func stripped(_ source: String, to copy: String) throws {
            let (net, params, _, _) = try loadModel(source)
            try Checkpoint.writeWeights(copy, layout: net.layout, params: params.ptr, metadata: [:])
        }
        /// `sample` (4 digits, DDIM 5 steps) makes the same digits from `weights` with `flags` as from `original` alone.
        func sameDigits(_ weights: String, _ flags: String, as original: String, _ why: String) throws {
            var got: [[UInt8]] = []
            for (w, f, out) in [(weights, flags, "a.idx"), (original, "", "b.idx")] {
                let (code, text) = Shell.sh("\(env) sample --weights \(w) \(f) --n 4 --sampler ddim --steps 5 --out \(dir)/\(out)")
                XCTAssertEqual(code, 0, text)
                if code == 0 { got.append(try IDXFile.read(dir + "/" + out).bytes) }
            }
            XCTAssertTrue(got.count == 2 && got[0] == got[1], why)
        }
        let bundled = Shell.assets + "/models/mnist-tiny-v1.safetensors"  // plain Tiny, predicting ε
        try stripped(bundled, to: dir + "/w.safetensors")
        XCTAssertNil(try SafeTensors.read(dir + "/w.safetensors").metadata["config"])
        var (code, out) = Shell.sh("\(env) sample --weights \(dir)/w.safetensors --n 4 --sampler ddim --steps 5 --out \(dir)/a.idx")
        XCTAssertEqual(code, 1, out)
        XCTAssertTrue(out.contains("its metadata does not say which model it holds") && out.contains("--config tiny"), out)
        (code, out) = Shell.sh("\(env) sample --weights \(dir)/w.safetensors --config small --n 4 --sampler ddim --steps 5 --out \(dir)/a.idx")
        XCTAssertEqual(code, 1, out)
        XCTAssertTrue(out.contains("expected"), out)
        try sameDigits(dir + "/w.safetensors", "--config tiny --schedule linear --T 1000", as: bundled, "the same weights sample the same digits")
        (code, out) = Shell.sh("\(env) info --weights \(dir)/w.safetensors --config tiny --schedule cosine")
        XCTAssertEqual(code, 0, out)
        XCTAssertTrue(out.contains("(no config in its metadata: the model --config gave)") && out.contains("cosine, T 1000") && out.contains("396,801"), out)
        XCTAssertTrue(out.contains("predicts:             eps (not in its metadata: assumed"), out)

        // The bundled model predicts v and reads an x0 estimate: without its metadata it needs --objective v
        // and a config JSON with selfCondition to sample its digits.
        let bundledV = Shell.assets + "/models/mnist-tiny.safetensors"
        try stripped(bundledV, to: dir + "/v.safetensors")
        let json = #"'{"nChannels":16,"chMults":[1,2,2],"nBlocks":2,"imageSize":28,"attention":[2],"selfCondition":true}'"#
        try sameDigits(dir + "/v.safetensors", "--config \(json) --objective v", as: bundledV, "--objective v samples as the metadata does")
        (code, out) = Shell.sh("\(env) info --weights \(dir)/v.safetensors --config \(json) --objective v")
        XCTAssertTrue(code == 0 && out.contains("predicts:             v (from --objective)") && out.contains("self-conditioning"), out)
        (code, out) = Shell.sh("\(env) sample --weights \(dir)/v.safetensors --config tiny --attention 2 --objective v --n 4 --out \(dir)/e.idx")
        XCTAssertTrue(code == 1 && out.contains("'conv_in.weight': shape [16, 2, 3, 3], expected [16, 1, 3, 3]"), out)
        // A config without the file's attention layers used to load, leave them unread and sample another model.
        let noAttention = #"'{"nChannels":16,"chMults":[1,2,2],"nBlocks":2,"imageSize":28,"selfCondition":true}'"#
        for command in ["sample --n 1 --sampler ddim --steps 2 --out \(dir)/e.idx", "info"] {
            (code, out) = Shell.sh("\(env) \(command) --weights \(dir)/v.safetensors --config \(noAttention) --objective v")
            XCTAssertTrue(code == 1 && out.contains("tensors this model does not have (downs.") && out.contains("attn")
                          && out.contains("give the --config (and --attention) it was trained with"), out)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/e.idx"))
        (code, out) = Shell.sh("\(env) sample --weights \(bundledV) --objective x0 --n 4 --out \(dir)/e.idx")
        XCTAssertEqual(code, 1, out)
        XCTAssertTrue(out.contains("its metadata says the model predicts v, not the --objective x0 given") && !out.contains("Restore"), out)
        (code, out) = Shell.sh("\(env) info --objective v")
        XCTAssertTrue(code != 0 && out.contains("--objective describe a weights file without ddpm's metadata"), out)
        (code, out) = Shell.sh("\(env) sample --weights \(bundledV) --objective y --n 4 --out \(dir)/e.idx")
        XCTAssertTrue(code != 0 && out.contains("--objective must be eps, x0 or v, got 'y'"), out)
    }

    /// The python with torch and safetensors: $DDPM_TORCH_PYTHON, else python3; nil without torch.
    static func torchPython() -> String? {
        let py = ProcessInfo.processInfo.environment["DDPM_TORCH_PYTHON"] ?? "python3"
        return Shell.sh("\(py) -c 'import torch, safetensors'").0 == 0 ? py : nil
    }

    /// train_torch.py's schedules, loss weightings (with the x0 and v
    /// conversions) and learning-rate curve are ours, to 1e-12 relative.
    func testTorchScriptsScheduleWeightsAndRateAreOurs() throws {
        guard let py = Self.torchPython() else {
            throw XCTSkip("torch is not installed (set DDPM_TORCH_PYTHON to a python with torch and safetensors); the train_torch.py check is skipped")
        }
        let code = """
        import json, sys; sys.path.insert(0, '\(Shell.root.path)/scripts'); import train_torch as tt, numpy as np
        out = {}
        for k in ('linear', 'cosine', 'quadratic', 'sigmoid'):
            s = tt.schedule_tables(dict(kind=k, T=300, betaStart=1e-4, betaEnd=0.02))
            out[k] = list(s['betas'])
            for w in ('simple', 'snr', 'min-snr', 'importance'):
                for o in ('eps', 'x0', 'v'):
                    out[k + '/' + w + '/' + o] = list(tt.loss_weights(s, np.arange(300), w, o, 5.0))
        out['lr'] = [tt.lr_at(i, 5e-4, 30, 400) for i in range(400)]
        print(json.dumps(out))
        """
        let dir = Shell.temporaryDirectory("torch-tables")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try code.write(toFile: dir + "/t.py", atomically: true, encoding: .utf8)
        let (c, o) = Shell.sh("\(py) \(dir)/t.py")
        XCTAssertEqual(c, 0, o)
        let got = try JSONDecoder().decode([String: [Double]].self, from: Data(o.utf8))
        func close(_ a: [Double]?, _ b: [Double], _ what: String) {
            guard let a, a.count == b.count else { return XCTFail("\(what): \(a?.count ?? -1) values, want \(b.count)") }
            for i in b.indices where abs(a[i] - b[i]) > 1e-12 * max(1e-30, abs(b[i])) { return XCTFail("\(what)[\(i)]: \(a[i]) vs ours \(b[i])") }
        }
        for kind in ScheduleKind.allCases {
            let s = try NoiseSchedule(kind: kind, T: 300)
            close(got[kind.rawValue], s.betas, "\(kind) betas")
            for w in Weighting.allCases {
                for obj in [Objective.eps, .x0, .v] {
                    // As Trainer.trainStep weighs an image at t.
                    let ours = (0..<300).map { t in w.weight(s, t: t, gamma: 5) * (w == .simple ? 1 : obj.epsScale(s, t: t)) }
                    close(got["\(kind.rawValue)/\(w.rawValue)/\(obj.rawValue)"], ours, "\(kind) \(w) \(obj)")
                }
            }
        }
        let lr = LRSchedule(base: 5e-4, warmup: 30, totalSteps: 400)
        close(got["lr"], (0..<400).map { lr.rate($0) }, "learning rate")
    }

    /// A self-conditioned model as PyTorch builds it (train_torch.py's
    /// build_model: conv_in reads torch.cat([x_t, x0_est], dim=1)) predicts
    /// what ours predicts from the same weights, x_t and estimate.
    func testSelfConditionedModelMatchesPyTorch() throws {
        guard let py = Self.torchPython() else {
            throw XCTSkip("torch is not installed (set DDPM_TORCH_PYTHON to a python with torch and safetensors); the self-conditioning check is skipped")
        }
        let dir = Shell.temporaryDirectory("torch-selfcond")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cfgJSON = #"{"nChannels":8,"chMults":[1,2],"nBlocks":1,"nMidBlocks":1,"imageChannels":1,"imageSize":28,"dropout":0.0,"groups":8,"attention":[1],"selfCondition":true}"#
        let code = """
        import json, sys, torch; sys.path.insert(0, '\(Shell.root.path)/scripts'); import train_torch as tt
        from safetensors.torch import save_file
        torch.manual_seed(7); m = tt.build_model(json.loads('\(cfgJSON)')).eval()
        with torch.no_grad():
            for p in m.parameters(): p.add_(torch.randn_like(p) * 0.05)
            x = torch.randn(3, 1, 28, 28); est = torch.rand(3, 1, 28, 28) * 2 - 1; t = torch.tensor([3, 480, 999])
            out = m(torch.cat([x, est], dim=1), t)
        w = {k: v.contiguous() for k, v in m.state_dict().items()}
        save_file(w, '\(dir)/w.safetensors')
        save_file({'x': x, 'est': est, 't': t.float(), 'out': out}, '\(dir)/probe.safetensors')
        """
        try code.write(toFile: dir + "/sc.py", atomically: true, encoding: .utf8)
        let (rc, o) = Shell.sh("OMP_NUM_THREADS=1 \(py) \(dir)/sc.py")
        XCTAssertEqual(rc, 0, o)
        let cfg = try JSONDecoder().decode(UNetConfig.self, from: Data(cfgJSON.utf8))
        let net = try UNet(cfg), params = FloatBuffer(count: net.parameterCount)
        XCTAssertEqual(try SafeTensors.read(dir + "/w.safetensors").tensors["conv_in.weight"]?.shape, [8, 2, 3, 3])
        try SafeTensors.read(dir + "/w.safetensors").load(into: params.ptr, layout: net.layout)
        let p = try SafeTensors.read(dir + "/probe.safetensors")
        let x = p.tensors["x"]!.data, est = p.tensors["est"]!.data, ref = p.tensors["out"]!.data
        let t = p.tensors["t"]!.data.map { Int($0) }
        // Ours: every image's x_t, then every image's estimate (CNHW; PyTorch's is NCHW).
        let predictor = UNetPredictor(net: net, params: params)
        let y = FloatBuffer(count: ref.count)
        x.withUnsafeBufferPointer { xp in est.withUnsafeBufferPointer { ep in
            predictor.predictNoise(xp.baseAddress!, t: t, x0Estimate: ep.baseAddress!, out: y.ptr)
        } }
        let scale = ref.map { abs($0) }.max()!
        let diff = (0..<ref.count).map { abs(y.ptr[$0] - ref[$0]) }.max()!
        XCTAssertGreaterThan(scale, 0.1, "the probe's output is not trivial")
        XCTAssertLessThan(diff / scale, 1e-4, "relative difference \(diff / scale)")
    }

    /// One training step of train_torch.py (loss_and_gradients, update) and
    /// of Trainer (optimise) from the same weights on the same batch, t and
    /// noise: the same loss, gradient norm, clipped gradients, weights after
    /// Adam and EMA, for each objective, weighting, loss and a learned variance.
    func testOneTrainingStepMatchesTrainTorch() throws {
        guard let py = Self.torchPython() else {
            throw XCTSkip("torch is not installed (set DDPM_TORCH_PYTHON to a python with torch and safetensors); the one-step check is skipped")
        }
        let cases: [(objective: Objective, weighting: Weighting, loss: LossKind, learnSigma: Bool, clip: Double)] = [
            (.eps, .simple, .mse, false, 0.05), (.v, .minSnr, .l1, false, 1), (.x0, .snr, .mse, false, 100), (.eps, .importance, .mse, true, 1),
        ]
        let dir = Shell.temporaryDirectory("torch-step")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (k, c) in cases.enumerated() {
            let cfgJSON = #"{"nChannels":8,"chMults":[1,2],"nBlocks":1,"nMidBlocks":1,"imageChannels":1,"imageSize":28,"dropout":0.0,"groups":8,"attention":[1]\#(c.learnSigma ? #","learnSigma":true"# : "")}"#
            let code = """
            import json, sys, torch; sys.path.insert(0, '\(Shell.root.path)/scripts'); import train_torch as tt
            from safetensors.torch import save_file
            cfg = json.loads('\(cfgJSON)'); spec = dict(kind='cosine', T=400, betaStart=1e-4, betaEnd=0.02)
            opts = dict(config=cfg, schedule=spec, batch=4, lr=1e-3, warmup=10, loss='\(c.loss.rawValue)', weighting='\(c.weighting.rawValue)',
                        emaDecay=0.9, seed=0, gradClip=\(c.clip), minSnrGamma=5.0, _objective='\(c.objective.rawValue)')
            torch.manual_seed(\(k)); model = tt.build_model(cfg); ema = tt.build_model(cfg); ema.load_state_dict(model.state_dict())
            init = {k: v.clone() for k, v in model.state_dict().items()}
            x0 = torch.rand(4, 1, 28, 28) * 2 - 1; t = torch.tensor([0, 37, 200, 399]); noise = torch.randn(4, 1, 28, 28)
            opt = torch.optim.Adam(model.parameters(), lr=tt.lr_at(0, 1e-3, 10, 100), betas=(0.9, 0.999), eps=1e-8)
            loss, gnorm = tt.loss_and_gradients(model, model, x0, t, noise, opts, tt.schedule_tables(spec))
            out = {'x0': x0, 't': t.float(), 'noise': noise}
            for n, p in model.named_parameters(): out['grad.' + n] = p.grad.clone()
            tt.update(model, ema, opt, 0.9)
            for n, v in init.items(): out['init.' + n] = v
            for n, v in model.state_dict().items(): out['after.' + n] = v.clone()
            for n, v in ema.state_dict().items(): out['ema.' + n] = v.clone()
            save_file(out, '\(dir)/step.safetensors', metadata={'loss': repr(loss.item()), 'gnorm': repr(gnorm.item())})
            """
            try code.write(toFile: dir + "/step.py", atomically: true, encoding: .utf8)
            let (rc, o) = Shell.sh("OMP_NUM_THREADS=1 \(py) \(dir)/step.py")
            XCTAssertEqual(rc, 0, o)
            let f = try SafeTensors.read(dir + "/step.safetensors")
            var opts = TrainOptions()
            opts.config = try JSONDecoder().decode(UNetConfig.self, from: Data(cfgJSON.utf8))
            opts.schedule = .init(kind: .cosine, T: 400)
            opts.batch = 4; opts.lr = 1e-3; opts.warmup = 10; opts.totalSteps = 100; opts.loss = c.loss
            opts.weighting = c.weighting; opts.emaDecay = 0.9; opts.gradClip = c.clip; opts.objective = c.objective
            let x0 = f.tensors["x0"]!.data
            let tr = try Trainer(options: opts, data: Dataset(images: x0, labels: [0, 0, 0, 0], side: 28))
            let L = tr.net.layout, n = tr.net.parameterCount
            try f.load(into: tr.params.ptr, layout: L, prefix: "init.")
            try f.load(into: tr.ema.ptr, layout: L, prefix: "init.")
            tr.x0b.ptr.update(from: x0, count: x0.count)
            tr.epsb.ptr.update(from: f.tensors["noise"]!.data, count: x0.count)
            tr.ts = f.tensors["t"]!.data.map { Int($0) }
            let lr = tr.lrSchedule.rate(0)
            let stats = try tr.optimise(lr: lr)
            let what = "case \(k) (\(c))"
            let loss = Double(f.metadata["loss"]!)!, gnorm = Double(f.metadata["gnorm"]!)!
            XCTAssertEqual(stats.loss, loss, accuracy: 2e-5 * loss, what)
            XCTAssertEqual(stats.gradNorm, gnorm, accuracy: 2e-5 * gnorm, what)
            if k == 0 { XCTAssertGreaterThan(gnorm, c.clip, "the first case clips") }
            func compare(_ prefix: String, _ ours: UnsafeMutablePointer<Float>, tolerance: (Float) -> Float, maxMismatch: Int) throws {
                let ref = FloatBuffer(count: n)
                try f.load(into: ref.ptr, layout: L, prefix: prefix)
                var bad = 0, worst = ""
                for i in 0..<n where abs(ours[i] - ref.ptr[i]) > tolerance(ref.ptr[i]) {
                    bad += 1; worst = "[\(i)] \(ours[i]) vs torch \(ref.ptr[i])"
                }
                XCTAssertLessThanOrEqual(bad, maxMismatch, "\(what) \(prefix): \(bad) of \(n) differ, e.g. \(worst)")
            }
            // Gradients after clipping: to 1e-4 of the largest.
            let g = f.tensors.filter { $0.key.hasPrefix("grad.") }.values.flatMap { $0.data }.map(abs).max()!
            try compare("grad.", tr.grads.ptr, tolerance: { _ in 1e-4 * g + 1e-8 }, maxMismatch: 0)
            // Adam's first step moves each weight by lr·g/(|g| + 1e-8): where g is near 1e-8 the float noise of g matters, so a few (measured 0.1%) differ, by at most 2 lr.
            try compare("after.", tr.params.ptr, tolerance: { 1e-6 * max(1, abs($0)) }, maxMismatch: n / 200)
            try compare("after.", tr.params.ptr, tolerance: { _ in Float(2 * lr) + 1e-6 }, maxMismatch: 0)
            try compare("ema.", tr.ema.ptr, tolerance: { 1e-6 * max(1, abs($0)) }, maxMismatch: n / 200)
        }
    }

    /// torchrun with 2 CPU processes (gloo) trains a reduced config for 20 of
    /// 30 steps; ddpm opens the file and predicts PyTorch's ε to 1e-4 relative;
    /// resuming for the last 10 steps gives the weights of an uninterrupted 30-step run, bit for bit.
    func testTorchrunTrainsWhatDdpmOpensAndResumesExactly() throws {
        guard let py = Self.torchPython() else {
            throw XCTSkip("torch is not installed (set DDPM_TORCH_PYTHON to a python with torch and safetensors); the torchrun test is skipped")
        }
        let dir = Shell.temporaryDirectory("torchrun")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = Shell.root.path + "/scripts/train_torch.py"
        let run = "OMP_NUM_THREADS=1 \(py) -m torch.distributed.run --standalone --nproc_per_node 2 \(script)"
            + " --channels 8 --mults 1,2 --blocks 1 --mid-blocks 1 --attention 1 --schedule cosine --T 500"
            + " --batch 8 --steps 30 --limit 256 --data \(Shell.assets)/mnist --seed 3"
        let (c1, o1) = Shell.sh("\(run) --stop-at 20 --out \(dir)/a.safetensors --probe \(dir)/probe.safetensors")
        XCTAssertEqual(c1, 0, o1)
        XCTAssertTrue(o1.contains("2 process(es) on cpu"), o1)
        let rel = try relativeError(weights: dir + "/a.safetensors", probe: dir + "/probe.safetensors")
        XCTAssertLessThan(rel, 1e-4, "relative difference \(rel)")
        let (_, _, schedule, a20) = try loadModel(dir + "/a.safetensors")
        XCTAssertEqual(schedule.kind, .cosine); XCTAssertEqual(schedule.T, 500)
        XCTAssertEqual(a20.metadata["step"], "20")

        let (c2, o2) = Shell.sh("\(run) --resume --out \(dir)/a.safetensors")
        XCTAssertEqual(c2, 0, o2)
        XCTAssertTrue(o2.contains("resumed \(dir)/a.safetensors.pt at step 20") && o2.contains("steps 20..30"), o2)
        let (c3, o3) = Shell.sh("\(run) --out \(dir)/b.safetensors")
        XCTAssertEqual(c3, 0, o3)
        let a = try SafeTensors.read(dir + "/a.safetensors"), b = try SafeTensors.read(dir + "/b.safetensors")
        XCTAssertEqual(a.metadata["step"], "30"); XCTAssertEqual(b.metadata["step"], "30")
        XCTAssertEqual(Set(a.tensors.keys), Set(b.tensors.keys))
        XCTAssertGreaterThan(a.tensors.count, 50)
        for (k, ta) in a.tensors { XCTAssertEqual(ta.data, b.tensors[k]?.data, "\(k) differs after resuming") }
        // And the 20-step weights are not the 30-step ones (the resumed run trained).
        XCTAssertNotEqual(a20.tensors["conv_in.weight"]?.data, a.tensors["conv_in.weight"]?.data)
    }
}
