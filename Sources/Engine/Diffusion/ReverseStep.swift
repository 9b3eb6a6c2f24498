// ReverseStep.swift: the contract every sampler's update rule meets (one file per rule).

/// The buffers one reverse step works on, `count` floats each: `x` holds x_t
/// on entry and x_{t_next} on return; `eps` and `x0` hold the model's
/// prediction (x0 already clipped when the settings ask for it); `previous`
/// the step before's x̂0 where there was one.
public struct StepBuffers {
    public let x: UnsafeMutablePointer<Float>, eps: UnsafeMutablePointer<Float>, x0: UnsafeMutablePointer<Float>
    public let count: Int
    /// The previous step's x̂0 and timestep (nil on the first step), for multistep rules (DPM-Solver++).
    public var previous: (x0: UnsafePointer<Float>, t: Int)? = nil
    /// Classifier guidance's s·∇ log p(y | x_t) (nil: unguided), which DDPM
    /// adds to its mean times σ_t² (the other rules see it already in `eps`).
    public var guidance: UnsafePointer<Float>? = nil
    /// A learned variance's v per pixel (the model's second output), for `--variance learned`.
    public var learnedV: UnsafePointer<Float>? = nil
}

/// A sampler's update rule, as diffusers' schedulers' `step`: which timesteps
/// it visits and how it moves x_t to the next visited timestep.
public protocol ReverseStep {
    /// The decreasing timesteps visited out of T.
    func timesteps(_ settings: SamplerSettings, T: Int) -> [Int]
    /// Moves `b.x` from x_t to x_{tNext} (tNext = -1 after the last step).
    /// `noise(scale)` draws scale * N(0, I) for every image (one draw from each
    /// image's random stream per call) and returns it; a rule calls it at most once per step.
    func update(_ b: StepBuffers, t: Int, tNext: Int, schedule: NoiseSchedule, settings: SamplerSettings,
                noise: (Float) -> UnsafePointer<Float>)
}
