// TrainViewRunner.swift: `ddpm train --tui`, the explorer opened on the training view.
import Engine

/// `ddpm train --tui`: the explorer opened on the training view.
enum TrainViewRunner {
    static func run(trainer: Trainer, out: String, checkpointEvery: Int, fit: LengthFit?) throws {
        var o = ExplorerApp.Options()
        o.screen = .train; o.trainer = trainer; o.trainOut = out; o.checkpointEvery = checkpointEvery; o.trainFit = fit
        // The explorer says where it saved when it exits.
        try ExplorerApp.run(o)
    }
}
