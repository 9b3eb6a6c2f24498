// DataLossTests.swift: nothing the user has is destroyed or silently lost
// (issue #18): outputs that are inputs, two writers, closed pipes, hangups,
// full stdout, symlinks and modes of replaced files — on the real binary.
import Foundation
import XCTest

final class DataLossTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = Shell.temporaryDirectory("loss") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func ddpm(_ args: String) -> (Int32, String) {
        Shell.sh("cd \(dir) && DDPM_ASSETS=\(Shell.assets) \(Shell.binary) \(args)")
    }
    func checksum(_ name: String) -> String { Shell.sh("sha256sum \(dir)/\(name) | cut -c1-64").1 }
    func train(_ out: String, steps: Int = 2, extra: String = "") -> (Int32, String) {
        ddpm("train --steps \(steps) --batch 4 --limit 32 --checkpoint-every 1000 --out \(out) \(extra)")
    }

    /// An output that is an input (directly or through a symlink) is refused and the input survives.
    func testOutputThatIsAnInputIsRefused() {
        XCTAssertEqual(train("ck.safetensors").0, 0)
        Shell.sh("ln -s ck.safetensors \(dir)/link.safetensors")
        let before = checksum("ck.safetensors")
        for args in ["export --checkpoint ck.safetensors --out ck.safetensors",
                     "export --checkpoint ck.safetensors --out link.safetensors",
                     "export --checkpoint link.safetensors --out ./ck.safetensors",
                     "train --steps 3 --batch 4 --limit 32 --out ck.safetensors --resume --export link.safetensors",
                     // A fine-tune's checkpoints would overwrite the weights it starts from.
                     "train --steps 3 --batch 4 --limit 32 --init ck.safetensors --out link.safetensors",
                     "train --steps 3 --batch 4 --limit 32 --init link.safetensors --out other.safetensors --export ck.safetensors"] {
            let (code, out) = ddpm(args)
            XCTAssertEqual(code, 1, "\(args): \(out)")
            XCTAssertTrue(out.contains("would overwrite") || out.contains("are the same file"), "\(args): \(out)")
        }
        XCTAssertEqual(checksum("ck.safetensors"), before, "the checkpoint is untouched")
    }

    /// `export --out` and `--train-classifier --out` replace only what they write: another run's
    /// checkpoint (its optimiser state), a recording, a model or a file of another kind is refused
    /// and untouched, before any work; an earlier export, or a damaged .safetensors, is replaced.
    func testExportAndClassifierReplaceOnlyTheirOwnKind() throws {
        XCTAssertEqual(train("ck.safetensors").0, 0)
        Shell.sh("cp \(dir)/ck.safetensors \(dir)/other.safetensors && printf junk > \(dir)/digits.idx")
        XCTAssertEqual(ddpm("sample --n 1 --sampler ddim --steps 2 --record run.ddpmtraj --out s.png").0, 0)
        let kept = ["other.safetensors", "run.ddpmtraj", "digits.idx"].map { ($0, checksum($0)) }
        for (out, holds) in [("other.safetensors", "is a training checkpoint (its optimiser state would be lost)"),
                             ("run.ddpmtraj", "is a recording"), ("digits.idx", "is not a safetensors file")] {
            let (code, said) = ddpm("export --checkpoint ck.safetensors --out \(out)")
            XCTAssertEqual(code, 1, said)
            XCTAssertEqual(said, "Error: --out \(out) exists and \(holds); export replaces only model weights: remove it or give another --out\n")
        }
        let (ccode, csaid) = ddpm("eval --train-classifier --epochs 1 --out other.safetensors")
        XCTAssertEqual(ccode, 1, csaid)
        XCTAssertTrue(csaid.contains("exists and is a training checkpoint") && !csaid.contains("epoch"), csaid)
        for (name, sum) in kept { XCTAssertEqual(checksum(name), sum, "\(name) is untouched") }
        // An earlier export is replaced, and so is a damaged .safetensors (the way back for a truncated file).
        XCTAssertEqual(ddpm("export --checkpoint ck.safetensors --out w.safetensors").0, 0)
        XCTAssertEqual(ddpm("export --checkpoint ck.safetensors --out w.safetensors").0, 0)
        Shell.sh("printf junk > \(dir)/broken.safetensors")
        XCTAssertEqual(ddpm("export --checkpoint ck.safetensors --out broken.safetensors").0, 0)
    }

    /// Every input a command reads is protected from every output, and two
    /// outputs from each other, through any spelling, before any work: the
    /// guiding classifier from `--record`, a data folder's digits from `train
    /// --out` and `--cast`, a fresh run's `--export` from its `--out`.
    func testNoOutputOverwritesAnyInput() throws {
        Shell.sh("mkdir -p \(dir)/d && cp \(Shell.assets)/mnist/t10k-images-idx3-ubyte.gz \(dir)/d/train-images-idx3-ubyte.gz"
                 + " && cp \(Shell.assets)/mnist/t10k-labels-idx1-ubyte.gz \(dir)/d/train-labels-idx1-ubyte.gz"
                 + " && cp \(Shell.assets)/models/mnist-noisy-classifier.safetensors \(dir)/nc.safetensors"
                 + " && cp \(Shell.assets)/models/mnist-classifier.safetensors \(dir)/cls.safetensors")
        let files = ["d/train-images-idx3-ubyte.gz", "d/train-labels-idx1-ubyte.gz", "nc.safetensors", "cls.safetensors"]
        let before = files.map(checksum)
        let s = "--n 2 --sampler ddim --steps 3"
        for (args, says) in [
            ("sample \(s) --guide 3 --guide-classifier nc.safetensors --record ./nc.safetensors --out s.png", "(the --guide-classifier file)"),
            ("sample \(s) --record ./s.png --out s.png", "are the same file"),
            ("sample \(s) --trajectory --out s.png --record s-trajectory.png", "are the same file"),
            ("train --data d --limit 32 --batch 4 --steps 1 --out d/train-images-idx3-ubyte.gz", "(the --data digits)"),
            ("train --limit 32 --batch 4 --steps 1 --out keep.png", "--out must be a file name ending in .safetensors (a checkpoint), got 'keep.png'"),
            ("train --data d --limit 32 --batch 4 --steps 1 --out new.safetensors --export d/train-labels-idx1-ubyte.gz", "(the --data digits)"),
            ("train --limit 32 --batch 4 --steps 1 --out fresh.safetensors --export ./fresh.safetensors", "are the same file"),
            ("--classifier cls.safetensors --cast cls.safetensors", "(the --classifier file)"),
            ("--data d --cast d/train-images-idx3-ubyte.gz", "(the --data digits)"),
        ] {
            let (code, out) = ddpm(args)
            XCTAssertEqual(code, 1, "\(args): \(out)")
            XCTAssertTrue(out.contains(says), "\(args): \(out)")
            XCTAssertEqual(out.components(separatedBy: "Error:").count, 2, "one error line: \(out)")
        }
        XCTAssertEqual(files.map(checksum), before, "every input is untouched")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/fresh.safetensors"), "refused before training")
    }

    /// Temporary, probe and lock files are created new, never through a
    /// symlink planted at their names; a dangling symlink or a FIFO as the
    /// output is refused at once (a FIFO would block the write forever).
    func testPlantedSymlinksAndFifosAreNotFollowed() throws {
        try "victim\n".write(toFile: dir + "/victim.txt", atomically: true, encoding: .utf8)
        // The names hold the pid: the shell plants links for its own, then `exec`s the binary, which keeps it.
        let (code, out) = Shell.sh("cd \(dir) && exec sh -c 'ln -s victim.txt .s.png.tmp-$$ && ln -s victim.txt .s.png.probe-$$"
                                   + " && DDPM_ASSETS=\(Shell.assets) exec \(Shell.binary) sample --n 1 --sampler ddim --steps 2 --out s.png'")
        XCTAssertEqual(code, 0, out)
        XCTAssertEqual(Shell.read(dir + "/victim.txt"), "victim\n", "the symlinks' target is untouched")
        var st = stat()
        XCTAssertEqual(lstat(dir + "/s.png", &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFREG, "s.png is the PNG itself, not a link")
        Shell.sh("cd \(dir) && ln -s victim.txt .lk.safetensors.lock && ln -s nowhere.png dangling.png && mkfifo fifo.png")
        let (lcode, lout) = train("lk.safetensors", steps: 1)
        XCTAssertEqual(lcode, 1, lout)
        XCTAssertTrue(lout.contains("is a symbolic link; remove it"), lout)
        XCTAssertEqual(Shell.read(dir + "/victim.txt"), "victim\n")
        let (dcode, dout) = ddpm("sample --n 1 --sampler ddim --steps 2 --out dangling.png")
        XCTAssertEqual(dcode, 1, dout)
        XCTAssertTrue(dout.contains("symbolic link to a file that does not exist"), dout)
        // A FIFO nobody reads: an error at once, not a hang; one that is read gets the file.
        let (fcode, fout) = Shell.sh("cd \(dir) && DDPM_ASSETS=\(Shell.assets) timeout 30 \(Shell.binary) sample --n 1 --sampler ddim --steps 2 --out fifo.png")
        XCTAssertEqual(fcode, 1, fout)
        XCTAssertTrue(fout.contains("it is a pipe that no process reads"), fout)
        // A socket (open(2) fails with ENXIO as for the FIFO) is named as a socket.
        let sock = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(sock, 0)
        defer { close(sock) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let sockPath = dir + "/sock.png"
        XCTAssertLessThan(sockPath.utf8.count, MemoryLayout.size(ofValue: addr.sun_path))
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in _ = sockPath.withCString { strcpy(raw.baseAddress!.assumingMemoryBound(to: CChar.self), $0) } }
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        XCTAssertEqual(bound, 0)
        let (scode, sout) = ddpm("sample --n 1 --sampler ddim --steps 2 --out sock.png")
        XCTAssertEqual(scode, 1, sout)
        XCTAssertTrue(sout.contains("sock.png: it is a socket, which a file cannot be written to"), sout)
        let (rcode, rout) = Shell.sh("cd \(dir) && (cat fifo.png > read.png &) && sleep 0.2 && DDPM_ASSETS=\(Shell.assets) timeout 30 \(Shell.binary) sample --n 1 --sampler ddim --steps 2 --out fifo.png && sleep 0.2")
        XCTAssertEqual(rcode, 0, rout)
        XCTAssertEqual((try? Data(contentsOf: URL(fileURLWithPath: dir + "/read.png")))?.prefix(4), Data([0x89, 0x50, 0x4E, 0x47]), "the reader got the PNG")
        // Through a symlink and "..": the kernel's folder, not the text's. With deep -> sub/inner,
        // deep/../x.png is sub/x.png, which --out names too.
        Shell.sh("cd \(dir) && mkdir -p sub/inner && ln -s sub/inner deep")
        let (ccode, cout) = ddpm("sample --n 1 --sampler ddim --steps 2 --out sub/x.png --record deep/../x.png")
        XCTAssertEqual(ccode, 1, cout)
        XCTAssertTrue(cout.contains("are the same file"), cout)
    }

    /// A refused second writer leaves the first one's lock in place: a third is refused too.
    func testRefusedWriterKeepsTheLock() throws {
        let first = Shell.sh("cd \(dir) && (flock .held.safetensors.lock sleep 20 > /dev/null 2>&1 & echo $!)").1
        defer { Shell.sh("kill \(first.trimmingCharacters(in: .whitespacesAndNewlines)) 2>/dev/null") }
        XCTAssertTrue(Shell.poll(timeout: 5) { FileManager.default.fileExists(atPath: self.dir + "/.held.safetensors.lock") })
        usleep(200_000)
        for attempt in 1...2 {
            let (code, out) = train("./held.safetensors", steps: 1)
            XCTAssertEqual(code, 1, "attempt \(attempt): \(out)")
            XCTAssertTrue(out.contains("is being written by another process"), "attempt \(attempt): \(out)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/held.safetensors"), "no writer got past the lock")
    }

    /// A second `ddpm train` writing the same checkpoint is refused, naming the first one's pid.
    func testSecondWriterIsRefused() throws {
        let first = Shell.sh("cd \(dir) && (DDPM_ASSETS=\(Shell.assets) \(Shell.binary) train --steps 100000 --batch 4 --limit 32 --checkpoint-every 100000 --out two.safetensors > first.log 2>&1 & echo $!)").1
        let pid = first.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { Shell.sh("kill -TERM \(pid) 2>/dev/null; sleep 1") }
        XCTAssertTrue(Shell.poll(timeout: 20) { Shell.read(self.dir + "/first.log").contains("training tiny") })
        let (code, out) = train("two.safetensors")
        XCTAssertEqual(code, 1, out)
        XCTAssertTrue(out.contains("is being written by another process (pid \(pid))"), out)
        // Stopped (SIGTERM), the first saves and its lock goes with it: a new writer is no longer refused for
        // the lock, only because the checkpoint is there now (--resume would continue it).
        Shell.sh("kill -TERM \(pid)")
        XCTAssertTrue(Shell.poll(timeout: 20) { Shell.read(self.dir + "/first.log").contains("checkpoint saved") })
        XCTAssertTrue(Shell.poll(timeout: 10) { Shell.sh("kill -0 \(pid) 2>/dev/null").0 != 0 })
        // (Now its checkpoint is there: a new run is refused for that, not for a lock.)
        let (again, text) = ddpm("train --steps 1 --batch 4 --limit 32 --out two.safetensors")
        XCTAssertEqual(again, 1, text)
        XCTAssertTrue(text.contains("two.safetensors exists (an earlier run's checkpoint?): --resume continues it"), text)
        XCTAssertFalse(text.contains("another process"), text)
    }

    /// A closed stdout (`| head -1`) and a hangup stop training the way Ctrl-C
    /// does: the checkpoint is saved; the process is not killed mid-write.
    func testClosedPipeAndHangupSave() throws {
        let run = "DDPM_ASSETS=\(Shell.assets) \(Shell.binary) train --steps 100000 --batch 4 --limit 32 --checkpoint-every 100000"
        try "cd \(dir) && \(run) --out p.safetensors 2> p.err | head -1; echo \"status ${PIPESTATUS[0]}\"\n"
            .write(toFile: dir + "/pipe.sh", atomically: true, encoding: .utf8)
        let (code, out) = Shell.sh("bash \(dir)/pipe.sh")
        XCTAssertEqual(code, 0, out)
        XCTAssertTrue(out.contains("status 1"), "exit status (1: stdout failed), not 141 (killed by SIGPIPE): \(out)")
        XCTAssertTrue(Shell.read(dir + "/p.err").contains("standard output closed at step"), Shell.read(dir + "/p.err"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/p.safetensors"))
        // SIGHUP (a closed ssh session) while training: saved, exit 0.
        try "cd \(dir)\n\(run) --out h.safetensors > h.log 2>&1 &\necho $! > h.pid\nwait $!\necho $? > h.code\n"
            .write(toFile: dir + "/hup.sh", atomically: true, encoding: .utf8)
        Shell.sh("bash \(dir)/hup.sh > /dev/null 2>&1 &")
        XCTAssertTrue(Shell.poll(timeout: 20) { Shell.read(self.dir + "/h.log").contains("step 1/") }, Shell.read(dir + "/h.log"))
        defer { Shell.sh("kill -KILL $(cat \(dir)/h.pid) 2>/dev/null") }
        Shell.sh("kill -HUP $(cat \(dir)/h.pid)")
        XCTAssertTrue(Shell.poll(timeout: 20) { Shell.read(self.dir + "/h.code") == "0\n" }, Shell.read(dir + "/h.log") + Shell.read(dir + "/h.code"))
        XCTAssertTrue(Shell.read(dir + "/h.log").contains("stopped by signal at step"))
    }

    /// Output that cannot be written is an error, not a silent success.
    func testFullStdoutIsAnError() {
        let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) schedule --csv > /dev/full")
        XCTAssertEqual(code, 1, out)
        XCTAssertTrue(out.contains("Error: cannot write standard output: No space left on device"), out)
        // Help is output too (argument-parser would exit 0 without looking).
        for args in ["--help", "sample --help"] {
            let (code, out) = Shell.sh("DDPM_ASSETS=\(Shell.assets) \(Shell.binary) \(args) > /dev/full")
            XCTAssertEqual(code, 1, "\(args): \(out)")
            XCTAssertTrue(out.contains("Error: cannot write standard output"), "\(args): \(out)")
        }
        XCTAssertTrue(Shell.sh("\(Shell.binary) --help").1.contains("USAGE: ddpm"), "help still reaches a good stdout")
        // A reader that has gone (`| head -1`) ends it as SIGPIPE ends other tools: 141, nothing said.
        let (piped, said) = Shell.sh("bash -c '\(Shell.binary) schedule --csv 2>\(dir)/pipe.err | head -1; exit ${PIPESTATUS[0]}'")
        XCTAssertEqual(piped, 141, said)
        XCTAssertEqual(Shell.read(dir + "/pipe.err"), "", "no 'Broken pipe' line")
    }

    /// A file name printed on standard output ("wrote ... to NAME") has its control characters
    /// escaped: a name given as "\e[31m..." must not drive the terminal.
    func testNamesOnStandardOutputAreEscaped() throws {
        let (code, out) = Shell.sh("cd \(dir) && DDPM_ASSETS=\(Shell.assets) \(Shell.binary) sample --n 1 --sampler ddim --steps 2 "
                                   + "--out \"$(printf 'red\\033[31m.pgm')\"")
        XCTAssertEqual(code, 0, out)
        XCTAssertTrue(out.contains("to red\\u001b[31m.pgm"), out)
        XCTAssertFalse(out.contains("\u{1b}"), out)
        // train's closing line names the checkpoint and the exported weights.
        let (tcode, tout) = Shell.sh("cd \(dir) && DDPM_ASSETS=\(Shell.assets) \(Shell.binary) train --steps 2 --limit 16 --batch 8 "
                                     + "--out \"$(printf 't\\033[2J\\r.safetensors')\" --export \"$(printf 'e\\033[2J.safetensors')\"")
        XCTAssertEqual(tcode, 0, tout)
        XCTAssertTrue(tout.contains("checkpoint t\\u001b[2J\\u000d.safetensors; EMA weights e\\u001b[2J.safetensors"), tout)
        XCTAssertFalse(tout.contains("\u{1b}") || tout.contains("\r"), tout)
    }

    /// Replacing --out through a symlink replaces the file it points to (the
    /// link stays) and keeps that file's mode.
    func testReplacedFilesKeepLinksAndModes() throws {
        XCTAssertEqual(train("ck.safetensors").0, 0)
        Shell.sh("chmod 600 \(dir)/ck.safetensors && ln -s ck.safetensors \(dir)/link.safetensors")
        let (code, out) = train("link.safetensors", steps: 4, extra: "--resume")
        XCTAssertEqual(code, 0, out)
        let attrs = try FileManager.default.attributesOfItem(atPath: dir + "/link.safetensors")
        XCTAssertEqual(attrs[.type] as? FileAttributeType, .typeSymbolicLink, "the link is still a link")
        XCTAssertEqual(Shell.sh("stat -c %a \(dir)/ck.safetensors").1.trimmingCharacters(in: .whitespacesAndNewlines), "600")
        XCTAssertTrue(Shell.sh("cd \(dir) && DDPM_ASSETS=\(Shell.assets) \(Shell.binary) export --checkpoint ck.safetensors --out w.safetensors").1.contains("of step 4"))
    }
    /// A file the user cannot write is not replaced, although the folder would
    /// allow the rename (root can write anything, so this runs as `nobody`).
    func testUnwritableFileIsRefused() throws {
        XCTAssertEqual(train("ck.safetensors").0, 0)
        XCTAssertEqual(ddpm("export --checkpoint ck.safetensors --out w.safetensors").0, 0)
        Shell.sh("chmod 777 \(dir) && chmod 644 \(dir)/ck.safetensors && chmod 444 \(dir)/w.safetensors")
        let before = checksum("w.safetensors")
        var asUser = ""
        if getuid() == 0 {
            asUser = "setpriv --reuid=65534 --regid=65534 --clear-groups "
            guard Shell.sh("\(asUser) test -x \(Shell.binary)").0 == 0 else {
                throw XCTSkip("user nobody cannot run \(Shell.binary) (the clone is in a private folder)")
            }
        }
        let (code, out) = Shell.sh("cd \(dir) && \(asUser)\(Shell.binary) export --checkpoint ck.safetensors --out w.safetensors")
        XCTAssertEqual(code, 1, out)
        XCTAssertTrue(out.contains("w.safetensors: Permission denied"), out)
        XCTAssertEqual(checksum("w.safetensors"), before, "the file is untouched")
        XCTAssertFalse(Shell.sh("ls -a \(dir)").1.contains(".tmp"), "no temporary left behind")
    }
}
