// ExportCommand.swift: `ddpm export`: a checkpoint's EMA weights alone.
import ArgumentParser
import Engine
import Foundation

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the EMA weights of a training checkpoint as a plain weights file (loads in PyTorch too).")

    @Option(help: "Training checkpoint written by 'ddpm train --out'.") var checkpoint: String
    @Option(help: "Weights file to write (safetensors).") var out: String
    @Option(help: "Extra metadata as key=value (repeatable).") var meta: [String] = []

    func run() throws {
        try wrap {
            try InputFile.refuseClashes(outputs: [("--out", out)], inputs: [("the --checkpoint", checkpoint)])
            try refuseReplacing(out, only: "export replaces only model weights") { $0 == Trainer.weightsFormat }
            // A weights file is a safetensors file: `--out weights.png` is a slip, not a wish (train says the same).
            guard (out as NSString).pathExtension.lowercased() == "safetensors" else {
                throw CLIError("--out must be a file name ending in .safetensors (weights), got '\(EngineError.quoted(out))'")
            }
            let f = try SafeTensors.read(checkpoint)
            _ = try Checkpoint.trainState(f.metadata, path: checkpoint)
            let (cfg, _) = try Checkpoint.modelSpec(f.metadata, path: checkpoint)
            let net = try UNet(cfg)
            let p = FloatBuffer(count: net.parameterCount)
            try f.load(into: p.ptr, layout: net.layout)
            var m = f.metadata
            m["format"] = Trainer.weightsFormat
            var given = Set<String>()
            for kv in meta {
                let parts = kv.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw CLIError("--meta takes key=value, got '\(kv)'") }
                // Two values for one key: which was meant is not for us to guess (the last one won, unsaid).
                guard given.insert(parts[0]).inserted else {
                    throw CLIError("--meta gives '\(EngineError.oneLine(parts[0]))' twice: give each key once")
                }
                // The format says what the file is; every command reads it to decide how to load it.
                guard parts[0] != "format" || parts[1] == m["format"] else { throw CLIError("--meta cannot change 'format': it says the file holds U-Net weights") }
                // What the run recorded (its schedule, step, data...) describes these weights: --meta adds keys,
                // or a note, not other facts ('schedule' with T 5 made a file that sampled 5 steps).
                // (Nor 'command', the run's own: info shows it as "made by".)
                if let was = f.metadata[parts[0]], was != parts[1], !["note", "format"].contains(parts[0]) {
                    throw CLIError("--meta cannot change '\(EngineError.oneLine(parts[0]))': the checkpoint records it for these weights (add a note=... instead)")
                }
                m[parts[0]] = parts[1]
            }
            // The metadata must still describe this model (--meta config=junk would make an unloadable file).
            let (written, _) = try Checkpoint.modelSpec(m, path: "--meta")
            guard written == cfg else { throw CLIError("--meta changes the model config; the weights are of \(cfg.name)") }
            let trained = try Checkpoint.objective(f.metadata, path: checkpoint)
            guard try Checkpoint.objective(m, path: "--meta") == trained else {
                throw CLIError("--meta changes what the network predicts; it was trained to predict \(trained.rawValue)")
            }
            try Checkpoint.writeWeights(out, layout: net.layout, params: p.ptr, metadata: m)
            print("wrote EMA weights of step \(EngineError.oneLine(m["step"] ?? "?")) to \(EngineError.oneLine(out))")
        }
    }
}
