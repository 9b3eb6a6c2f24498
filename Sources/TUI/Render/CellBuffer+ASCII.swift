// CellBuffer+ASCII.swift: the ASCII spelling of what a non-UTF-8 terminal cannot show.

extension CellBuffer {
    static let asciiMap: [Character: Character] = [
        "β": "b", "ᾱ": "a", "ε": "e", "ε̂": "e", "x̂": "x", "·": "-", "…": ".", "—": "-", "σ": "s", "η": "n", "²": "2",
        "∞": "~", "←": "<", "→": ">", "↑": "^", "↓": "v", "≤": "<", "≥": ">", "β̃": "b", "│": "|", "─": "-", "▲": "^",
        "±": "+", "▶": ">", "λ": "l", "α": "a", "√": "r", "×": "x", "∇": "D", "θ": "t", "v̂": "v",
    ]
    /// Replaces what a non-UTF-8 terminal cannot show.
    mutating func asciify() {
        for y in 0..<height { for x in 0..<width {
            var c = self[x, y]
            if !c.ch.isASCII { c.ch = CellBuffer.asciiMap[c.ch] ?? "?"; self[x, y] = c }
        } }
    }
}
