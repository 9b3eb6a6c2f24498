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
}
