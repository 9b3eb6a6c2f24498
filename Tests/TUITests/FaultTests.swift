import Foundation
import Engine
@testable import TUI
import XCTest

/// Faults around the real `ddpm` binary (issue #6): signals during training,
/// a kill in the middle of writing a checkpoint, a full disk, a read-only
/// folder, huge random files, diverging training.
final class FaultTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = NSTemporaryDirectory() + "cli-faults-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// An IDX file of `count` 28x28 images of uniform noise in the test's folder; its path.
    func writeNoiseIDX(count: Int) throws -> String {
        var g = SystemRandomNumberGenerator()
        var idx = Data([0, 0, 8, 3])
        for d in [UInt32(count), 28, 28] { withUnsafeBytes(of: d.bigEndian) { idx.append(contentsOf: $0) } }
        idx.append(contentsOf: (0..<(count * 784)).map { _ in UInt8.random(in: 0...255, using: &g) })
        let path = "\(dir!)/noise-idx3-ubyte"
        try idx.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A small, fast training command (512 images, batch 8).
    func train(_ args: String) -> String {
        "env DDPM_ASSETS=\(Shell.assets) \(Shell.binary) train --limit 512 --batch 8 \(args)"
    }

    /// `ddpm export` reads a checkpoint completely (every tensor, the metadata); returns its step.
    func checkpointStep(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> String? {
        let (code, out) = Shell.sh("\(Shell.binary) export --checkpoint \(path) --out \(dir!)/exported.safetensors")
        XCTAssertEqual(code, 0, out, file: file, line: line)
        return out.components(separatedBy: "of step ").last?.components(separatedBy: " ").first
    }

    func hiddenFiles(_ d: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []).filter { $0.hasPrefix(".") }
    }

    /// Starts `cmd` in the background; returns (pid file, exit-code file, log).
    func background(_ cmd: String, name: String) -> (pid: String, code: String, log: String) {
        Shell.background(cmd, at: "\(dir!)/\(name)")
    }

    /// (SIGPWR, a UPS daemon's warning before the power goes, ended training unsaved and without a word.)
    func testSigintAndSigtermDuringTrainingSaveAndExitZero() throws {
        for sig in ["INT", "TERM", "PWR"] {
            let ckpt = "\(dir!)/\(sig).safetensors"
            let job = background(train("--steps 100000 --checkpoint-every 100000 --out \(ckpt)"), name: sig)
            XCTAssertTrue(Shell.poll(timeout: 60) { Shell.read(job.log).contains("step 1/100000") }, Shell.read(job.log))
            Shell.sh("kill -\(sig) $(cat \(job.pid))")
            XCTAssertTrue(Shell.poll(timeout: 60) { !Shell.read(job.code).isEmpty }, "train did not stop on SIG\(sig)")
            XCTAssertEqual(Shell.read(job.code).trimmingCharacters(in: .whitespacesAndNewlines), "0")
            let log = Shell.read(job.log)
            XCTAssertTrue(log.contains("stopped by signal at step") && log.contains("checkpoint saved to \(ckpt)"), log)
            guard let step = checkpointStep(ckpt).flatMap({ Int($0) }) else { return XCTFail("checkpoint has no step") }
            // --resume continues from it (the second time with dropout and a lower rate).
            let change = sig == "TERM" ? " --dropout 0.2 --lr 1e-4" : ""
            let (code, out) = Shell.sh(train("--steps \(step + 2) --out \(ckpt) --resume" + change))
            XCTAssertEqual(code, 0, out)
            XCTAssertTrue(out.contains("resumed \(ckpt) at step \(step)"), out)
            XCTAssertTrue(out.contains(sig == "TERM" ? "\n  lr 0.0001, dropout 0.2," : "\n  lr 0.0005, dropout 0.0,"), out)
        }
    }

    /// A fatal signal another process sends (`kill -SEGV`, `kill -BUS`, `kill -QUIT`) to a sampling command ends
    /// it by that signal within seconds, with no crash report and no file. Before, Swift's report
    /// took it for a fault ("Bad pointer dereference") and the other thread sampled on at 200% CPU
    /// without end (still running after 26 s).
    func testFatalSignalsSentByAnotherProcessEndTheCommand() throws {
        // SIGQUIT too, which Swift's report took for a crash and then sampled on, wrote the file and exited 0.
        for (sig, number) in [("SEGV", 11), ("BUS", 7), ("QUIT", 3)] {
            let out = "\(dir!)/\(sig).idx"
            let job = background("env DDPM_ASSETS=\(Shell.assets) \(Shell.binary) sample --n 64 --sampler ddpm --out \(out)", name: sig)
            XCTAssertTrue(Shell.poll(timeout: 30) { !Shell.read(job.pid).isEmpty })
            Thread.sleep(forTimeInterval: 1.5)
            XCTAssertTrue(Shell.read(job.code).isEmpty, "sample ended before the signal: \(Shell.read(job.log))")
            Shell.sh("kill -\(sig) $(cat \(job.pid))")
            XCTAssertTrue(Shell.poll(timeout: 20) { !Shell.read(job.code).isEmpty }, "sample did not end on SIG\(sig)")
            XCTAssertEqual(Shell.read(job.code).trimmingCharacters(in: .whitespacesAndNewlines), "\(128 + number)", Shell.read(job.log))
            XCTAssertFalse(Shell.read(job.log).contains("crashed"), Shell.read(job.log))
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
            Shell.sh("pkill -9 -f '\(out)' 2>/dev/null")
        }
    }

    /// An input that another program shortens while it is mapped (a `cp` over weights being loaded)
    /// raised SIGBUS in the middle of reading it, a crash report and exit 135. The test hook cuts
    /// the file right after it is mapped: one line naming it, exit 1, nothing written.
    func testInputShortenedWhileMappedEndsInOneLine() throws {
        let weights = "\(dir!)/w.safetensors", out = "\(dir!)/x.png"
        try FileManager.default.copyItem(atPath: "\(Shell.assets)/models/mnist-tiny.safetensors", toPath: weights)
        let (code, said) = Shell.sh("DDPM_TEST_TRUNCATE_MAPPED=/w.safetensors \(Shell.binary) sample --weights \(weights) --n 1 --out \(out)")
        XCTAssertEqual(code, 1, said)
        XCTAssertEqual(said.trimmingCharacters(in: .whitespacesAndNewlines),
                       "Error: \(weights): the file could no longer be read while in use (another program shortened or rewrote it, or a read error)")
        XCTAssertFalse(said.contains("crashed") || said.contains("Fatal") || said.contains("Stack"), said)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: weights)[.size] as? Int, 8192, "the hook did cut it")
        // The hook cuts only the file it names: the bundled model, the classifier and MNIST load whole.
        let (ok, fine) = Shell.sh("DDPM_ASSETS=\(Shell.assets) DDPM_TEST_TRUNCATE_MAPPED=/w.safetensors \(Shell.binary) sample --sampler ddim --steps 2 --n 1 --out \(out)")
        XCTAssertEqual(ok, 0, fine)
    }

    /// SIGKILL while the checkpoint is half written (the test hook pauses the
    /// write in the middle): the previous checkpoint stays whole under the
    /// final name; the hidden temporary is cleaned up by the next save.
    func testSigkillWhileWritingCheckpointKeepsPrevious() throws {
        let ckpt = "\(dir!)/c.safetensors"
        var (code, out) = Shell.sh(train("--steps 2 --out \(ckpt)"))
        XCTAssertEqual(code, 0, out)
        XCTAssertEqual(checkpointStep(ckpt), "2")
        let before = try Data(contentsOf: URL(fileURLWithPath: ckpt))
        let job = background("env DDPM_TEST_WRITE_DELAY_MS=30000 " + train("--steps 4 --checkpoint-every 1 --out \(ckpt) --resume"), name: "kill")
        XCTAssertTrue(Shell.poll(timeout: 60) { !self.hiddenFiles(self.dir).filter { $0.contains(".tmp-") }.isEmpty },
                      "no temporary appeared: \(Shell.read(job.log))")
        Shell.sh("kill -KILL $(cat \(job.pid))")
        XCTAssertTrue(Shell.poll(timeout: 30) { !Shell.read(job.code).isEmpty })
        XCTAssertNotEqual(Shell.read(job.code).trimmingCharacters(in: .whitespacesAndNewlines), "0")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: ckpt)), before, "the final name still holds the previous checkpoint")
        XCTAssertEqual(checkpointStep(ckpt), "2")
        XCTAssertEqual(hiddenFiles(dir).filter { $0.contains(".tmp-") }.count, 1, "the killed write left its hidden temporary")
        (code, out) = Shell.sh(train("--steps 3 --out \(ckpt) --resume"))
        XCTAssertEqual(code, 0, out)
        XCTAssertEqual(checkpointStep(ckpt), "3")
        XCTAssertEqual(hiddenFiles(dir).filter { $0.contains(".tmp-") }, [], "the stale temporary was removed")
    }

    /// In a private mount namespace: an 8 MiB tmpfs fills up on the second
    /// checkpoint (6.4 MB each), then is remounted read-only.
    func testFullDiskAndReadOnlyFolder() throws {
        guard Shell.sh("unshare -rm true").0 == 0 else {
            throw XCTSkip("unshare -rm (user + mount namespace) is not permitted here: cannot mount a small or read-only file system")
        }
        let m = "\(dir!)/mnt"
        try FileManager.default.createDirectory(atPath: m, withIntermediateDirectories: true)
        let script = """
        mount -t tmpfs -o size=8m tmpfs \(m) || exit 99
        \(train("--steps 3 --checkpoint-every 1 --out \(m)/c.safetensors")) > \(dir!)/full.log 2>&1; echo $? > \(dir!)/full.code
        ls -A \(m) > \(dir!)/full.ls
        \(Shell.binary) export --checkpoint \(m)/c.safetensors --out \(dir!)/w.safetensors > \(dir!)/export.log 2>&1
        mount -o remount,ro \(m) || exit 98
        \(train("--steps 5 --out \(m)/c.safetensors --resume")) > \(dir!)/ro.log 2>&1; echo $? > \(dir!)/ro.code
        \(Shell.binary) sample --n 1 --steps 2 --sampler ddim --out \(m)/s.png > \(dir!)/ro-sample.log 2>&1; echo $? >> \(dir!)/ro.code
        """
        try script.write(toFile: "\(dir!)/faults.sh", atomically: true, encoding: .utf8)
        let (code, out) = Shell.sh("unshare -rm sh \(dir!)/faults.sh")
        XCTAssertEqual(code, 0, out)
        let full = Shell.read("\(dir!)/full.log")
        XCTAssertEqual(Shell.read("\(dir!)/full.code"), "1\n", full)
        XCTAssertTrue(full.contains("cannot write \(m)/c.safetensors") && full.contains("No space left on device"), full)
        XCTAssertEqual(Shell.read("\(dir!)/full.ls"), "c.safetensors\n", "only the complete first checkpoint is there")
        XCTAssertTrue(Shell.read("\(dir!)/export.log").contains("of step 1"), Shell.read("\(dir!)/export.log"))
        let ro = Shell.read("\(dir!)/ro.log")
        XCTAssertEqual(Shell.read("\(dir!)/ro.code"), "1\n1\n", ro)
        XCTAssertTrue(ro.contains("Read-only file system") && !ro.contains("step 2/"), "refused before training: \(ro)")
        XCTAssertTrue(Shell.read("\(dir!)/ro-sample.log").contains("Read-only file system"))
    }

    /// A 1 GiB file of random bytes as --data or --weights is refused at once.
    func testHugeRandomFilesAreRefused() throws {
        let big = "\(dir!)/random.bin"
        // (First byte fixed: random bytes starting like a PNG or gzip are named as one.)
        Shell.sh("printf Z > \(big) && head -c 65535 /dev/urandom >> \(big) && truncate -s 1G \(big)")
        for (cmd, needle) in [("train --data \(big) --out \(dir!)/c.safetensors", "is a file"),
                              ("sample --weights \(big) --n 1 --out \(dir!)/s.png", "not a valid safetensors file"),
                              ("eval --weights \(big) --n 10", "not a valid safetensors file"),
                              ("eval --images \(big) --n 10", big)] {
            let t0 = Date()
            let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) \(cmd)")
            XCTAssertEqual(code, 1, "\(cmd): \(out)")
            XCTAssertTrue(out.contains(needle) && out.split(separator: "\n").count == 1, "\(cmd): \(out)")
            XCTAssertLessThan(Date().timeIntervalSince(t0), 5, "\(cmd) took too long")
        }
    }

    /// Under an address-space limit (ulimit -v) too small for the training or test set, train and
    /// eval say "out of memory" in one line (exit 1 or 71); the float copy of the 60,000 training
    /// images, then the evaluation's statistics, ended them with "failed to allocate" (exit 134).
    func testMemoryLimitsEndInOneLineNotACrash() throws {
        let env = "DDPM_ASSETS=\(Shell.assets) SWIFT_BACKTRACE=enable=no"
        var refused = 0
        for (cmd, limits) in [("train --steps 1 --batch 2 --out \(dir!)/oom.safetensors", [100_000, 150_000, 250_000, 300_000]),
                              ("eval --n 4 --sampler ddim --steps 1", [150_000, 250_000, 340_000, 370_000, 390_000]),
                              // The frames a recording keeps (these crashed with "failed to allocate" after sampling),
                              ("sample --n 64 --sampler ddim --steps 50 --record \(dir!)/oom.ddpmtraj --out \(dir!)/oom.png", [120_000, 140_000, 200_000]),
                              // the explorer's scrubbing history of 64 digits (checked before the terminal is taken).
                              ("--n 64 < /dev/null", [200_000, 260_000])] {
            for kb in limits {
                try? FileManager.default.removeItem(atPath: "\(dir!)/oom.safetensors")
                let (code, out) = Shell.sh("ulimit -v \(kb); \(env) timeout 120 \(Shell.binary) \(cmd)")
                XCTAssertTrue(code == 0 || code == 1 || code == 71, "\(cmd) under ulimit -v \(kb): exit \(code)\n\(out.prefix(400))")
                XCTAssertFalse(out.contains("Fatal error") || out.contains("git checkout"), "\(cmd) under ulimit -v \(kb):\n\(out.prefix(400))")
                if code != 0 {
                    XCTAssertTrue(out.hasPrefix("Error: out of memory") || out.contains("ddpm: out of memory"), "\(cmd) under ulimit -v \(kb):\n\(out.prefix(400))")
                    refused += 1
                }
            }
        }
        XCTAssertGreaterThanOrEqual(refused, 8, "the limits are low enough to refuse")
    }

    /// A recording too large to decode under the memory limit, though it could be mapped, is one
    /// line (it ended in "failed to allocate", exit 134, while its frames were decoded); with more
    /// room the same file exports. The limits step up from too little to start the program at all.
    func testRecordingUnderAMemoryLimitEndsInOneLine() throws {
        // 1000 frames of 4 digits: 12.5 MB of frames, decoded from the mapped file (every frame with the last one's readings,
        // which are in range).
        var snap = AppTests.fakeSnapshot(steps: 1000)
        let readings = snap.history[999].readings
        snap.history = snap.history.map {
            RecordedFrame(step: $0.step, t: $0.t, tNext: $0.tNext, n: $0.n, size: $0.size, settings: $0.settings, xt: $0.xt, x0: $0.x0,
                          eps: $0.eps, x0Outside: $0.x0Outside, readings: readings)
        }
        let rec = try XCTUnwrap(Recording(snap, model: RecordingTests.model, schedule: try NoiseSchedule().spec))
        try rec.write("\(dir!)/big.ddpmtraj")
        let env = "DDPM_ASSETS=\(Shell.assets) SWIFT_BACKTRACE=enable=no"
        var refused = 0, exported = false
        for kb in stride(from: 90_000, through: 400_000, by: 4_000) {
            let (code, out) = Shell.sh("ulimit -v \(kb); \(env) timeout 60 \(Shell.binary) export-gif \(dir!)/big.ddpmtraj --out \(dir!)/big.gif")
            if code == 127 { continue }   // too little to load the program's libraries
            XCTAssertTrue(code == 0 || code == 1, "export-gif under ulimit -v \(kb): exit \(code)\n\(out.prefix(400))")
            if code == 1 {
                XCTAssertTrue(out.hasPrefix("Error: out of memory") && !out.contains("Fatal error"), "under ulimit -v \(kb):\n\(out.prefix(400))")
                refused += 1
            }
            if code == 0 { exported = true; break }
        }
        XCTAssertGreaterThan(refused, 0, "no limit was low enough to refuse")
        XCTAssertTrue(exported, "no limit up to 400 MB let it export")
    }

    /// What `train` could not hold or nothing could load is refused at once with one
    /// line, before any memory is taken (these once crashed writing through a null
    /// pointer, or trained a model that sample, info and export refuse); an --epochs
    /// too long says so in its own terms; a --cast FIFO nobody reads does not hang; a cast stops at its size limit.
    func testTrainRefusesWhatItCouldNotHoldOrLoad() throws {
        let env = "DDPM_ASSETS=\(Shell.assets) SWIFT_BACKTRACE=enable=no"
        let huge = #"'{"nChannels":512,"chMults":[1,2],"nBlocks":8,"imageSize":28}'"#
        for (cmd, code, needle) in [
            ("train --config \(huge) --steps 1 --batch 1 --limit 1", 1, "644054017 parameters, more than the 64M this program loads"),
            // Under a 4 GB address space the batch's 44 GiB is refused, whatever the machine's memory.
            ("train --config small --batch 4096 --limit 4096 --steps 1", 1, "batch 4096 with this model needs about 44.3 GiB of memory to train"),
            ("train --config '{\"nChannels\":16,\"chMults\":[1,2],\"nBlocks\":1,\"imageSize\":16}' --steps 1", 1, "image size 16"),
            ("train --epochs 2000 --batch 1", 64, "--epochs 2000 is 120000000 steps (60000 a pass over 60000 images at batch 1)"),
        ] {
            let t0 = Date()
            let (got, out) = Shell.sh("ulimit -v 4000000; \(env) \(Shell.binary) \(cmd) --out \(dir!)/c.safetensors")
            XCTAssertEqual(got, Int32(code), "\(cmd): \(out)")
            XCTAssertTrue(out.contains(needle), "\(cmd): \(out)")
            XCTAssertLessThan(Date().timeIntervalSince(t0), 10, "\(cmd) took too long")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/c.safetensors"), "no checkpoint written")
        // --epochs counts passes over --limit's images, not the whole set's.
        let (_, limited) = Shell.sh("\(env) \(Shell.binary) train --epochs 10000 --limit 20000 --batch 1 --out \(dir!)/c.safetensors")
        XCTAssertTrue(limited.contains("200000000 steps (20000 a pass over 20000 images at batch 1)"), limited)
        // A FIFO with no reader as --cast (in a pseudo-terminal, which --cast needs).
        Shell.sh("mkfifo \(dir!)/cast.fifo")
        let t0 = Date()
        let (_, cast) = Shell.sh("timeout 20 script -qec '\(Shell.binary) --n 1 --cast \(dir!)/cast.fifo' /dev/null")
        XCTAssertTrue(cast.contains("--cast: cannot write \(dir!)/cast.fifo: it is a pipe that no process reads"), cast)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 15)
        // A file that is not a cast (a model named by mistake) is refused whole; it was truncated in place.
        let model = "\(dir!)/model.safetensors"
        try Data(repeating: 7, count: 1000).write(to: URL(fileURLWithPath: model))
        let (_, refused) = Shell.sh("timeout 20 script -qec '\(Shell.binary) --n 1 --cast \(model)' /dev/null")
        XCTAssertTrue(refused.contains("exists and is not an asciicast"), refused)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: model)), Data(repeating: 7, count: 1000), "the file is untouched")
        // A cast stops growing at its limit (2 GiB; 30 kB here), at a whole event, and says so; the session goes on.
        let capped = "\(dir!)/capped.cast"
        let (code, note) = Shell.sh("(sleep 4; printf q) | timeout 30 script -qec 'stty cols 80 rows 24; DDPM_ASSETS=\(Shell.assets) DDPM_TEST_CAST_LIMIT=30000 \(Shell.binary) --n 1 --cast \(capped)' /dev/null")
        XCTAssertEqual(code, 0, note)
        XCTAssertTrue(note.contains("note: --cast stopped recording at 29 KiB") && note.contains("the session went on"), note)
        let lines = Shell.read(capped).split(separator: "\n")
        XCTAssertLessThanOrEqual(Shell.read(capped).utf8.count, 30000)
        XCTAssertGreaterThan(lines.count, 2)
        for l in lines { XCTAssertNotNil(try? JSONSerialization.jsonObject(with: Data(l.utf8)), "every line whole: \(l.prefix(80))") }
        // So does one whose writing fails (a file-size limit here, a full disk alike): it ended with half an event.
        let sizeLimited = "\(dir!)/limited.cast"
        let (lcode, said) = Shell.sh("(sleep 4; printf q) | timeout 30 script -qec 'stty cols 80 rows 24; ulimit -f 20; DDPM_ASSETS=\(Shell.assets) \(Shell.binary) --n 1 --cast \(sizeLimited)' /dev/null")
        XCTAssertEqual(lcode, 1, said)
        XCTAssertTrue(said.contains("the recording stops where writing failed"), said)
        let kept = Shell.read(sizeLimited)
        XCTAssertLessThanOrEqual(kept.utf8.count, 20 * 1024)
        XCTAssertTrue(kept.hasSuffix("\n"), "ends after a whole event")
        XCTAssertGreaterThan(kept.split(separator: "\n").count, 2)
        for l in kept.split(separator: "\n") { XCTAssertNotNil(try? JSONSerialization.jsonObject(with: Data(l.utf8)), "every line whole: \(l.prefix(80))") }
    }

    /// `eval --spacing` picks DDIM's timesteps (the samples change, the report
    /// names the spacing); an unknown spacing is refused with the choices' flag.
    func testEvalSpacing() throws {
        func source(_ spacing: String) -> (String, Double) {
            let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) eval --sampler ddim --steps 3 --n 4 --json --spacing \(spacing)")
            XCTAssertEqual(code, 0, out)
            guard let d = try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any],
                  let g = d["generated"] as? [String: Any], let fd = g["frechet"] as? Double else { XCTFail(out); return ("", 0) }
            return (d["source"] as? String ?? "", fd)
        }
        let (lead, fdLead) = source("leading"), (trail, fdTrail) = source("trailing")
        XCTAssertEqual(lead, "ddim 3 steps eta 0.0, leading spacing")
        XCTAssertEqual(trail, "ddim 3 steps eta 0.0")
        XCTAssertNotEqual(fdLead, fdTrail)
        let (code, out) = Shell.sh("\(Shell.binary) eval --spacing sideways")
        XCTAssertNotEqual(code, 0)
        XCTAssertTrue(out.contains("unknown --spacing 'sideways'"), out)
    }

    /// `eval --images` with more images than the pairwise metrics look at:
    /// the report says how many they saw (with fewer, it says nothing: the
    /// --versus test below checks that, text and JSON, at n = 300).
    func testEvalSaysWhichSamplesPairwiseMetricsSee() throws {
        let test = "\(Shell.assets)/mnist/t10k-images-idx3-ubyte.gz"
        let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) eval --images \(test) --n 1200")
        XCTAssertEqual(code, 0, out)
        XCTAssertTrue(out.contains("precision/recall use the first 1000 of each set, diversity the first 500"), out)
    }

    /// `eval` keeps the reference's features and statistics in $DDPM_CACHE_DIR
    /// and scores the same, bit for bit, from them; a changed cache file is
    /// read (so the cache is used), a damaged one is computed again and
    /// rewritten as it was, and a folder that cannot be written scores the
    /// same (with a note on stderr). Against a 400-digit reference (an assets folder whose test
    /// set is the first 400 test digits), so each run takes a moment.
    func testEvalCachesTheReferenceAndScoresTheSame() throws {
        let assets = dir + "/assets", fm = FileManager.default
        try fm.createDirectory(atPath: assets + "/mnist", withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: assets + "/models", withDestinationPath: Shell.assets + "/models")
        for f in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"] {
            try fm.createSymbolicLink(atPath: "\(assets)/mnist/\(f)", withDestinationPath: "\(Shell.assets)/mnist/\(f)")
        }
        for (f, per) in [("t10k-images-idx3-ubyte", 784), ("t10k-labels-idx1-ubyte", 1)] {
            let all = try IDXFile.read("\(Shell.assets)/mnist/\(f).gz")
            let part = IDXFile(dims: [400] + all.dims.dropFirst(), bytes: Array(all.bytes.prefix(400 * per)))
            try Data(part.encoded()).write(to: URL(fileURLWithPath: "\(assets)/mnist/\(f)"))
        }
        let cache = dir + "/cache"
        let err = dir + "/stderr"
        /// The report (stdout); stderr is left in `err`.
        func eval(_ cacheDir: String) -> String {
            let (code, out) = Shell.sh("DDPM_ASSETS=\(assets) DDPM_CACHE_DIR='\(cacheDir)' \(Shell.binary) eval --images \(assets)/mnist/t10k-images-idx3-ubyte --n 100 --json 2>\(err)")
            XCTAssertEqual(code, 0, out + Shell.read(err))
            return out
        }
        func kid(_ json: String) -> Double? {
            ((try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any])
                .flatMap { $0["generated"] as? [String: Any] }.flatMap { $0["kid"] as? Double }
        }
        let computed = eval(cache)
        XCTAssertEqual(Shell.read(err), "", "nothing said of a cache that works")
        let files = try fm.contentsOfDirectory(atPath: cache)
        XCTAssertEqual(files.count, 1, "\(files)")
        let file = cache + "/" + (files.first ?? "")
        XCTAssertTrue(file.hasSuffix(".bin") && files.first?.hasPrefix("reference-") == true, file)
        let written = try Data(contentsOf: URL(fileURLWithPath: file))
        // The temporary of a write killed midway (no such pid) goes at the next read, which writes nothing.
        let stale = cache + "/." + (file as NSString).lastPathComponent + ".tmp-4194305"
        try Data(count: 100).write(to: URL(fileURLWithPath: stale))
        XCTAssertEqual(eval(cache), computed, "read from the cache, the scores are the same bit for bit")
        XCTAssertFalse(fm.fileExists(atPath: stale))
        XCTAssertNotNil(kid(computed), computed)

        // The kernel distance's within-reference mean (the last of the numbers before the
        // 32-byte checksum) raised by 1 and the checksum made good: the run reads it.
        var changed = [UInt8](written)
        let at = changed.count - 32 - 8
        var within = changed[at..<(at + 8)].withUnsafeBytes { $0.loadUnaligned(as: Double.self) }
        within += 1
        withUnsafeBytes(of: within) { changed.replaceSubrange(at..<(at + 8), with: $0) }
        let sum = try SHA256()
        changed.prefix(changed.count - 32).withUnsafeBytes { sum.update($0) }
        changed.replaceSubrange((changed.count - 32)..., with: try sum.finish())
        try Data(changed).write(to: URL(fileURLWithPath: file))
        let read = eval(cache)
        XCTAssertEqual(try XCTUnwrap(kid(read)) - (try XCTUnwrap(kid(computed))), 1, accuracy: 1e-9, "a hit reads the file: \(read)")

        // A damaged file (its checksum no longer holds) is computed again and rewritten as it was.
        changed[changed.count / 2] ^= 0xFF
        try Data(changed).write(to: URL(fileURLWithPath: file))
        XCTAssertEqual(eval(cache), computed)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: file)), written)

        // A symlink planted at the file's name is replaced, never written through (the file it
        // named was overwritten with the cache); a FIFO there is left alone (a reader that never
        // read blocked the run), said on stderr.
        let victim = dir + "/victim.txt"
        try "keep me".write(toFile: victim, atomically: true, encoding: .utf8)
        try fm.removeItem(atPath: file)
        try fm.createSymbolicLink(atPath: file, withDestinationPath: victim)
        XCTAssertEqual(eval(cache), computed)
        XCTAssertEqual(Shell.read(victim), "keep me")
        XCTAssertEqual(try fm.attributesOfItem(atPath: file)[.type] as? FileAttributeType, .typeRegular)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: file)), written)
        try fm.removeItem(atPath: file)
        XCTAssertEqual(mkfifo(file, 0o644), 0)
        XCTAssertEqual(eval(cache), computed)
        XCTAssertTrue(Shell.read(err).contains("is not a regular file: left as it is"), Shell.read(err))
        try fm.removeItem(atPath: file)
        // A DDPM_CACHE_DIR that cannot be written: the same scores, and a line on stderr saying so.
        XCTAssertEqual(eval("/proc/no-such-cache"), computed)
        XCTAssertTrue(Shell.read(err).hasPrefix("note: DDPM_CACHE_DIR /proc/no-such-cache cannot keep the reference's statistics ("), Shell.read(err))
        XCTAssertEqual(Shell.read(err).split(separator: "\n").count, 1, Shell.read(err))
        // DDPM_CACHE_DIR set but empty is no cache; else XDG's cache folder, else the home's.
        XCTAssertNil(Assets.cacheFolder(environment: ["DDPM_CACHE_DIR": "", "HOME": "/h"]))
        XCTAssertEqual(Assets.cacheFolder(environment: ["DDPM_CACHE_DIR": "/c", "HOME": "/h"]), "/c")
        XCTAssertEqual(Assets.cacheFolder(environment: ["XDG_CACHE_HOME": "/x", "HOME": "/h"]), "/x/ddpm-explorer")
        XCTAssertEqual(Assets.cacheFolder(environment: ["XDG_CACHE_HOME": "rel", "HOME": "/h"]), "/h/.cache/ddpm-explorer")
        XCTAssertNil(Assets.cacheFolder(environment: [:]))
    }

    /// `eval --versus`: a set against itself is within noise on every verdict;
    /// against uniform noise it is better beyond noise. Every rate and FD has
    /// its interval in the JSON, and the held-out digits are the real column.
    /// The metric's sanity checks ride along: real test digits are confident
    /// digits, uniform noise is almost never one and is far from digits in
    /// feature space; 300 images are fewer than the pairwise metrics' caps, so
    /// they see all of them and the report does not say it used the first few.
    func testEvalVersusSaysWhatIsWithinNoise() throws {
        let test = "\(Shell.assets)/mnist/t10k-images-idx3-ubyte.gz"
        let noise = try writeNoiseIDX(count: 300)
        let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) eval --images \(test) --versus \(test) --n 300")
        XCTAssertEqual(code, 0, out)
        XCTAssertTrue(out.contains("real: 300 held-out MNIST training digits (50000..<50300 of its training set, never seen by the classifier)"), out)
        let same = out.split(separator: "\n").first { $0.hasPrefix("generated - versus:") }.map(String.init) ?? ""
        XCTAssertTrue(same.contains("FD +0.00") && same.contains("KID x1000 +0.00") && same.components(separatedBy: "within noise").count == 4, out)
        XCTAssertFalse(out.contains("use the first"), out)
        // The test digits scored as a set are the reference itself: said, for each column (it read as "better than real").
        for column in ["generated", "versus"] {
            XCTAssertTrue(out.contains("note: 300 of the 300 \(column) images are the reference's own test digits"), out)
        }
        // --n 400 of a set of 300: every set is cut to 300, and stderr says so (it was silent).
        let err = NSTemporaryDirectory() + "versus-\(getpid()).err"
        defer { try? FileManager.default.removeItem(atPath: err) }
        let (jcode, json) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) eval --images \(test) --versus \(noise) --n 400 --json 2>\(err)")
        XCTAssertEqual(jcode, 0, json)
        XCTAssertEqual(Shell.read(err), "note: every set is scored on its first 300 images, not --n 400: \(noise) holds 300 images\n")
        let d = try XCTUnwrap(try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], json)
        XCTAssertEqual(d["n"] as? Int, 300)
        XCTAssertTrue(d["weights"] is NSNull || d["weights"] == nil, "images, not a model: \(json)")
        XCTAssertEqual(d["seed"] as? Int, 0)
        // The verdicts as numbers: each set against real digits, then the two sets.
        let diffs = try XCTUnwrap(d["differences"] as? [[String: Any]], json)
        XCTAssertEqual(diffs.map { "\($0["a"] ?? "") - \($0["b"] ?? "")" }, ["generated - real", "versus - real", "generated - versus"])
        let gv = diffs[2]
        XCTAssertEqual(gv["frechet_within_noise"] as? Bool, false)
        XCTAssertLessThan(gv["frechet"] as? Double ?? 0, 0, "the test digits are nearer the reference than noise is")
        XCTAssertLessThan(gv["frechet_hi"] as? Double ?? 0, 0)
        XCTAssertEqual(gv["confident_within_noise"] as? Bool, false)
        for key in ["generated", "versus", "real"] {
            let s = try XCTUnwrap(d[key] as? [String: Double], json)
            for m in ["frechet", "kid", "confident_rate"] {
                let prefix = m == "confident_rate" ? "confident" : m
                let v = try XCTUnwrap(s[m]), lo = try XCTUnwrap(s[prefix + "_lo"]), hi = try XCTUnwrap(s[prefix + "_hi"])
                XCTAssertTrue(lo <= v && v <= hi && lo < hi, "\(key) \(m): \(lo) \(v) \(hi)")
            }
        }
        let generated = try XCTUnwrap(d["generated"] as? [String: Double], json), versus = try XCTUnwrap(d["versus"] as? [String: Double], json)
        XCTAssertEqual(generated["knn_n"], 300); XCTAssertEqual(generated["diversity_n"], 300)
        XCTAssertEqual(generated["reference_overlap"], 1); XCTAssertEqual(versus["reference_overlap"], 0, "noise is none of the test digits")
        XCTAssertGreaterThan(generated["confident_rate"] ?? 0, 0.95, "real test digits are confident digits")
        XCTAssertLessThan(versus["confident_rate"] ?? 1, 0.05, "noise read as digits")
        XCTAssertGreaterThan(versus["frechet"] ?? 0, 100, "noise is far from digits in feature space")
        // --versus tells images from weights by the file's first bytes, not its name.
        let misnamed = NSTemporaryDirectory() + "versus-\(getpid()).safetensors", weights = NSTemporaryDirectory() + "versus-\(getpid()).weights"
        defer { for p in [misnamed, weights] { try? FileManager.default.removeItem(atPath: p) } }
        try FileManager.default.copyItem(atPath: noise, toPath: misnamed)
        try FileManager.default.copyItem(atPath: "\(Shell.assets)/models/mnist-tiny.safetensors", toPath: weights)
        XCTAssertFalse(EvalCommand.holdsWeights(misnamed))
        XCTAssertTrue(EvalCommand.holdsWeights(weights))
        XCTAssertFalse(EvalCommand.holdsWeights("/nonexistent.idx"))
        let (mcode, mout) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) eval --images \(test) --versus \(misnamed) --n 300")
        XCTAssertEqual(mcode, 0, mout)
        let vsNoise = mout.split(separator: "\n").first { $0.hasPrefix("generated - versus:") }.map(String.init) ?? ""
        XCTAssertTrue(vsNoise.contains("(generated better)") && !vsNoise.contains("within noise"), mout)
        let (bad, badOut) = Shell.sh("\(Shell.binary) eval --damage --versus \(test)")
        XCTAssertNotEqual(bad, 0)
        XCTAssertTrue(badOut.contains("--damage checks the classifier on real digits"), badOut)
    }

    /// A classifier whose features do not vary (every weight 0) cannot score images: one line and
    /// exit 1, where it printed "FD ratio generated/real: -nan" and a class share above its bound.
    func testEvalRefusesAClassifierWithoutFeatures() throws {
        let st = try SafeTensors.read("\(Shell.assets)/models/mnist-classifier.safetensors")
        let zeros = st.order.map { (name: $0, shape: st.tensors[$0]!.shape, data: [Float](repeating: 0, count: st.tensors[$0]!.count)) }
        let path = "\(dir!)/zero-classifier.safetensors"
        let flat = zeros.flatMap(\.data)
        try flat.withUnsafeBufferPointer { p in
            var at = 0
            let parts = zeros.map { z -> (String, [Int], UnsafePointer<Float>) in defer { at += z.data.count }; return (z.name, z.shape, p.baseAddress! + at) }
            try SafeTensors.write(path, tensors: parts, metadata: st.metadata)
        }
        let test = "\(Shell.assets)/mnist/t10k-images-idx3-ubyte.gz"
        let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) eval --images \(test) --n 4 --classifier \(path) --json")
        XCTAssertEqual(code, 1, out)
        XCTAssertEqual(out, "Error: \(path): the classifier gives the test digits the same features (zeroed or untrained weights?): it cannot score images\n")
    }

    /// `eval --damage`: every kind of damage rises with its level (FD and KID), in text and JSON.
    func testEvalDamageCheck() throws {
        let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) eval --damage --n 500")
        XCTAssertEqual(code, 0, out)
        XCTAssertTrue(out.contains("FD: every kind rises with its level") && out.contains("KID: every kind rises with its level"), out)
        for kind in ["blur", "noise", "salt-pepper", "erasing", "swirl", "drop-classes", "repeats"] {
            XCTAssertTrue(out.contains("\n" + kind), "no row for \(kind): \(out)")
        }
        // The summary's FD and KID are of one damage, the mildest by FD (the KID was another kind's least).
        let lines = out.split(separator: "\n").map(String.init)
        let summary = try XCTUnwrap(lines.first { $0.hasPrefix("the mildest damage (") }, out)
        let kind = String(summary.dropFirst("the mildest damage (".count).prefix { $0 != " " })
        let kinds = ["blur", "noise", "salt-pepper", "erasing", "swirl", "drop-classes", "repeats"]
        XCTAssertTrue(kinds.contains(kind), summary)
        let row = try XCTUnwrap(lines.firstIndex { $0.hasPrefix(kind + " FD") }, out)
        // A row: its name in 17 columns, then cells of the level in 8 and the value in " %7.1f".
        func firstCell(_ line: String) -> Double? { Double(line.dropFirst(17 + 8 + 1).prefix(7).trimmingCharacters(in: .whitespaces)) }
        let fd = try XCTUnwrap(firstCell(lines[row]), lines[row]), kid = try XCTUnwrap(firstCell(lines[row + 1]), lines[row + 1])
        let fds = lines.filter { l in kinds.contains { l.hasPrefix($0 + " FD") } }.compactMap(firstCell)
        XCTAssertEqual(fds.count, 7, out)
        XCTAssertEqual(fd, fds.min(), "the mildest by FD: \(out)")
        XCTAssertTrue(summary.contains(String(format: "(%.1f against", fd)), summary)
        let said = try XCTUnwrap(summary.components(separatedBy: "KID x1000 ").last?.split(separator: " ").first.flatMap { Double($0) }, summary)
        XCTAssertEqual(said, kid, accuracy: 0.051, "\(summary)\n\(lines[row + 1])")
        let (jcode, json) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) eval --damage --n 500 --json")
        XCTAssertEqual(jcode, 0, json)
        let d = try XCTUnwrap(try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], json)
        XCTAssertEqual(d["rises"] as? Bool, true)
        XCTAssertEqual((d["damaged"] as? [String: [Double]])?.count, 7)
        XCTAssertEqual(d["kid_rises"] as? Bool, true)
        XCTAssertEqual((d["damaged_kid"] as? [String: [Double]])?.count, 7)
        XCTAssertEqual((d["levels"] as? [String: [Double]])?["blur"], [0.75, 1.0, 1.5, 2.0])
    }

    /// Each bundled asset missing or damaged: the command fails with one line
    /// that names the file and says how to get it back.
    func testMissingOrCorruptBundledAssetsSayHowToRestore() throws {
        let a = "\(dir!)/assets", models = "\(dir!)/assets/models"
        try FileManager.default.createDirectory(atPath: models, withIntermediateDirectories: true)
        func run(_ args: String) -> (Int32, String) { Shell.sh("DDPM_ASSETS=\(a) \(Shell.binary) \(args)") }
        func expectOneLine(_ args: String, _ needles: [String], line: UInt = #line) {
            let (code, out) = run(args)
            XCTAssertEqual(code, 1, out, line: line)
            XCTAssertEqual(out.split(separator: "\n").count, 1, out, line: line)
            for n in needles { XCTAssertTrue(out.contains(n), "\(args): \(out)", line: line) }
        }
        // No MNIST.
        expectOneLine("eval --n 4", ["\(a)/mnist", "git checkout -- assets/mnist"])
        try FileManager.default.createSymbolicLink(atPath: "\(a)/mnist", withDestinationPath: "\(Shell.assets)/mnist")
        // No model; then a truncated one.
        let model = "\(models)/mnist-tiny.safetensors", cls = "\(models)/mnist-classifier.safetensors"
        for args in ["sample --n 1 --out \(dir!)/s.png", "eval --n 4 --sampler ddim --steps 2"] {
            if args.hasPrefix("eval") { try FileManager.default.copyItem(atPath: "\(Shell.assets)/models/mnist-classifier.safetensors", toPath: cls) }
            expectOneLine(args, [model, "no such file", "git checkout -- assets/models/mnist-tiny.safetensors", "ddpm train"])
        }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(Shell.assets)/models/mnist-tiny.safetensors"))
        try bytes.prefix(100_000).write(to: URL(fileURLWithPath: model))
        expectOneLine("sample --n 1 --out \(dir!)/s.png", ["truncated", "git checkout -- assets/models/mnist-tiny.safetensors"])
        // A truncated classifier; then none.
        try FileManager.default.removeItem(atPath: model)
        try FileManager.default.copyItem(atPath: "\(Shell.assets)/models/mnist-tiny.safetensors", toPath: model)
        let cbytes = try Data(contentsOf: URL(fileURLWithPath: cls))
        try cbytes.prefix(3000).write(to: URL(fileURLWithPath: cls))
        expectOneLine("eval --n 4 --sampler ddim --steps 2", [cls, "ddpm eval --train-classifier"])
        try FileManager.default.removeItem(atPath: cls)
        expectOneLine("eval --images \(Shell.assets)/mnist/t10k-images-idx3-ubyte.gz --n 4", [cls, "no such file", "ddpm eval --train-classifier"])
        // The user's own classifier path: rebuilt with the same flag.
        expectOneLine("eval --n 4 --classifier \(dir!)/mine.safetensors", ["--train-classifier --classifier \(dir!)/mine.safetensors"])
        // The restored model works again.
        let (code, out) = run("sample --n 1 --sampler ddim --steps 2 --out \(dir!)/s.png")
        XCTAssertEqual(code, 0, out)
    }

    /// A learning rate that blows training up: the step is named, the exit is
    /// non-zero, and the last checkpoint written before it still loads.
    func testDivergenceStopsWithStepAndKeepsCheckpoint() throws {
        let ckpt = "\(dir!)/d.safetensors"
        let (code, out) = Shell.sh("DDPM_TEST_DIVERGE_AT=5 " + train("--steps 10 --checkpoint-every 2 --out \(ckpt)"))
        XCTAssertEqual(code, 1, out)
        XCTAssertTrue(out.contains("training diverged at step 5") && out.contains("last good checkpoint \(ckpt) is kept"), out)
        XCTAssertEqual(checkpointStep(ckpt), "4")
        // Before the first checkpoint there is none to keep: it says nothing was saved (it named a file that did not exist).
        let early = "\(dir!)/early.safetensors"
        let (code2, out2) = Shell.sh("DDPM_TEST_DIVERGE_AT=1 " + train("--steps 10 --checkpoint-every 5 --out \(early)"))
        XCTAssertEqual(code2, 1, out2)
        XCTAssertTrue(out2.contains("training diverged at step 1") && out2.contains("nothing was saved (it diverged before the first checkpoint)"), out2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: early))
    }
}
