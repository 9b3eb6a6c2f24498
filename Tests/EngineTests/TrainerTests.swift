import XCTest
@testable import Compute
@testable import Engine

final class TrainerTests: XCTestCase {
    static let digits: Dataset = try! Dataset.load(dir: DataTests.mnistDir, train: true, limit: 512)

    func smallOptions() -> TrainOptions {
        var o = TrainOptions()
        o.config = .tiny
        o.batch = 16; o.lr = 1e-3; o.warmup = 10; o.totalSteps = 150; o.seed = 3
        return o
    }

    /// A new empty folder for checkpoints (the caller removes it).
    func temporaryDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "trainer-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// 60 steps on 512 real digits lower the loss clearly: the last 20 below half the first 10
    /// (with seed 3: 0.71 over the first 10, 0.11 over the last 20).
    func testTrainingLowersLoss() throws {
        let tr = try Trainer(options: smallOptions(), data: Self.digits)
        var first: [Double] = [], last: [Double] = []
        for i in 0..<60 {
            let s = try tr.trainStep()
            if i < 10 { first.append(s.loss) }
            if i >= 40 { last.append(s.loss) }
        }
        let a = first.reduce(0, +) / 10, b = last.reduce(0, +) / 20
        print("loss: first 10 steps \(a), last 20 steps \(b)")
        XCTAssertLessThan(b, a * 0.5)
        XCTAssertFalse(tr.bucketLoss.contains { $0.isNaN })
    }

    /// N steps + save + resume + N steps == 2N steps, bit for bit.
    func testResumeIsExact() throws {
        var o = smallOptions(); o.totalSteps = 12; o.batch = 16
        let (straight, resumed) = try straightAndResumed(o)
        let n = straight.count
        XCTAssertEqual(straight.params.array(n), resumed.params.array(n))
        XCTAssertEqual(straight.ema.array(n), resumed.ema.array(n))
        XCTAssertEqual(straight.adamV.array(n), resumed.adamV.array(n))
        // The loss curve goes on from the checkpoint's steps: the same 12 losses.
        XCTAssertEqual(straight.recentLosses.count, 12)
        XCTAssertEqual(straight.recentLosses, resumed.recentLosses)
    }

    /// 12 steps straight, and 6 steps + save + resume + 6 steps, of the same options.
    func straightAndResumed(_ o: TrainOptions) throws -> (straight: Trainer, resumed: Trainer) {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let straight = try Trainer(options: o, data: Self.digits)
        for _ in 0..<12 { try straight.trainStep() }
        let first = try Trainer(options: o, data: Self.digits)
        for _ in 0..<6 { try first.trainStep() }
        try first.saveCheckpoint(dir + "/c.safetensors")
        let resumed = try Trainer.resume(dir + "/c.safetensors", data: Self.digits)
        XCTAssertEqual(resumed.step, 6)
        XCTAssertEqual(resumed.options, o)
        for _ in 0..<6 { try resumed.trainStep() }
        return (straight, resumed)
    }

