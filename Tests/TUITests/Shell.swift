import Foundation
import XCTest

/// Running the real `ddpm` binary from tests.
enum Shell {
    static var root: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }
    static var binary: String { URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ddpm").path }
    static var assets: String { root.path + "/assets" }

    /// Runs a shell command; output goes through a file, not a pipe (a tmux
    /// server started by the command would hold a pipe open forever).
    @discardableResult
    static func sh(_ cmd: String) -> (Int32, String) {
        // The test runner sets NO_COLOR, which a tmux server started from here would hand to every
        // session it runs: the explorer honours it (no colours), so the colour tests would see none.
        unsetenv("NO_COLOR")
        let out = NSTemporaryDirectory() + "e2e-sh-\(getpid())-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        // system(3), not Foundation.Process: Process waits on a descriptor that a
        // tmux server forked by the command inherits, and never returns.
        let status = system("(\(cmd)) > \(out) 2>&1 < /dev/null")
        let code = Int32((status >> 8) & 0xff)
        return (code, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }

    /// Polls until `pred` holds (up to `timeout` seconds); the last value for messages.
    /// Starts `cmd` in the background: its pid, exit code and output go to
    /// `prefix`.pid, .code and .log.
    static func background(_ cmd: String, at prefix: String) -> (pid: String, code: String, log: String) {
        sh("(sh -c 'echo $$ > \(prefix).pid; exec \(cmd)' > \(prefix).log 2>&1; echo $? > \(prefix).code) &")
        return ("\(prefix).pid", "\(prefix).code", "\(prefix).log")
    }

    static func poll(timeout: Double, _ pred: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if pred() { return true }
            usleep(100_000)
        }
        return pred()
    }

    /// A new empty folder under the temporary directory (the caller removes it).
    static func temporaryDirectory(_ prefix: String) -> String {
        let dir = NSTemporaryDirectory() + "\(prefix)-\(getpid())-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
}
