// InfoCommand.swift: `ddpm info`: parameters, FLOPs and memory of a config.
import ArgumentParser
import Engine
import Foundation

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Parameter count, forward MFLOP and activation memory per image; with --weights, what a weights file holds.")

    @Option(help: "Model config: tiny or small.") var config: String?
    @Option(help: "Add the chapter's AttentionBlock at these levels (indices into ch_mults, e.g. 1 or 1,2).") var attention: String?
    @Option(help: "Describe this weights file or checkpoint instead: its model (from the metadata), schedule, objective, training step and the command that made it.") var weights: String?

    func validate() throws {
        if weights != nil && (config != nil || attention != nil) {
            throw ValidationError("--weights describes the file's own model; it takes no --config or --attention")
        }
    }

    func run() throws {
        var cfg = try modelConfig(config ?? "tiny", attention: attention)
        if let weights {
            let meta = try wrap { try SafeTensors.read(weights).metadata }
            if let format = meta["format"], format.contains("classifier") {
                print("file:                 \(weights)")
                print("holds:                \(format) (architecture \(meta["architecture"] ?? "16,32,32,128,gn")), not a U-Net")
                for k in ["schedule", "test_accuracy", "command"] where meta[k] != nil { print("\(k):".padding(toLength: 22, withPad: " ", startingAt: 0) + meta[k]!) }
                return
            }
            let (c, spec) = try wrap { try Checkpoint.modelSpec(meta, path: weights) }
            let objective = try wrap { try Checkpoint.objective(meta, path: weights) }
            cfg = c
            print("file:                 \(weights)" + (meta["config"] == nil ? " (no config in its metadata: Tiny, as PyTorch writes it)" : ""))
            print("schedule:             \(spec.kind.rawValue), T \(spec.T), beta \(spec.betaStart)...\(spec.betaEnd)")
            print("predicts:             \(objective.rawValue)" + (cfg.learnSigma ? " and v (a learned variance: --variance learned)" : ""))
            if let step = meta["step"] { print("training step:        \(step)" + (meta["epochs"].map { " (\($0) epochs)" } ?? "")) }
            if let command = meta["command"] { print("made by:              \(command)") }
        }
        let net = try UNet(cfg)
        let attn = cfg.attention.isEmpty ? "" : ", attention at levels \(cfg.attention)"
        print("config:               \(cfg.name) (n_channels \(cfg.nChannels), ch_mults \(cfg.chMults), n_blocks \(cfg.nBlocks), \(cfg.imageSize)x\(cfg.imageSize)\(attn))")
        print("parameters:           \(net.parameterCount.formatted())")
        print(String(format: "forward MFLOP/image:  %.1f  (1 MAC = 2 FLOP)", Double(net.forwardFLOPsPerImage) / 1e6))
        print(String(format: "activations/image:    %.2f MiB kept for backward (float32)",
                     Double(net.activationFloatsPerImage * 4) / 1048576))
    }
}
