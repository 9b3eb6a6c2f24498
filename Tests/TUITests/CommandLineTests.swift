import Engine
@testable import TUI
import Foundation
import XCTest

/// SPEC 6 on the command line: a value out of range, a negative number, a
/// missing value or an unknown word gets one `Error:` line that names the
/// option and the value, and a non-zero exit — never a crash, a hang or work
/// started on a bad setting.
final class CommandLineTests: XCTestCase {
    /// A path of thousands of characters is cut short in every message that names it (they printed it
    /// whole: a 12 kB line for an output in a missing folder), as input paths already were.
    func testVeryLongPathsAreShortenedInMessages() throws {
        let deep = String(repeating: "d/", count: 3000)
        for (cmd, says) in [("sample --n 1 --sampler ddim --steps 1 --out \(deep)x.png", "cannot write "),
                            ("eval --n 4 --classifier \(String(repeating: "x", count: 5000))", "--train-classifier --classifier ")] {
            let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) timeout 60 \(Shell.binary) \(cmd)")
            XCTAssertEqual(code, 1, String(out.prefix(300)))
            XCTAssertTrue(out.contains(says) && out.contains("…"), String(out.prefix(300)))
            XCTAssertLessThan(out.count, 1000, String(out.prefix(300)))
            XCTAssertEqual(out.split(separator: "\n").count, 1, String(out.prefix(300)))
        }
    }

    func testBadValuesGetOneLineErrorsNamingTheOption() throws {
        let png = NSTemporaryDirectory() + "cli-\(getpid()).png"
        let ckpt = NSTemporaryDirectory() + "cli-\(getpid()).ckpt.safetensors"
        let three = NSTemporaryDirectory() + "cli-\(getpid())-three.idx"
        try Data(IDXFile(dims: [3, 28, 28], bytes: [UInt8](repeating: 0, count: 3 * 784)).encoded()).write(to: URL(fileURLWithPath: three))
        defer { for p in [png, ckpt, three] { try? FileManager.default.removeItem(atPath: p) } }
        let cases: [(String, String)] = [
            // Precision and recall of 3 images were 1.000 whatever they were (each one's 3rd neighbour is the farthest).
            ("eval --images \(three)", "3 images; the metrics need at least 4 (precision and recall take each one's 3rd nearest neighbour)"),
            // Negative numbers reach the range check (not "Missing value").
            ("sample --out \(png) --sampler ddim --steps -3", "--steps must be in 1...T (T: the model's timesteps), got -3"),
            ("sample --out \(png) --steps 5", "--steps is for --sampler ddim or dpmpp: DDPM walks all T steps"),
            ("sample --out \(png) --backend sse2", "unknown --backend 'sse2' (avx512, avx2, reference, bf16)"),
            ("explore --backend BF16", "unknown --backend 'BF16' (avx512, avx2, reference, bf16)"),
            ("eval --images \(png) --backend avx2", "--backend chooses the kernels the samples are drawn with; --images, --damage and the training flags draw none"),
            // Options that would do nothing are refused, not ignored: the report would read as theirs.
            ("eval --images \(three) --weights \(ckpt) --temperature 0.5", "--weights, --temperature do not apply: --images scores the images given and samples nothing"),
            ("eval --damage --sampler ddim", "--sampler does not apply: --damage scores damaged real digits and samples nothing"),
            // ... before the sampler's own rules, whose advice ("--steps is for --sampler ddim") led to another refusal.
            ("eval --images \(three) --steps 4", "--steps does not apply: --images scores the images given"),
            ("eval --bpd 2 --eta 0.5", "--eta does not apply: --bpd measures the bound"),
            ("eval --bpd 2 --sampler ddim --steps 4", "--sampler, --steps do not apply: --bpd measures the bound with the model's own steps"),
            ("eval --epochs 2", "--epochs does not apply: --epochs and --architecture are for --train-classifier and --train-noisy-classifier"),
            ("export --checkpoint \(ckpt) --out \(png)", "--out must be a file name ending in .safetensors (weights)"),
            ("sample --out \(png) --n -2", "--n must be in 1...4096, got -2"),
            ("sample --out \(png) --guide 12", "--guide must be in 0...9, got 12"),
            ("sample --out \(png) --guide 3 --guide-scale -1", "--guide-scale must be in [0, 100], got -1.0"),
            // A setting of guidance without --guide would do nothing: refused, not ignored.
            ("sample --out \(png) --guide-scale 8", "--guide-scale is the strength of --guide: add --guide DIGIT"),
            ("eval --sampler ddim --guide-classifier \(png)", "--guide-classifier is the classifier of --guide: add --guide DIGIT"),
            ("sample --out \(png) --variance learned", "--variance learned needs a model trained with --learn-sigma"),
            ("info --config {\\\"nChannels\\\":8}", "--config needs 'chMults' (nChannels, chMults, nBlocks and imageSize are required)"),
            ("info --config {\\\"nChannels\\\":8,\\\"chMults\\\":[1],\\\"nBlocks\\\":1,\\\"imageSize\\\":28,\\\"atention\\\":[0]}", "--config has an unknown key 'atention'"),
            ("info --config {\\\"nChannels\\\":8,\\\"chMults\\\":[1],\\\"nBlocks\\\":1,\\\"imageSize\\\":28,\\\"nChannels\\\":16}", "--config gives 'nChannels' twice"),
            ("info --config {\\\"nChannels\\\":\\\"8\\\"}", "--config: 'nChannels' has the wrong type"),
            ("info --config {\\\"nChannels\\\":1e999,\\\"chMults\\\":[1],\\\"nBlocks\\\":1,\\\"imageSize\\\":28}", "--config is not readable: the number 1e999 is out of range"),
            ("info --config {\\\"nChannels\\\":16,", "--config is not valid JSON ({\"nChannels\":16,)"),
            ("info --config '[1]'", "--config is not a JSON object ([1])"),
            ("info --config '" + String(repeating: "[", count: 600) + String(repeating: "]", count: 600) + "'",
             "--config is not readable: its arrays and objects are nested deeper than 512 levels"),
            ("info --config {\\\"nChannels\\\":8,\\\"chMults\\\":[1,\\\"2\\\"],\\\"nBlocks\\\":1,\\\"imageSize\\\":28}", "--config: 'chMults.1' has the wrong type"),
            ("info --config {\\\"nChannels\\\":16.5,\\\"chMults\\\":[1],\\\"nBlocks\\\":1,\\\"imageSize\\\":28}", "does not fit its type (sizes and counts are whole numbers"),
            ("bench --config {\\\"nChannels\\\":16,\\\"chMults\\\":[1,2],\\\"nBlocks\\\":1,\\\"imageSize\\\":28,\\\"nMidBlocks\\\":0}",
             "mid blocks in 1...8; got 1, 0"),
            ("bench --config {\\\"nChannels\\\":1024,\\\"chMults\\\":[1,1,1,1,1,1],\\\"nBlocks\\\":8,\\\"imageSize\\\":32}", "parameters, more than the 64M this program loads"),
            ("info --schedule cosine", "--schedule, --T and --objective describe a weights file without ddpm's metadata"),
            ("info --schedule cubic", "unknown --schedule 'cubic' (linear, cosine, quadratic, sigmoid)"),
            ("bench --train-batches 64,abc", "--train-batches takes batch sizes in 1...1024, comma separated: '64,abc'"),
            ("bench --sample-batches 0", "--sample-batches takes batch sizes in 1...1024, comma separated: '0'"),
            ("bench --steps 0", "--steps must be in 1...10000, got 0"),
            ("bench --backend sse2", "unknown --backend 'sse2' (avx512, avx2, reference, bf16)"),
            ("sample --out \(png) --T 1", "--T must be in 2...100000, got 1"),
            ("sample --out \(png) --attention 1", "--attention describes a model with --config"),
            ("sample --out \(png) --config small", "its metadata says the model is tiny + attention at 7x7 + self-conditioning, not the --config small given"),
            ("eval --out \(ckpt)", "--out is where --train-classifier or --train-noisy-classifier writes"),
            ("eval --data /tmp", "--data evaluates against another set: give --classifier"),
            ("eval --train-classifier --data /tmp", "--data trains a classifier of another set: give --out FILE"),
            ("eval --train-classifier --weights /nonexistent", "--train-classifier trains on real digits (--data or the bundled MNIST); it takes no --weights, --images or --versus"),
            ("eval --train-noisy-classifier --weights \(Shell.assets)/models/mnist-tiny-v1.safetensors", "--weights is another model than the bundled one: give --out FILE"),
            ("--data /nonexistent-dir", "--data: /nonexistent-dir: no such folder"),
            // A file of another kind says what it is.
            ("sample --out \(png) --weights \(Shell.assets)/models/mnist-classifier.safetensors", "is a classifier"),
            ("train --steps 1 --out \(ckpt) --init \(Shell.assets)/models/mnist-classifier.safetensors", "is a classifier"),
            ("eval --images \(Shell.assets)/models/mnist-tiny.safetensors", "is a safetensors file (a model or a recording), not IDX images"),
            // Autoguidance in sampling, guidance distillation in training.
            ("sample --out \(png) --autoguide-weight 2", "--autoguide-weight and --autoguide-max-t shape --autoguide: add --autoguide FILE"),
            ("sample --out \(png) --autoguide \(Shell.assets)/models/mnist-tiny-v1.safetensors --autoguide-weight 30", "--autoguide-weight must be in [0, 20], got 30.0"),
            ("sample --out \(png) --autoguide \(Shell.assets)/models/mnist-tiny-v1.safetensors --record \(png).ddpmtraj", "--record keeps one model's trajectory; --autoguide samples with two"),
            ("sample --out \(png) --autoguide \(Shell.assets)/models/mnist-classifier.safetensors", "is a classifier"),
            ("train --steps 1 --out \(ckpt) --teacher \(Shell.assets)/models/mnist-tiny.safetensors", "--teacher and --weak-teacher go together"),
            ("train --steps 1 --out \(ckpt) --guidance-max-t 500", "--guidance-weight, --guidance-max-t and --guidance-on-noise shape --teacher's guidance"),
            ("train --steps 1 --out \(ckpt) --teacher \(Shell.assets)/models/mnist-tiny.safetensors --weak-teacher \(Shell.assets)/models/mnist-tiny-v1.safetensors --guidance-max-t 1000", "--guidance-max-t must be in 0...999, got 1000"),
            // A fine-tune keeps its weights' schedule; a guided pair must share the run's (and the error says what differs).
            ("train --steps 1 --out \(ckpt) --init \(Shell.assets)/models/mnist-tiny-v1.safetensors -T 500", "its model was trained on the linear schedule with T 1000, which a fine-tune keeps: leave out --schedule and -T"),
            ("train --steps 1 --out \(ckpt) --init \(Shell.assets)/models/mnist-tiny-v1.safetensors --schedule cosine", "which a fine-tune keeps: leave out --schedule and -T"),
            ("train --steps 1 --limit 64 --batch 8 --out \(ckpt) -T 500 --teacher \(Shell.assets)/models/mnist-tiny-v2.safetensors --weak-teacher \(Shell.assets)/models/mnist-tiny-v1.safetensors", "its noise schedule is linear with T 1000 (beta 0.0001 to 0.02), not the run's linear with T 500"),
            ("train --resume --out \(ckpt) --guidance-weight 5", "--teacher and its guidance flags apply to a new run; --resume continues with the checkpoint's own"),
            ("replay \(Shell.assets)/models/mnist-tiny.safetensors", "not a usable recording: this is a model's weights file"),
            ("sample --out \(png) --n 5000", "--n must be in 1...4096, got 5000"),
            ("export-gif r.ddpmtraj --out .gif", "--out must be a file name ending in .gif, got '.gif'"),
            ("--paused --view train", "--paused holds the sample view's run after its first step; --view train opens another view"),
            ("schedule -T5", "Unknown option '-T5': an option and its value are two words, -T 5"),
            // Inside a longer command ArgumentParser took the next word as -T's value.
            ("sample -T5 --n 1 --out \(png)", "Unknown option '-T5': an option and its value are two words, -T 5"),
            ("schedule -T-3 --csv", "Unknown option '-T-3': an option and its value are two words, -T -3"),
            ("sample --out \(png)" + String(repeating: " --n 1", count: 500), "Error: 1003 arguments; ddpm takes at most 1000"),
            // A list that starts with a minus is the option's value (it was "Missing value").
            ("bench --train-batches -1", "--train-batches takes batch sizes in 1...1024, comma separated: '-1'"),
            ("train --steps 1 --out \(ckpt) --class-weights -1,1,1,1,1,1,1,1,1,1", "--class-weights must be in [0, 1e6]"),
            ("sample --out \(png) --temperature -1", "--temperature must be in [0, 10], got -1.0"),
            ("sample --out \(png) --noise-temperature 11", "--noise-temperature must be in [0, 10], got 11.0"),
            ("sample --out \(png) --sampler ddim --eta 1.5", "--eta must be in [0, 1], got 1.5"),
            ("sample --out \(png) --eta nan", "--eta must be in [0, 1], got nan"),
            ("sample --out \(png) --sampler ddim --steps 5000", "--steps must be in 1...1000, got 5000"),
            ("--steps 1001", "--steps must be in 1...1000, got 1001"),
            ("sample --out \(png) --sampler euler", "unknown --sampler 'euler'"),
            ("sample --out \(png) --seed -1", "The value '-1' is invalid for '--seed"),
            ("smaple --out \(png)", "unknown command 'smaple'; did you mean 'sample'? the commands are explore, train, sample, schedule, info, bench"),
            ("tain --steps 1", "unknown command 'tain'; did you mean 'train'? the commands are"),
            ("export-giff x.ddpmtraj", "unknown command 'export-giff'; did you mean 'export-gif'? the commands are"),
            ("sample --out \(png) --n", "Missing value for '--n"),
            ("sample --n --out \(png)", "The value '--out' is invalid for '--n"),
            ("sample --out \(NSTemporaryDirectory())x.gif", "--out must be a file name ending in .png, .pgm or .idx, got '\(NSTemporaryDirectory())x.gif'"),
            ("eval --n -4", "--n must be in 4...10000, got -4"),
            ("eval --n 3", "--n must be in 4...10000, got 3"),
            ("eval --sampler ddim --steps 0", "--steps must be in 1...T (T: the model's timesteps), got 0"),
            ("eval --steps 50", "--steps is for --sampler ddim or dpmpp"),
            // A setting the sampler does not use is refused, as --steps is, not silently ignored.
            ("sample --out \(png) --eta 0.5", "--eta is for --sampler ddim (ddpm does not use it)"),
            ("sample --out \(png) --sampler dpmpp --eta 0.5", "--eta is for --sampler ddim (dpmpp does not use it)"),
            ("sample --out \(png) --sampler ddim --variance posterior", "--variance is for --sampler ddpm (ddim does not use it)"),
            ("sample --out \(png) --spacing leading", "--spacing is for --sampler ddim or dpmpp"),
            ("eval --eta 1", "--eta is for --sampler ddim (ddpm does not use it)"),
            ("info --config '{\"nChannels\":16,\"chMults\":[1,2,2],\"nBlocks\":2,\"imageSize\":28,\"learnSigma\":\"yes\"}'", "'learnSigma' has the wrong type (true or false)"),
            ("eval --temperature 12", "--temperature must be in [0, 10], got 12.0"),
            ("eval --sampler ddim --eta -0.5", "--eta must be in [0, 1], got -0.5"),
            ("train --out \(ckpt) --steps -5", "--steps must be in 1...100000000, got -5"),
            ("train --out '' --steps 1", "cannot write: an empty path was given for the file"),
            ("train --out \(ckpt) -T 1", "--T must be in 2...100000, got 1"),
            // A model whose alpha_bar underflows trains but cannot be sampled in float: refused before training.
            ("train --out \(ckpt) -T 16500", "the linear schedule with T 16500 takes alpha_bar at t = T-1 to 3.1e-73, under 1e-72: x0-hat"),
            ("train --out \(ckpt) --lr -0.1", "--lr must be in (0, 1), got -0.1"),
            ("train --out \(ckpt) --dropout 1", "--dropout must be in [0, 1), got 1.0"),
            ("train --out \(ckpt) --batch 0", "--batch must be in 1...4096, got 0"),
            ("train --out \(ckpt) --class-weights 1,x", "--class-weights takes numbers separated by commas (one per label), got 'x'"),
            ("train --out \(ckpt) --class-weights=-1,1", "--class-weights must be in [0, 1e6] (relative weights), got -1.0"),
            // Weight x images overflowed the draws' total: every image drawn was the last label's.
            ("train --out \(ckpt) --class-weights 1e308,1e308", "--class-weights must be in [0, 1e6] (relative weights), got 1e+308"),
            ("train --out \(ckpt) --class-weights 0,0,0", "every class weight is 0: no image could be drawn"),
            ("train --out \(ckpt) --steps 1 --class-weights 1,2", "the training set has labels 0...9 but the run has 2 class weights (one per label)"),
            ("train --out \(ckpt) --steps 1 --class-weights 1,1,1,1,1,1,1,1,1,1,0,0,2", "the run has 13 class weights but the training set's labels are 0...9: label 12 has weight 2.0 and no image"),
            ("train --out \(ckpt) --resume --class-weights 1", "--class-weights applies to a new run; --resume continues with the checkpoint's own"),
            // Before any work (they failed at the rename, after sampling; or wrote under another name).
            ("sample --out \(NSTemporaryDirectory())\(String(repeating: "a", count: 300)).png --n 1", "its name is 304 bytes, more than the 255 a file name may have here"),
            ("sample --n 1 --out \(NSTemporaryDirectory())cli-\(getpid())-$(printf 's\\377').png", "the name given is not UTF-8 (shown with \u{FFFD} where its bytes were)"),
            ("train --steps 1 --out \(ckpt) --export \(NSTemporaryDirectory())\(String(repeating: "b", count: 260)).safetensors", "its name is 272 bytes"),
            ("eval --bpd 3 --n 3", "--bpd 3 is the count of test digits it measures; --n counts sampled digits and does not apply"),
            ("eval --bpd 2 --guide-scale 3", "--guide-scale and --guide-classifier steer sampling; --damage, --images and --bpd do not sample"),
            ("train --out \(ckpt) --steps 5 --epochs 1", "give --steps or --epochs, not both"),
            // --epochs is named, not the steps it would make.
            ("train --out \(ckpt) --epochs -1", "--epochs must be in (0, 10000], got -1.0"),
            ("train --out \(ckpt) --epochs 100000000", "--epochs must be in (0, 10000], got 100000000.0"),
            ("sample --out \(png) --weights \(Shell.assets)/models/mnist-classifier.safetensors", "is a classifier (ddpm-explorer classifier 2), not a diffusion model"),
            ("sample --out \(png) --weights ''", "an empty path was given where a safetensors file was expected"),
            ("train --out \(ckpt) --config {\\\"nChannels\\\":8}", "--config needs 'chMults'"),
            ("train --out \(ckpt) --config tinyy", "unknown --config 'tinyy' (tiny, small or a config JSON)"),
            ("train --out \(ckpt) --config {\\\"nChannels\\\":8,\\\"chMults\\\":[1],\\\"nBlocks\\\":1,\\\"imageSize\\\":28,\\\"dropout\\\":0.1}", "set 'dropout' with --dropout, not in the JSON"),
            ("schedule --steps 1", "must be in 2...100000, got 1"),
            ("schedule --T -5", "--T must be in 2...100000, got -5"),
            ("schedule --kind zigzag", "unknown --kind 'zigzag'"),
            ("schedule --csv --json", "choose one of --csv and --json"),
            ("schedule --kind cosine --beta-end 0.03", "cosine has no --beta-start or --beta-end"),
            ("schedule --beta-start 1e-20 --json", "is degenerate"),
            ("bench --steps -1", "--steps must be in 1...10000, got -1"),
            ("--n -3", "--n must be in 1...64, got -3"),
            ("--view sideways", "--view must be sample, train, forward or compare"),
            ("--sampler ddim --eta 3", "--eta must be in [0, 1], got 3.0"),
            ("--sampler ddim --steps 5000", "--steps must be in 1...1000, got 5000"),
            // A classifier of other images (or a broken one) is refused, not shown labelling every digit wrong.
            ("--classifier \(Shell.assets)/models/fashion-mnist-classifier.safetensors", "of the first 100 images of MNIST's test set right (chance: a tenth): it is not a classifier of these images"),
            ("frobnicate", "unknown command 'frobnicate'; the commands are"),
            ("help frobnicate", "unknown command 'frobnicate'"),
            (String(repeating: "x", count: 5000), "unknown command '" + String(repeating: "x", count: 60) + "…'; the commands are"),
            // (A positional word after an option is still the explorer's unexpected argument.)
            ("--seed 3 frobnicate", "Unexpected argument 'frobnicate'"),
            // A control character given in a flag is printed escaped: it must not drive the terminal.
            ("info --weights \"$(printf '\\033[31mnofile\\007')\"", "Error: \\u001b[31mnofile\\u0007: no such file"),
            ("sample --out \(png) --frobnicate", "Unknown option '--frobnicate'"),
            // A newline in a value stays on the error's line, escaped (the message was split in two).
            ("sample --out \(png) --sampler \"$(printf 'a\\nb')\"", "unknown --sampler 'a\\u000ab' (ddpm, ddim or dpmpp)"),
        ]
        for (args, expected) in cases {
            let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) timeout 30 \(Shell.binary) \(args)")
            XCTAssert(code != 0 && code != 124 && code < 128, "ddpm \(args): exit \(code)\n\(out)")
            let first = out.split(separator: "\n").first.map(String.init) ?? ""
            XCTAssert(first.hasPrefix("Error: ") && first.contains(expected), "ddpm \(args): first line '\(first)', wanted '\(expected)'")
            XCTAssertFalse(out.contains("Fatal error") || out.contains("Stack dump"), "ddpm \(args) crashed:\n\(out)")
            // The usage line under the error is the subcommand's own.
            if let word = args.split(separator: " ").first, !word.hasPrefix("-") {
                XCTAssertFalse(out.contains("Usage: ddpm <subcommand>"), "ddpm \(args): the top level's usage, not \(word)'s:\n\(out)")
            }
        }
        // A usage error found while running (not while parsing) gives its command's usage and help.
        let attention = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) info --weights \(Shell.assets)/models/mnist-tiny.safetensors --attention 1")
        XCTAssertEqual(attention.0, 64, attention.1)
        XCTAssertTrue(attention.1.hasPrefix("Error: --attention describes a model with --config"), attention.1)
        XCTAssertTrue(attention.1.contains("\nUsage: ddpm info ") && !attention.1.contains("ddpm <subcommand>"), attention.1)
        XCTAssertTrue(attention.1.hasSuffix("\n  See 'ddpm info --help' for more information.\n"), attention.1)
        // An empty --classifier is named as such, with no advice to rebuild "" (the advice named an empty path).
        let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) timeout 30 \(Shell.binary) eval --n 4 --classifier ''")
        XCTAssertEqual(code, 1, out)
        XCTAssertEqual(out.split(separator: "\n").first.map(String.init), "Error: an empty path was given where a safetensors file was expected")
        XCTAssertFalse(FileManager.default.fileExists(atPath: png), "no output is written on a bad setting")
        XCTAssertFalse(FileManager.default.fileExists(atPath: ckpt))
    }

    /// "-0" is zero, said as 0.0 (it was echoed "temperature -0.0", "eta -0.0").
    func testMinusZeroIsSaidAsZero() throws {
        let dir = Shell.temporaryDirectory("minus-zero")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) timeout 60 \(Shell.binary) sample --n 1 --sampler ddim --steps 2 --eta -0 --temperature -0 --noise-temperature -0 --out \(dir)/z.png")
        XCTAssertEqual(code, 0, out)
        XCTAssertTrue(out.contains("eta 0.0, temperature 0.0, noise temperature 0.0"), out)
        XCTAssertFalse(out.contains("-0.0"), out)
    }

    /// A mistyped command gets the one it most likely meant; a word far from every command gets no guess.
    func testUnknownCommandGuessesTheNearestCommand() {
        let names = DDPMCommand.configuration.subcommands.map { $0._commandName }
        for (typed, meant) in [("smaple", "sample"), ("trian", "train"), ("exprot", "export"), ("Eval", "eval"), ("infoo", "info"),
                               ("replya", "replay"), ("export_gif", "export-gif"), ("shedule", "schedule"), ("bnech", "bench")] {
            XCTAssertEqual(DDPMCommand.closest(to: typed, among: names), meant, typed)
        }
        for typed in ["frobnicate", "x", "ev", "samplesample", String(repeating: "s", count: 100)] {
            XCTAssertNil(DDPMCommand.closest(to: typed, among: names), typed)
        }
        XCTAssertEqual(DDPMCommand.editDistance(Array("ab"), Array("ba")), 1)
        XCTAssertEqual(DDPMCommand.editDistance(Array("kitten"), Array("sitting")), 3)
        XCTAssertEqual(DDPMCommand.editDistance(Array(""), Array("abc")), 3)
    }

    /// Without its assets folder (DDPM_ASSETS wrong, or a binary copied elsewhere) the error says where
    /// the assets are looked for, not how to restore one file of them with git.
    func testMissingAssetsFolderNamesDDPMAssets() throws {
        let dir = Shell.temporaryDirectory("no-assets")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var (code, out) = Shell.sh("DDPM_ASSETS=\(dir)/nowhere timeout 30 \(Shell.binary) sample --n 1 --out \(dir)/s.png")
        XCTAssertEqual(code, 1, out)
        XCTAssertTrue(out.contains("DDPM_ASSETS is \(dir)/nowhere, which does not exist: set it to the project's assets folder"), out)
        XCTAssertFalse(out.contains("git checkout"), out)
        // A file where the folder should be is no folder either (the hint named paths under the file).
        _ = FileManager.default.createFile(atPath: dir + "/a-file", contents: Data("x".utf8))
        (code, out) = Shell.sh("DDPM_ASSETS=\(dir)/a-file timeout 30 \(Shell.binary) sample --n 1 --out \(dir)/s.png")
        XCTAssertEqual(code, 1, out)
        XCTAssertTrue(out.contains("DDPM_ASSETS is \(dir)/a-file, which is not a folder"), out)
        XCTAssertFalse(out.contains("git checkout") || out.contains("--export \(dir)/a-file/"), out)
        try FileManager.default.copyItem(atPath: Shell.binary, toPath: dir + "/ddpm")
        (code, out) = Shell.sh("cd \(dir) && env -u DDPM_ASSETS timeout 30 ./ddpm sample --n 1 --out s.png")
        XCTAssertEqual(code, 1, out)
        XCTAssertTrue(out.contains("The assets folder was not found beside the ddpm binary's package or in the current folder: set DDPM_ASSETS"), out)
    }

    /// `ddpm --version` prints the version on stdout and exits 0 (also before a command's options).
    func testVersion() {
        let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) timeout 30 \(Shell.binary) --version 2>/dev/null")
        XCTAssertEqual(code, 0, out)
        XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), DDPMCommand.version)
        XCTAssertTrue(out.hasPrefix("ddpm 1."), out)
    }

    /// `ddpm bench --json` reports what it measured, including how long the
    /// bundled files take to load (the number, not a threshold: machines vary).
    func testBenchJSONReportsSpeedsAndLoadTimes() throws {
        let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) bench --steps 1 --train-batches 2 --sample-batches 1 --json")
        XCTAssertEqual(code, 0, out)
        guard let d = try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any],
              let load = d["load_ms"] as? [String: Double], let train = d["train"] as? [[String: Any]] else { return XCTFail(out) }
        XCTAssertEqual(Set(load.keys), ["model", "classifier"])
        XCTAssertTrue(load.values.allSatisfy { $0 > 0 && $0.isFinite }, "\(load)")
        XCTAssertEqual(train.first?["batch"] as? Int, 2)
        // The CPU's FMA peak is measured, not a constant (this 2-core AVX2 VM: about 80 GFLOP/s).
        let peak = d["fma_peak_gflops"] as? Double ?? 0
        XCTAssertTrue(peak > 1 && peak < 100_000, out)
        // Which kernels ran: on a direct backend (AVX-512 or AVX2, the one the
        // CPU has) training adds Winograd for the 3x3 convolutions.
        let direct = (d["conv_kernel"] as? String)?.hasPrefix("direct") == true
        XCTAssertTrue(direct, out)
        XCTAssertEqual((d["train_conv_kernel"] as? String)?.contains("Winograd F(2x2,3x3)"), direct, out)
        // On AVX2 the weight gradients of those convolutions too (on AVX-512 the direct kernels).
        let avx2 = (d["conv_kernel"] as? String)?.hasPrefix("direct AVX2") == true
        XCTAssertEqual((d["train_conv_kernel"] as? String)?.contains("their weight gradients as well"), avx2, out)
        let (bad, msg) = Shell.sh("DDPM_ASSETS=\(NSTemporaryDirectory())no-assets-\(getpid()) \(Shell.binary) bench --steps 1 --train-batches 2 --sample-batches 1")
        XCTAssertEqual(bad, 0, "speeds are measured without the bundled files: \(msg)")
        XCTAssertTrue(msg.contains("cannot time loading") && msg.contains("DDPM_ASSETS is \(NSTemporaryDirectory())no-assets-\(getpid()), which does not exist"), msg)
        XCTAssertTrue(msg.contains("peak resident memory") && !msg.contains("loading the"), msg)
        XCTAssertTrue(msg.contains("this CPU's FMA peak, measured now on \(Parallel.cores) cores") && !msg.contains("~250"), msg)
        XCTAssertTrue(msg.contains("training: the U-Net's 3x3 stride-1 convolutions 8 to 32 wide through Winograd"), msg)
    }

    /// Images of another size than the model's (issue #18's heap overflow:
    /// 32x32 and 29x29 sets wrote past the padded buffer): larger or oddly
    /// padded sets are refused in one line before training; smaller ones
    /// that pad evenly (24x24 -> 28x28) train.
    func testDataOfAnotherSizeIsRefusedOrPadded() throws {
        let dir = NSTemporaryDirectory() + "cli-sizes-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for side in [32, 29, 25, 24] {
            let d = dir + "/\(side)"
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            let n = 8
            let pixels = (0..<(n * side * side)).map { UInt8(truncatingIfNeeded: $0 &* 37) }
            try Data(IDXFile(dims: [n, side, side], bytes: pixels).encoded()).write(to: URL(fileURLWithPath: d + "/train-images-idx3-ubyte"))
            try Data(IDXFile(dims: [n], bytes: (0..<n).map { UInt8($0 % 10) }).encoded())
                .write(to: URL(fileURLWithPath: d + "/train-labels-idx1-ubyte"))
            let out = d + "/ck.safetensors"
            let (code, text) = Shell.sh("timeout 120 \(Shell.binary) train --data \(d) --steps 2 --batch 4 --checkpoint-every 100 --out \(out)")
            XCTAssertFalse(text.contains("Fatal error") || text.contains("Stack dump"), "\(side)x\(side) crashed:\n\(text)")
            if side == 24 {
                XCTAssertEqual(code, 0, text)
                XCTAssertTrue(FileManager.default.fileExists(atPath: out))
            } else {
                XCTAssertEqual(code, 1, "\(side)x\(side): \(text)")
                let first = text.split(separator: "\n").first.map(String.init) ?? ""
                XCTAssertTrue(first.hasPrefix("Error: \(d): the images are \(side)x\(side) but the model takes 28x28"), first)
                XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing written for \(side)x\(side)")
            }
        }
    }

    /// Weights that are finite but huge pass every load check and make the network's output
    /// overflow: sampling and evaluation then stop with one line and write nothing (a
    /// recording once crashed on the NaN, a PNG of NaN was written as white and exit 0).
    func testWeightsThatOverflowStopWithOneLine() throws {
        let dir = Shell.temporaryDirectory("overflow")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let st = try SafeTensors.read(Shell.assets + "/models/mnist-tiny.safetensors")
        var flat: [Float] = [], shapes: [(String, [Int], Int)] = []
        for name in st.order {
            let t = st.tensors[name]!
            shapes.append((name, t.shape, flat.count))
            flat += name == "conv_in.weight" ? [Float](repeating: 3e38, count: t.count) : t.data
        }
        let big = dir + "/big.safetensors"
        try flat.withUnsafeBufferPointer { p in
            try SafeTensors.write(big, tensors: shapes.map { ($0.0, $0.1, p.baseAddress! + $0.2) }, metadata: st.metadata)
        }
        let env = "DDPM_ASSETS=\(Shell.assets) SWIFT_BACKTRACE=enable=no"
        for cmd in ["sample --weights \(big) --n 2 --sampler ddim --steps 3 --out \(dir)/a.png --record \(dir)/a.ddpmtraj",
                    "sample --weights \(big) --n 2 --sampler ddpm --out \(dir)/b.idx",
                    "eval --weights \(big) --n 4 --sampler ddim --steps 2 --json"] {
            let (code, out) = Shell.sh("\(env) \(Shell.binary) \(cmd)")
            XCTAssertEqual(code, 1, "\(cmd): \(out)")
            let lines = out.split(separator: "\n").filter { !$0.hasPrefix("step ") && !$0.contains("\r") }
            XCTAssertEqual(lines.count, 1, "\(cmd): one line: \(out)")
            XCTAssertTrue(out.contains("the samples are not finite numbers (NaN or infinity)"), "\(cmd): \(out)")
        }
        // As the --autoguide model, beside the sound bundled one: the message names both.
        let (gcode, guided) = Shell.sh("\(env) \(Shell.binary) sample --n 2 --sampler ddim --steps 3 --out \(dir)/g.png --autoguide \(big)")
        XCTAssertTrue(gcode == 1 && guided.contains("or of the --autoguide model \(big) overflows, so one of them is broken"), guided)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["big.safetensors"], "nothing written")
        // The bound of such weights is not a number, so not a measurement: one line and exit 1, as
        // sample and eval give (it used to warn and print NaN with exit 0).
        for json in ["", " --json"] {
            let (bcode, bpd) = Shell.sh("\(env) \(Shell.binary) eval --weights \(big) --bpd 1\(json) 2>\(dir)/err.txt")
            XCTAssertEqual(bcode, 1, bpd)
            XCTAssertEqual(bpd, "", "nothing on stdout")
            let err = Shell.read("\(dir)/err.txt")
            XCTAssertTrue(err.contains("the bound is not a finite number: \(big)'s outputs overflow") && err.split(separator: "\n").count == 1, err)
            try FileManager.default.removeItem(atPath: "\(dir)/err.txt")
        }
        // `info` prints a file's metadata: its control characters escaped, so it cannot drive the terminal.
        var meta = st.metadata
        meta["note"] = "\u{1b}[2J\u{1b}]0;pwned\u{07}"; meta["command"] = "\u{1b}[?1049h made it"
        let crafted = dir + "/crafted\u{1b}[2J.safetensors"
        try flat.withUnsafeBufferPointer { p in
            try SafeTensors.write(crafted, tensors: shapes.map { ($0.0, $0.1, p.baseAddress! + $0.2) }, metadata: meta)
        }
        let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) info --weights '\(crafted)'")
        XCTAssertEqual(code, 0, out)
        XCTAssertFalse(out.unicodeScalars.contains { $0.value == 0x1b || $0.value == 0x07 }, out)
        XCTAssertTrue(out.contains("note:                 \\u001b[2J\\u001b]0;pwned\\u0007"), out)
        XCTAssertTrue(out.contains("made by:              \\u001b[?1049h made it"), out)
        XCTAssertTrue(out.contains("crafted\\u001b[2J.safetensors"), out)
        // A value that is one character of 60,000 combining marks: refused at once with the value cut short
        // (counting the quoted value's characters walked the whole string for each scalar: over a minute).
        var marks = st.metadata
        marks["objective"] = "a" + String(repeating: "\u{301}", count: 60_000)
        let marked = dir + "/marks.safetensors"
        try flat.withUnsafeBufferPointer { p in
            try SafeTensors.write(marked, tensors: shapes.map { ($0.0, $0.1, p.baseAddress! + $0.2) }, metadata: marks)
        }
        let (mcode, mout) = Shell.sh("\(env) timeout 20 \(Shell.binary) info --weights \(marked)")
        XCTAssertEqual(mcode, 1, String(mout.prefix(300)))
        XCTAssertTrue(mout.hasSuffix("…', not eps, x0 or v\n") && mout.unicodeScalars.count < 300, String(mout.prefix(300)))
        XCTAssertEqual(EngineError.quoted(marks["objective"]!).unicodeScalars.count, 81, "80 scalars and the ellipsis")
        // A file whose metadata claims a schedule float cannot sample (training refuses it) is refused
        // when it loads, not after 100,000 steps; info still reads it, and schedule warns of it.
        var longT = st.metadata
        longT["schedule"] = "{\"T\": 100000, \"betaEnd\": 0.02, \"betaStart\": 0.0001, \"kind\": \"linear\"}"
        let long = dir + "/long.safetensors"
        try st.order.map { st.tensors[$0]!.data }.reduce([], +).withUnsafeBufferPointer { p in
            var at = 0
            let parts = st.order.map { name -> (String, [Int], UnsafePointer<Float>) in
                defer { at += st.tensors[name]!.count }
                return (name, st.tensors[name]!.shape, p.baseAddress! + at)
            }
            try SafeTensors.write(long, tensors: parts, metadata: longT)
        }
        for cmd in ["sample --weights \(long) --n 1 --out \(dir)/l.png", "eval --weights \(long) --n 4 --sampler ddim --steps 2",
                    "--weights \(long)"] {
            let (lcode, said) = Shell.sh("DDPM_ASSETS=\(Shell.assets) timeout 20 \(Shell.binary) \(cmd) </dev/null")
            XCTAssertEqual(lcode, 1, "\(cmd): \(said)")
            XCTAssertTrue(said.hasPrefix("Error: \(long): it cannot be sampled: the linear schedule with T 100000 takes alpha_bar"), "\(cmd): \(said)")
        }
        XCTAssertEqual(Shell.sh("\(Shell.binary) info --weights \(long)").0, 0)
        let (_, schedule) = Shell.sh("\(Shell.binary) schedule -T 100000")
        XCTAssertTrue(schedule.contains("under 1e-72") && !schedule.contains("end points ok"), schedule)
    }
}
