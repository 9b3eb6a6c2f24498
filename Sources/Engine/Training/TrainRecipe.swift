// TrainRecipe.swift: the two ways to train from scratch the tools offer: a lecture demo and the full run.

/// A named set of training options. `ddpm train` starts from the full recipe
/// (`--recipe demo` for the other); `ddpm train --tui` and `g` in the explorer
/// offer both. Flags given on the command line change a recipe's options.
public enum TrainRecipe: String, CaseIterable, Codable, Sendable {
    /// Digits in front of a class within minutes: small batches (many updates
    /// per second), a high learning rate with a short warm-up, a short EMA, no
    /// dropout, min-SNR-5 loss weighting (the low-noise steps, which teach
    /// little about a digit's shape, weigh less) and a cosine schedule that
    /// ends after `demoSteps`. Still the chapter's DDPM (Tiny U-Net, linear
    /// schedule, T = 1000, MSE on eps) on the real training set.
    case demo
    /// The first bundled model's (v1) recipe (batch 64, lr 5e-4, warm-up 300,
    /// EMA 0.999, no dropout) for `fullEpochs` epochs.
    case full

    public static let demoSteps = 2400, fullEpochs = 20

    /// What menus and messages call it.
    public var title: String { self == .demo ? "lecture demo" : "full run" }

    /// The options for a set of `images` training images, at the recipe's
    /// batch size or `batch` (the full run's length is in epochs, so its steps follow the batch).
    public func options(images: Int, batch: Int? = nil) -> TrainOptions {
        var o = TrainOptions()
        o.config.dropout = 0
        switch self {
        case .demo:
            o.batch = 32; o.lr = 1e-3; o.warmup = 100; o.emaDecay = 0.99; o.weighting = .minSnr
        case .full:
            o.batch = 64; o.lr = 5e-4; o.warmup = 300; o.emaDecay = 0.999
        }
        if let batch { o.batch = batch }
        o.totalSteps = self == .demo ? TrainRecipe.demoSteps : TrainRecipe.fullEpochs * o.stepsPerEpoch(images: images)
        return o
    }
}
