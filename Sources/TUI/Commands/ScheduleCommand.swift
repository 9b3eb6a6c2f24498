// ScheduleCommand.swift: `ddpm schedule`: a schedule's tables as text, CSV or JSON.
import ArgumentParser
import Engine
import Foundation

struct ScheduleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Print a noise schedule's tables: t, beta, alpha, alpha_bar, alpha_bar_prev, snr, posterior_variance.", usage: "ddpm schedule [<options>]")

    @Option(help: "linear, cosine, quadratic or sigmoid.") var kind: String = "linear"
    @Option(name: [.customShort("T"), .customLong("T"), .customLong("steps")], parsing: .unconditional,
            help: "Diffusion steps T (>= 2; --steps is the old name).") var steps: Int = 1000
    @Option(parsing: .unconditional, help: "beta at t = 0 (default \(NoiseSchedule.Spec().betaStart); sigmoid's curve runs between the two ends without reaching them; not for cosine).") var betaStart: Double?
    @Option(parsing: .unconditional, help: "beta at t = T-1 (default \(NoiseSchedule.Spec().betaEnd); see --beta-start for sigmoid; not for cosine).") var betaEnd: Double?
    @Flag(help: "CSV output.") var csv = false
    @Flag(help: "JSON output (one object of arrays).") var json = false

    func validate() throws {
        guard ScheduleKind(rawValue: kind) != nil else {
            throw ValidationError("unknown --kind '\(kind)' (use linear, cosine, quadratic or sigmoid)")
        }
        if kind == ScheduleKind.cosine.rawValue && (betaStart != nil || betaEnd != nil) {
            throw ValidationError("cosine has no --beta-start or --beta-end: its betas follow from alpha_bar's cosine")
        }
        if csv && json { throw ValidationError("choose one of --csv and --json") }
    }

    func run() throws {
        let k = ScheduleKind(rawValue: kind)!
        let s = try wrap(flags: ["T": "--T"]) { try NoiseSchedule(kind: k, T: steps, betaStart: betaStart ?? NoiseSchedule.Spec().betaStart, betaEnd: betaEnd ?? NoiseSchedule.Spec().betaEnd) }
        let cols: [(String, [Double])] = [("beta", s.betas), ("alpha", s.alphas), ("alpha_bar", s.alphasCumprod),
                                          ("alpha_bar_prev", s.alphasCumprodPrev), ("snr", s.snr),
                                          ("posterior_variance", s.posteriorVariance)]
        if json {
            var parts = ["\"kind\":\"\(k.rawValue)\"", "\"T\":\(steps)"]
            for (name, v) in cols { parts.append("\"\(name)\":[" + v.map { "\($0)" }.joined(separator: ",") + "]") }
            parts.append("\"warnings\":[" + s.warnings.map { "\"\($0)\"" }.joined(separator: ",") + "]")
            print("{" + parts.joined(separator: ",") + "}")
            return
        }
        if csv {
            print("t," + cols.map { $0.0 }.joined(separator: ","))
            for t in 0..<steps { print("\(t)," + cols.map { "\($0.1[t])" }.joined(separator: ",")) }
            return
        }
        print("     t         beta        alpha    alpha_bar alpha_bar_prev          snr  posterior_variance")
        let rows = steps <= 20 ? Array(0..<steps) : Array(Set([0, 1, 2] + stride(from: 0, to: steps, by: max(1, steps / 10)).map { $0 } + [steps - 2, steps - 1])).sorted()
        for t in rows {
            print(String(format: "%6d %12.6g %12.6g %12.6g %14.6g %12.6g %19.6g", t, s.betas[t], s.alphas[t], s.alphasCumprod[t],
                         s.alphasCumprodPrev[t], s.snr[t], s.posteriorVariance[t]))
        }
        // (It said nothing of the rows left out.)
        if rows.count < steps { print("(\(rows.count) of the \(steps) timesteps; --csv or --json prints every one)") }
        for w in s.warnings { print("warning: \(w)") }
        if s.warnings.isEmpty { print("end points ok: alpha_bar[T-1] = \(String(format: "%.3g", s.alphasCumprod[steps - 1])), beta_0 = \(String(format: "%.6g", s.betas[0]))") }
    }
}
