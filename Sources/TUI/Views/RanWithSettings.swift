// RanWithSettings.swift: what the names of a run's samplers are read from.
import Engine

/// What names a run by the samplers its steps ran: its recorded frames, or the settings
/// they ran with where they changed (`RunnerSnapshot.Comparison.ran`).
protocol RanWithSettings { var settings: SamplerSettings { get } }
extension RecordedFrame: RanWithSettings {}
extension SamplerSettings: RanWithSettings { var settings: SamplerSettings { self } }
