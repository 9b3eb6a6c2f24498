// Common.swift: bundled asset paths, errors, model loading and option helpers for the commands.
import ArgumentParser
import CCrashRestore
import Engine
import Foundation

/// Paths of the bundled assets: `$DDPM_ASSETS`, else `assets/` next to the
/// executable's package (walking up from the binary), else `./assets`.
enum Assets {
    /// Where `ddpm eval` keeps the reference's features and statistics (`ReferenceCache`):
    /// `$DDPM_CACHE_DIR` (set but empty: nowhere), else `$XDG_CACHE_HOME/ddpm-explorer`,
    /// else `$HOME/.cache/ddpm-explorer` (each only when absolute).
    static func cacheFolder(environment env: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let dir = env["DDPM_CACHE_DIR"] { return dir.isEmpty ? nil : dir }
        if let xdg = env["XDG_CACHE_HOME"], xdg.hasPrefix("/") { return xdg + "/ddpm-explorer" }
        if let home = env["HOME"], home.hasPrefix("/") { return home + "/.cache/ddpm-explorer" }
        return nil
    }

    static var root: String {
        if let e = ProcessInfo.processInfo.environment["DDPM_ASSETS"], !e.isEmpty { return e }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            let cand = dir.appendingPathComponent("assets")
            if FileManager.default.fileExists(atPath: cand.appendingPathComponent("mnist").path) { return cand.path }
            dir = dir.deletingLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath + "/assets"
    }
    static var mnist: String { root + "/mnist" }
    static var model: String { root + "/models/mnist-tiny.safetensors" }
    static var classifier: String { root + "/models/mnist-classifier.safetensors" }
    static var noisyClassifier: String { root + "/models/mnist-noisy-classifier.safetensors" }

    /// The files a command reads, given or bundled, named for messages: what
    /// an output must not overwrite (`InputFile.refuseClashes`).
    static func weightsInput(_ weights: String?) -> (flag: String, path: String) {
        (weights == nil ? "the bundled model" : "the --weights file", weights ?? model)
    }

    /// The model files a sampling session may read (see `weightsInput`).
    static func modelInputs(weights: String?, guideClassifier: String?, classifier given: String? = nil) -> [(flag: String, path: String)] {
        [weightsInput(weights),
         (guideClassifier == nil ? "the bundled noisy classifier" : "the --guide-classifier file", guideClassifier ?? noisyClassifier),
         (given == nil ? "the bundled classifier" : "the --classifier file", given ?? classifier)]
    }

    /// The IDX files of `--data DIR`, or of the bundled MNIST (see `weightsInput`).
    static func dataInputs(_ data: String?) -> [(flag: String, path: String)] {
        Dataset.files(in: data ?? mnist).map { (data == nil ? "the bundled MNIST" : "the --data digits", $0) }
    }

