// CellBuffer.swift: the cell buffer every widget draws into.
/// One terminal cell: a character with colours (xterm-256 indices, -1 = default).
public struct Cell: Equatable, Sendable {
    public var ch: Character = " "
    public var fg: Int16 = -1
    public var bg: Int16 = -1
    public var bold = false
    public var reverse = false
    public init(ch: Character = " ", fg: Int16 = -1, bg: Int16 = -1, bold: Bool = false, reverse: Bool = false) {
        self.ch = ch; self.fg = fg; self.bg = bg; self.bold = bold; self.reverse = reverse
    }
}

/// What the terminal can show.
public struct TermCaps: Equatable, Sendable {
    public var unicode: Bool
    /// 256, 16, 8 or 0 (monochrome).
    public var colors: Int
    public init(unicode: Bool, colors: Int) { self.unicode = unicode; self.colors = colors }
    public static let full = TermCaps(unicode: true, colors: 256)
    public static let ascii = TermCaps(unicode: false, colors: 0)
}

/// An in-memory screen: widgets draw here, the backend flushes it to ncurses,
/// tests compare its text to snapshots.
public struct CellBuffer: Sendable {
    public let width: Int, height: Int
    public private(set) var cells: [Cell]

    public init(width: Int, height: Int) {
        self.width = max(0, width); self.height = max(0, height)
        cells = Array(repeating: Cell(), count: self.width * self.height)
    }

    public subscript(x: Int, y: Int) -> Cell {
        get { cells[y * width + x] }
        set { if x >= 0, y >= 0, x < width, y < height { cells[y * width + x] = newValue } }
    }

    public mutating func put(_ x: Int, _ y: Int, _ ch: Character, fg: Int16 = -1, bg: Int16 = -1, bold: Bool = false, reverse: Bool = false) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        cells[y * width + x] = Cell(ch: ch, fg: fg, bg: bg, bold: bold, reverse: reverse)
    }

    /// Writes a string (clipped to `maxWidth` and the buffer); returns the columns used.
    @discardableResult
    public mutating func text(_ x: Int, _ y: Int, _ s: String, fg: Int16 = -1, bg: Int16 = -1, bold: Bool = false,
                              reverse: Bool = false, maxWidth: Int? = nil) -> Int {
        var cx = x
        let limit = min(width, x + (maxWidth ?? width))
        for ch in s {
            if cx >= limit { break }
            put(cx, y, ch, fg: fg, bg: bg, bold: bold, reverse: reverse)
            cx += 1
        }
        return cx - x
    }

    /// `s` word-wrapped to `maxWidth` (a word longer than that split) from
    /// (x, y); past `maxLines` lines the last one shown ends in "…". Returns
    /// the lines drawn.
    @discardableResult
    public mutating func wrappedText(_ x: Int, _ y: Int, _ s: String, maxWidth: Int, fg: Int16 = -1, bg: Int16 = -1, bold: Bool = false,
                                     maxLines: Int = .max, breakLongWords: Bool = false) -> Int {
        let w = max(1, maxWidth)
        var lines: [String] = [], line = ""
        // Where a word too long for `room` columns is cut: after its last "/" there (a path breaks
        // between folders), else after its last "-" (a file name between the settings it names),
        // unless that would leave more than half the room empty.
        func cut(_ word: Substring, _ room: Int) -> Int {
            for mark: Character in ["/", "-"] {
                if let i = word.prefix(room).lastIndex(of: mark) {
                    let k = word.distance(from: word.startIndex, to: i) + 1
                    if k >= room / 2 { return k }
                }
            }
            return room
        }
        // A count opening a parenthesis stays with the word after it: "(10 stages)" broke as "(10" / "stages)".
        var words: [Substring] = []
        for word in s.split(separator: " ", omittingEmptySubsequences: true) {
            if let last = words.last, last.count >= 2, last.first == "(", last.dropFirst().allSatisfy(\.isNumber) {
                words[words.count - 1] = s[last.startIndex..<word.endIndex]
            } else {
                words.append(word)
            }
        }
        for word in words {
            var word = word
            // breakLongWords: a word longer than half the width (a file name) fills the rest of the line
            // and goes on in the next, rather than leaving the line short.
            if breakLongWords && word.count > w / 2 && !line.isEmpty && line.count + 1 + word.count > w && w - line.count - 1 >= 8 {
                let k = cut(word, w - line.count - 1)
                lines.append(line + " " + word.prefix(k)); line = ""; word = word.dropFirst(k)
            }
            if !line.isEmpty && line.count + 1 + word.count > w { lines.append(line); line = "" }
            while line.isEmpty && word.count > w { let k = cut(word, w); lines.append(String(word.prefix(k))); word = word.dropFirst(k) }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty || lines.isEmpty { lines.append(line) }
        if lines.count > max(1, maxLines) {
            lines = Array(lines.prefix(max(1, maxLines)))
            lines[lines.count - 1] = String(lines[lines.count - 1].prefix(w - 1)) + "…"
        }
        for (i, l) in lines.enumerated() { text(x, y + i, l, fg: fg, bg: bg, bold: bold, maxWidth: w) }
        return lines.count
    }

    public mutating func fill(_ x: Int, _ y: Int, _ w: Int, _ h: Int, _ ch: Character = " ", bg: Int16 = -1) {
        for yy in y..<(y + h) { for xx in x..<(x + w) { put(xx, yy, ch, bg: bg) } }
    }

    /// A box border with a title.
    public mutating func box(_ x: Int, _ y: Int, _ w: Int, _ h: Int, title: String = "", unicode: Bool) {
        guard w >= 2, h >= 2 else { return }
        let (hz, vt, tl, tr, bl, br): (Character, Character, Character, Character, Character, Character) =
            unicode ? ("─", "│", "┌", "┐", "└", "┘") : ("-", "|", "+", "+", "+", "+")
        for i in 1..<(w - 1) { put(x + i, y, hz); put(x + i, y + h - 1, hz) }
        for j in 1..<(h - 1) { put(x, y + j, vt); put(x + w - 1, y + j, vt) }
        put(x, y, tl); put(x + w - 1, y, tr); put(x, y + h - 1, bl); put(x + w - 1, y + h - 1, br)
        if !title.isEmpty { text(x + 2, y, " \(title) ", bold: true, maxWidth: w - 4) }
    }

    /// Text of each row (trailing spaces trimmed): what tests snapshot.
    public func lines() -> [String] {
        (0..<height).map { y in
            var s = String(cells[(y * width)..<((y + 1) * width)].map { $0.ch })
            while s.hasSuffix(" ") { s.removeLast() }
            return s
        }
    }

    public var text: String { lines().joined(separator: "\n") }
}

/// The first of `spellings` (longest first) that fits `width` columns, else
/// the last (shortest), which the drawing then cuts: text that takes a
/// shorter form rather than being cut mid-word.
func fitting(_ spellings: [String], width: Int) -> String {
    spellings.first { $0.count <= width } ?? spellings.last ?? ""
}
