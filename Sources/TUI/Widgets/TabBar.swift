// TabBar.swift: the top line: the views and the help hint.

enum TabBar {
    static func render(_ s: AppState, _ buf: inout CellBuffer) {
        var x = buf.text(0, 0, " DDPM Explorer ", bold: true, reverse: true)
        for (scr, name) in [(Screen.sample, "Sample"), (.train, "Train"), (.forward, "Forward")] {
            x += 1
            x += buf.text(x, 0, " \(scr.rawValue) \(name) ", bold: s.screen == scr, reverse: s.screen == scr)
        }
        let hint = "? help  q quit "
        buf.text(s.width - hint.count, 0, hint, fg: 245)
        // The model, where there is room between the tabs and the hint.
        let room = s.width - hint.count - x - 3
        if !s.modelLabel.isEmpty && room >= 12 { buf.text(x + 2, 0, s.modelLabel, fg: 245, maxWidth: room) }
    }
}