    /// x0- and v-prediction train (loss falls on their own targets), write
    /// their objective into the file, and come back as predictors that give ε:
    /// the weights file of a v run, loaded, predicts what the trainer's
    /// network outputs, turned into ε.
    func testObjectivesTrainAndRoundTrip() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for objective in [Objective.x0, .v] {
            var o = smallOptions(); o.objective = objective; o.totalSteps = 60; o.weighting = .minSnr
            let tr = try Trainer(options: o, data: Self.digits)
            var first: [Double] = [], last: [Double] = []
            for i in 0..<60 {
                let s = try tr.trainStep()
                if i < 10 { first.append(s.loss) }
                if i >= 50 { last.append(s.loss) }
            }
            XCTAssertLessThan(last.reduce(0, +), first.reduce(0, +), "\(objective): the loss falls")
            let path = dir + "/\(objective).safetensors"
            try tr.saveWeights(path)
            let f = try SafeTensors.read(path)
            XCTAssertEqual(try Checkpoint.objective(f.metadata, path: path), objective)
            try tr.saveCheckpoint(dir + "/c.safetensors")
            XCTAssertEqual(try Trainer.resume(dir + "/c.safetensors", data: Self.digits).options.objective, objective)
            // The predictor built from the written file gives the network's output converted to ε.
            let net = try UNet(o.config)
            let raw = UNetPredictor(net: net, params: tr.ema)
            let loaded = FloatBuffer(count: net.parameterCount)
            try f.load(into: loaded.ptr, layout: net.layout)
            let asEps = UNetPredictor(net: try UNet(o.config), params: loaded, objective: try Checkpoint.objective(f.metadata, path: path),
                                      schedule: tr.schedule)
            let x = Array(Self.digits.images.prefix(2 * 784))
            let out = FloatBuffer(count: 2 * 784), eps = FloatBuffer(count: 2 * 784), want = FloatBuffer(count: 2 * 784)
            x.withUnsafeBufferPointer { xp in
                raw.predictNoise(xp.baseAddress!, t: [10, 700], out: out.ptr)
                asEps.predictNoise(xp.baseAddress!, t: [10, 700], out: eps.ptr)
                for (i, t) in [10, 700].enumerated() {
                    objective.epsilon(output: out.ptr + i * 784, xt: xp.baseAddress! + i * 784, t: t, count: 784, schedule: tr.schedule,
                                      into: want.ptr + i * 784)
                }
            }
            XCTAssertEqual(eps.array(2 * 784), want.array(2 * 784))
            XCTAssertNotEqual(eps.array(2 * 784), out.array(2 * 784))
        }
        // The objective is what is trained on: from the same seed, the first step's loss differs with it.
        var losses: [Double] = []
        for objective in Objective.allCases {
            var o = smallOptions(); o.objective = objective
            losses.append(try Trainer(options: o, data: Self.digits).trainStep().loss)
        }
        XCTAssertEqual(Set(losses).count, 3, "eps, x0 and v targets give three losses: \(losses)")
        // A file that names no objective is an eps model; a bad one is refused.
        XCTAssertEqual(try Checkpoint.objective([:], path: "f"), .eps)
        XCTAssertThrowsError(try Checkpoint.objective(["objective": "score"], path: "f"))
    }

    /// --init: a new run starts from a model file's weights (raw and EMA),
    /// with fresh Adam moments at step 0, and its first step's loss is that of
    /// the trained weights, not of random ones.
    func testStartFromWeights() throws {
        var o = smallOptions(); o.totalSteps = 12
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let trained = try Trainer(options: o, data: Self.digits)
        for _ in 0..<8 { try trained.trainStep() }
        try trained.saveWeights(dir + "/w.safetensors")
        var other = o; other.seed = 99
        let tuned = try Trainer(options: other, data: Self.digits)
        let n = tuned.count
        XCTAssertNotEqual(tuned.params.array(n), trained.ema.array(n))
        try tuned.startFrom(weights: dir + "/w.safetensors")
        XCTAssertEqual(tuned.params.array(n), trained.ema.array(n))
        XCTAssertEqual(tuned.ema.array(n), trained.ema.array(n))
        XCTAssertEqual(tuned.step, 0)
        XCTAssertTrue(tuned.adamM.array(n).allSatisfy { $0 == 0 })
        // A file of another model is refused.
        var small = o; small.config = .small
        let wrong = try Trainer(options: small, data: try Self.digits.padded(to: 32))
        XCTAssertThrowsError(try wrong.startFrom(weights: dir + "/w.safetensors"))
        // So is a file of the same model with attention: its attention layers would go unread.
        var attended = o; attended.config.attention = [2]
        try Trainer(options: attended, data: Self.digits).saveWeights(dir + "/attn.safetensors")
        XCTAssertThrowsError(try tuned.startFrom(weights: dir + "/attn.safetensors")) {
            XCTAssertTrue("\($0)".contains("this model does not have (") && "\($0)".contains("attn"), "\($0)")
        }
    }

    /// Resuming with changes keeps weights, moments, step and RNG and trains on
    /// under the new options; the same changes give the same run, and dropping
    /// dropout changes the steps that follow.
    func testResumeWithChanges() throws {
        var o = smallOptions(); o.totalSteps = 12; o.batch = 16
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try Trainer(options: o, data: Self.digits)
        for _ in 0..<6 { try first.trainStep() }
        let path = dir + "/c.safetensors"
        try first.saveCheckpoint(path)
        let changes = Trainer.ResumeChanges(totalSteps: 20, lr: 5e-4, dropout: 0, emaDecay: 0.9)
        let a = try Trainer.resume(path, data: Self.digits, changes: changes)
        let b = try Trainer.resume(path, data: Self.digits, changes: changes)
        let plain = try Trainer.resume(path, data: Self.digits)
        XCTAssertEqual(a.step, 6)
        XCTAssertEqual(a.net.config.dropout, 0)
        XCTAssertEqual(plain.net.config.dropout, 0.1)
        XCTAssertEqual(a.options.lr, 5e-4)
        XCTAssertEqual(a.options.emaDecay, 0.9)
        XCTAssertEqual(a.options.totalSteps, 20)
        XCTAssertEqual(a.lrSchedule.rate(6), LRSchedule(base: 5e-4, warmup: 2, totalSteps: 20).rate(6))
        let n = a.count
        XCTAssertEqual(a.params.array(n), first.params.array(n))
        XCTAssertEqual(a.adamV.array(n), first.adamV.array(n))
        XCTAssertEqual(a.ema.array(n), first.ema.array(n))
        for _ in 0..<3 { try a.trainStep(); try b.trainStep(); try plain.trainStep() }
        XCTAssertEqual(a.params.array(n), b.params.array(n))
        XCTAssertEqual(a.ema.array(n), b.ema.array(n))
        // Same rate, dropout 0 vs 0.1 from the same state: the steps differ.
        let c = try Trainer.resume(path, data: Self.digits, changes: .init(dropout: 0))
        let d = try Trainer.resume(path, data: Self.digits)
        try c.trainStep(); try d.trainStep()
        XCTAssertNotEqual(c.params.array(n), d.params.array(n))
        XCTAssertEqual(c.step, 7)
    }

    /// Weights that overflow stop training with the step number and apply no update.
    func testDivergenceIsReported() throws {
        var o = smallOptions(); o.batch = 8
        let tr = try Trainer(options: o, data: Self.digits)
        try tr.trainStep(); try tr.trainStep()
        let w = tr.net.layout["conv_out.2.weight"]!
        for i in 0..<w.count { tr.params.ptr[w.offset + i] = 1e30 }
        let before = tr.params.array(tr.count)
        XCTAssertThrowsError(try tr.trainStep()) { e in
            XCTAssertEqual(e as? EngineError, .diverged(step: 3, loss: .infinity))
        }
        XCTAssertEqual(tr.step, 2)
        XCTAssertTrue(before == tr.params.array(tr.count), "the failing step applied no update")
    }

    /// The fixture made by scripts/make_optimizer_fixture.py (torch.optim.Adam
    /// and the weightings in float64 Python).
    static func fixture() throws -> [String: Any] {
        let url = Bundle.module.url(forResource: "Fixtures/adam", withExtension: "json")!
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    /// Five steps of torch.optim.Adam on 37 parameters, every element after every step.
    func testAdamMatchesPyTorch() throws {
        let f = try Self.fixture()
        let p0 = (f["p0"] as! [Double]).map(Float.init), grads = (f["grads"] as! [[Double]]), after = f["after"] as! [[Double]]
        let n = p0.count, lr = f["lr"] as! Double
        let p = FloatBuffer(p0), m = FloatBuffer(count: n), v = FloatBuffer(count: n)
        for (k, g) in grads.enumerated() {
            let gb = FloatBuffer(g.map(Float.init))
            Adam().step(params: p.ptr, grads: gb.ptr, m: m.ptr, v: v.ptr, count: n, lr: lr, t: k + 1)
            assertClose(after[k].map(Float.init), p.array(n), rtol: 2e-6, "Adam step \(k + 1) against torch \(f["torch"] ?? "")")
        }
    }

    func testClipAndLRSchedule() {
        let g = FloatBuffer([3, 4])
        XCTAssertEqual(GradientTools.clip(g.ptr, 2, maxNorm: 1), 5, accuracy: 1e-9)
        XCTAssertEqual(Double(g.ptr[0]), 0.6, accuracy: 1e-6)
        let lr = LRSchedule(base: 1, warmup: 10, totalSteps: 110)
        XCTAssertEqual(lr.rate(0), 0.1, accuracy: 1e-12)
        XCTAssertEqual(lr.rate(9), 1, accuracy: 1e-12)
        XCTAssertEqual(lr.rate(60), 0.5, accuracy: 1e-12)
        XCTAssertEqual(lr.rate(110), 0, accuracy: 1e-12)
    }

    /// One step's loss is SPEC's definition — mean over the batch of w(t_j)
    /// times the mean squared (or absolute) error of eps^ — recomputed here
    /// from the step's own x_t, eps and t with the weights before the step;
    /// the t-buckets hold the unweighted per-image losses; the EMA moves by
    /// ema = d ema + (1 - d) params.
    func testStepLossWeightingBucketsAndEMAFollowTheDefinitions() throws {
        for (loss, weighting) in [(LossKind.l1, Weighting.snr), (.mse, .minSnr), (.mse, .importance), (.l1, .simple)] {
            var o = smallOptions()
            o.batch = 3; o.loss = loss; o.weighting = weighting; o.emaDecay = 0.9; o.config.dropout = 0
            let tr = try Trainer(options: o, data: Self.digits)
            try tr.trainStep()   // the EMA now differs from the weights
            let n = tr.count
            let before = FloatBuffer(count: n); before.ptr.update(from: tr.params.ptr, count: n)
            let emaBefore = tr.ema.array(n)
            let buckets = tr.bucketLoss
            let stats = try tr.trainStep()
            let hw = MNIST.pixels, b = 3
            let net = try UNet(o.config)
            var rng = RNG(seed: 0)
            let y = net.forward(before.ptr, x: tr.xtb.ptr, t: tr.ts, mode: .evaluation, rng: &rng)
            var total = 0.0
            var per: [Double] = []
            for j in 0..<b {
                var e = 0.0
                for k in 0..<hw {
                    let d = Double(y[j * hw + k]) - Double(tr.epsb.ptr[j * hw + k])
                    e += loss == .mse ? d * d : abs(d)
                }
                per.append(e / Double(hw))
                total += weighting.weight(tr.schedule, t: tr.ts[j]) * e / Double(hw)
            }
            XCTAssertEqual(stats.loss, total / Double(b), accuracy: 1e-4 * total, "\(loss) \(weighting)")
            // Buckets: running means (0.98 / 0.02) of the unweighted per-image losses.
            var expect = buckets
            for j in 0..<b {
                let k = min(9, tr.ts[j] * 10 / tr.schedule.T)
                expect[k] = expect[k].isNaN ? per[j] : 0.98 * expect[k] + 0.02 * per[j]
            }
            for k in 0..<10 where !(expect[k].isNaN && tr.bucketLoss[k].isNaN) {
                XCTAssertEqual(tr.bucketLoss[k], expect[k], accuracy: 1e-4 * max(1e-3, expect[k]), "bucket \(k)")
            }
            let ema = tr.ema.array(n), p = tr.params.array(n)
            let want = (0..<n).map { Float(0.9 * Double(emaBefore[$0]) + 0.1 * Double(p[$0])) }
            assertClose(want, ema, rtol: 1e-5, "EMA")
        }
    }

    /// SPEC's weightings at chosen t, against values computed in Python from the schedule's definition.
    func testWeightings() throws {
        let s = try NoiseSchedule()
        for row in try Self.fixture()["weights"] as! [[String: Double]] {
            let t = Int(row["t"]!)
            for w in Weighting.allCases {
                let want = row[w.rawValue]!
                XCTAssertEqual(w.weight(s, t: t), want, accuracy: 1e-9 * max(1, want), "\(w) at t=\(t)")
            }
        }
    }
    /// A resumed run's training view starts with the loss curve of the steps before (the
    /// checkpoint keeps them), at their steps, and goes on from there.
    func testResumedRunShowsTheLossesBefore() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = smallOptions(); o.batch = 4; o.totalSteps = 10
        let first = try Trainer(options: o, data: Self.digits)
        for _ in 0..<5 { try first.trainStep() }
        try first.saveCheckpoint(dir + "/c.safetensors")
        let tr = try Trainer.resume(dir + "/c.safetensors", data: Self.digits)
        let r = Runner(model: UNetPredictor(net: try UNet(o.config), params: tr.ema, weightsChange: true), schedule: tr.schedule, trainer: tr)
        r.handle(.startTraining)
        XCTAssertEqual(r.snapshot.train?.step, 5)
        XCTAssertEqual(r.snapshot.train?.losses, first.recentLosses.map(Double.init))
        r.tick()
        XCTAssertEqual(r.snapshot.train?.losses.count, 6)
        XCTAssertEqual(r.snapshot.train?.step, 6)
    }

    /// A run resumed after its end trains nothing: its view shows the finished run (its length,
    /// weighting and final EMA preview), not "starting the run" beside "finished" with no preview.
    func testResumedFinishedRunShowsItsFinalPreview() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = smallOptions(); o.batch = 4; o.totalSteps = 3; o.weighting = .minSnr
        let first = try Trainer(options: o, data: Self.digits)
        for _ in 0..<3 { try first.trainStep() }
        try first.saveCheckpoint(dir + "/c.safetensors")
        let tr = try Trainer.resume(dir + "/c.safetensors", data: Self.digits)
        let r = Runner(model: UNetPredictor(net: try UNet(o.config), params: tr.ema, weightsChange: true), schedule: tr.schedule, trainer: tr)
        r.previewCount = 4
        r.handle(.startTraining)
        XCTAssertEqual(r.snapshot.train?.totalSteps, 3)
        XCTAssertEqual(r.snapshot.train?.lossWeighting, .minSnr)
        XCTAssertEqual(r.tick(), [.finished])
        XCTAssertEqual(tr.step, 3, "nothing trained")
        let m = try XCTUnwrap(r.snapshot.train)
        XCTAssertEqual(m.previewStep, 3); XCTAssertEqual(m.previewN, 4)
        XCTAssertEqual(m.preview.count, 4 * o.config.imageSize * o.config.imageSize)
        XCTAssertTrue(r.snapshot.finished && !r.snapshot.running)
        XCTAssertEqual(r.snapshot.message, "this run had finished at step 3: its final preview; s samples it, g trains another")
        // Once: the next tick takes no other preview.
        let preview = m.preview
        XCTAssertEqual(r.tick(force: true), [.finished])
        XCTAssertEqual(r.snapshot.train?.preview, preview)
    }

    /// The live-training view's preview: by wall-clock time when asked, read by
    /// the classifier, its confident share recorded against minutes.
    func testPreviewByTimeWithConfidentRate() throws {
        var o = smallOptions(); o.batch = 4; o.totalSteps = 10
        let tr = try Trainer(options: o, data: Self.digits)
        let pred = UNetPredictor(net: try UNet(o.config), params: tr.ema, weightsChange: true)
        let r = Runner(model: pred, schedule: tr.schedule, trainer: tr)
        let cls = Classifier(), p = FloatBuffer(count: cls.layout.count)
        var rng = RNG(seed: 2); cls.layout.initialize(p.ptr, rng: &rng)
        r.reader = DigitReader(net: cls, params: p)
        r.previewSeconds = 0; r.previewCount = 4
        r.handle(.startTraining)
        for _ in 0..<3 { r.tick() }
        let m = try XCTUnwrap(r.snapshot.train)
        XCTAssertEqual(m.confidentRates.count, 3, "a preview at every tick when the interval is 0")
        XCTAssertEqual(m.previewN, 4); XCTAssertEqual(m.previewReadings.count, 4)
        XCTAssertEqual(m.confidentMinutes, m.confidentMinutes.sorted())
        XCTAssertTrue(m.confidentRates.allSatisfy { (0...1).contains($0) })
        // By steps (the default): one preview at the start, none until step 200.
        r.previewSeconds = nil
        r.tick()
        XCTAssertEqual(r.snapshot.train?.confidentRates.count, 3)
    }

    /// A confident reading needs a digit's ink: blank and flooded images never
    /// count (the first bundled classifier read a blank image as a 1 with p ~ 1;
    /// the current one learned blank images as outliers, and the ink rule stays);
    /// every real test digit has ink in the band, and most read confidently.
    func testBlankImagesAreNoConfidentDigits() throws {
        let (cls, p) = try Classifier.read((DataTests.mnistDir as NSString).deletingLastPathComponent + "/models/mnist-classifier.safetensors")
        let reader = DigitReader(net: cls, params: p)
        let px = MNIST.pixels
        let blank = [Float](repeating: -1, count: px), flooded = [Float](repeating: 1, count: px)
        let r = reader.read(blank + flooded, n: 2, side: MNIST.side)
        XCTAssertLessThan(r[0].p, 0.9, "the classifier calls a blank image a confident digit")
        XCTAssertFalse(r[0].isConfidentDigit); XCTAssertEqual(r[0].label, "no ink"); XCTAssertEqual(r[0].ink, 0)
        XCTAssertFalse(r[1].isConfidentDigit); XCTAssertEqual(r[1].label, "all ink")
        let test = try Dataset.load(dir: DataTests.mnistDir, train: false, limit: 2000)
        let real = test.images.withUnsafeBufferPointer { reader.read($0.baseAddress!, n: test.count, side: MNIST.side) }
        XCTAssertTrue(real.allSatisfy { $0.hasInk }, "every real digit is inked like one")
        let sure = Double(real.filter { $0.isConfidentDigit }.count) / Double(real.count)
        XCTAssertGreaterThan(sure, 0.95)
        XCTAssertEqual(real.first!.label, String(format: "%d %2.0f%%", real.first!.digit, min(99, real.first!.p * 100)))
    }

    /// The training view's run saves on its own every `every` steps and when it
    /// finishes (a finished demo is on disk without pressing w); a resume after
    /// a pause measures speed from the resume.
    func testTrainingRunnerSavesPeriodicallyAndAtTheEnd() throws {
        var o = smallOptions(); o.batch = 4; o.totalSteps = 5
        let tr = try Trainer(options: o, data: Self.digits)
        let r = Runner(model: UNetPredictor(net: try UNet(o.config), params: tr.ema, weightsChange: true), schedule: tr.schedule, trainer: tr)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/run.safetensors"
        r.checkpoint = (path, 2)
        r.handle(.startTraining)
        r.tick()
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "step 1: not yet")
        r.tick()
        XCTAssertEqual(try Checkpoint.trainState(try SafeTensors.read(path).metadata, path: path).step, 2)
        XCTAssertEqual(r.snapshot.train?.lastSaved, "\(path) (step 2)")
        for _ in 0..<4 { r.tick() }
        XCTAssertEqual(try Checkpoint.trainState(try SafeTensors.read(path).metadata, path: path).step, 5)
        XCTAssertEqual(r.snapshot.message, "training finished at step 5; saved to \(path)")
        XCTAssertTrue(r.snapshot.finished)
    }

    /// The demo's length for a pace: the steps that end the run at `seconds`,
    /// rounded down to 50 and kept within the range.
    func testLengthFitArithmetic() throws {
        let f = LengthFit(seconds: 240, atStep: 50, steps: 1000...4800)
        XCTAssertEqual(f.length(done: 50, elapsed: 10), 1200, "5 steps/s for 240 s")
        XCTAssertEqual(f.length(done: 50, elapsed: 9), 1300, "1333.3 steps, rounded down to 50")
        XCTAssertEqual(f.length(done: 50, elapsed: 2), 4800, "6000 steps fit: the most")
        XCTAssertEqual(f.length(done: 50, elapsed: 20), 1000, "600 steps fit: the fewest")
        XCTAssertEqual(f.length(done: 50, elapsed: 0), 4800)
        XCTAssertEqual(f.length(done: 0, elapsed: 3), 4800)
        XCTAssertEqual(f.length(done: 50, elapsed: .infinity), 4800)
        // The first `settle` steps (buffers, the first preview) left out of the pace: 50 steps in 10 s,
        // the first 10 of them in 4 s, so 40 in 6 s; the 230 s left hold 1533 more: 1583, rounded down.
        XCTAssertEqual(f.settle, 10)
        XCTAssertEqual(f.length(done: 50, elapsed: 10, settledAt: 4), 1550)
        XCTAssertEqual(f.length(done: 50, elapsed: 10, settledAt: 11), 1200, "a clock past the end is not a pace")
        XCTAssertEqual(LengthFit(seconds: 240, atStep: 3, steps: 1...4800).length(done: 3, elapsed: 1, settledAt: 0.5), 700,
                       "an atStep under 5 settles nothing: 3 steps/s")
        XCTAssertEqual(TrainRecipe.demoFit.steps.upperBound, TrainRecipe.demoSteps)
        XCTAssertEqual(TrainRecipe.demo.options(images: 60_000).totalSteps, TrainRecipe.demoSteps)
        // The fewest keeps the demo's warm-up: a fitted run is the run of its length from the start.
        let o = TrainRecipe.demo.options(images: 60_000)
        XCTAssertLessThan(TrainRecipe.demoFit.atStep, o.warmup)
        XCTAssertGreaterThanOrEqual(TrainRecipe.demoFit.steps.lowerBound / 10, o.warmup)
        // So does the faster setting's, sized again `atStep` steps after it starts over.
        let faster = try XCTUnwrap(TrainRecipe.demoFit.faster)
        XCTAssertGreaterThanOrEqual(faster.steps.lowerBound / 10, o.warmup)
        XCTAssertEqual(TrainRecipe.demoFit.minutes, "4.5")
    }

    /// A run shortened during its warm-up is, bit for bit, the run of that
    /// length from the start; after the warm-up, or to a length with another
    /// warm-up, the length does not change.
    func testSetLengthDuringWarmUpIsTheShorterRun() throws {
        var o = smallOptions(); o.batch = 4; o.warmup = 10; o.totalSteps = 4000
        let fitted = try Trainer(options: o, data: Self.digits)
        for _ in 0..<5 { try fitted.trainStep() }
        try fitted.setLength(120)
        XCTAssertEqual(fitted.options.totalSteps, 120); XCTAssertEqual(fitted.lrSchedule.totalSteps, 120)
        for _ in 0..<20 { try fitted.trainStep() }
        var short = o; short.totalSteps = 120
        let straight = try Trainer(options: short, data: Self.digits)
        for _ in 0..<25 { try straight.trainStep() }
        let n = straight.count
        XCTAssertEqual(fitted.params.array(n), straight.params.array(n))
        XCTAssertEqual(fitted.ema.array(n), straight.ema.array(n))
        XCTAssertEqual(fitted.options, straight.options)
        XCTAssertThrowsError(try fitted.setLength(200), "after the warm-up")
        let early = try Trainer(options: o, data: Self.digits)
        try early.trainStep()
        XCTAssertThrowsError(try early.setLength(50), "50 steps would warm up for 5")
        XCTAssertThrowsError(try early.setLength(0))
        XCTAssertEqual(early.options.totalSteps, 4000)
    }

    /// A run started over with other options (the demo on a fast machine) is,
    /// from then on, the run a new trainer of those options trains, bit for bit.
    func testDamagedOptimiserStateAndNonFiniteWeightsAreNeverSaved() throws {
        var o = smallOptions(); o.batch = 4; o.totalSteps = 10
        let tr = try Trainer(options: o, data: Self.digits)
        try tr.trainStep()
        let path = NSTemporaryDirectory() + "damaged-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        // A negative second moment (a forged file) would turn every weight NaN at the next step: refused on resume.
        tr.adamV.ptr[7] = -1
        try tr.saveCheckpoint(path)
        XCTAssertThrowsError(try Trainer.resume(path, data: Self.digits)) {
            XCTAssertTrue("\($0)".contains("Adam's second moment -1.0 at index 7 of adam_v.* is negative"), "\($0)")
        }
        // Weights that are not numbers do not replace the file: it stays as it was.
        tr.adamV.ptr[7] = 0
        try tr.saveCheckpoint(path)
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        tr.ema.ptr[3] = .nan
        XCTAssertThrowsError(try tr.saveCheckpoint(path)) { XCTAssertTrue("\($0)".contains("the EMA weights are not finite numbers"), "\($0)") }
        XCTAssertThrowsError(try tr.saveWeights(path))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), good)
        XCTAssertNoThrow(try Trainer.resume(path, data: Self.digits))
    }

    func testStartOverIsANewRunOfTheOtherOptions() throws {
        var o = smallOptions(); o.batch = 4; o.warmup = 10; o.totalSteps = 4000; o.lr = 6e-3
        let restarted = try Trainer(options: o, data: Self.digits)
        for _ in 0..<5 { try restarted.trainStep() }
        var other = o; other.batch = 8; other.lr = 1e-3; other.totalSteps = 60
        try restarted.startOver(other)
        XCTAssertEqual(restarted.step, 0)
        for _ in 0..<12 { try restarted.trainStep() }
        let straight = try Trainer(options: other, data: Self.digits)
        for _ in 0..<12 { try straight.trainStep() }
        let n = straight.count
        XCTAssertEqual(restarted.params.array(n), straight.params.array(n))
        XCTAssertEqual(restarted.ema.array(n), straight.ema.array(n))
        XCTAssertEqual(restarted.adamV.array(n), straight.adamV.array(n))
        XCTAssertEqual(restarted.options, straight.options)
        XCTAssertEqual(restarted.bucketLoss.map { $0.isNaN ? -1 : $0 }, straight.bucketLoss.map { $0.isNaN ? -1 : $0 })
        var model = other; model.config.nChannels *= 2
        XCTAssertThrowsError(try restarted.startOver(model), "another model is another trainer")
    }

    /// The demo's choice at its fit: the faster setting where the time left
    /// holds at least its shortest length at the pace measured, else the fit.
    func testFitChoosesTheFasterSettingByPace() throws {
        let fit = LengthFit(seconds: 240, atStep: 50, steps: 1000...4800, faster: .init(batch: 32, lr: 1e-3, steps: 1600...2400))
        // 50 steps of 16 in 3 s: 266.7 img/s; 237 s left hold 1975 steps of 32.
        XCTAssertTrue(fit.fitsFaster(done: 50, batch: 16, elapsed: 3))
        XCTAssertTrue(fit.fitsFaster(done: 50, batch: 16, elapsed: 3.6), "1,641 steps")
        XCTAssertFalse(fit.fitsFaster(done: 50, batch: 16, elapsed: 3.7), "1,596 steps: below 1600")
        XCTAssertFalse(LengthFit(seconds: 240, atStep: 50, steps: 1000...4800).fitsFaster(done: 50, batch: 16, elapsed: 1))
        XCTAssertFalse(fit.fitsFaster(done: 50, batch: 16, elapsed: 300), "no time left")
        // Checkpoints written before the faster setting existed decode without it.
        let old = try JSONDecoder().decode(LengthFit.self, from: Data(#"{"seconds":240,"atStep":50,"steps":[1000,4800]}"#.utf8))
        XCTAssertNil(old.faster)
        XCTAssertEqual(try JSONDecoder().decode(LengthFit.self, from: JSONEncoder().encode(fit)), fit)

        var o = smallOptions(); o.batch = 4; o.warmup = 10; o.totalSteps = 4000
        let tr = try Trainer(options: o, data: Self.digits)
        for _ in 0..<3 { try tr.trainStep() }
        let quick = LengthFit(seconds: 1000, atStep: 3, steps: 100...4000, faster: .init(batch: 8, lr: 1e-3, steps: 50...300))
        let said = try tr.fitLength(quick, done: 3, elapsed: 0.01)
        XCTAssertEqual(said, "fast machine: started over at batch 8, lr 0.001; sized again at step 3")
        XCTAssertEqual(tr.step, 0); XCTAssertEqual(tr.options.batch, 8); XCTAssertEqual(tr.options.totalSteps, 300)
        // The new setting is sized at its own pace, in the time that was left, and only once.
        let again = try XCTUnwrap(tr.pendingFit)
        XCTAssertEqual(again, LengthFit(seconds: 1000 - 0.01, atStep: 3, steps: 50...300, before: 0.01))
        // A checkpoint saved before it is sized again keeps the new setting and the fit still to come.
        let path = NSTemporaryDirectory() + "faster-fit-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try tr.trainStep()
        try tr.saveCheckpoint(path)
        let resumed = try Trainer.resume(path, data: Self.digits)
        XCTAssertEqual(resumed.pendingFit, again); XCTAssertEqual(resumed.options.batch, 8); XCTAssertEqual(resumed.options.totalSteps, 300)
        for _ in 0..<2 { try tr.trainStep() }
        // 3 steps in 20 s: 999.99 s hold 149 steps, rounded down to 100, and the whole run
        // takes 0.01 s + 100 steps at 20/3 s each, 11.1 minutes.
        XCTAssertEqual(try tr.fitLength(again, done: 3, elapsed: 20), "sized to this machine: 100 steps of batch 8, 11.1 min at this pace")
        XCTAssertEqual(tr.options.totalSteps, 100); XCTAssertEqual(tr.options.batch, 8)
        XCTAssertNil(tr.pendingFit)
    }

    /// The training view's demo started over: the curves begin again at step 0 and no checkpoint is written for it.
    func testRunnerStartsOverOnAFastMachine() throws {
        var o = smallOptions(); o.batch = 4; o.warmup = 10; o.totalSteps = 4000
        let tr = try Trainer(options: o, data: Self.digits)
        let r = Runner(model: UNetPredictor(net: try UNet(o.config), params: tr.ema, weightsChange: true), schedule: tr.schedule, trainer: tr)
        r.fit = LengthFit(seconds: 1e6, atStep: 3, steps: 100...4000, faster: .init(batch: 8, lr: 1e-3, steps: 50...200))
        r.handle(.startTraining)
        for _ in 0..<3 { r.tick() }
        XCTAssertEqual(tr.step, 0); XCTAssertEqual(tr.options.batch, 8); XCTAssertEqual(tr.options.totalSteps, 200)
        XCTAssertEqual(r.snapshot.train?.losses.count, 0)
        XCTAssertEqual(r.snapshot.train?.totalSteps, 200)
        XCTAssertTrue(r.snapshot.message?.contains("started over") ?? false, r.snapshot.message ?? "")
        XCTAssertEqual(r.snapshot.train?.sizedAtStep, 3, "the new setting is sized 3 steps into it")
        // ... in the time that was left, its clock starting over: what was spent before is counted once.
        let again = try XCTUnwrap(r.fit)
        XCTAssertGreaterThan(try XCTUnwrap(again.before), 0)
        XCTAssertEqual(try XCTUnwrap(again.before) + again.seconds, 1e6, accuracy: 1e-6)
        r.tick(); r.tick()
        XCTAssertEqual(tr.step, 2); XCTAssertEqual(r.snapshot.train?.losses.count, 2)
        XCTAssertEqual(tr.options.batch, 8, "it starts over once")
        r.tick()
        XCTAssertEqual(tr.step, 3); XCTAssertEqual(tr.options.batch, 8)
        XCTAssertTrue(r.snapshot.message?.hasPrefix("sized to this machine: 200 steps of batch 8 (most), ") ?? false, r.snapshot.message ?? "")
        XCTAssertNil(r.fit); XCTAssertNil(r.snapshot.train?.sizedAtStep)
    }

    /// The training view's demo sizes itself once, at `fit.atStep`, and says so.
    func testRunnerFitsTheLengthOnce() throws {
        var o = smallOptions(); o.batch = 4; o.warmup = 10; o.totalSteps = 4000
        let tr = try Trainer(options: o, data: Self.digits)
        let r = Runner(model: UNetPredictor(net: try UNet(o.config), params: tr.ema, weightsChange: true), schedule: tr.schedule, trainer: tr)
        r.fit = LengthFit(seconds: 1e-6, atStep: 3, steps: 100...4000)
        r.handle(.startTraining)
        r.tick(); r.tick()
        XCTAssertEqual(tr.options.totalSteps, 4000)
        r.tick()
        XCTAssertEqual(tr.options.totalSteps, 100, "any pace fits fewer than 100 steps in a microsecond")
        XCTAssertEqual(r.snapshot.train?.totalSteps, 100)
        XCTAssertTrue(r.snapshot.message?.hasPrefix("sized to this machine: 100 steps (fewest: slow here), ") ?? false, r.snapshot.message ?? "")
        // The explorer shows a message of up to 80 characters on one row, at 80x24 too: every
        // variant, at the demo's own step counts and batch, at the most and the fewest, and slow.
        XCTAssertLessThanOrEqual(r.snapshot.message?.count ?? 0, 80)
        let faster = try XCTUnwrap(TrainRecipe.demoFit.faster)
        for (fit, batch) in [(TrainRecipe.demoFit, 16), (LengthFit(seconds: 270, atStep: 50, steps: faster.steps, before: 30), faster.batch)] {
            for elapsed in [0.01, 5, 60, 4000] {
                var big = o; big.batch = batch; big.totalSteps = 4000
                let trainer = try Trainer(options: big, data: Self.digits)
                let said = try trainer.fitLength(LengthFit(seconds: fit.seconds, atStep: fit.atStep, steps: fit.steps, before: fit.before),
                                                 done: 50, elapsed: elapsed)
                XCTAssertLessThanOrEqual(said.count, 80, said)
            }
        }
        XCTAssertNil(r.fit)
        r.tick()
        XCTAssertEqual(tr.options.totalSteps, 100)
    }

    /// A fit still to come is in the checkpoint: resumed, the run is sized
    /// `atStep` steps after the resume, counting its pace from there; once
    /// sized, checkpoints no longer carry it. A hostile "length_fit" is refused.
    func testPendingFitSurvivesAResume() throws {
        var o = smallOptions(); o.batch = 4; o.warmup = 10; o.totalSteps = 4000
        let path = NSTemporaryDirectory() + "pending-fit-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let tr = try Trainer(options: o, data: Self.digits)
        let fit = LengthFit(seconds: 1e-6, atStep: 3, steps: 100...4000)
        tr.pendingFit = fit
        try tr.trainStep(); try tr.trainStep()
        try tr.saveCheckpoint(path)
        let resumed = try Trainer.resume(path, data: Self.digits)
        XCTAssertEqual(resumed.pendingFit, fit)
        XCTAssertEqual(resumed.step, 2)
        let r = Runner(model: UNetPredictor(net: try UNet(o.config), params: resumed.ema, weightsChange: true),
                       schedule: resumed.schedule, trainer: resumed)
        r.handle(.startTraining)
        r.tick(); r.tick()
        XCTAssertEqual(resumed.options.totalSteps, 4000, "two steps after the resume: not yet")
        r.tick()
        XCTAssertEqual(resumed.step, 5)
        XCTAssertEqual(resumed.options.totalSteps, 100, "three steps after the resume")
        XCTAssertNil(resumed.pendingFit)
        try resumed.saveCheckpoint(path)
        XCTAssertNil(try SafeTensors.read(path).metadata["length_fit"])
        XCTAssertNil(try Trainer.resume(path, data: Self.digits).pendingFit)

        var m = tr.metadata()
        for bad in ["{}", "{\"seconds\":240,\"atStep\":0,\"steps\":[1000,4800]}", "{\"seconds\":-1,\"atStep\":50,\"steps\":[1000,4800]}",
                    "{\"seconds\":240,\"atStep\":50,\"steps\":[4800,1000]}", "{\"seconds\":240,\"atStep\":50,\"steps\":[0,4800]}",
                    "{\"seconds\":240,\"atStep\":50,\"steps\":[1000,4800],\"before\":-1}",
                    "{\"seconds\":240,\"atStep\":50,\"steps\":[1000,4800],\"faster\":{\"batch\":0,\"lr\":0.001,\"steps\":[1600,2400]}}",
                    "{\"seconds\":240,\"atStep\":50,\"steps\":[1000,4800],\"faster\":{\"batch\":32,\"lr\":0.001,\"steps\":[-5,-1]}}"] {
            m["length_fit"] = bad
            XCTAssertThrowsError(try Checkpoint.trainState(m, path: "x"), bad) { e in
                XCTAssertTrue("\(e)".contains("length_fit"), "\(e)")
            }
        }
        m["length_fit"] = Checkpoint.encode(TrainRecipe.demoFit)
        XCTAssertEqual(try Checkpoint.trainState(m, path: "x").pendingFit, TrainRecipe.demoFit)
    }

    /// Class weights draw labels in proportion to weight x count, never a label
    /// of weight 0, and with replacement.
    func testClassWeightsDrawByLabel() throws {
        let labels = Self.digits.labels
        var counts = [Int](repeating: 0, count: 10)
        for l in labels { counts[Int(l)] += 1 }
        var w = [Double](repeating: 1, count: 10); w[0] = 0; w[1] = 3
        var rng = RNG(seed: 5, stream: 9)
        let n = 200_000
        let draws = Trainer.weightedDraws(labels: labels, weights: w, count: n, rng: &rng)
        XCTAssertEqual(draws.count, n)
        var got = [Int](repeating: 0, count: 10)
        for i in draws { got[Int(labels[i])] += 1 }
        XCTAssertEqual(got[0], 0, "a label of weight 0 is never drawn")
        let mass = (0..<10).map { w[$0] * Double(counts[$0]) }, total = mass.reduce(0, +)
        for c in 1..<10 {
            let expected = Double(n) * mass[c] / total
            // Binomial: 5 standard deviations.
            XCTAssertEqual(Double(got[c]), expected, accuracy: 5 * expected.squareRoot(), "label \(c)")
        }
        // Every image of label 1 comes up (uniform within its label), some more than once.
        let ones = Set(draws.filter { labels[$0] == 1 })
        XCTAssertEqual(ones.count, counts[1])
    }

    /// With all weight on one label every batch holds only its images; a
    /// weighted run resumes bit for bit, keeps its weights in the checkpoint,
    /// and trains differently from an unweighted one.
    func testClassWeightsTrainAndResumeExactly() throws {
        var only7 = smallOptions(); only7.totalSteps = 3
        only7.classWeights = (0..<10).map { $0 == 7 ? 1 : 0 }
        let tr = try Trainer(options: only7, data: Self.digits)
        let hw = 28 * 28
        let sevens = Set((0..<Self.digits.count).filter { Self.digits.labels[$0] == 7 }.map {
            Array(Self.digits.images[($0 * hw)..<($0 * hw + hw)])
        })
        for _ in 0..<3 {
            try tr.trainStep()
            let batch = tr.x0b.array(only7.batch * hw)
            for j in 0..<only7.batch { XCTAssertTrue(sevens.contains(Array(batch[(j * hw)..<(j * hw + hw)])), "image \(j) of the batch is a 7") }
        }

        var o = smallOptions(); o.totalSteps = 12
        o.classWeights = [1, 0.5, 1, 1, 2, 2, 1, 1, 1.5, 1]
        let (straight, resumed) = try straightAndResumed(o)
        XCTAssertEqual(resumed.options.classWeights, o.classWeights)
        let n = straight.count
        XCTAssertEqual(straight.params.array(n), resumed.params.array(n))
        XCTAssertEqual(straight.ema.array(n), resumed.ema.array(n))
        var plain = o; plain.classWeights = nil
        let unweighted = try Trainer(options: plain, data: Self.digits)
        for _ in 0..<12 { try unweighted.trainStep() }
        XCTAssertNotEqual(straight.params.array(n), unweighted.params.array(n))
    }

    /// Weights that cannot draw from this set are refused before training.
    func testClassWeightsAreChecked() throws {
        var o = smallOptions()
        o.classWeights = [1, 1, 1]                       // the set has labels up to 9
        XCTAssertThrowsError(try Trainer(options: o, data: Self.digits))
        o.classWeights = [Double](repeating: 0, count: 10)
        XCTAssertThrowsError(try o.validate())
        o.classWeights = [1, -1, 1, 1, 1, 1, 1, 1, 1, 1]
        XCTAssertThrowsError(try o.validate())
        o.classWeights = [1, .nan, 1, 1, 1, 1, 1, 1, 1, 1]
        XCTAssertThrowsError(try o.validate())
        // Labels present only with weight 0 leave nothing to draw.
        o.classWeights = [Double](repeating: 0, count: 11); o.classWeights![10] = 1
        XCTAssertThrowsError(try Trainer(options: o, data: Self.digits))
    }
}