    /// How to get a bundled asset back when it is missing or damaged; nil for
    /// a path that is not one of them (the user's own file).
    /// (The explorer shows how to train a model itself: `training: false`.)
    static func restoreHint(_ path: String, training: Bool = true) -> String? {
        let git = "git checkout -- "
        let hint: String
        switch path {
        case model:
            hint = "Restore the bundled model with: \(git)assets/models/mnist-tiny.safetensors"
                + (training ? " (or train one: ddpm train --epochs 10 --out tiny.ckpt.safetensors --export \(model))" : "")
        case classifier:
            hint = "Rebuild the classifier with: ddpm eval --train-classifier (or: \(git)assets/models/mnist-classifier.safetensors)"
        case noisyClassifier:
            hint = "Rebuild the classifier of noisy digits with: ddpm eval --train-noisy-classifier (or: \(git)assets/models/mnist-noisy-classifier.safetensors)"
        case mnist:
            hint = "Restore the bundled MNIST with: \(git)assets/mnist (or copy the four MNIST IDX files there)"
        default:
            return nil
        }
        // No assets folder at all (a binary copied elsewhere): where they are looked for, not how to restore one file.
        var isFolder: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: root, isDirectory: &isFolder)
        guard exists, isFolder.boolValue else {
            let env = ProcessInfo.processInfo.environment["DDPM_ASSETS"] ?? ""
            return env.isEmpty
                ? "The assets folder was not found beside the ddpm binary's package or in the current folder: set DDPM_ASSETS to the project's assets folder"
                : "DDPM_ASSETS is \(EngineError.oneLine(env)), which \(exists ? "is not a folder" : "does not exist"): set it to the project's assets folder"
        }
        return hint
    }

    /// The error of reading `path`, followed by how to get it back if it is a bundled asset.
    static func explain(_ error: Error, reading path: String, training: Bool = true) -> String {
        // (Not the file's fault, e.g. out of memory: restoring it would not help.)
        if case EngineError.invalidArgument = error { return "\(error)" }
        return restoreHint(path, training: training).map { "\(error). \($0)" } ?? "\(error)"
    }

    /// Runs `body`, which reads `path`; if that fails and `path` is a bundled
    /// asset, the error says how to get it back.
    static func reading<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch {
            // A flag that disagrees with the file is the flag's fault, not the file's.
            if case EngineError.invalidArgument = error { throw error }
            if error is ValidationError { throw error }
            guard restoreHint(path) != nil else { throw error }
            throw CLIError(explain(error, reading: path))
        }
    }

    /// The bundled MNIST set (training or test images).
    static func loadMNIST(train: Bool, limit: Int? = nil) throws -> Dataset {
        try reading(mnist) { try Dataset.load(dir: mnist, train: train, limit: limit) }
    }
}

/// Set by SIGINT / SIGTERM handlers; long loops poll it.
nonisolated(unsafe) var stopSignal: Int32 = 0

/// SIGINT, SIGTERM and SIGHUP (a closed ssh session) stop long work cleanly.
/// (SIGPIPE is ignored for the whole program; a failed write to stdout is
/// noticed by `stdoutFailed` and stops training the same way.)
func installStopHandlers() {
    for s in stopSignals { signal(s) { sig in stopSignal = sig } }
}

/// The signals that end a run cleanly (a training run saved, the terminal given back) and then the
/// program with 128 + the signal: the usual three, SIGQUIT (Ctrl-\), and every one whose default is
/// to end the program without a word: SIGUSR1/2, the timers', SIGXCPU (a CPU-time limit), SIGPWR (a
/// UPS daemon's warning before the power goes), SIGSTKFLT, SIGIO and the real-time signals (they
/// left the terminal on the explorer's screen and a training run unsaved).
let stopSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU,
                            SIGPWR, SIGSTKFLT, SIGIO] + Array(__libc_current_sigrtmin()...__libc_current_sigrtmax())

/// Errors for the command line: one clear line, non-zero exit.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ s: String) { description = s }
}

/// Runs `body`, turning engine errors into one command-line line. A setting
/// out of range is named by its flag: `--` + its key, or `flags[key]` where
/// the command spells it otherwise (`ddpm schedule` calls T `--steps`).
func wrap<T>(flags: [String: String] = [:], _ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as EngineError { throw CLIError(flagMessage(e, flags: flags)) }
}

/// The engine's message with a setting's key replaced by its flag.
func flagMessage(_ e: EngineError, flags: [String: String] = [:]) -> String {
    guard case .outOfRange(let key, let allowed, let value) = e else { return e.description }
    return "\(flags[key] ?? "--" + key) must be in \(allowed), got \(value)"
}

/// Installs every command's handlers of fatal signals (crash_restore.c): a SIGSEGV, SIGBUS,
/// SIGFPE, SIGILL, SIGTRAP or SIGABRT that another process sends, and any SIGQUIT (Ctrl-\), ends
/// the program by the signal, where Swift's crash report took it for a fault and the other
/// threads sampled on without end; a real fault still gets the crash report.
public func installFatalSignalHandlers() {
    ddpm_fatal_signals_install()
    TestHooks.installTruncateMapped()
}

