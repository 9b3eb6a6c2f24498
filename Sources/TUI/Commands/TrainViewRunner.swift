// TrainViewRunner.swift: `ddpm train --tui`, the explorer opened on the training view.
import ArgumentParser
import Engine

/// `ddpm train --tui`: the explorer opened on the training view.
enum TrainViewRunner {
    /// The trainer's `pendingFit` sizes the run (the lecture demo without --steps).
    static func run(trainer: Trainer, out: String, checkpointEvery: Int) throws {
        var o = ExplorerApp.Options()
        o.screen = .train; o.trainer = trainer; o.trainOut = out; o.checkpointEvery = checkpointEvery
        // The explorer says where it saved when it exits.
        try runExplorer(o)
    }
}
