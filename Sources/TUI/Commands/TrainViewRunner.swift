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
        let lost = try ExplorerApp.run(o)
        // Ended by a signal (the run saved, the terminal restored): say so in the exit status, as the explorer does.
        if uiStop != 0 { throw ExitCode(128 + uiStop) }
        // The training run could not be saved (the farewell said why): not a success.
        if lost { throw ExitCode.failure }
    }
}