/// Runs the explorer for a command, and ends it with the exit status it earned: 128 + n after
/// signal n (the terminal restored and a training run saved by then), as shells do; 1 when a
/// training run could not be saved (the farewell said why).
func runExplorer(_ o: ExplorerApp.Options) throws {
    let lost = try ExplorerApp.run(o)
    if uiStop != 0 { throw ExitCode(128 + uiStop) }
    if lost { throw ExitCode.failure }
}

/// Parses the command line and runs the command it names; an error ends the program
/// (`exitReporting`), naming the help of the command that found it.
public func runCommandLine() -> Never {
    var command: ParsableCommand
    do { command = try DDPMCommand.parseAsRoot() } catch { exitReporting(error) }
    do { try command.run() } catch { exitReporting(error, from: type(of: command)) }
    exitCheckingStdout()
}

/// Ends the program on an error as ArgumentParser does (help to standard output, exit 0),
/// except that an error's text is printed with its control characters escaped (a file name or
/// flag value given as "\e[31m..." must not drive the terminal) and help that could not be
/// written is an error. A usage error a command's `run` finds (`from`) points to that
/// command's help, where ArgumentParser would print the top level's usage.
public func exitReporting(_ error: Error, from command: ParsableCommand.Type? = nil) -> Never {
    let code = DDPMCommand.exitCode(for: error)
    var text = DDPMCommand.fullMessage(for: error)
    if let command, command != DDPMCommand.self, let v = error as? ValidationError {
        text = "Error: \(v.message)\nUsage: \(DDPMCommand.usageString(for: command))\n"
            + "  See 'ddpm \(command._commandName) --help' for more information."
    }
    if code == .success {
        if !text.isEmpty { print(text) }
        exitCheckingStdout()
    }
    if !text.isEmpty { fputs(oneLineError(text, arguments: Array(CommandLine.arguments.dropFirst())) + "\n", stderr) }
    exit(code.rawValue)
}

/// An argument that may be a one-letter option glued to its value (`-T5`, `-T-1`): ddpm has no
/// one-letter flags to combine, so where the error names that option as taking a value, it is one.
func gluedOption(_ arg: String) -> (option: String, value: String)? {
    let chars = Array(arg)
    guard chars.count >= 3, chars[0] == "-", chars[1].isASCII, chars[1].isLetter else { return nil }
    return ("-" + String(chars[1]), String(chars[2...]))
}

/// An error's text for the terminal: the message on one line (a newline in a value the user gave,
/// a file name or `--sampler $'a\nb'`, is escaped as any control character is), then the usage
/// lines ArgumentParser adds under its own errors ("Help:", "Usage:") as they are.
func oneLineError(_ text: String, arguments: [String] = []) -> String {
    let tail = ["\nHelp:  ", "\nUsage: "].compactMap { text.range(of: $0)?.lowerBound }.min() ?? text.endIndex
    // ArgumentParser reads `-T5` two ways alone ("Unknown option '-T5'. Did you mean '--T'?\n   or: Missing
    // value for '-T <T>' in '-T5'") and, inside a longer command, as `-T` taking the next word ("The value
    // '--n' is invalid for '-T <T>'"): each names -T as an option with a value, so say the one meant.
    for arg in arguments {
        if let (option, value) = gluedOption(arg), text[..<tail].contains("'\(option) <") {
            return EngineError.oneLine("Error: Unknown option '\(arg)': an option and its value are two words, \(option) \(value)")
                + EngineError.printable(String(text[tail...]))
        }
    }
    // Other readings ArgumentParser joins stay, on one line.
    let message = String(text[..<tail]).replacingOccurrences(of: "\n   or: ", with: " or: ")
    return EngineError.oneLine(message) + EngineError.printable(String(text[tail...]))
}

