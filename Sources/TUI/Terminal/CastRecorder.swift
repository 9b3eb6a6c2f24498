// CastRecorder.swift: `--cast FILE`: the session's terminal output as an asciicast v2 file.
import ArgumentParser
import Engine
import Foundation
import Glibc

/// Records a terminal session as asciicast v2 (what `asciinema rec` writes):
/// the explorer runs as a child on a pseudo-terminal of the same size; this
/// process copies keys to it and its output to the real terminal, writing
/// every piece of output as a `[time, "o", text]` line and every resize as
/// `[time, "r", "COLSxROWS"]`. So the file holds exactly the bytes the
/// terminal drew, colours included, and `asciinema play` replays them.
enum CastRecorder {
    /// Set by SIGWINCH; the relay loop passes the new size on.
    nonisolated(unsafe) static var resized: Int32 = 0

    /// The most a cast file may take: about 40 minutes of an explorer playing trajectories at
    /// 120x40 (21 MB in its first 25 s); a paused one writes next to nothing.
    static let limitBytes = TestHooks.castLimitBytes ?? 2 << 30

    /// Whether the file at `path` begins with an asciicast header (a JSON object with a "version" on its first line:
    /// 2 is what --cast writes, 3 asciinema's newer format).
    static func isCast(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: 4096)
        let n = read(fd, &head, head.count)
        guard n > 0, let end = head[0..<n].firstIndex(of: UInt8(ascii: "\n")) else { return false }
        let header = (try? JSONSerialization.jsonObject(with: Data(head[0..<end]))) as? [String: Any]
        return header?["version"] is Int
    }

    /// Runs this program again with `arguments` (without --cast) on a
    /// pseudo-terminal, recording to `path`; returns the child's exit status.
    static func run(path: String, arguments: [String]) throws -> Int32 {
        guard isatty(STDIN_FILENO) != 0, isatty(STDOUT_FILENO) != 0 else {
            throw CLIError("--cast records a terminal session: stdin/stdout is not a TTY")
        }
        try AtomicFile.checkWritable(path)
        // Non-blocking open: a FIFO nobody reads fails with ENXIO instead of hanging before the screen is drawn.
        let fd = open(path, O_WRONLY | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let e = errno
            throw CLIError("--cast: cannot write \(path): " + (e == ENXIO ? "it is a pipe that no process reads" : String(cString: strerror(e))))
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        let out = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        defer { try? out.close() }
        // A device or a full disk: one line with the system's reason, not Foundation's error dump.
        func cannotWrite(_ e: Error) -> CLIError {
            let code = ((e as NSError).userInfo[NSUnderlyingErrorKey] as? NSError)?.code
            return CLIError("--cast: cannot write \(path)" + (code.map { ": " + String(cString: strerror(Int32($0))) } ?? ""))
        }
        // A file is started afresh if it is empty or a cast already; a device or pipe is written as it is.
        // (Anything else, a model or a data set named by mistake, is refused before a byte is lost.)
        var st = stat()
        if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG {
            if st.st_size > 0 && !isCast(path) {
                throw CLIError("--cast: \(InputFile.shown(path)) exists and is not an asciicast; give a new name (an earlier cast is replaced, nothing else)")
            }
            if ftruncate(fd, 0) != 0 { throw CLIError("--cast: cannot write \(path): " + String(cString: strerror(errno))) }
        }

        var ws = winsize()
        _ = ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &ws)
        if ws.ws_col == 0 { ws.ws_col = 80; ws.ws_row = 24 }
        let env = ProcessInfo.processInfo.environment
        let header: [String: Any] = [
            "version": 2, "width": Int(ws.ws_col), "height": Int(ws.ws_row), "timestamp": Int(Date().timeIntervalSince1970),
            "title": (["ddpm"] + arguments).joined(separator: " "),
            "env": ["TERM": env["TERM"] ?? "", "SHELL": env["SHELL"] ?? ""],
        ]
        let headerLine = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        do { try out.write(contentsOf: headerLine + Data("\n".utf8)) } catch { throw cannotWrite(error) }

        // The child's argv, made before fork (after it, only exec).
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let argv = ([exe] + arguments).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }

        var master: Int32 = -1
        let pid = forkpty(&master, nil, nil, &ws)
        if pid < 0 { throw CLIError("--cast: cannot open a pseudo-terminal (\(String(cString: strerror(errno))))") }
        if pid == 0 {
            execv(exe, argv)
            _exit(127)
        }

        // The real terminal in raw mode while the child owns the screen; restored after.
        var saved = termios()
        tcgetattr(STDIN_FILENO, &saved)
        var raw = saved
        cfmakeraw(&raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &raw)
        defer { tcsetattr(STDIN_FILENO, TCSANOW, &saved) }
        signal(SIGWINCH) { _ in CastRecorder.resized = 1 }
        // Ctrl-C and friends reach the child as keys (raw mode); a signal sent to this process is passed on.
        for s in [SIGTERM, SIGHUP, SIGINT, SIGQUIT] { signal(s) { sig in uiStop = sig } }

        let start = Benchmark.now()
        var pending = [UInt8]()   // an incomplete UTF-8 sequence held for the next read
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        var fds = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0), pollfd(fd: master, events: Int16(POLLIN), revents: 0)]
        // A cast that cannot be written (disk full) stops recording; the session goes on and says so at the end.
        var castError: Error?
        // So does one that reaches `limitBytes` (a playing explorer writes nearly 1 MB a second), at a
        // whole event: the file stays a cast that plays.
        var written = headerLine.count + 1, full: Double?
        func event(_ code: String, _ text: String) {
            guard castError == nil, full == nil else { return }
            let line = Data(("[" + String(format: "%.6f", Benchmark.now() - start) + ", \"" + code + "\", " + SafeTensors.jsonString(text) + "]\n").utf8)
            guard written + line.count <= limitBytes else { full = Benchmark.now() - start; return }
            do { try out.write(contentsOf: line); written += line.count } catch {
                castError = error
                // Cut back to the last whole event (a full disk or a size limit took part of this one):
                // the file stays a cast that plays, as at `limitBytes`.
                _ = ftruncate(fd, off_t(written))
            }
        }
        loop: while true {
            if uiStop != 0 { kill(pid, uiStop); uiStop = 0 }
            if resized != 0 {
                resized = 0
                _ = ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &ws)
                _ = ioctl(master, UInt(TIOCSWINSZ), &ws)
                event("r", "\(ws.ws_col)x\(ws.ws_row)")
            }
            fds[0].revents = 0; fds[1].revents = 0
            let r = poll(&fds, 2, 100)
            if r < 0 { if errno == EINTR { continue }; break }
            if fds[0].revents & Int16(POLLIN) != 0 {
                let n = read(STDIN_FILENO, &buf, buf.count)
                if n > 0 { writeAll(master, buf, n) } else { fds[0].fd = -1 }   // keys closed: stop polling them
            }
            if fds[1].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                let n = read(master, &buf, buf.count)
                if n <= 0 { break loop }   // EIO: the child closed the terminal
                writeAll(STDOUT_FILENO, buf, n)
                pending += buf[0..<n]
                let cut = completeUTF8Prefix(pending)
                if cut > 0 {
                    event("o", String(decoding: pending[0..<cut], as: UTF8.self))
                    pending.removeFirst(cut)
                }
            }
        }
        if !pending.isEmpty { event("o", String(decoding: pending, as: UTF8.self)) }
        // The shell's modes back before anything is said (in raw mode the next line began mid-row).
        tcsetattr(STDIN_FILENO, TCSANOW, &saved)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        // Exit status as a shell gives it: the code, or 128 + the signal.
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        // One line with the system's reason (it was Foundation's error dump) and a failing exit: the
        // file is cut where writing failed, which a script must not take for a whole recording.
        if full == nil && castError == nil {
            fputs("the session's cast: \(InputFile.shown(path)) (asciinema play replays it)\n", stderr)
        }
        if let full {
            let minutes = Int(full / 60)
            fputs("note: --cast stopped recording at \(limitBytes >= 1 << 30 ? "\(limitBytes >> 30) GiB" : "\(limitBytes >> 10) KiB"), \(minutes < 1 ? "\(Int(full)) s" : "\(minutes) min") into the session (the file plays up to there); the session went on\n", stderr)
        }
        if let castError {
            tcsetattr(STDIN_FILENO, TCSANOW, &saved)   // (raw mode would print it without a carriage return)
            fputs("Error: \(cannotWrite(castError).description); the recording stops where writing failed, the session went on\n", stderr)
            return code == 0 ? 1 : code
        }
        return code
    }

    /// This program's arguments (after its name) without `--cast FILE` / `--cast=FILE`.
    static func argumentsWithoutCast() -> [String] {
        var out: [String] = [], skip = false
        for a in CommandLine.arguments.dropFirst() {
            if skip { skip = false; continue }
            if a == "--cast" { skip = true; continue }
            if a.hasPrefix("--cast=") { continue }
            out.append(a)
        }
        return out
    }

    /// Records the session when `cast` is given (returning true once it has
    /// ended, with the child's failure thrown as its exit code).
    static func recordIfAsked(_ cast: String?, inputs: [(flag: String, path: String)]) throws -> Bool {
        guard let cast else { return false }
        try InputFile.refuseClashes(outputs: [("--cast", cast)], inputs: inputs)
        let code = try CastRecorder.run(path: cast, arguments: argumentsWithoutCast())
        if code != 0 { throw ExitCode(code) }
        return true
    }

    static func writeAll(_ fd: Int32, _ buf: [UInt8], _ n: Int) {
        var done = 0
        while done < n {
            let w = buf.withUnsafeBytes { write(fd, $0.baseAddress! + done, n - done) }
            if w < 0 { if errno == EINTR { continue }; return }
            done += w
        }
    }

    /// The length of the longest prefix of `b` that does not end inside a UTF-8
    /// sequence (invalid bytes count as complete: they decode to U+FFFD).
    static func completeUTF8Prefix(_ b: [UInt8]) -> Int {
        var i = b.count
        // Look back at most 3 bytes for the lead byte of an unfinished sequence.
        var back = 0
        while back < 3 && i - back - 1 >= 0 && b[i - back - 1] & 0xC0 == 0x80 { back += 1 }
        let lead = i - back - 1
        guard lead >= 0 else { return i }
        let c = b[lead]
        let need = c >= 0xF0 ? 4 : (c >= 0xE0 ? 3 : (c >= 0xC0 ? 2 : 1))
        if need > back + 1 { i = lead }
        return i
    }
}
