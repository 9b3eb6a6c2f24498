import ArgumentParser
import Engine
import Foundation

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Parameter count, forward MFLOP and activation memory per image.")

    @Option(help: "Model config: tiny or small.") var config: String = "tiny"

    func run() throws {
        guard let cfg = UNetConfig.named(config) else {
            throw ValidationError("unknown config '\(config)' (use tiny or small)")
        }
        let net = try UNet(cfg)
        print("config:               \(cfg.name) (n_channels \(cfg.nChannels), ch_mults \(cfg.chMults), n_blocks \(cfg.nBlocks), \(cfg.imageSize)x\(cfg.imageSize))")
        print("parameters:           \(net.parameterCount.formatted())")
        print(String(format: "forward MFLOP/image:  %.1f  (1 MAC = 2 FLOP)", Double(net.forwardFLOPsPerImage) / 1e6))
        print(String(format: "activations/image:    %.2f MiB kept for backward (float32)",
                     Double(net.activationFloatsPerImage * 4) / 1048576))
    }
}
