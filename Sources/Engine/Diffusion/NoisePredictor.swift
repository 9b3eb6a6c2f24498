// NoisePredictor.swift: the network as the reverse process needs it (eps^ for
// x_t at t), and the U-Net behind it with one network copy per core.
import Foundation

/// Predicts the noise eps in x_t: the learned reverse process p's network.
public protocol NoisePredictor: AnyObject {
    /// Side of the square images the predictor works on.
    var imageSize: Int { get }
    /// eps^ for x [N, S*S] at per-image timesteps t, written to `out` [N, S*S].
    func predictNoise(_ x: UnsafePointer<Float>, t: [Int], out: UnsafeMutablePointer<Float>)
    /// The same for a self-conditioned model, which also reads an estimate of
    /// x0 [N, S*S] (the previous step's x̂0; nil: none yet, read as zeros).
    /// Other models ignore it.
    func predictNoise(_ x: UnsafePointer<Float>, t: [Int], x0Estimate: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>)
    /// A model that learns its variance: the v of the last `predictNoise` call
    /// [N, S*S] (its interpolation between log β_t and log β̃_t); nil otherwise.
    var varianceOutput: UnsafePointer<Float>? { get }
    /// Whether the network reads an x0 estimate (self-conditioning): then a
    /// sampler's state keeps the previous step's x̂0 for a fork to continue from.
    var readsX0Estimate: Bool { get }
}

extension NoisePredictor {
    public var varianceOutput: UnsafePointer<Float>? { nil }
    public var readsX0Estimate: Bool { false }
    public func predictNoise(_ x: UnsafePointer<Float>, t: [Int], x0Estimate: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>) {
        predictNoise(x, t: t, out: out)
    }
}

/// A U-Net with a set of weights, as a noise predictor (eval mode).
///
/// A batch of two or more images is split into single images dealt to the
/// cores, each core running its own copy of the network (`Lane`: the layers'
/// activation buffers and scratch, not the weights) through a whole forward
/// pass. One image's activations stay in the core's cache for the whole pass,
/// where a batched forward streams every layer's batch through memory and
/// meets the other core at a barrier in every layer. Sampling runs its
/// layers one image at a time anyway (`ForwardMode.inference`), so the result is
/// the same bit for bit.
public final class UNetPredictor: NoisePredictor {
    public let net: UNet
    public let params: FloatBuffer
    public var imageSize: Int { net.config.imageSize }
    /// What the network outputs and the schedule to turn it into ε (nil: ε itself).
    public let output: (objective: Objective, schedule: NoiseSchedule)?
    /// The v output of the last call (learned-variance models).
    private let variance = FloatBuffer(count: 1)
    public var varianceOutput: UnsafePointer<Float>? { net.config.learnSigma ? UnsafePointer(variance.ptr) : nil }
    public var readsX0Estimate: Bool { net.config.selfCondition }
    /// Whether `params` change between calls (a trainer's EMA weights, which
    /// the live preview samples): then each network copy packs its convolution
    /// weights anew on every call. Otherwise it packs them on the first call
    /// only, and `params` must not change after it (a batch-1 sampling step
    /// went from 1.3 to 1.0 ms).
    public let weightsChange: Bool
    public init(net: UNet, params: FloatBuffer, objective: Objective = .eps, schedule: NoiseSchedule? = nil,
                weightsChange: Bool = false) {
        self.net = net; self.params = params; self.weightsChange = weightsChange
        precondition(objective == .eps || schedule != nil, "an x0 or v model needs its schedule to give eps")
        output = objective == .eps ? nil : (objective, schedule!)
    }

    /// One core's network copy and its one-element timestep array (reused, so
    /// a step allocates nothing once the lanes exist).
    final class Lane: @unchecked Sendable {
        let net: UNet
        var t = [0]
        /// A self-conditioned model's input, x_t then the x0 estimate.
        let input = FloatBuffer(count: 1)
        init(_ net: UNet) { self.net = net }
    }
    /// A self-conditioned model's input for a batch on one core, [2, N, S*S].
    private let input = FloatBuffer(count: 1)
    private var lanes: [Lane] = []
    /// Numbers the calls when `weightsChange`: weights that change between
    /// calls do not change during one, so each network copy then packs its
    /// convolution weights once per call (`ForwardMode.inference(packGeneration:)`);
    /// otherwise every call is generation 1.
    private var calls = 0

    public func predictNoise(_ x: UnsafePointer<Float>, t: [Int], out: UnsafeMutablePointer<Float>) {
        predictNoise(x, t: t, x0Estimate: nil, out: out)
    }

    public func predictNoise(_ x: UnsafePointer<Float>, t: [Int], x0Estimate: UnsafePointer<Float>?,
                             out: UnsafeMutablePointer<Float>) {
        let n = t.count, hw = imageSize * imageSize
        let conditioned = net.config.selfCondition
        /// x_t of `count` images from `from`, then their x0 estimates (zeros without one), into `buf`.
        func stack(_ buf: FloatBuffer, from i: Int, count: Int) -> UnsafePointer<Float> {
            buf.reserve(2 * count * hw)
            buf.ptr.update(from: x + i * hw, count: count * hw)
            if let x0Estimate { (buf.ptr + count * hw).update(from: x0Estimate + i * hw, count: count * hw) }
            else { (buf.ptr + count * hw).update(repeating: 0, count: count * hw) }
            return UnsafePointer(buf.ptr)
        }
        calls += 1
        let generation = weightsChange ? calls : 1
        // A learned variance's v follows ε in the output ([2, N, hw]; one image: [2, hw]).
        let learned = net.config.learnSigma
        if learned { variance.reserve(n * hw) }
        let v = variance.ptr
        if n >= 2 && Parallel.cores >= 2 {
            if lanes.isEmpty {
                // The config was validated when `net` was built.
                lanes = (0..<Parallel.cores).map { _ in Lane(try! UNet(net.config, backend: net.ws.backend)) }
            }
            let lanes = self.lanes, p = UnsafePointer(params.ptr)
            Parallel.runBalanced(n) { th, i in
                let lane = lanes[th]
                lane.t[0] = t[i]
                let input = conditioned ? stack(lane.input, from: i, count: 1) : x + i * hw
                let y = Self.forward(lane.net, p, x: input, t: lane.t, generation: generation)
                (out + i * hw).update(from: y, count: hw)
                if learned { (v + i * hw).update(from: y + hw, count: hw) }
            }
        } else {
            let y = Self.forward(net, params.ptr, x: conditioned ? stack(input, from: 0, count: n) : x, t: t, generation: generation)
            out.update(from: y, count: n * hw)
            if learned { v.update(from: y + n * hw, count: n * hw) }
        }
        // An x0 or v model's output, as the ε it stands for (in place).
        if let (objective, schedule) = output {
            for i in 0..<n {
                objective.epsilon(output: out + i * hw, xt: x + i * hw, t: t[i], count: hw, schedule: schedule, into: out + i * hw)
            }
        }
    }

    private static func forward(_ net: UNet, _ p: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                t: [Int], generation: Int) -> UnsafeMutablePointer<Float> {
        var rng = RNG(seed: 0) // unused outside training
        return net.forward(p, x: x, t: t, mode: .inference(packGeneration: generation), rng: &rng)
    }
}
