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

    /// A few hundred steps on 512 real digits lower the loss clearly.
    func testTrainingLowersLoss() throws {
        let tr = try Trainer(options: smallOptions(), data: Self.digits)
        var first: [Double] = [], last: [Double] = []
        for i in 0..<150 {
            let s = try tr.trainStep()
            if i < 10 { first.append(s.loss) }
            if i >= 130 { last.append(s.loss) }
        }
        let a = first.reduce(0, +) / 10, b = last.reduce(0, +) / 20
        print("loss: first 10 steps \(a), last 20 steps \(b)")
        XCTAssertLessThan(b, a * 0.5)
        XCTAssertFalse(tr.bucketLoss.contains { $0.isNaN })
    }

    /// N steps + save + resume + N steps == 2N steps, bit for bit.
    func testResumeIsExact() throws {
        var o = smallOptions(); o.totalSteps = 12; o.batch = 16
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let straight = try Trainer(options: o, data: Self.digits)
        for _ in 0..<12 { try straight.trainStep() }
        let first = try Trainer(options: o, data: Self.digits)
        for _ in 0..<6 { try first.trainStep() }
        try first.saveCheckpoint(dir + "/c.safetensors")
        let resumed = try Trainer.resume(dir + "/c.safetensors", data: Self.digits)
        XCTAssertEqual(resumed.step, 6)
        for _ in 0..<6 { try resumed.trainStep() }
        let n = straight.count
        XCTAssertEqual(straight.params.array(n), resumed.params.array(n))
        XCTAssertEqual(straight.ema.array(n), resumed.ema.array(n))
        XCTAssertEqual(straight.adamV.array(n), resumed.adamV.array(n))
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

    func testAdamMatchesPyTorchRule() {
        // Two steps of torch.optim.Adam(lr=0.1) on p = [1, -2] with grads [0.5, -1] then [0.1, 0.3]
        // (values from the update rule by hand).
        let p = FloatBuffer([1, -2]), m = FloatBuffer(count: 2), v = FloatBuffer(count: 2)
        let g1 = FloatBuffer([0.5, -1]), g2 = FloatBuffer([0.1, 0.3])
        Adam().step(params: p.ptr, grads: g1.ptr, m: m.ptr, v: v.ptr, count: 2, lr: 0.1, t: 1)
        XCTAssertEqual(p.ptr[0], 0.9, accuracy: 1e-6)       // first step moves by lr * sign(g)
        XCTAssertEqual(p.ptr[1], -1.9, accuracy: 1e-6)
        Adam().step(params: p.ptr, grads: g2.ptr, m: m.ptr, v: v.ptr, count: 2, lr: 0.1, t: 2)
        withExtendedLifetime((g1, g2)) {}
        // m = 0.9*0.05 + 0.01 = 0.055 -> mhat = 0.055/0.19; v = 0.999*0.00025 + 0.001*0.01 -> vhat = v/(1-0.999^2)
        let m2 = 0.9 * 0.05 + 0.1 * 0.1, v2 = 0.999 * 0.00025 + 0.001 * 0.01
        let expect = 0.9 - 0.1 * (m2 / 0.19) / ((v2 / (1 - 0.999 * 0.999)).squareRoot() + 1e-8)
        XCTAssertEqual(Double(p.ptr[0]), expect, accuracy: 1e-6)
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

    func testWeightings() throws {
        let s = try NoiseSchedule()
        XCTAssertEqual(Weighting.simple.weight(s, t: 3), 1)
        XCTAssertEqual(Weighting.snr.weight(s, t: 500), 1 / (1 + s.snr[500]), accuracy: 1e-15)
        XCTAssertEqual(Weighting.minSnr.weight(s, t: 0), 5 / s.snr[0], accuracy: 1e-15)
        XCTAssertEqual(Weighting.minSnr.weight(s, t: 999), 1, accuracy: 1e-15)
        XCTAssertEqual(Weighting.importance.weight(s, t: 100), s.betas[100] / (2 * s.alphas[100] * (1 - s.alphasCumprod[100])), accuracy: 1e-15)
    }
}
