// DDPMCommand.swift: `ddpm`: the command and its subcommands.
import ArgumentParser
import Engine
import Foundation

/// `ddpm`: the explorer (no arguments) and its command-line tools.
public struct DDPMCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "ddpm",
        abstract: "Watch a diffusion model think: a terminal explorer for DDPM on MNIST.",
        subcommands: [ExploreCommand.self, TrainCommand.self, SampleCommand.self, ScheduleCommand.self, InfoCommand.self, BenchCommand.self, ExportCommand.self, EvalCommand.self, ReplayCommand.self, ExportGIFCommand.self],
        defaultSubcommand: ExploreCommand.self
    )
    public init() {}

    /// What to say when the first argument is neither an option nor a command (`ddpm smaple`): the
    /// explorer, the default command, would call it an unexpected argument of `ddpm explore`.
    public static func unknownCommand(_ arguments: [String]) -> String? {
        guard var first = arguments.first, !first.hasPrefix("-") else { return nil }
        let names = configuration.subcommands.map { $0._commandName }
        // (`ddpm help smaple` would print the top level's help and exit 0.)
        if first == "help" {
            guard arguments.count > 1, !arguments[1].hasPrefix("-") else { return nil }
            first = arguments[1]
        }
        if names.contains(first) { return nil }
        // (A word pasted by mistake can be long: its start says which.)
        let shown = first.count > 60 ? String(first.prefix(60)) + "…" : first
        return "Error: unknown command '\(EngineError.oneLine(shown))'; the commands are " + names.joined(separator: ", ")
            + " (ddpm alone opens the explorer; ddpm --help says more)"
    }
}
