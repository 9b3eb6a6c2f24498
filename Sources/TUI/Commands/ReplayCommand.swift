// ReplayCommand.swift: `ddpm replay`: the explorer on a recording, with no model.
import ArgumentParser
import Engine
import Foundation

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Play a recorded trajectory (.ddpmtraj) in the explorer, with no model: play, pause, speed, scrub, zoom, forks and the equation panel work on the recorded frames.",
        discussion: "Recordings are written by 'ddpm sample --record FILE' and by R in the explorer. Keys that need a model (temperature, sampler settings, a new fork) say so.")

    @Argument(help: "The recording (.ddpmtraj).") var file: String
    @Option(help: "Write the session's terminal output as an asciicast v2 file (asciinema play replays it).") var cast: String?

    func run() throws {
        var o = ExplorerApp.Options()
        let rec = try wrap { try Recording.read(file) }
        o.replay = (rec, file)
        if try wrap({ try CastRecorder.recordIfAsked(cast, inputs: [("the recording", file)]) }) { return }
        o.internalErrorAfterFrames = TestHooks.internalErrorAfterFrames
        try runExplorer(o)
    }
}
