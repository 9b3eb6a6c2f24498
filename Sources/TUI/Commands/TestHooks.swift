// TestHooks.swift: the faults the tests inject into the real binary, read from
// the environment in this one place and handed to the code as values (Engine
// reads no environment variable).
import Engine
import Foundation

enum TestHooks {
    private static let env = ProcessInfo.processInfo.environment

    /// `DDPM_TEST_DIVERGE_AT=N`: before step N the output convolution's
    /// weights are set to 1e30, as a far too high learning rate would (the
    /// divergence stop is tested on the real binary).
    static let divergeAt = Int(env["DDPM_TEST_DIVERGE_AT"] ?? "")

    /// `DDPM_TEST_WRITE_DELAY_MS=N`: checkpoint writes pause N ms halfway (a
    /// test kills the process in the middle of a write).
    static let writePauseMs = Int(env["DDPM_TEST_WRITE_DELAY_MS"] ?? "") ?? 0

    /// `DDPM_TEST_INTERNAL_ERROR=N`: the explorer throws after N frames (the
    /// terminal must be restored).
    static let internalErrorAfterFrames = Int(env["DDPM_TEST_INTERNAL_ERROR"] ?? "")

    /// `DDPM_TEST_CRASH=N`: after N frames a thread of the explorer traps (a Swift runtime
    /// error, as a failed `try!` would); `DDPM_TEST_ABORT=N`: it calls abort() (as the runtime's
    /// C++ errors do). Either way the terminal must still be given back.
    static let crashAfterFrames: (frames: Int, abort: Bool)? = Int(env["DDPM_TEST_CRASH"] ?? "").map { ($0, false) }
        ?? Int(env["DDPM_TEST_ABORT"] ?? "").map { ($0, true) }

    /// `DDPM_TEST_CAST_LIMIT=BYTES`: --cast stops recording at BYTES instead of 2 GiB.
    static let castLimitBytes = Int(env["DDPM_TEST_CAST_LIMIT"] ?? "")

    /// `DDPM_TEST_TRUNCATE_MAPPED=NAME`: an input file whose path ends in NAME is cut to 8 KiB
    /// right after it is mapped, as another program rewriting it might (the SIGBUS that follows
    /// must end in one line and exit 1, not a crash report). Installed with the signal handlers.
    static func installTruncateMapped() {
        guard let name = env["DDPM_TEST_TRUNCATE_MAPPED"], !name.isEmpty else { return }
        InputFile.afterMapping = { path in if path.hasSuffix(name) { _ = truncate(path, 8192) } }
    }

    /// The training loop's before-step hook, or nil when no fault is asked for.
    static var beforeTrainStep: ((Trainer) -> Void)? {
        guard let at = divergeAt else { return nil }
        return { trainer in
            guard trainer.step + 1 == at, let w = trainer.net.layout["conv_out.2.weight"] else { return }
            for i in 0..<w.count { trainer.params.ptr[w.offset + i] = 1e30 }
        }
    }
}
