import Engine
enum TrainViewRunner { static func run(trainer: Trainer, out: String, checkpointEvery: Int) throws { throw CLIError("the training view is not built yet") } }
