// TrainMetrics.swift: the training view's numbers (loss curves, buckets, rates).
import Foundation
import Synchronization

/// Training metrics for the train view.
public struct TrainMetrics: Sendable {
    public var step = 0, totalSteps = 0
    public var losses: [Double] = []
    public var bucketLoss = [Double](repeating: .nan, count: 10)
    /// The weighting the loss curve (and the status line's loss) carries, and min-SNR's gamma;
    /// `bucketLoss` is always the unweighted loss, so the two differ by it.
    public var lossWeighting = Weighting.simple, minSnrGamma = 5.0
    /// T of the schedule being trained: bucket i holds t in [i T / 10, (i + 1) T / 10).
    public var T = NoiseSchedule.Spec().T
    public var lr = 0.0, stepsPerSecond = 0.0, imagesPerSecond = 0.0, epoch = 0.0
    public var preview: [Float] = [], previewStep = 0, previewN = 0, previewSize = MNIST.side
    /// The preview samples with bfloat16 convolutions (`--backend bf16`; training itself is float).
    public var previewBF16 = false
    /// The classifier's reading of the preview, and the share it reads with p >= 0.9 at each preview (minutes since the start).
    public var previewReadings: [DigitReader.Reading] = []
    public var confidentMinutes: [Double] = [], confidentRates: [Double] = []
    /// The step at which the run is sized to this machine (the lecture demo's
    /// `pendingFit`): until then its length, and so its ETA, is not known.
    public var sizedAtStep: Int?
    /// What the sizing said ("sized to this machine: 1550 steps, about 4.4 min in all"), once it is done.
    public var sized: String?
    public var lastSaved: String?
    /// Where the run's checkpoints go (w, every few hundred steps, the end), shown until the first is saved.
    public var savesTo: String?
    public var error: String?
    public init() {}
}
