// InfoCommand.swift: `ddpm info`: parameters, FLOPs and memory of a config.
import ArgumentParser
import Engine
import Foundation

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "What the bundled model (or --weights) holds: its recipe, parameter count, forward MFLOP and activation memory per image; with --config, those of a config.", usage: "ddpm info [<options>]")

    @Option(help: "Describe this weights file or checkpoint (default: the bundled model, unless --config names a config): its model (from the metadata), schedule, objective, training step and the command that made it.") var weights: String?
    @OptionGroup(title: "The model (tiny, small or a config JSON; for --weights without metadata)") var model: ModelFileOptions

    func validate() throws {
        if weights == nil && (model.describesSchedule || model.objective != nil) {
            throw ValidationError("--schedule, --T and --objective describe a weights file without ddpm's metadata (--weights); ddpm schedule shows schedules")
        }
    }

    func run() throws {
        var cfg = try model.resolved(defaultConfig: .tiny).config ?? .tiny
        // Alone, `ddpm info` describes what `ddpm sample` and the explorer run: the bundled model.
        if let weights = weights ?? (model.isEmpty ? Assets.model : nil) {
            let meta = try Assets.reading(weights) { try wrap { try SafeTensors.read(weights).metadata } }
            if let format = meta["format"], format.contains("classifier") {
                // Read as the classifier it says it is: the architecture printed is one its tensors hold.
                let arch = try wrap {
                    format.contains("noisy") ? try ClassifierGuidance.read(weights).classifier.arch : try Classifier.read(weights).0.arch
                }
                print("file:                 \(shown(weights))")
                print("holds:                \(shown(format)) (architecture \(arch)), not a U-Net")
                // The schedule as a U-Net's reads ("linear, T 1000, beta 0.0001...0.02"), not its JSON.
                let spec = try? Checkpoint.decode(NoiseSchedule.Spec.self, meta["schedule"], path: weights, key: "schedule")
                for k in ["schedule", "test_accuracy", "command"] where meta[k] != nil {
                    let value = k == "schedule" ? spec.map { "\($0.kind.rawValue), T \($0.T), beta \($0.betaStart)...\($0.betaEnd)" } ?? shown(meta[k]!) : shown(meta[k]!)
                    print("\(k):".padding(toLength: 22, withPad: " ", startingAt: 0) + value)
                }
                return
            }
            let given = try model.resolved()
            // Loaded, not only described: a --config that does not fit the file's tensors is refused here too.
            let (net, _, schedule, file) = try wrap { try loadModel(weights, given: model, sampling: false) }
            let objective = try wrap { try Checkpoint.objective(file.metadata, path: weights) }
            cfg = net.config
            let spec = schedule.spec
            print("file:                 \(shown(weights))" + (meta["config"] == nil ? " (no config in its metadata: the model --config gave)" : ""))
            print("schedule:             \(spec.kind.rawValue), T \(spec.T), beta \(spec.betaStart)...\(spec.betaEnd)"
                  + (meta["schedule"] == nil ? (given.schedule == nil ? " (not in its metadata: the chapter's, as no --schedule or --T said otherwise)" : " (from --schedule/--T)") : ""))
            print("predicts:             \(objective.rawValue)" + (cfg.learnSigma ? " and its variance (the interpolation between beta and the posterior's; --variance learned)" : "")
                  + (meta["objective"] == nil && meta["config"] == nil
                     ? (model.objective == nil ? " (not in its metadata: assumed; a v or x0 model needs --objective)" : " (from --objective)") : ""))
            if let step = meta["step"] {
                print("training step:        " + (Checkpoint.step(meta).map { "\($0)" + (meta["epochs"].map { " (\(shown($0)) epochs)" } ?? "") }
                                                   ?? "not a step a run can reach: \(shown(step))"))
            }
            if let command = meta["command"] { print("made by:              \(shown(command))") }
            // A training checkpoint keeps its run's options: the flags that train it again (with its config above).
            // (Not for exported weights: their files have moved since, and the bundled model's options named
            // its teacher by the path that is its own name now; "made by" and the note say it as it was.)
            if meta["format"] == Trainer.checkpointFormat {
                do {
                    let st = try Checkpoint.trainState(meta, path: weights)
                    print("trained with:         \(TrainCommand.flags(reproducing: st.options, pendingFit: st.pendingFit, metadata: meta))")
                } catch { print("trained with:         (its training state does not read: \(EngineError.oneLine("\(error)")); --resume refuses it)") }
            }
            // A run resumed or exported by hand keeps its whole recipe here (`ddpm export --meta note=...`).
            if let note = meta["note"] { print("note:                 \(shown(note))") }
        }
        let net = try UNet(cfg)
        let attn = cfg.attention.isEmpty ? "" : ", attention at levels \(cfg.attention)"
        print("config:               \(shown(cfg.name)) (n_channels \(cfg.nChannels), ch_mults \(cfg.chMults), n_blocks \(cfg.nBlocks), \(cfg.imageSize)x\(cfg.imageSize)\(attn))")
        print("parameters:           \(net.parameterCount.formatted())")
        print(String(format: "forward MFLOP/image:  %.1f  (1 MAC = 2 FLOP)", Double(net.forwardFLOPsPerImage) / 1e6))
        print(String(format: "activations/image:    %.2f MiB kept for backward (float32)",
                     Double(net.activationFloatsPerImage * 4) / 1048576))
    }
}

/// A metadata value or path on one line of `info`: control characters (newlines too) escaped, and
/// cut after 2,000 characters, saying how long it was (a file's metadata can hold megabytes).
private func shown(_ s: String) -> String {
    let limit = 2000
    return s.count <= limit ? EngineError.oneLine(s) : EngineError.quoted(s, limit: limit) + " (\(s.count) characters)"
}
