// InfoCommand.swift: `ddpm info`: parameters, FLOPs and memory of a config.
import ArgumentParser
import Engine
import Foundation

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Parameter count, forward MFLOP and activation memory per image.")

    @Option(help: "Model config: tiny or small.") var config: String = "tiny"
    @Option(help: "Add the chapter's AttentionBlock at these levels (indices into ch_mults, e.g. 1 or 1,2).") var attention: String?

    func run() throws {
        let cfg = try modelConfig(config, attention: attention)
        let net = try UNet(cfg)
        let attn = cfg.attention.isEmpty ? "" : ", attention at levels \(cfg.attention)"
        print("config:               \(cfg.name) (n_channels \(cfg.nChannels), ch_mults \(cfg.chMults), n_blocks \(cfg.nBlocks), \(cfg.imageSize)x\(cfg.imageSize)\(attn))")
        print("parameters:           \(net.parameterCount.formatted())")
        print(String(format: "forward MFLOP/image:  %.1f  (1 MAC = 2 FLOP)", Double(net.forwardFLOPsPerImage) / 1e6))
        print(String(format: "activations/image:    %.2f MiB kept for backward (float32)",
                     Double(net.activationFloatsPerImage * 4) / 1048576))
    }
}
