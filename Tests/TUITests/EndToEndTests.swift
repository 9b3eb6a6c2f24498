import XCTest
import Engine
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
        // Also on stderr: XCTest's own report of a failure can be lost when stdout is not a terminal.
        fputs("\(file):\(line): timed out waiting for \(what); pane:\n\(last)\n", stderr)
        XCTFail("timed out waiting for \(what); pane:\n\(last)", file: file, line: line)
    }

    func keys(_ k: String) { sh("tmux send-keys -t \(session) \(k)") }

    /// Runs `cmd` in a new tmux session `name`-pid of `width` x `height` (it becomes `session`;
    /// killed when the test ends); skips the test without tmux.
    func openSession(_ name: String, _ cmd: String, width: Int = 120, height: Int = 40) throws {
        guard sh("command -v tmux").0 == 0 else { throw XCTSkip("tmux is not installed") }
        session = "ddpm-e2e-\(name)-\(getpid())"
        sh("tmux kill-session -t \(session) 2>/dev/null")
        XCTAssertEqual(sh("tmux new-session -d -s \(session) -x \(width) -y \(height) '\(cmd)' >/dev/null 2>&1").0, 0)
        let opened = session
        addTeardownBlock { Shell.sh("tmux kill-session -t \(opened) 2>/dev/null") }
    }

    /// Whether a capture shows digits in the grid area (rows 2 to H-4, left
    /// of the plots' border `│`/`|`; not the plots or the status lines): at
    /// least 60 cells of ink. UTF-8: half-block cells or non-blank braille
    /// cells; ASCII: the dense end of the ramp (= + * # % @), which the
    /// diagnostics panel's "15.2%" cannot supply in that area.
    static func showsDigits(_ pane: String, unicode: Bool) -> Bool {
        let rows = pane.split(separator: "\n", omittingEmptySubsequences: false)
        guard rows.count > 6 else { return false }
        func isInk(_ c: Character) -> Bool {
            if !unicode { return "=+*#%@".contains(c) }
            guard let u = c.unicodeScalars.first?.value else { return false }
            return u == 0x2580 || u == 0x2584 || u == 0x2588 || (0x2801...0x28FF).contains(u)
        }
        var count = 0
        for row in rows[2..<(rows.count - 4)] {
            count += row.prefix { $0 != "│" && $0 != "|" }.filter(isInk).count
        }
        return count >= 60
    }

    /// The status line (second line from the bottom).
    static func status(_ pane: String) -> String {
        let rows = pane.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let filled = rows.lastIndex { !$0.trimmingCharacters(in: .whitespaces).isEmpty } ?? 0
        return filled >= 1 ? rows[filled - 1] : ""
    }

    /// The checks themselves fail on a blank screen, on a screen with only the
    /// diagnostics, and on a status line without the renderer.
    func testScreenChecksCanFail() {
        let blank = String(repeating: String(repeating: " ", count: 120) + "\n", count: 40)
        XCTAssertFalse(Self.showsDigits(blank, unicode: true))
        XCTAssertFalse(Self.showsDigits(blank, unicode: false))
        var lines = Array(repeating: String(repeating: " ", count: 120), count: 40)
        lines[30] = String(repeating: " ", count: 92) + "|x0 outside [-1,1]: 15.2%"
        XCTAssertFalse(Self.showsDigits(lines.joined(separator: "\n"), unicode: false))
        lines[10] = String(repeating: "=+*#", count: 22) + "|"
        lines[11] = String(repeating: "=+*#", count: 22) + "|"
        XCTAssertTrue(Self.showsDigits(lines.joined(separator: "\n"), unicode: false))
        XCTAssertEqual(Self.status("a\nstatus | half-block\nkeys\n\n"), "status | half-block")
    }

    /// The real binary in tmux at 120x40: digits drawn, the final samples
    /// exported as a PNG that decodes to exactly what `ddpm sample` writes
    /// for the same seed and sampler, temperature, renderer, help, views,
    /// resizes (80x24, too small, back), and `q` with exit status 0.
    func runSession(env: String, unicode: Bool) throws {
        guard sh("command -v tmux").0 == 0 else { throw XCTSkip("tmux is not installed") }
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.binary), "missing \(Self.binary)")
        session = "ddpm-e2e-\(getpid())-\(unicode ? "u" : "a")"
        let exitFile = NSTemporaryDirectory() + "\(session).exit"
        try? FileManager.default.removeItem(atPath: exitFile)
        let exportDir = NSTemporaryDirectory() + session
        try FileManager.default.createDirectory(atPath: exportDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: exportDir) }
        let args = "--seed 5 --sampler ddim --steps 50"
        let cmd = "env \(env) DDPM_ASSETS=\(Self.root.path)/assets DDPM_EXPORT_DIR=\(exportDir) \(Self.binary) \(args) --paused; echo $? > \(exitFile); sleep 60"
        sh("tmux kill-session -t \(session) 2>/dev/null")
        XCTAssertEqual(sh("tmux new-session -d -s \(session) -x 120 -y 40 '\(cmd)' >/dev/null 2>&1").0, 0)
        defer { sh("tmux kill-session -t \(session) 2>/dev/null") }
        // --paused: x_T and the first step on screen, waiting for space.
        waitFor("paused after the first step") { Self.status($0).contains("1/50") && Self.status($0).contains("paused") && Self.showsDigits($0, unicode: unicode) }
        usleep(500_000)
        XCTAssertTrue(Self.status(pane()).contains("1/50"), "still waiting: \(Self.status(pane()))")
        keys("Space")
        waitFor("digits, sampling finished") { $0.contains("x_0  final sample") && Self.showsDigits($0, unicode: unicode) && Self.status($0).contains("finished") }
        // The final x̂0 exported, decoded, and compared with `ddpm sample` (DDIM's last step makes x_0 = x̂0 exactly).
        keys("p")
        waitFor("export message") { $0.contains("exported") }
        // Again with nothing new on screen: where both files are (it named the first alone).
        keys("p")
        waitFor("the second p names both files") { $0.contains("already exported 2 PNGs: ") && $0.contains("-x0.png, -final.png") }
        let x0png = try FileManager.default.contentsOfDirectory(atPath: exportDir).first { $0.hasSuffix("-x0.png") }
        XCTAssertNotNil(x0png, "no -x0.png in \(exportDir)")
        let ref = exportDir + "/ref.png"
        XCTAssertEqual(sh("DDPM_ASSETS=\(Self.root.path)/assets \(Self.binary) sample --n 16 \(args) --out \(ref)").0, 0)
        if let x0png {
            let got = try PNGDecoder.decodeGrey([UInt8](try Data(contentsOf: URL(fileURLWithPath: exportDir + "/" + x0png))))
            let want = try PNGDecoder.decodeGrey([UInt8](try Data(contentsOf: URL(fileURLWithPath: ref))))
            // The explorer's PNGs are 4x ddpm sample's (for slides), each pixel a 4x4 block.
            let k = 4   // ExplorerApp.exportScale
            XCTAssertEqual(got.width, k * (4 * 28 + 5)); XCTAssertEqual(got.height, k * (4 * 28 + 5))
            XCTAssertEqual(got.width, k * want.width); XCTAssertEqual(got.height, k * want.height)
            let blocks = (0..<got.height).allSatisfy { y in (0..<got.width).allSatisfy { x in
                got.pixels[y * got.width + x] == got.pixels[(y / k * k) * got.width + x / k * k] } }
            XCTAssertTrue(blocks, "an exported pixel is not a 4x4 block")
            let shrunk = (0..<want.height).flatMap { y in (0..<want.width).map { x in got.pixels[y * k * got.width + x * k] } }
            // The explorer keeps frames in Float16, so a pixel may land one grey level off after rounding to 8 bits.
            let diffs = zip(shrunk, want.pixels).map { abs(Int($0) - Int($1)) }
            let off = diffs.filter { $0 > 0 }.count
            XCTAssertTrue(diffs.max()! <= 1 && off <= want.pixels.count / 50,
                          "exported x̂0 differs from ddpm sample's digits: \(off) pixels, up to \(diffs.max()!) levels")
            let bright = Double(got.pixels.filter { $0 > 127 }.count) / Double(got.pixels.count)
            XCTAssertTrue(bright > 0.05 && bright < 0.5, "exported grid is blank or saturated: \(bright)")
        }
        // Temperature is live: the finished run starts over from x_T with the same seed, its result kept beside.
        if unicode {
            // Combining marks reach the terminal (tmux keeps them): x̂0 in the grid title, not "x0".
            XCTAssertTrue(pane().contains("predicted x̂0"), pane())
        }
        keys("T")
        waitFor("temperature 1.1 restarted, same seed, old digits beside") {
            let st = Self.status($0)
            return st.contains("temp 1.1") && st.contains("seed 5") && $0.contains("before: temp 1.0  final")
                && $0.contains("now: temp 1.1") && Self.showsDigits($0, unicode: unicode)
        }
        let before = Self.status(pane())
        if unicode {
            XCTAssertTrue(before.contains("half-block") && !before.contains("braille"), before)
            keys("m")
            waitFor("braille renderer") { Self.status($0).contains("braille") && !Self.status($0).contains("half-block") }
            waitFor("braille digits") { $0.unicodeScalars.filter { (0x2801...0x28FF).contains($0.value) }.count >= 150 }
        } else {
            XCTAssertTrue(before.contains("ascii"), before)
            keys("m")
            waitFor("ASCII-only message") { $0.contains("ASCII renderer only") }
        }
        keys("'?'")
        waitFor("help") { $0.contains("Keys") && $0.contains("renderer half-block / braille / ASCII") }
        keys("x")
        waitFor("help closed") { !$0.contains("any key closes") }
        keys("3")
        waitFor("forward view") { $0.contains("cosine") && $0.contains("sigmoid") }
        keys("1")
        sh("tmux resize-window -t \(session) -x 80 -y 24")
        // Laid out for 80 columns: the tab bar's right-hand hint ("? help  q quit ") ends at column 80 (tmux drops the trailing space); digits still drawn.
        waitFor("80x24 layout") {
            let top = $0.split(separator: "\n").first.map(String.init) ?? ""
            return (79...80).contains(top.count) && top.hasSuffix("q quit") && $0.contains("now: temp 1.1") && Self.showsDigits($0, unicode: unicode)
        }
        sh("tmux resize-window -t \(session) -x 60 -y 20")
        waitFor("too-small message") { $0.contains("Terminal too small: 60x20, need 80x24.") }
        sh("tmux resize-window -t \(session) -x 20 -y 5")
        waitFor("too-small message at 20x5, wrapped") { $0.contains("Terminal too") && $0.contains("20x5,") && $0.contains("80x24.") }
        sh("tmux resize-window -t \(session) -x 100 -y 30")
        waitFor("relayout") { $0.contains("DDPM Explorer") && Self.showsDigits($0, unicode: unicode) }
        keys("q")
        let end = Date().addingTimeInterval(15)
        while Shell.read(exitFile).isEmpty && Date() < end { usleep(100_000) }   // written, not just created
        let code = (try? String(contentsOfFile: exitFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(code, "0", "ddpm exit status")
    }

    /// A window made too small pauses the playing run (it went on unseen, and a presenter resizing
    /// lost the trajectory), says so, and plays on once enlarged: the real binary's resize path.
    func testRunWaitsWhileTheWindowIsTooSmallInTmux() throws {
        guard sh("command -v tmux").0 == 0 else { throw XCTSkip("tmux is not installed") }
        session = "ddpm-e2e-small-\(getpid())"
        sh("tmux kill-session -t \(session) 2>/dev/null")
        let cmd = "env TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 DDPM_ASSETS=\(Self.root.path)/assets \(Self.binary) --seed 5; sleep 60"
        XCTAssertEqual(sh("tmux new-session -d -s \(session) -x 120 -y 40 '\(cmd)' >/dev/null 2>&1").0, 0)
        defer { sh("tmux kill-session -t \(session) 2>/dev/null") }
        // "t=908 92/1000 │ DDPM σ²=β │ 24.6 st/s │ …": the step and the rate.
        let stepRate = try NSRegularExpression(pattern: "t=[0-9]+ ([0-9]+)/1000 .* ([0-9.]+) st/s")
        func read(_ p: String) -> (step: Int, rate: Double)? {
            let st = Self.status(p)
            guard let m = stepRate.firstMatch(in: st, range: NSRange(st.startIndex..., in: st)),
                  let a = Range(m.range(at: 1), in: st), let b = Range(m.range(at: 2), in: st) else { return nil }
            return (Int(st[a])!, Double(st[b])!)
        }
        waitFor("a run playing") { p in Self.status(p).contains("running") && (read(p)?.step ?? 0) >= 20 }
        let before = try XCTUnwrap(read(pane()))
        sh("tmux resize-window -t \(session) -x 60 -y 20")
        waitFor("too small, the run waiting") { $0.contains("Terminal too small: 60x20") && $0.contains("The run waits until then.") }
        sleep(6)
        sh("tmux resize-window -t \(session) -x 120 -y 40")
        waitFor("enlarged: plays on") { $0.contains("the window is large enough again: the run plays on") && read($0) != nil }
        let after = try XCTUnwrap(read(pane()))
        // Playing on through the 6 s would be 6 s of steps; paused, only those before the pause arrived.
        XCTAssertLessThan(after.step - before.step, max(10, Int(3 * before.rate)), "steps taken while the window was too small: \(before) -> \(after)")
        waitFor("running again") { p in (read(p)?.step ?? 0) > after.step + 2 && Self.status(p).contains("running") }
    }

    /// Started at 80x24, grown to 120x40, then q: the shell's screen comes back
    /// clean (tmux kept rows of the frame there until the explorer erased its
    /// screen on the way out), in a shell as a user runs it.
    func testNoFrameLeftAfterGrowingAndQuitting() throws {
        guard sh("command -v tmux").0 == 0 else { throw XCTSkip("tmux is not installed") }
        session = "ddpm-e2e-grow-\(getpid())"
        sh("tmux kill-session -t \(session) 2>/dev/null")
        XCTAssertEqual(sh("tmux new-session -d -s \(session) -x 80 -y 24 'env -i PATH=/usr/bin:/bin TERM=xterm-256color LANG=C.UTF-8 bash --norc --noprofile' >/dev/null 2>&1").0, 0)
        defer { sh("tmux kill-session -t \(session) 2>/dev/null") }
        sh("tmux send-keys -t \(session) 'DDPM_ASSETS=\(Self.root.path)/assets \(Self.binary) --seed 5' Enter")
        waitFor("digits at 80x24") { Self.showsDigits($0, unicode: true) }
        sh("tmux resize-window -t \(session) -x 120 -y 40")
        waitFor("120x40 layout") { ($0.split(separator: "\n").first.map(String.init) ?? "").count > 100 && Self.showsDigits($0, unicode: true) }
        keys("q")
        sh("tmux send-keys -t \(session) 'echo back-in-the-shell' Enter")
        waitFor("the shell again: the command and its output") { $0.components(separatedBy: "back-in-the-shell").count >= 3 }
        let after = pane()
        XCTAssertFalse(after.contains("q quit") || after.contains("▀▀▀▀") || Self.showsDigits(after, unicode: true),
                       "the explorer's frame is left on the screen after q:\n\(after)")
    }

    func testExplorerInTmux256Colors() throws {
        try runSession(env: "TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8", unicode: true)
    }

    func testExplorerInTmuxASCII() throws {
        try runSession(env: "TERM=xterm-256color LANG=C LC_ALL=C", unicode: false)
    }

    /// The grid area's text (rows 2 to H-4) left and right of the middle column, for comparing the two grids.
    static func halves(_ pane: String, width: Int) -> (String, String) {
        let rows = pane.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let grid = rows.count > 6 ? rows[2..<(rows.count - 4)] : []
        let cut = { (r: String) -> String in String(r.prefix { $0 != "|" && $0 != "│" }) }
        let left = grid.map { String(cut($0).prefix(width / 2 - 10)) }.joined(separator: "\n")
        let right = grid.map { String(cut($0).dropFirst(width / 2 - 10)) }.joined(separator: "\n")
        return (left, right)
    }

    /// Issue #19 on the real binary (ASCII, so the digits' shapes are in the
    /// captured text): the classifier's labels under the digits; T mid-run
    /// changes the digits within a second from the same seed; the compare view's
    /// five temperature rows with diversity rising with temperature; a fork
    /// marked as focused whose two sides both reach the end.
    func testChapterExperimentsInTmux() throws {
        guard sh("command -v tmux").0 == 0 else { throw XCTSkip("tmux is not installed") }
        session = "ddpm-e2e-ch3-\(getpid())"
        let exitFile = NSTemporaryDirectory() + "\(session).exit"
        try? FileManager.default.removeItem(atPath: exitFile)
        let cmd = "env TERM=xterm-256color LANG=C LC_ALL=C DDPM_ASSETS=\(Self.root.path)/assets \(Self.binary) --seed 5 --sampler ddim --steps 100; echo $? > \(exitFile); sleep 60"
        sh("tmux kill-session -t \(session) 2>/dev/null")
        XCTAssertEqual(sh("tmux new-session -d -s \(session) -x 120 -y 40 '\(cmd)' >/dev/null 2>&1").0, 0)
        defer { sh("tmux kill-session -t \(session) 2>/dev/null") }
        // The classifier's reading under the x̂0 digits ("7 93%").
        let label = try NSRegularExpression(pattern: "\\b[0-9] [ 0-9][0-9]%")
        waitFor("classifier labels under the digits") { p in
            label.numberOfMatches(in: p, range: NSRange(p.startIndex..., in: p)) >= 4 && Self.showsDigits(p, unicode: false)
        }
        // Slow it down, press T mid-run: the status shows it within a second, same seed.
        for _ in 0..<4 { keys("-") }
        waitFor("mid-run") { Self.status($0).contains("st/s (limit)") && Self.status($0).contains("running") }
        let t0 = Date()
        keys("T")
        // (The run before is titled with its sampler, shortened to fit: "before temp 1.0 x̂0 t=969 DDIM 100", x0 in ASCII.)
        waitFor("temperature restarted", timeout: 15) { p in
            Self.status(p).contains("temp 1.1") && (p.contains("before: temp 1.0") || p.contains("before temp 1.0 x̂0 t=") || p.contains("before temp 1.0 x0 t=")) }
        // (Its 100 ms target is scripts/key_latency.sh's; here a frozen or queued restart fails, a
        // CI host whose terminal stalls for a moment does not.)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 3.0, "T shows at once, not after the run")
        XCTAssertTrue(Self.status(pane()).contains("seed 5"))
        for _ in 0..<4 { keys("+") }
        waitFor("new run finished", timeout: 120) { Self.status($0).contains("finished") && $0.contains("now: temp 1.1  final") }
        let (old, new) = Self.halves(pane(), width: 120)
        XCTAssertNotEqual(old, new, "the new final digits differ from the old")
        // The compare view: five temperature rows of the sample view's sampler, diversity rising.
        // Reached from the help with Esc and 4 arriving together: Esc closes the help, 4 still acts.
        keys("'?'")
        waitFor("help") { $0.contains("this help") }
        keys("Escape 4")
        waitFor("comparison finished", timeout: 90) { $0.contains("compare temperature") && Self.status($0).contains("finished") }
        let p = pane()
        let divs = p.split(separator: "\n").compactMap { line -> Double? in
            guard let r = line.range(of: "div ") else { return nil }
            return Double(line[r.upperBound...].prefix { $0.isNumber || $0 == "." })
        }
        XCTAssertEqual(divs.count, 5, p)
        XCTAssertEqual(divs, divs.sorted(), "diversity rises with temperature: \(divs)")
        for t in ["temp 0.5", "temp 0.7", "temp 1.0", "temp 1.3", "temp 1.5"] { XCTAssertTrue(p.contains(t), t) }
        // A fork mid-run: marked as the focused side, and both sides reach their final samples.
        keys("1")
        for _ in 0..<3 { keys("-") }     // 10 steps/s: the run is still going when f arrives
        keys("r")
        waitFor("new run under way") { p in
            let st = Self.status(p)
            return st.contains("seed 6") && st.contains("running") && st.range(of: "t=[0-9]+ [0-9]+/100", options: .regularExpression) != nil
        }
        keys("f")
        waitFor("fork focused") { $0.contains("> fork t=") && $0.contains("DDIM 100 eta=0.0") && Self.status($0).contains("keys: fork") }
        keys("s")
        for _ in 0..<3 { keys("+") }
        // (The fork's steps, the shared ones first, ran DDIM 100 then DDIM 50: its title names both, here in
        // the short spelling, and the original's takes the same one.)
        waitFor("both sides final", timeout: 60) { $0.contains("orig: final DDIM 100 eta=0.0") && $0.contains("fork: final DDIM 100>DDIM 50 eta=0.0") }
        // With a fork open the first q asks; the second quits.
        keys("q")
        waitFor("q's question") { $0.contains("a fork is open: q again quits") }
        keys("q")
        let end = Date().addingTimeInterval(15)
        while Shell.read(exitFile).isEmpty && Date() < end { usleep(100_000) }   // written, not just created
        XCTAssertEqual((try? String(contentsOfFile: exitFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines), "0")
    }

    /// "Make it a 7": g then 7 guides the run (r starts it over guided); the
    /// classifier's labels under the final digits are then mostly 7s, and the
    /// status line and the equation panel say so.
    func testGuidanceInTmux() throws {
        guard sh("command -v tmux").0 == 0 else { throw XCTSkip("tmux is not installed") }
        session = "ddpm-e2e-guide-\(getpid())"
        let cmd = "env TERM=xterm-256color LANG=C.UTF-8 DDPM_ASSETS=\(Self.root.path)/assets \(Self.binary) --seed 3 --sampler ddim --steps 50; sleep 30"
        sh("tmux kill-session -t \(session) 2>/dev/null")
        XCTAssertEqual(sh("tmux new-session -d -s \(session) -x 120 -y 40 '\(cmd)' >/dev/null 2>&1").0, 0)
        defer { sh("tmux kill-session -t \(session) 2>/dev/null") }
        waitFor("the first run") { Self.status($0).contains("DDIM 50") }
        keys("g")
        waitFor("the digit prompt", timeout: 15) { $0.contains("guide toward which digit? 0-9") }
        keys("7"); keys("r"); keys("=")
        waitFor("the guided run finished", timeout: 60) { p in
            let st = Self.status(p)
            return st.contains("DDIM 50 η=0.0 guide 7 ×4") && st.contains("seed 4") && st.contains("finished")
        }
        let p = pane()
        XCTAssertTrue(p.contains("∇log p(7|x_t)"), "the equation panel shows the guidance:\n\(p)")
        let label = try NSRegularExpression(pattern: "\\b([0-9]) [ 0-9][0-9]%")
        let digits = label.matches(in: p, range: NSRange(p.startIndex..., in: p)).map { (p as NSString).substring(with: $0.range(at: 1)) }
        XCTAssertGreaterThanOrEqual(digits.count, 8, p)
        XCTAssertGreaterThanOrEqual(digits.filter { $0 == "7" }.count * 10, digits.count * 8, "mostly 7s: \(digits)")
        // Off again: on a finished run the status line keeps the guided run's settings and, like the
        // hint, says what r runs next.
        keys("g"); keys("x")
        waitFor("guidance off", timeout: 15) {
            Self.status($0).contains("DDIM 50 η=0.0 guide 7 ×4 │ r runs DDIM 50 η=0.0, no guidance │")
                && $0.contains("r runs seed 5 with DDIM 50 η=0.0, no guidance;")
        }
    }

    /// `--backend bf16` at 80x24, where the header has no room for it: the
    /// start says so, the run finishes with digits read as such, and `p`'s
    /// files end in -bf16.
    func testBF16ExplorerSaysSoInTmux() throws {
        guard sh("command -v tmux").0 == 0 else { throw XCTSkip("tmux is not installed") }
        guard Backend.bf16.isAvailable else { throw XCTSkip("this CPU lacks AVX-512 with BF16") }
        session = "ddpm-e2e-bf16-\(getpid())"
        let dir = Shell.temporaryDirectory("bf16-export")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cmd = "env TERM=xterm-256color LANG=C.UTF-8 DDPM_ASSETS=\(Self.root.path)/assets DDPM_EXPORT_DIR=\(dir) \(Self.binary) --backend bf16 --sampler ddim --steps 50; sleep 30"
        sh("tmux kill-session -t \(session) 2>/dev/null")
        XCTAssertEqual(sh("tmux new-session -d -s \(session) -x 80 -y 24 '\(cmd)' >/dev/null 2>&1").0, 0)
        defer { sh("tmux kill-session -t \(session) 2>/dev/null") }
        waitFor("the bf16 note") { $0.contains("sampling in bfloat16 (--backend bf16)") }
        waitFor("the run finished", timeout: 60) { Self.status($0).contains("finished") }
        keys("p")
        waitFor("the export", timeout: 15) { $0.contains("exported") }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        XCTAssertEqual(files.filter { $0.hasSuffix("-bf16-x0.png") }.count, 1, files.joined(separator: " "))
    }

    /// Pasted text (bracketed, as a terminal sends it once the explorer asks) is read whole and ignored:
    /// a "q" in it quit the explorer and the rest ran in the shell. A mouse report and an OSC answer
    /// are not keys either (their digits could switch views), and Ctrl-S does not stop the screen.
    func testPasteAndTerminalReportsAreNotKeys() throws {
        let dir = Shell.temporaryDirectory("paste")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try openSession("paste", "cd \(dir) && TERM=xterm-256color DDPM_ASSETS=\(Self.root.path)/assets \(Self.binary) --sampler ddim --steps 10; echo EXIT=$? > exit; sleep 30")
        waitFor("the run to finish") { $0.contains("finished") }
        try "x2q\necho LEAKED > leaked.txt\n".write(toFile: dir + "/paste.txt", atomically: true, encoding: .utf8)
        sh("tmux load-buffer -b \(session) \(dir)/paste.txt && tmux paste-buffer -p -d -b \(session) -t \(session)")
        waitFor("the paste ignored") { $0.contains("pasted text was ignored: keys act one at a time") }
        sh("tmux send-keys -t \(session) -l \"$(printf '\\033[<0;12;14M')\" && tmux send-keys -t \(session) -l \"$(printf '\\033]11;rgb:0000/0000/0000\\007')\"")
        waitFor("the reports ignored") { $0.contains("a terminal report was ignored") }
        XCTAssertTrue(Self.status(pane()).contains("finished"), "still the sample view's finished run:\n\(pane())")
        XCTAssertTrue(Shell.read(dir + "/exit").isEmpty, "the explorer still runs")
        // Ctrl-S is a key, not the terminal's XOFF: with flow control on, the screen froze (q did nothing) until Ctrl-Q.
        keys("C-s")
        keys("?")
        waitFor("the help, after Ctrl-S") { $0.contains("Keys — Sample view") }
        keys("x")
        waitFor("the help closed") { !$0.contains("Keys — Sample view") }
        keys("q")
        XCTAssertTrue(Shell.poll(timeout: 15) { Shell.read(dir + "/exit").contains("EXIT=0") })
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/leaked.txt"), "nothing of the paste ran in the shell")
    }

    /// SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGXCPU, SIGPWR, SIGSYS and an internal error each restore the terminal:
    /// the shell in the pane works again, with echo and icanon.
    func testSignalsAndInternalErrorRestoreTerminal() throws {
        guard sh("command -v tmux").0 == 0 else { throw XCTSkip("tmux is not installed") }
        session = "ddpm-e2e-sig-\(getpid())"
        sh("tmux kill-session -t \(session) 2>/dev/null")
        sh("tmux new-session -d -s \(session) -x 120 -y 40 'sh' >/dev/null 2>&1")
        defer { sh("tmux kill-session -t \(session) 2>/dev/null") }
        // SEGV: sent by another process (kill), which used to start Swift's interactive crash report
        // while the explorer ran on at 200% CPU and never exited.
        // QUIT (Ctrl-\\) gave Swift's crash report over the screen and ran on; XCPU (a CPU-time limit)
        // ended the program with the terminal raw and the cursor hidden.
        // PWR (a UPS daemon's warning) and SYS (a seccomp filter's) left the alternate screen on and the cursor hidden.
        for fault in ["TERM", "INT", "HUP", "QUIT", "XCPU", "PWR", "SYS", "SEGV", "internal error", "crash", "abort"] {
            keys("'clear' Enter")
            let crash = fault == "crash" || fault == "abort"
            let simulated = fault == "internal error" || crash
            let env = fault == "crash" ? "SWIFT_BACKTRACE=interactive=no DDPM_TEST_CRASH=20 "
                : fault == "abort" ? "SWIFT_BACKTRACE=interactive=no DDPM_TEST_ABORT=20 " : simulated ? "DDPM_TEST_INTERNAL_ERROR=20 " : ""
            // (The crash report of a trap goes to stderr: away, so that the pane shows the exit status.)
            let report = NSTemporaryDirectory() + "\(session)-\(fault).err"
            keys("'\(env)TERM=xterm-256color DDPM_ASSETS=\(Self.root.path)/assets \(Self.binary)\(crash ? " 2>\(report)" : ""); echo EXIT=$?' Enter")
            if crash {
                // A trap (SIGILL or SIGTRAP) or abort() (SIGABRT) on another thread: the terminal is given back
                // first, then Swift's crash report still runs (it names the fatal signal).
                waitFor("exit status after the \(fault)") { fault == "abort" ? $0.contains("EXIT=134") : ($0.contains("EXIT=132") || $0.contains("EXIT=133")) }
                // The UI thread draws on while the crash report is written: none of it on the shell's screen
                // (before stdout went to /dev/null, a loaded machine showed a frame's digits there).
                let shell = pane()
                XCTAssertFalse(shell.contains("▀") || shell.contains("▄") || shell.contains("x_t"), "a frame drawn after the crash:\n\(shell)")
                let said = Shell.read(report)
                XCTAssertTrue(said.contains(fault == "abort" ? "Program crashed: Aborted" : "simulated crash (DDPM_TEST_CRASH)"), "the crash report: \(said.prefix(500))")
                try? FileManager.default.removeItem(atPath: report)
                XCTAssertEqual(sh("tmux display -p -t \(session) '#{alternate_on} #{cursor_flag}'").1.trimmingCharacters(in: .whitespacesAndNewlines), "0 1",
                               "back on the main screen with the cursor shown")
            } else if simulated {
                waitFor("error message after the internal error") { $0.contains("internal error (simulated") && $0.contains("EXIT=1") }
            } else {
                waitFor("explorer") { $0.contains("DDPM Explorer") && $0.contains("x_t") }
                sh("pkill -\(fault) -f '^\(Self.binary)$'")
                let expected = ["TERM": 143, "INT": 130, "HUP": 129, "QUIT": 131, "XCPU": 152, "PWR": 158, "SYS": 159, "SEGV": 139][fault]!
                waitFor("exit status \(expected) after SIG\(fault)") { $0.contains("EXIT=\(expected)") }
            }
            keys("\"clear; stty -a | grep -o -w -E -- '-?(icanon|echo)' | tr '\\\\n' ' '; echo STTY-DONE\" Enter")
            waitFor("sane tty after \(fault)") {
                $0.contains("STTY-DONE") && $0.contains("icanon echo") && !$0.contains("-icanon") && !$0.contains("-echo")
            }
            XCTAssertEqual(sh("tmux display -p -t \(session) '#{alternate_on} #{cursor_flag}'").1.trimmingCharacters(in: .whitespacesAndNewlines), "0 1",
                           "main screen and cursor back after \(fault)")
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

    /// A stale LINES / COLUMNS export does not override the window's own size: with
    /// LINES=20000 COLUMNS=20000, ncurses allocated gigabytes, then failed as if TERM
    /// were wrong; LINES=5000 laid the screen out for 5000 rows. The 80x24 pane shows
    /// the explorer at 80x24 (its tab bar on the first row, its key hint on the last).
    func testStaleLinesAndColumnsDoNotOverrideTheWindow() throws {
        guard sh("command -v tmux").0 == 0 else { throw XCTSkip("tmux is not installed") }
        for env in ["LINES=20000 COLUMNS=20000", "LINES=5000 COLUMNS=40"] {
            session = "ddpm-e2e-lines-\(getpid())"
            sh("tmux kill-session -t \(session) 2>/dev/null")
            let cmd = "ulimit -v 4000000; env \(env) TERM=xterm-256color LANG=C.UTF-8 DDPM_ASSETS=\(Self.root.path)/assets \(Self.binary) --sampler ddim --steps 20; echo EXIT=$?; sleep 30"
            sh("tmux new-session -d -s \(session) -x 80 -y 24 '\(cmd)' >/dev/null 2>&1")
            defer { sh("tmux kill-session -t \(session) 2>/dev/null") }
            var screen = ""
            let shown = Shell.poll(timeout: 20) {
                screen = sh("tmux capture-pane -p -t \(session)").1
                // The tab bar's "? help" on the first row, the key hint (" · " between keys) on the last.
                let rows = screen.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
                return rows.first?.contains("? help") == true && rows.count > 2 && rows.last!.contains(" · ")
            }
            XCTAssertTrue(shown, "\(env): \(screen)")
            XCTAssertFalse(screen.contains("EXIT="), "\(env): \(screen)")
            sh("tmux send-keys -t \(session) q")
        }
    }

    /// Not a terminal (stdout a file, stdin /dev/null): one line that points to `ddpm sample`, exit 1.
    func testNotATerminalSuggestsSample() {
        let out = NSTemporaryDirectory() + "notty-\(getpid()).txt"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let (code, _) = sh("DDPM_ASSETS=\(Self.root.path)/assets \(Self.binary) < /dev/null > \(out) 2>&1")
        let text = Shell.read(out)
        XCTAssertEqual(code, 1, text)
        XCTAssertTrue(text.contains("ddpm sample"), text)
        XCTAssertEqual(text.split(separator: "\n").count, 1, text)
    }

    /// The lecture demo from the explorer at 80x24: 2, g offers the two
    /// recipes, Esc cancels, g d starts the demo (batch 32) with a classifier
    /// reading of the EMA preview, w saves, q asks and q again quits saying where it saved.
    func testLiveTrainingDemoInTmux() throws {
        guard sh("command -v tmux").0 == 0 else { throw XCTSkip("tmux is not installed") }
        session = "ddpm-e2e-demo-\(getpid())"
        let dir = NSTemporaryDirectory() + session
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cmd = "cd \(dir) && env TERM=xterm-256color DDPM_ASSETS=\(Self.root.path)/assets \(Self.binary); echo $? > exit; sleep 60"
        sh("tmux kill-session -t \(session) 2>/dev/null")
        XCTAssertEqual(sh("tmux new-session -d -s \(session) -x 80 -y 24 '\(cmd)' >/dev/null 2>&1").0, 0)
        defer { sh("tmux kill-session -t \(session) 2>/dev/null") }
        waitFor("the sample view") { Self.status($0).contains("running") || Self.status($0).contains("finished") }
        keys("2")
        waitFor("the empty training view") { $0.contains("No training running") }
        keys("g")
        waitFor("the recipe menu") { $0.contains("d  lecture demo: about 4.5 minutes") && $0.contains("f  full run: the first bundled") }
        keys("Escape")
        waitFor("cancelled") { $0.contains("no training started") && !$0.contains("lecture demo: about") }
        keys("g"); keys("d")
        waitFor("the demo running", timeout: 60) { p in
            p.contains("lecture demo, sized to this machine at step \(TrainRecipe.demoFit.atStep))")
                || (Self.status(p).contains("/≤\(TrainRecipe.demoSteps)") && Self.status(p).contains("running"))
        }
        waitFor("the preview read by the classifier", timeout: 60) { $0.contains("/16 digits at p") }
        keys("w")
        // The message gives the whole path; the side panel, narrow at 80 columns, the file's name.
        waitFor("saved, said twice") { $0.contains("checkpoint saved to \(dir)/ddpm-train.safetensors (step") && $0.contains("saved: ddpm-train.safetensors") }
        // A stray q does not end the run: it asks (another key cancels).
        keys("q")
        waitFor("q asks") { $0.contains("training in progress: q again saves it and quits") }
        // Another key answers no, and only that: g does not open the recipe menu behind the answer.
        keys("g")
        waitFor("not quitting") { $0.contains("not quitting: the training run goes on") && !$0.contains("lecture demo: about") }
        // A new run in its place: the first is saved, and the farewell says how to resume both.
        keys("g"); keys("d")
        // The run before's file is the news (one path, which two rows at 80 columns hold whole).
        waitFor("the second run") { $0.contains("at step \(TrainRecipe.demoFit.atStep)); the run before:") && $0.contains("\nddpm-train.safetensors (step") }
        keys("q"); keys("q")
        waitFor("the exit", timeout: 30) { $0.contains("training checkpoint of step ") && $0.contains(" saved to ddpm-train-2.safetensors")
            && $0.contains("train on:   ddpm train --tui --out ddpm-train-2.safetensors --resume")
            && $0.contains("an earlier run stopped at step ")
            && $0.contains("train on:   ddpm train --tui --out ddpm-train.safetensors --resume") }
        XCTAssertTrue(Shell.poll(timeout: 10) { !Shell.read(dir + "/exit").isEmpty })
        XCTAssertEqual(Shell.read(dir + "/exit").trimmingCharacters(in: .whitespacesAndNewlines), "0")
        let opts = try JSONSerialization.jsonObject(with: Data(try SafeTensors.read(dir + "/ddpm-train.safetensors").metadata["options"]!.utf8)) as! [String: Any]
        XCTAssertEqual(opts["batch"] as? Int, 16); XCTAssertEqual(opts["weighting"] as? String, "min-snr")
        // The exit message says the checkpoint opens as it is; it does (its EMA weights).
        XCTAssertEqual(sh("DDPM_ASSETS=\(Self.root.path)/assets \(Self.binary) sample --weights \(dir)/ddpm-train.safetensors "
                          + "--n 1 --sampler ddim --steps 2 --out \(dir)/one.png").0, 0)
    }

    /// Training where the run cannot be saved: g refuses to start it (a read-only or deleted folder;
    /// it trained, and was lost at its end), and a run whose folder goes away meanwhile is not
    /// lost: q q says why and the explorer stays, the run going on (it quit, saying why, and the
    /// run was gone); with the folder back, q q saves and quits.
    func testTrainingThatCannotBeSavedInTmux() throws {
        let dir = NSTemporaryDirectory() + "ddpm-e2e-unsaved-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (i, goneBeforeStart) in [true, false].enumerated() {
            let work = dir + "/work\(i)"
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            // The run saves beside the exports (DDPM_EXPORT_DIR), not in the current folder (it did).
            try openSession("unsaved\(i)", "cd \(dir) && env TERM=xterm-256color DDPM_ASSETS=\(Self.root.path)/assets DDPM_EXPORT_DIR=\(work) \(Self.binary) --view train; echo $? > \(dir)/exit\(i); sleep 60",
                            width: 80, height: 24)
            waitFor("the empty training view") { $0.contains("No training running") }
            if goneBeforeStart {
                try FileManager.default.removeItem(atPath: work)
                keys("g"); keys("d")
                waitFor("refused") { $0.contains("cannot start training: the run could not be saved: cannot write") }
                XCTAssertTrue(sh("tmux capture-pane -p -t \(session)").1.contains("No training running"))
                keys("q")
                XCTAssertTrue(Shell.poll(timeout: 10) { !Shell.read(dir + "/exit\(i)").isEmpty })
                XCTAssertEqual(Shell.read(dir + "/exit\(i)").trimmingCharacters(in: .whitespacesAndNewlines), "0")
            } else {
                keys("g"); keys("d")
                waitFor("the demo running", timeout: 60) { Self.status($0).contains("running") }
                // Past the demo's sizing at step 50, whose news came while q q was answered (a CI run missed it).
                waitFor("the demo sized", timeout: 120) { $0.contains("sized to this machine") }
                try FileManager.default.removeItem(atPath: work)
                keys("q"); keys("q")
                waitFor("not quitting", timeout: 30) { $0.contains("not quitting: could not save the training checkpoint") }
                usleep(500_000)
                XCTAssertTrue(Shell.read(dir + "/exit\(i)").isEmpty, "the explorer stays")
                try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
                keys("q"); keys("q")
                waitFor("the farewell", timeout: 30) { $0.contains("training checkpoint of step ") && $0.contains(" saved to") }
                XCTAssertTrue(Shell.poll(timeout: 10) { !Shell.read(dir + "/exit\(i)").isEmpty })
                XCTAssertEqual(Shell.read(dir + "/exit\(i)").trimmingCharacters(in: .whitespacesAndNewlines), "0")
                XCTAssertTrue(FileManager.default.fileExists(atPath: work + "/ddpm-train.safetensors"))
                XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/ddpm-train.safetensors"))
            }
        }
    }

    /// A damaged bundled classifier: the digits go without labels, and the start says why (they
    /// vanished unsaid while the help still explained them).
    func testDamagedClassifierIsNamedInTmux() throws {
        let dir = NSTemporaryDirectory() + "ddpm-e2e-cls-\(getpid())", assets = Self.root.path + "/assets"
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The bundled files linked, the classifier cut short.
        XCTAssertEqual(sh("mkdir -p \(dir)/assets/models && ln -s \(assets)/mnist \(dir)/assets/mnist && for f in \(assets)/models/*; do ln -s $f \(dir)/assets/models/; done"
                          + " && rm \(dir)/assets/models/mnist-classifier.safetensors"
                          + " && head -c 100000 \(assets)/models/mnist-classifier.safetensors > \(dir)/assets/models/mnist-classifier.safetensors").0, 0)
        try openSession("cls", "env TERM=xterm-256color DDPM_ASSETS=\(dir)/assets \(Self.binary) --sampler ddim --steps 5; sleep 60")
        waitFor("the reason") { $0.contains("no digit labels: ") && $0.contains("mnist-classifier.safetensors") }
        waitFor("the run, unlabelled") { Self.status($0).contains("done") }
        keys("q")
    }

    /// NO_COLOR (no-color.org) draws without colours, as a terminal without them does (ASCII digits).
    func testNoColorInTmux() throws {
        // (Terminal.colorsToUse: WidgetTests.testColorsFollowThePairs.)
        try openSession("nocolor", "env TERM=xterm-256color NO_COLOR=1 DDPM_ASSETS=\(Self.root.path)/assets \(Self.binary) --sampler ddim --steps 5; sleep 60")
        waitFor("the run") { Self.status($0).contains("done") }
        let escaped = sh("tmux capture-pane -e -p -t \(session)").1
        // No colour set: SGR foregrounds 30-37 and 90-97, backgrounds 40-47 and 100-107, or 256-colour ones.
        let colour = try NSRegularExpression(pattern: "\u{1b}\\[(?:[0-9]+;)*(?:3[0-7]|4[0-7]|9[0-7]|10[0-7]|38;5;[0-9]+|48;5;[0-9]+)(?:;[0-9]+)*m")
        XCTAssertEqual(colour.numberOfMatches(in: escaped, range: NSRange(escaped.startIndex..., in: escaped)), 0, escaped)
        XCTAssertFalse(escaped.contains("▀"), "no half-blocks without colours: \(escaped)")
        keys("q")
    }

    /// After a finished run, s in the training view samples the model it trained: the sample view's
    /// header names its checkpoint and step, and its digits run (`ddpm train --tui` with a short run).
    func testSampleTheModelJustTrainedInTmux() throws {
        guard sh("command -v tmux").0 == 0 else { throw XCTSkip("tmux is not installed") }
        session = "ddpm-e2e-trained-\(getpid())"
        let dir = NSTemporaryDirectory() + session
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cmd = "cd \(dir) && env TERM=xterm-256color DDPM_ASSETS=\(Self.root.path)/assets \(Self.binary) train --tui --steps 60 --batch 16 --limit 512 --out run.safetensors; echo $? > exit; sleep 60"
        sh("tmux kill-session -t \(session) 2>/dev/null")
        XCTAssertEqual(sh("tmux new-session -d -s \(session) -x 80 -y 24 '\(cmd)' >/dev/null 2>&1").0, 0)
        defer { sh("tmux kill-session -t \(session) 2>/dev/null") }
        waitFor("the run going") { Self.status($0).contains("running") }
        keys("s")
        waitFor("s refused during the run") { $0.contains("s samples the model trained here once its run has finished") }
        waitFor("the run finished", timeout: 90) { p in
            p.contains("training finished at step 60; saved to run.safetensors") && Self.status(p).contains("finished (s: sample it)")
        }
        keys("s")
        waitFor("the sample view on the trained model") { p in
            p.contains("run · step 60") && p.contains("sampling the model trained here: run.safetensors")
        }
        waitFor("its digits stepping") { Self.status($0).contains("running") || Self.status($0).contains("done") }
        // s again in the training view: back to the model the explorer opened with (the bundled one).
        keys("2"); keys("s")
        waitFor("the sample view on the bundled model again") { p in
            p.contains("mnist-tiny") && p.contains("back to the model the explorer opened with")
        }
        keys("q")
        XCTAssertTrue(Shell.poll(timeout: 10) { !Shell.read(dir + "/exit").isEmpty })
        XCTAssertEqual(Shell.read(dir + "/exit").trimmingCharacters(in: .whitespacesAndNewlines), "0")
        // Opened again with --resume (to show a class the run from before): its final preview and
        // status, and the file is left as it was (it was rewritten without its command).
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/run.safetensors"))
        try? FileManager.default.removeItem(atPath: dir + "/exit")
        sh("tmux kill-session -t \(session) 2>/dev/null")
        let again = "cd \(dir) && env TERM=xterm-256color DDPM_ASSETS=\(Self.root.path)/assets \(Self.binary) train --tui --resume --out run.safetensors; echo $? > exit; sleep 60"
        XCTAssertEqual(sh("tmux new-session -d -s \(session) -x 80 -y 24 '\(again)' >/dev/null 2>&1").0, 0)
        waitFor("the finished run's preview", timeout: 60) { p in
            p.contains("this run had finished at step 60") && Self.status(p).contains("step 60/60") && p.contains("EMA preview, step 60")
        }
        keys("q")
        waitFor("left as it was", timeout: 30) { $0.contains("training checkpoint of step 60 (nothing trained since it was opened) left in") }
        XCTAssertTrue(Shell.poll(timeout: 10) { !Shell.read(dir + "/exit").isEmpty })
        XCTAssertEqual(Shell.read(dir + "/exit").trimmingCharacters(in: .whitespacesAndNewlines), "0")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/run.safetensors")), before)
    }

    /// Ctrl-C in `ddpm train --tui` saves the run, says where, and exits 130 as the explorer does.
    /// Without --out it saves where the explorer's g would (ddpm-train.safetensors here).
    func testInterruptedTrainingViewSavesAndExits130() throws {
        guard sh("command -v tmux").0 == 0 else { throw XCTSkip("tmux is not installed") }
        session = "ddpm-e2e-trainint-\(getpid())"
        let dir = NSTemporaryDirectory() + session
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cmd = "cd \(dir) && env TERM=xterm-256color DDPM_ASSETS=\(Self.root.path)/assets \(Self.binary) train --tui --steps 5000 --limit 512; echo $? > exit; sleep 60"
        sh("tmux kill-session -t \(session) 2>/dev/null")
        XCTAssertEqual(sh("tmux new-session -d -s \(session) -x 80 -y 24 '\(cmd)' >/dev/null 2>&1").0, 0)
        defer { sh("tmux kill-session -t \(session) 2>/dev/null") }
        waitFor("the run going") { Self.status($0).contains("running") }
        keys("C-c")
        waitFor("the farewell", timeout: 30) { $0.contains("training checkpoint of step ") && $0.contains(" saved to ddpm-train.safetensors") }
        XCTAssertTrue(Shell.poll(timeout: 10) { !Shell.read(dir + "/exit").isEmpty })
        XCTAssertEqual(Shell.read(dir + "/exit").trimmingCharacters(in: .whitespacesAndNewlines), "130")
        XCTAssertNotNil(try SafeTensors.read(dir + "/ddpm-train.safetensors").metadata["options"])
        // --resume needs the file named (which run is not for the program to guess).
        let (code, said) = sh("cd \(dir) && \(Self.binary) train --tui --resume")
        XCTAssertEqual(code, 64, said)
        XCTAssertTrue(said.contains("--resume continues the checkpoint --out names: give --out FILE"), said)
    }
}
