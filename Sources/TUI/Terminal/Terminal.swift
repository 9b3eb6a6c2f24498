// Terminal.swift: the ncurses backend: keys in, cell buffers out.
import CCrashRestore
import Compute
import CNcursesw
import Foundation

/// The ncurses backend: the only code that touches the terminal. It flushes a
/// `CellBuffer` (one refresh per frame; ncurses sends only what changed) and
/// decodes keys. Colours use extended pairs (ncurses 6) allocated on demand,
/// so a 24-level grey half-block image can use all 576 (fg, bg) pairs.
final class Terminal {
    let caps: TermCaps
    private var pairs: [Int32: Int32] = [:]
    private var nextPair: Int32 = 1
    private var maxPairs: Int32 = 0
    private var active = false
    private var screen: OpaquePointer?

    /// `instead` is what to do without a terminal ("to write samples to a file use: ddpm sample --out digits.png").
    init(instead: String) throws {
        setlocale(LC_ALL, "")
        guard isatty(STDOUT_FILENO) != 0, isatty(STDIN_FILENO) != 0 else {
            throw CLIError("the explorer needs a terminal (stdin/stdout is not a TTY); \(instead)")
        }
        let term = ProcessInfo.processInfo.environment["TERM"] ?? ""
        if term.isEmpty || term == "dumb" {
            throw CLIError((term.isEmpty ? "TERM is not set" : "TERM is '\(term)'") + ": the explorer needs a terminal with cursor movement (try TERM=xterm-256color); \(instead)")
        }
        // LINES and COLUMNS in the environment override the window's own size in ncurses: a stale
        // export laid the screen out for another window, and LINES=20000 had ncurses allocate
        // gigabytes before failing as if TERM were wrong. Where the terminal says its size, that wins;
        // else a value no window has is dropped.
        var ws = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_row > 0, ws.ws_col > 0 {
            unsetenv("LINES"); unsetenv("COLUMNS")
        } else {
            for name in ["LINES", "COLUMNS"] {
                if let v = ProcessInfo.processInfo.environment[name], !(Int(v).map { (1...2000).contains($0) } ?? false) { unsetenv(name) }
            }
        }
        // A crash while the explorer holds the terminal gives it back first (crash_restore.c):
        // the modes saved are the shell's, read before ncurses changes any (newterm does).
        _ = ddpm_crash_restore_install()
        FloatBuffer.beforeOutOfMemoryExit = { ddpm_crash_restore_terminal() }
        guard let scr = newterm(nil, stdout, stdin) else {
            ddpm_crash_restore_uninstall()
            throw CLIError("unknown terminal type TERM=\(term) (no terminfo entry); try TERM=xterm-256color or TERM=xterm")
        }
        screen = scr
        set_term(scr)
        active = true
        let codeset = String(cString: nl_langinfo(nl_item(CODESET)))
        let unicode = codeset.uppercased() == "UTF-8" || codeset.uppercased() == "UTF8"
        cbreak(); noecho(); nonl()
        // Ctrl-S is a key here, not XOFF: with the terminal's flow control on it stopped output, and the
        // drawing thread blocked in write until Ctrl-Q while the run went on unseen (and q did nothing).
        // (ncurses keeps this as the program's mode; endwin gives the shell its own back.)
        var tio = termios()
        if tcgetattr(STDIN_FILENO, &tio) == 0 {
            tio.c_iflag &= ~tcflag_t(IXON)
            _ = tcsetattr(STDIN_FILENO, TCSANOW, &tio)
            def_prog_mode()
        }
        keypad(cn_stdscr(), true)
        // Bracketed paste: the terminal marks pasted text, which is read whole and ignored.
        fputs("\u{1b}[?2004h", stdout); fflush(stdout)
        set_escdelay(25)   // Esc alone (cancel) answers at once, not after the 1 s default
        curs_set(0)
        var colors = 0
        // NO_COLOR set (no-color.org): no colours, as on a terminal without them (ASCII digits).
        if has_colors() && (ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty {
            start_color()
            use_default_colors()
            maxPairs = cn_color_pairs()
            colors = Terminal.colorsToUse(colors: Int(cn_colors()), pairs: Int(maxPairs))
        }
        caps = TermCaps(unicode: unicode, colors: colors)
    }

    /// The colours to draw with on a terminal of `colors` colours and `pairs` colour pairs. A half-block
    /// digit takes a pair for each (top, bottom) grey it shows: 256 colours use up to 28 greys and
    /// markers (784 pairs; 1024 leaves room for the interface's), 16 colours 6, 8 colours 4. With fewer pairs than that
    /// (a terminfo entry with pairs#4) every cell past the last pair was drawn in the default pair, the
    /// digits solid blocks: fewer colours then, or none (ASCII digits).
    static func colorsToUse(colors n: Int, pairs: Int) -> Int {
        var c = n >= 256 ? 256 : (n >= 16 ? 16 : (n >= 8 ? 8 : 0))
        if c == 256 && pairs < 1024 { c = 16 }
        if c == 16 && pairs < 128 { c = 8 }
        if c == 8 && pairs < 32 { c = 0 }
        return c
    }

    var size: (w: Int, h: Int) {
        var y: Int32 = 0, x: Int32 = 0
        cn_getmaxyx(cn_stdscr(), &y, &x)
        return (Int(x), Int(y))
    }

    /// Waits up to `ms` for a key.
    func readKey(timeoutMs: Int32) -> Key?? {
        wtimeout(cn_stdscr(), timeoutMs)
        var wch: wint_t = 0
        let r = wget_wch(cn_stdscr(), &wch)
        if r == cn_err() { return nil }
        if r == cn_key_code_yes() {
            switch Int32(wch) {
            case cn_key_left(): return .some(.left)
            case cn_key_right(): return .some(.right)
            case cn_key_sleft(): return .some(.shiftLeft)
            case cn_key_sright(): return .some(.shiftRight)
            case cn_key_up(): return .some(.up)
            case cn_key_down(): return .some(.down)
            case cn_key_ppage(): return .some(.pageUp)
            case cn_key_npage(): return .some(.pageDown)
            case cn_key_home(): return .some(.home)
            case cn_key_backspace(): return .some(.backspace)
            case cn_key_enter(): return .some(.enter)
            case cn_key_end(): return .some(.end)
            case cn_key_mouse():
                // A mouse report whose start this TERM names (xterm's kmous is ESC [ <): its numbers
                // follow as characters, and "0;12;14M" switched to the sample, train and compare views.
                wtimeout(cn_stdscr(), 15)
                var w: wint_t = 0, read = 0
                while read < 32, wget_wch(cn_stdscr(), &w) != cn_err() {
                    read += 1
                    if w == wint_t(UInt8(ascii: "M")) || w == wint_t(UInt8(ascii: "m")) { break }
                }
                return .some(.ignored("a mouse report was ignored"))
            default: return .some(nil)   // resize and others: no key, but wake up
            }
        }
        guard let u = Unicode.Scalar(UInt32(wch)) else { return .some(nil) }
        switch u {
        case "\n", "\r": return .some(.enter)
        case "\u{1b}":
            // An escape sequence ncurses did not know for this TERM (tmux sends
            // ESC [ 1 ~ for Home under TERM=xterm-256color): read it whole, so
            // its characters never arrive as keys ("1" would switch views; a
            // mouse report ESC [ < 0 ; 10 ; 10 M is 11 long).
            var seq = ""
            func next(_ ms: Int32) -> Unicode.Scalar?? {
                wtimeout(cn_stdscr(), ms)
                var w: wint_t = 0
                let got = wget_wch(cn_stdscr(), &w)
                if got == cn_err() { return nil }
                if got == cn_key_code_yes() {
                    // A key ncurses decoded (an arrow, a resize) right after Esc: Esc now, that key next.
                    if seq.isEmpty { _ = ungetch(Int32(w)) }
                    return .some(nil)
                }
                return .some(Unicode.Scalar(UInt32(w)))
            }
            while seq.count < 64, let got = next(15), let c = got {
                if seq.isEmpty && c != "[" && c != "O" && c != "]" {
                    // Esc and a key pressed together: Esc now, the key next. (Alt+key, sent as
                    // the same two bytes, therefore acts as Esc then the key.)
                    _ = unget_wch(wchar_t(bitPattern: UInt32(c.value)))
                    break
                }
                seq.unicodeScalars.append(c)
                if seq.first == "]" {
                    // An operating-system command (a title, a colour answer): to BEL or ESC \, ignored.
                    if c == "\u{7}" || (c == "\\" && seq.dropLast().last == "\u{1b}") { return .some(.ignored("a terminal report was ignored")) }
                    continue
                }
                if seq.count >= 2 && (0x40...0x7E).contains(c.value) && !(seq.count == 2 && c == "[") { break }
            }
            if seq == "[200~" { return .some(.ignored(Terminal.skipPaste(next))) }
            return seq.isEmpty ? .some(.escape) : .some(Terminal.escapeSequence(seq))
        case "\u{7f}", "\u{8}": return .some(.backspace)
        case "\t": return .some(.tab)
        default: return .some(.char(Character(u)))
        }
    }

    private func pair(_ fg: Int16, _ bg: Int16) -> Int32 {
        if caps.colors == 0 || (fg < 0 && bg < 0) { return 0 }
        let key = Int32(fg) << 16 | Int32(UInt16(bitPattern: bg))
        if let p = pairs[key] { return p }
        guard nextPair < maxPairs else { return 0 }
        let p = nextPair
        nextPair += 1
        init_extended_pair(p, Int32(fg), Int32(bg))
        pairs[key] = p
        return p
    }

    func draw(_ b: CellBuffer) {
        // A cell's character with its combining marks (x̂, ε̂, β̃): setcchar takes
        // a spacing character followed by up to four non-spacing ones.
        var wc = [wchar_t](repeating: 0, count: 6)
        for y in 0..<b.height {
            for x in 0..<b.width {
                let c = b[x, y]
                var fg = c.fg, bg = c.bg
                if caps.colors < 256 { fg = Terminal.reduce(fg, caps.colors); bg = Terminal.reduce(bg, caps.colors) }
                var attr = cn_a_normal()
                if c.bold { attr |= cn_a_bold() }
                if c.reverse { attr |= cn_a_reverse() }
                var k = 0
                for u in c.ch.unicodeScalars.prefix(caps.unicode ? 5 : 1) {
                    wc[k] = wchar_t(bitPattern: caps.unicode || u.value < 128 ? u.value : 63); k += 1
                }
                wc[k] = 0
                _ = cn_put(Int32(y), Int32(x), &wc, attr, pair(fg, bg))
            }
        }
        refresh()
    }

    /// Reads a bracketed paste to its end marker (ESC [ 201 ~; or a quiet moment, if it never comes)
    /// and says that it was ignored: pasted text is not a run of keys.
    static func skipPaste(_ next: (Int32) -> Unicode.Scalar??) -> String {
        var tail = "", count = 0
        while count < 1 << 22, let got = next(200) {
            guard let c = got else { continue }
            count += 1
            tail.unicodeScalars.append(c)
            if tail.unicodeScalars.count > 6 { tail.unicodeScalars.removeFirst() }
            if tail.hasSuffix("\u{1b}[201~") { break }
        }
        return "pasted text was ignored: keys act one at a time"
    }

    /// The key of an escape sequence (the characters after ESC), or nil for one
    /// that means nothing here (it is swallowed whole).
    static func escapeSequence(_ seq: String) -> Key? {
        switch seq {
        case "[A", "OA": return .up
        case "[B", "OB": return .down
        case "[C", "OC": return .right
        case "[D", "OD": return .left
        case "[1;2C": return .shiftRight
        case "[1;2D": return .shiftLeft
        case "[H", "OH", "[1~", "[7~": return .home
        case "[F", "OF", "[4~", "[8~": return .end
        case "[5~": return .pageUp
        case "[6~": return .pageDown
        default: return nil
        }
    }

    /// Maps an xterm-256 index to the 16/8 basic colours: greys by lightness,
    /// the colour cube to the nearest corner (so blue, green, orange and yellow
    /// curves stay distinct), the two ends of the grey ramp to black and white.
    static func reduce(_ c: Int16, _ colors: Int) -> Int16 {
        if c < 0 || c < Int16(colors) { return c }
        if c < 16 { return c % 8 }
        if c >= 232 { let l = Int(c) - 232; return colors >= 16 ? [0, 8, 7, 15][min(3, l / 6)] : (l >= 12 ? 7 : 0) }
        let i = Int(c) - 16, r = i / 36, g = (i / 6) % 6, b = i % 6
        let top = max(r, g, b)
        if top == r && r == g && g == b { return colors >= 16 ? [0, 8, 8, 7, 7, 15][top] : (top >= 3 ? 7 : 0) }
        // A channel counts when it is near the brightest one (orange 209 = (5,2,1) is red, 75 = (1,3,5) is blue-cyan).
        let on = { (v: Int) in v >= 2 && v * 2 >= top + 1 }
        let basic = Int16((on(r) ? 1 : 0) | (on(g) ? 2 : 0) | (on(b) ? 4 : 0))
        return colors >= 16 && top >= 4 && basic != 0 ? basic + 8 : basic
    }

    /// Restores the terminal (safe to call twice).
    func shutdown() {
        guard active else { return }
        active = false
        // A blank screen first: a terminal without an alternate screen (vt100) would keep the last frame.
        werase(cn_stdscr()); wrefresh(cn_stdscr())
        endwin()
        fputs("\u{1b}[?2004l", stdout); fflush(stdout)
        ddpm_crash_restore_uninstall()
        if let s = screen { delscreen(s); screen = nil }
    }

    deinit { shutdown() }
}