/// Ends the program with success, unless output could not be written (a full
/// disk): that is an error, not success. A pipe whose reader has gone (`| head`)
/// ends it as SIGPIPE ends other tools, 141 and nothing said: the reader had
/// what it wanted ("Broken pipe" lines were noise under `ddpm schedule --csv | head`).
public func exitCheckingStdout() -> Never {
    let flushFailed = fflush(stdout) != 0
    let flushErrno = errno
    if flushFailed || ferror(stdout) != 0 {
        var p = pollfd(fd: STDOUT_FILENO, events: Int16(POLLOUT), revents: 0)
        if (flushFailed && flushErrno == EPIPE) || (poll(&p, 1, 0) == 1 && p.revents & Int16(POLLERR) != 0) {
            exit(128 + SIGPIPE)
        }
        let why = flushFailed ? String(cString: strerror(flushErrno)) : "a write failed (closed pipe or full disk)"
        fputs("Error: cannot write standard output: \(why)\n", stderr)
        exit(1)
    }
    exit(0)
}

/// For `validate()`: the engine's checks, reported as ArgumentParser reports its own.
func validating(flags: [String: String] = [:], _ body: () throws -> Void) throws {
    do { try body() } catch let e as EngineError { throw ValidationError(flagMessage(e, flags: flags)) }
}

let isTTY = isatty(STDOUT_FILENO) != 0

func formatDuration(_ s: Double) -> String {
    if !s.isFinite || s < 0 { return "--" }
    let t = Int(s)
    return t >= 3600 ? String(format: "%dh%02dm", t / 3600, t % 3600 / 60) : String(format: "%dm%02ds", t / 60, t % 60)
}

/// Loads a weights file or checkpoint: config and schedule from its metadata
/// (or `given`, for a file without it), EMA weights, into a model running on `backend`.
/// `second`: the flag of a model other than --weights (--autoguide, --teacher), which only
/// its own metadata describes (--config and its flags are --weights').
/// `sampling`: the model is to be sampled, so a schedule that float cannot sample (`cannotSample`:
/// a file's metadata may claim any T; training refuses such a schedule) is refused now, not after
/// every step has run.
func loadModel(_ path: String, given: ModelFileOptions? = nil, backend: Backend = .detected,
               second: String? = nil, sampling: Bool = true) throws -> (UNet, FloatBuffer, NoiseSchedule, SafeTensors) {
    var f = try SafeTensors.read(path)
    if let second, f.metadata["config"] == nil, f.metadata["format"] == nil {
        throw EngineError.badFile(path: path, reason: "its metadata does not say which model it holds, and nothing on the command line describes \(second): give a model written by ddpm train or ddpm export")
    }
    let g = try given?.resolved()
    let (cfg, sspec) = try Checkpoint.modelSpec(f.metadata, path: path, config: g?.config, schedule: g?.schedule)
    let net = try UNet(cfg, backend: backend)
    let params = FloatBuffer(count: net.parameterCount)
    try f.load(into: params.ptr, layout: net.layout)
    // After the load, whose messages for a missing or misshapen tensor are the more precise.
    // A tensor the model lacks means the file holds another model: a --config without some of
    // its layers would load and sample without them.
    if let extra = f.extraTensorsSaid(net.layout) {
        let hint = f.metadata["config"] == nil ? "give the --config (and --attention) it was trained with"
                                               : "its metadata describes another model than its tensors"
        throw EngineError.badFile(path: path, reason: "it holds \(extra): \(hint)")
    }
    // The objective (the metadata's, or --objective's for a file without it) goes into the returned metadata,
    // so every reader of it (the predictor, the explorer, info) agrees.
    if let given { f.metadata["objective"] = try given.objective(of: f).rawValue } else { _ = try Checkpoint.objective(f.metadata, path: path) }
    let schedule = try NoiseSchedule(sspec)
    if sampling, let why = schedule.cannotSample { throw EngineError.badFile(path: path, reason: "it cannot be sampled: \(why)") }
    return (net, params, schedule, f)
}

