import XCTest
import Foundation

/// Runs the real `ddpm` binary in tmux, sends keys and reads the pane.
/// Needs tmux (CI installs it) and the bundled model in assets/.
final class EndToEndTests: XCTestCase {
    static var root: URL { Shell.root }
    static var binary: String { Shell.binary }

    @discardableResult
    func sh(_ cmd: String) -> (Int32, String) { Shell.sh(cmd) }

    var session = ""
    func pane() -> String { sh("tmux capture-pane -p -t \(session)").1 }

    /// Polls the pane until `pred` holds (up to `timeout` seconds).
    func waitFor(_ what: String, timeout: Double = 30, _ pred: (String) -> Bool, file: StaticString = #filePath, line: UInt = #line) {
        let end = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < end {
            last = pane()
            if pred(last) { return }
            usleep(200_000)
        }
        XCTFail("timed out waiting for \(what); pane:\n\(last)", file: file, line: line)
    }

    func keys(_ k: String) { sh("tmux send-keys -t \(session) \(k)") }

    func runSession(env: String, unicode: Bool) throws {
        guard sh("command -v tmux").0 == 0 else { throw XCTSkip("tmux is not installed") }
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.binary), "missing \(Self.binary)")
        session = "ddpm-e2e-\(getpid())-\(unicode ? "u" : "a")"
        let exitFile = NSTemporaryDirectory() + "\(session).exit"
        try? FileManager.default.removeItem(atPath: exitFile)
        let exportDir = NSTemporaryDirectory() + session
        try FileManager.default.createDirectory(atPath: exportDir, withIntermediateDirectories: true)
        let cmd = "env \(env) DDPM_ASSETS=\(Self.root.path)/assets DDPM_EXPORT_DIR=\(exportDir) \(Self.binary); echo $? > \(exitFile); sleep 60"
        sh("tmux kill-session -t \(session) 2>/dev/null")
        XCTAssertEqual(sh("tmux new-session -d -s \(session) -x 120 -y 40 '\(cmd)' >/dev/null 2>&1").0, 0)
        defer { sh("tmux kill-session -t \(session) 2>/dev/null") }
        let ink: (String) -> Bool = unicode ? { $0.contains("▀") } : { $0.contains("@") || $0.contains("#") || $0.contains("%") }
        waitFor("digits") { $0.contains("x_t") && ink($0) && $0.contains("running") }
        keys("Space")
        waitFor("paused") { $0.contains("paused") }
        keys("T")
        waitFor("temperature 1.1") { $0.contains("temp 1.1*") }
        keys("m")
        waitFor("next renderer") { unicode ? $0.contains("braille") : $0.contains("ascii") }
        keys("'?'")
        waitFor("help") { $0.contains("Keys") && $0.contains("renderer half-block / braille / ASCII") }
        keys("x")
        waitFor("help closed") { !$0.contains("any key closes") }
        keys("p")
        waitFor("export message") { $0.contains("exported") }
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: exportDir).contains { $0.hasSuffix("-x0.png") })
        keys("3")
        waitFor("forward view") { $0.contains("cosine") && $0.contains("sigmoid") }
        keys("1")
        sh("tmux resize-window -t \(session) -x 80 -y 24")
        waitFor("80x24 layout") { $0.contains("DDPM Explorer") && $0.split(separator: "\n").allSatisfy { $0.count <= 80 } }
        sh("tmux resize-window -t \(session) -x 60 -y 20")
        waitFor("too-small message") { $0.contains("Terminal too small") }
        sh("tmux resize-window -t \(session) -x 20 -y 5")
        waitFor("too-small message at 20x5") { $0.contains("Terminal") && $0.split(separator: "\n").allSatisfy { $0.count <= 20 } }
        sh("tmux resize-window -t \(session) -x 100 -y 30")
        waitFor("relayout") { $0.contains("DDPM Explorer") }
        keys("q")
        let end = Date().addingTimeInterval(15)
        while !FileManager.default.fileExists(atPath: exitFile) && Date() < end { usleep(100_000) }
        let code = (try? String(contentsOfFile: exitFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(code, "0", "ddpm exit status")
        try? FileManager.default.removeItem(atPath: exportDir)
    }

    func testExplorerInTmux256Colors() throws {
        try runSession(env: "TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8", unicode: true)
    }

    func testExplorerInTmuxASCII() throws {
        try runSession(env: "TERM=xterm-256color LANG=C LC_ALL=C", unicode: false)
    }

    /// SIGTERM, SIGINT, SIGHUP and an internal error each restore the terminal:
    /// the shell in the pane works again, with echo and icanon.
    func testSignalsAndInternalErrorRestoreTerminal() throws {
        guard sh("command -v tmux").0 == 0 else { throw XCTSkip("tmux is not installed") }
        session = "ddpm-e2e-sig-\(getpid())"
        sh("tmux kill-session -t \(session) 2>/dev/null")
        sh("tmux new-session -d -s \(session) -x 120 -y 40 'sh' >/dev/null 2>&1")
        defer { sh("tmux kill-session -t \(session) 2>/dev/null") }
        for fault in ["TERM", "INT", "HUP", "internal error"] {
            keys("'clear' Enter")
            let simulated = fault == "internal error"
            let env = simulated ? "DDPM_TEST_INTERNAL_ERROR=20 " : ""
            keys("'\(env)TERM=xterm-256color DDPM_ASSETS=\(Self.root.path)/assets \(Self.binary); echo EXIT=$?' Enter")
            if simulated {
                waitFor("error message after the internal error") { $0.contains("internal error (simulated") && $0.contains("EXIT=1") }
            } else {
                waitFor("explorer") { $0.contains("DDPM Explorer") && $0.contains("x_t") }
                sh("pkill -\(fault) -f '^\(Self.binary)$'")
                waitFor("exit after SIG\(fault)") { $0.contains("EXIT=") }
            }
            keys("\"clear; stty -a | grep -o -w -E -- '-?(icanon|echo)' | tr '\\\\n' ' '; echo STTY-DONE\" Enter")
            waitFor("sane tty after \(fault)") {
                $0.contains("STTY-DONE") && $0.contains("icanon echo") && !$0.contains("-icanon") && !$0.contains("-echo")
            }
        }
    }

    /// TERM=dumb and a TERM with no terminfo entry end in one clear line and exit 1.
    func testDumbAndUnknownTerminals() throws {
        guard sh("command -v tmux").0 == 0 else { throw XCTSkip("tmux is not installed") }
        for (term, needle) in [("dumb", "TERM is 'dumb'"), ("no-such-terminal-9", "unknown terminal type TERM=no-such-terminal-9")] {
            session = "ddpm-e2e-term-\(getpid())"
            let out = NSTemporaryDirectory() + "\(session).out"
            try? FileManager.default.removeItem(atPath: out)
            sh("tmux kill-session -t \(session) 2>/dev/null")
            let cmd = "env TERM=\(term) DDPM_ASSETS=\(Self.root.path)/assets \(Self.binary) 2> \(out); echo EXIT=$? >> \(out); sleep 30"
            sh("tmux new-session -d -s \(session) -x 100 -y 30 '\(cmd)' >/dev/null 2>&1")
            defer { sh("tmux kill-session -t \(session) 2>/dev/null") }
            XCTAssertTrue(Shell.poll(timeout: 20) { Shell.read(out).contains("EXIT=") }, "no exit with TERM=\(term)")
            let text = Shell.read(out)
            XCTAssertTrue(text.contains(needle) && text.contains("EXIT=1"), text)
            XCTAssertEqual(text.split(separator: "\n").count, 2, "one line of error, then the exit status: \(text)")
        }
    }

    func testNotATerminalSuggestsSample() {
        let (code, out) = sh("\(Self.binary) < /dev/null | cat")
        _ = code
        XCTAssertTrue(out.contains("ddpm sample"), out)
    }
}
