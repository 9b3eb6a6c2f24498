// Render.swift: the whole screen as a pure function of the app state.
import Engine
import Foundation

/// Draws the whole screen for a state: a pure function, tested by snapshots.
public func render(_ s: AppState) -> CellBuffer {
    var buf = CellBuffer(width: s.width, height: s.height)
    if s.tooSmall {
        // Word-wrapped so that even a 20x5 window shows all of it; what to do on a line of its own.
        let y = buf.wrappedText(0, 0, "Terminal too small: \(s.width)x\(s.height), need \(AppState.minWidth)x\(AppState.minHeight).",
                                maxWidth: s.width, bold: true)
        let y2 = y + buf.wrappedText(0, y, s.trainingInProgress ? "Enlarge it or press q twice (the training run is saved first)."
                                 : s.quitLosesFork ? "Enlarge it or press q twice (the fork is lost)." : "Enlarge it or press q.",
                                 maxWidth: s.width, bold: true)
        // A run paused by the shrinking says that it waits (else enlarging finds it where it was, unexplained).
        let y3 = y2 + (s.smallPaused ? buf.wrappedText(0, y2, "The run waits until then.", maxWidth: s.width) : 0)
        if AppState.asksToQuit(s.message), let asked = s.message { buf.wrappedText(0, y3, asked, maxWidth: s.width) }
        return buf
    }
    TabBar.render(s, &buf)
    switch s.screen {
    case .sample: SampleView.render(s, &buf)
    case .train: TrainView.render(s, &buf)
    case .forward: ForwardView.render(s, &buf)
    case .compare: CompareView.render(s, &buf)
    }
    // A key's answer longer than the window takes two rows for a few seconds (or until the
    // next key), the status line moved up above it (it is never hidden), then only the
    // hint row, cut. A message that stays (where a file went) takes the rows it needs, up to
    // four (a path cut short is no use), and folds to two while the screen moves.
    if let m = s.message, m.count > s.width, s.editing == nil {
        var scratch = CellBuffer(width: s.width, height: 5)
        let need = scratch.wrappedText(0, 0, m, maxWidth: s.width, maxLines: 5, breakLongWords: true)
        let kept = m == s.keptMessage
        let rows = min(s.messageFolded ? (kept ? min(2, need) : 1) : min(max(2, need), kept ? 4 : 2), max(1, s.height - 3))
        if rows >= 2 {
            for x in 0..<s.width { buf[x, s.height - 1 - rows] = buf[x, s.height - 2] }
        }
        buf.fill(0, s.height - rows, s.width, rows)
        _ = buf.wrappedText(0, s.height - rows, m, maxWidth: s.width, fg: 226, maxLines: rows, breakLongWords: true)
    }
    if s.choosingRecipe && s.screen == .train { TrainView.renderRecipeMenu(s, &buf) }
    if s.showHelp {
        HelpOverlay.render(s, &buf)
        // The view's key hints ("space resume") do not apply under the help: space turns its page.
        if s.message == nil {
            buf.fill(0, s.height - 1, s.width, 1)
            buf.text(0, s.height - 1, HelpOverlay.footer(s), fg: 245, maxWidth: s.width)
        }
    }
    if !s.caps.unicode { buf.asciify() }
    return buf
}
