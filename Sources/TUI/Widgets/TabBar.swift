// TabBar.swift: the top line: the views, the model the views sample and the help hint.

enum TabBar {
    static func render(_ s: AppState, _ buf: inout CellBuffer) {
        // Below 100 columns the title goes and the tabs close up, so the model still fits.
        let narrow = s.width < 100
        var x = narrow ? 0 : buf.text(0, 0, " DDPM Explorer ", bold: true, reverse: true) + 1
        for (scr, name) in [(Screen.sample, "Sample"), (.train, "Train"), (.forward, "Forward"), (.compare, "Compare")] {
            let tab = narrow ? "\(scr.rawValue) \(name)" : " \(scr.rawValue) \(name) "
            x += buf.text(x, 0, tab, bold: s.screen == scr, reverse: s.screen == scr) + 1
        }
        let hint = narrow ? "? help q quit " : "? help  q quit "
        buf.text(s.width - hint.count, 0, hint, fg: 245)
        // The model the other views sample, where there is room between the tabs and the hint; not over a
        // training run, whose step it is not ("step 5000" above a run at step 720).
        if s.screen == .train && s.trainSnapshot?.train != nil { return }
        let room = s.width - hint.count - x - 2
        // Whole or not at all (a cut "step 7200" would be a wrong number): without the step when it does not fit,
        // then the first part (the file, or the replayed recording) with what the network predicts (it changes
        // what the panels mean) and bf16, then without bf16, then the first part alone.
        let parts = s.modelLabel.components(separatedBy: " · ")
        let first = parts.first ?? s.modelLabel
        let rest = parts.dropFirst()
        let withoutStep = ([first] + rest.filter { !$0.hasPrefix("step ") }).joined(separator: " · ")
        let objective = rest.first { $0.hasPrefix("predicts ") }
        let predicts = ([first] + (objective.map { [$0] } ?? [])).joined(separator: " · ")
        // "bf16" (sampled with --backend bf16) stays with it where there is room.
        let tagged = rest.contains("bf16") ? predicts + " · bf16" : predicts
        // A replay's file was named on the command line: "replay · predicts v" when the name does not fit with it.
        let replay = first.hasPrefix("replay ") ? objective.map { "replay · " + $0 } ?? first : first
        let replayTagged = rest.contains("bf16") && replay != first ? replay + " · bf16" : replay
        if let label = [s.modelLabel, withoutStep, tagged, predicts, replayTagged, replay, first].first(where: { !$0.isEmpty && $0.count <= room }) {
            buf.text(x + 1, 0, label, fg: 245)
        }
    }
}