/// A loaded model as a noise predictor: an x0 or v model's output is turned into ε (`Objective`).
func predictor(_ net: UNet, _ params: FloatBuffer, _ schedule: NoiseSchedule, _ file: SafeTensors) throws -> UNetPredictor {
    UNetPredictor(net: net, params: params, objective: try Checkpoint.objective(file.metadata, path: file.path), schedule: schedule)
}

/// Loads the evaluation classifier; a failure says how to rebuild it (the
/// bundled file, or the user's own --classifier path with the same flag).
func loadClassifier(_ path: String) throws -> (Classifier, FloatBuffer) {
    do {
        return try Classifier.read(path)
    } catch {
        // The user's own path may be anything (a diffusion model's weights): say how a classifier is made, not to overwrite it.
        let hint = path == Assets.classifier ? Assets.restoreHint(path)!
            : path.isEmpty ? nil
            : FileManager.default.fileExists(atPath: path) ? "A classifier is written by: ddpm eval --train-classifier [--data DIR] --out FILE"
            : "Rebuild it with: ddpm eval --train-classifier --classifier \(EngineError.oneLine(InputFile.shortened(path)))"
        throw CLIError("\(error)" + (hint.map { ". " + $0 } ?? ""))
    }
}

/// Loads the classifier of noisy digits that guides sampling; a failure says how to rebuild it.
func loadGuidance(_ path: String) throws -> ClassifierGuidance {
    do {
        return try ClassifierGuidance.read(path)
    } catch {
        // Only the bundled file is worth restoring; another path is the user's to fix (or a file of another kind).
        throw CLIError("\(error)" + (path == Assets.noisyClassifier ? ". " + Assets.restoreHint(path)! : ""))
    }
}

/// The bundled classifier as a reader of generated digits.
func digitReader() throws -> DigitReader {
    let (cls, params) = try loadClassifier(Assets.classifier)
    return DigitReader(net: cls, params: params)
}

/// A named config with optional attention levels ("1" or "1,2": indices into ch_mults).
func modelConfig(_ name: String, attention: String?) throws -> UNetConfig {
    // JSON of any kind goes to the decoder, which says what is wrong with it ("[1]" is not an object).
    let json = ["{", "["].contains { name.trimmingCharacters(in: .whitespaces).hasPrefix($0) }
    guard var cfg = try json ? ModelFileOptions.decodeConfig(name) : UNetConfig.named(name) else {
        throw ValidationError("unknown --config '\(name)' (tiny, small or a config JSON)")
    }
    if let attention { cfg.attention = try attentionLevels(attention) }
    do { try cfg.validate() } catch let e as EngineError { throw ValidationError(e.description) }
    return cfg
}

/// `--attention`'s level numbers ("1" or "1,2"; empty: none).
func attentionLevels(_ attention: String) throws -> [Int] {
    if attention.isEmpty { return [] }
    let parts = attention.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.allSatisfy({ $0 != nil }) else {
        throw ValidationError("--attention takes level numbers like 1 or 1,2 (got '\(attention)')")
    }
    return parts.map { $0! }
}

/// `--backend`'s help on `sample` and `bench` (train, eval and the explorer say what it changes there).
let backendHelp = ArgumentHelp("Kernels: avx512, avx2, reference (im2col + BLIS) or bf16 (avx512 with sampling's convolutions in bfloat16 on a CPU with AVX512_BF16, on its AMX tiles where it has them: faster, close to but not the same samples); default: the fastest float kernels this CPU runs.")

