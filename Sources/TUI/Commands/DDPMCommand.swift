// DDPMCommand.swift: `ddpm`: the command and its subcommands.
import ArgumentParser
import Engine
import Foundation

/// `ddpm`: the explorer (no arguments) and its command-line tools.
public struct DDPMCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "ddpm",
        abstract: "Watch a diffusion model think: a terminal explorer for DDPM on MNIST.",
        version: DDPMCommand.version,
        subcommands: [ExploreCommand.self, TrainCommand.self, SampleCommand.self, ScheduleCommand.self, InfoCommand.self, BenchCommand.self, ExportCommand.self, EvalCommand.self, ReplayCommand.self, ExportGIFCommand.self],
        defaultSubcommand: ExploreCommand.self
    )
    public init() {}

    /// `ddpm --version`: the program's version and the bundled model it opens.
    public static let version = "ddpm 1.0.0 (bundled model: mnist-tiny v5, assets/models/mnist-tiny.safetensors)"

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
        let guess = closest(to: first, among: names).map { "did you mean '\($0)'? " } ?? ""
        return "Error: unknown command '\(EngineError.oneLine(shown))'; \(guess)the commands are " + names.joined(separator: ", ")
            + " (ddpm alone opens the explorer; ddpm --help says more)"
    }

    /// The name a typo most likely meant: the one fewest edits away (a swap of two neighbouring
    /// letters is one edit), if it is at most a third of the word's length away (and at least 1).
    static func closest(to word: String, among names: [String]) -> String? {
        let w = Array(word.lowercased())
        guard w.count <= 40 else { return nil }
        let allowed = max(1, w.count / 3)
        let scored = names.map { ($0, editDistance(w, Array($0))) }.filter { $0.1 <= allowed }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        // Two names equally close: no guess.
        return scored.filter { $0.1 == best.1 }.count == 1 ? best.0 : nil
    }

    /// Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours.
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }
}