/// The `--backend` option of `sample`, `train` and `bench`: the kernels to run,
/// for comparing them (default: the fastest this CPU has).
func backendOption(_ name: String?) throws -> Backend {
    guard let name else { return .detected }
    guard let b = Backend(rawValue: name) else {
        throw ValidationError("unknown --backend '\(name)' (\(Backend.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    guard b.isAvailable else {
        let runs = Backend.allCases.filter(\.isAvailable).map(\.rawValue).joined(separator: ", ")
        throw ValidationError("--backend \(name) needs a CPU with \(b.requirement); this one runs \(runs)")
    }
    return b
}

/// A path as one absolute, standardised string (what files record as `data`, and what is compared with it).
/// An existing `--out` file is replaced only when it holds what the command writes (its `format`
/// says so, as `accepts` decides): a training checkpoint (its optimiser state), a recording, a
/// model, or a file ddpm did not write is not lost to `export` or `--train-classifier` unsaid.
func refuseReplacing(_ out: String, only what: String, accepts: (String) -> Bool) throws {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: out, isDirectory: &isFolder), !isFolder.boolValue else { return }
    let file = try? SafeTensors.read(out), format = file?.metadata["format"]
    if let format, accepts(format) { return }
    // A damaged .safetensors (the fault messages say to rebuild a truncated classifier this way) is replaced.
    if file == nil && out.hasSuffix(".safetensors") { return }
    let holds = format == Trainer.checkpointFormat ? "is a training checkpoint (its optimiser state would be lost)"
        : format == Recording.format ? "is a recording"
        : format?.contains("classifier") == true ? "holds a classifier"
        : format != nil ? "holds a diffusion model's weights" : file != nil ? "holds tensors ddpm did not write" : "is not a safetensors file"
    throw CLIError("--out \(EngineError.oneLine(out)) exists and \(holds); \(what): remove it or give another --out")
}

func absolutePath(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

/// Whether writing standard output has failed (a closed pipe, a full disk).
func stdoutFailed() -> Bool { fflush(stdout) != 0 || ferror(stdout) != 0 }

/// `--json` output. A number that is not finite (a ratio of all-black images'
/// zero energies, the bound of weights whose outputs overflow) is written as
/// the string "NaN", "Infinity" or "-Infinity" (Python's names), where JSON has
/// no number for it, rather than failing the whole report.
func jsonEncoder() -> JSONEncoder {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys]
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
    return e
}

/// `jsonEncoder`'s rule for JSONSerialization's dictionaries and arrays; sorted keys.
func jsonText(_ object: Any) throws -> String {
    func finite(_ v: Any) -> Any {
        switch v {
        case let d as Double where !d.isFinite: return d.isNaN ? "NaN" : (d > 0 ? "Infinity" : "-Infinity")
        case let a as [Any]: return a.map(finite)
        case let o as [String: Any]: return o.mapValues(finite)
        default: return v
        }
    }
    return String(decoding: try JSONSerialization.data(withJSONObject: finite(object), options: [.sortedKeys]), as: UTF8.self)
}

/// A path or value as one word of a shell command to copy: as it is when it needs no quoting, else
/// in single quotes; with control characters, in $'...' with them as \xHH (what the shell reads back
/// as the same bytes, where the character printed raw would drive the terminal). A word starting
/// with "-" gets "./" so that it is not read as a flag.
func shellWord(_ word: String) -> String {
    let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./+-:,=@%")
    let w = word.hasPrefix("-") ? "./" + word : word
    if !w.isEmpty && w.allSatisfy(plain.contains) { return w }
    guard w.unicodeScalars.contains(where: EngineError.isControl) else {
        return "'" + w.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
    var out = "$'"
    for u in w.unicodeScalars {
        if u == "\\" || u == "'" { out += "\\" + String(u) }
        else if EngineError.isControl(u) { out += String(u).utf8.map { String(format: "\\x%02x", $0) }.joined() }
        else { out.unicodeScalars.append(u) }
    }
    return out + "'"
}
