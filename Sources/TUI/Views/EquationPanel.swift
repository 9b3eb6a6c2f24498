// EquationPanel.swift: the shown step's update equation with its numbers (`=` toggles it).
import Engine
import Foundation

/// The update the sampler applied at the shown step, written out with this
/// step's numbers from the same functions the sampler uses
/// (`DDPMStep.coefficients`, `DDIMStep.coefficients`, `DPMSolverStep.coefficients`):
/// chapter 3's Algorithm 2, the DDIM update of 3.7 and DPM-Solver++ (3.7.3). Each line has a Unicode and an ASCII spelling.
enum EquationPanel {
    /// `text` may hold `nbsp` (in the ASCII spelling too) where the panel's
    /// wrapping must not break, which `render` draws as a space, and "\n" where
    /// a row of its own starts; `render` draws a line whole or not at all.
    struct Line: Equatable { var text: String; var color: Int16 = -1; var bold = false }
    /// Joins words that a wrapped line keeps together (drawn as a space).
    static let nbsp = "\u{00A0}"

    /// `previousT`: the timestep of the step before (DPM-Solver++ uses that step's x̂0), nil on the first.
    /// `objective`: what the network predicts; a v or x0 model's output is turned into ε̂ first (a line says how).
    /// `selfConditioned`: the network also reads the previous step's x̂0 (a line says so).
    static func lines(_ f: RecordedFrame, schedule sch: NoiseSchedule, unicode u: Bool, previousT: Int? = nil,
                      objective: Objective = .eps, selfConditioned: Bool = false) -> [Line] {
        func n(_ v: Double) -> String { String(format: v != 0 && abs(v) < 1e-3 ? "%.3e" : "%.5f", v) }
        func sp(_ uni: String, _ ascii: String) -> String { u ? uni : ascii }
        let set = f.settings
        let noise = set.noiseTemperature == 1 ? sp("z ~ N(0, I)", "z ~ N(0,I)")
            : String(format: sp("z ~ %.1f·N(0, I)  (noise temp)", "z ~ %.1f*N(0,I) (noise temp)"), set.noiseTemperature)
        var out: [Line] = []
        switch set.kind {
        case .ddpm:
            let c = DDPMStep.coefficients(sch, t: f.t, variance: set.variance)
            out.append(Line(text: "DDPM step t=\(f.t) " + sp("→ ", "-> ") + (f.t > 0 ? "\(f.t - 1)" : "final"), bold: true))
            out.append(Line(text: sp("β_t=", "beta_t=") + n(c.beta) + sp("  ᾱ_t=", " abar_t=") + n(c.alphaBar), color: 245))
            if set.clip {
                out.append(Line(text: sp("x̂0 clipped to [-1,1], then", "x0^ clipped to [-1,1], then")))
                out.append(Line(text: sp("x_{t-1}=a·x̂0+b·x_t+σ_t·z", "x_{t-1}=a*x0^+b*x_t+sigma_t*z"), color: 226))
                out.append(Line(text: sp("a = √ᾱ_{t-1}·β_t/(1-ᾱ_t)", "a = sqrt(abar_{t-1})*beta_t / (1-abar_t)")))
                out.append(Line(text: "  = " + n(c.x0Coef)))
                out.append(Line(text: sp("b = √α_t·(1-ᾱ_{t-1})/(1-ᾱ_t)", "b = sqrt(alpha_t)*(1-abar_{t-1}) / (1-abar_t)")))
                out.append(Line(text: "  = " + n(c.xtCoef)))
            } else {
                out.append(Line(text: sp("x_{t-1}=a·(x_t-b·ε̂)+σ_t·z", "x_{t-1}=a*(x_t-b*eps^)+sigma_t*z"), color: 226))
                out.append(Line(text: sp("a = 1/√α_t", "a = 1/sqrt(alpha_t)") + " =" + nbsp + n(c.meanScale)))
                out.append(Line(text: sp("b = β_t/√(1-ᾱ_t)", "b = beta_t/sqrt(1-abar_t)") + " =" + nbsp + n(c.epsCoef)))
            }
            if set.variance == .learned {
                // The network's v per pixel: Σ between β̃_t and β_t (improved DDPM).
                let r = sch.learnedLogVarianceRange(t: f.t)
                out.append(Line(text: sp("σ_t² = exp(f·log β_t+(1-f)·log β̃_t)", "sigma_t^2 = exp(f log beta_t + (1-f) log beta~_t)")))
                out.append(Line(text: sp("f = (v+1)/2, v the network's, per pixel", "f = (v+1)/2, v the network's, per pixel")))
                out.append(Line(text: sp("β̃_t = ", "beta~_t = ") + n(exp(r.min)) + sp("  β_t = ", "  beta_t = ") + n(exp(r.max))
                                + (f.t > 0 ? "" : "; no noise (last step)")))
            } else {
                let v = set.variance == .beta ? sp("√β_t", "sqrt(beta_t)") : sp("√β̃_t", "sqrt(beta~_t)")
                // (The last step's σ_t once: "0 (last step) = 0.00000" said it twice.)
                out.append(Line(text: sp("σ_t = ", "sigma_t = ") + (f.t > 0 ? v + " =" + nbsp + n(c.sigma) : "0 (last step: no z)")))
                // The other choice's σ_t beside it: `v` changes little at large t, where β̃_t ≈ β_t.
                if f.t > 0 {
                    let other = DDPMStep.coefficients(sch, t: f.t, variance: set.variance == .beta ? .posterior : .beta).sigma
                    // (The other σ_t, a square root in ASCII too: "beta~ = 0.11483" read as β̃ itself.)
                    let name = set.variance == .beta ? sp("√β̃_t", "sqrt(beta~_t)") : sp("√β_t", "sqrt(beta_t)")
                    // Equal to the digits shown (most of the run), it says so and where they part.
                    out.append(Line(text: n(other) == n(c.sigma) ? "(" + name + ": equal here, not near t=0)"
                                        : "(" + name + " =" + nbsp + n(other) + ")", color: 245))
                }
            }
            // The timesteps count from 0, as in the chapter's code; its equations count 1...T, so this
            // last step is their t = 1 (x_1 → x_0), not a step to x_{-1}.
            if f.t == 0 { out.append(Line(text: sp("(t counts from 0 as in the chapter's code: this is its equations' step t=1 → x_0)",
                                                   "(t counts from 0 as in the chapter's code: this is its equations' step t=1 -> x_0)"), color: 245)) }
        case .ddim:
            let c = DDIMStep.coefficients(sch, t: f.t, tNext: f.tNext, eta: set.eta)
            out.append(Line(text: "DDIM step t=\(f.t) " + sp("→ ", "-> ") + (f.tNext < 0 ? "final" : "\(f.tNext)") + "  "
                            + String(format: sp("η=%.1f", "eta=%.1f"), set.eta), bold: true))
            out.append(Line(text: sp("ᾱ_t=", "abar_t=") + n(c.alphaBar) + sp("  ᾱ_prev=", " abar_prev=") + n(c.alphaBarPrev), color: 245))
            if set.clip { out.append(Line(text: sp("x̂0 clipped, ε̂ recomputed from it", "x0^ clipped, eps^ recomputed from it"))) }
            out.append(Line(text: sp("x_prev=a·x̂0+d·ε̂+σ·z", "x_prev=a*x0^+d*eps^+sigma*z"), color: 226))
            out.append(Line(text: sp("a = √ᾱ_prev", "a = sqrt(abar_prev)") + " =" + nbsp + n(c.x0Coef)))
            out.append(Line(text: sp("d = √(1-ᾱ_prev-σ²)", "d = sqrt(1-abar_prev-sigma^2)") + " =" + nbsp + n(c.dirCoef)))
            // One line in rows that fit the 80-column panel (about 34 wide), not wrapped inside a bracket.
            out.append(Line(text: sp("σ = η√((1-ᾱ_prev)/(1-ᾱ_t))\n    ·√(1-ᾱ_t/ᾱ_prev)",
                                     "sigma = eta*sqrt(1-abar_prev)\n    / sqrt(1-abar_t)\n    *sqrt(1-abar_t/abar_prev)")
                            + " =" + nbsp + n(c.sigma)))
        case .dpmpp:
            // The previous visited timestep (the one before t in the plan); none on the first step.
            let c = DPMSolverStep.coefficients(sch, t: f.t, tNext: f.tNext, tPrev: previousT)
            out.append(Line(text: "DPM-Solver++ 2M t=\(f.t) " + sp("→ ", "-> ") + (f.tNext < 0 ? "final" : "\(f.tNext)"), bold: true))
            // Its α is not DDPM's α_t = 1 - β_t above: the paper's notation, said once.
            out.append(Line(text: sp("here α = √ᾱ_t, σ = √(1-ᾱ_t)", "here alpha = sqrt(abar_t), sigma = sqrt(1-abar_t)"), color: 245))
            out.append(Line(text: sp("λ=log(α/σ): ", "lambda=log(alpha/sigma): ") + n(c.lambda) + sp(" →", " ->") + nbsp
                            + (c.lambdaNext.isFinite ? n(c.lambdaNext) : sp("∞", "inf"))
                            + (c.h.isFinite ? ", h" + nbsp + "=" + nbsp + n(c.h) : ""), color: 245))
            out.append(Line(text: sp("x_next=c·x_t+d·(D0+D1/2)", "x_next=c*x_t+d*(D0+D1/2)"), color: 226))
            out.append(Line(text: sp("c = σ_next/σ_t", "c = sigma_next/sigma_t") + " =" + nbsp + n(c.xtCoef)))
            out.append(Line(text: sp("d = α_next(1-e^{-h})", "d = alpha_next(1-e^-h)") + " =" + nbsp + n(c.dCoef)))
            out.append(Line(text: sp("D0 = x̂0 of this step", "D0 = x0^ of this step")))
            if let r = c.r {
                // r on a row of its own, so that a narrow panel never parts "r" from its value.
                out.append(Line(text: sp("D1 = (D0 - x̂0_prev)/r", "D1 = (D0 - x0^_prev)/r") + "\n  r = h_prev/h =" + nbsp + n(r)))
            } else {
                out.append(Line(text: "D1 = 0 (" + (f.tNext < 0 ? sp("last step: x = x̂0", "last step: x = x0^") : "first step: no history") + ")"))
            }
        }
        if let y = set.guide, set.guideScale > 0 {
            // Classifier guidance (Dhariwal & Nichol): DDPM shifts the mean, the others the noise prediction.
            let g = sp("∇log\(nbsp)p(\(y)|x_t)", "grad\(nbsp)log\(nbsp)p(\(y)|x_t)")
            // ASCII spells the guidance scale s as "scale" and σ as "sigma".
            if set.kind == .ddpm {
                out.append(Line(text: sp("guided: mean += s·σ_t²·", "guided: mean += scale*sigma_t^2 * ") + g, color: 226))
                out.append(Line(text: set.variance == .learned
                                ? String(format: sp("s = %g times the learned σ_t²", "scale = %g times the learned sigma_t^2"), set.guideScale)
                                : sp("s·σ_t² = ", "scale*sigma_t^2 = ") + n(set.guideScale * sch.pVariance(t: f.t, set.variance))
                                    + String(format: sp(", s = %g", ", scale = %g"), set.guideScale)))
            } else {
                out.append(Line(text: sp("guided: ε̂ = ε_θ - s√(1-ᾱ_t)·", "guided: eps^ = eps_theta - scale*sqrt(1-abar_t) * ") + g, color: 226))
                out.append(Line(text: sp("s√(1-ᾱ_t) = ", "scale*sqrt(1-abar_t) = ") + n(set.guideScale * sch.sqrtOneMinusAlphasCumprod[f.t])
                                + String(format: sp(", s = %g", ", scale = %g"), set.guideScale)))
            }
        }
        out.append(Line(text: sp("x̂0 = (x_t - √(1-ᾱ_t)·ε̂)/√ᾱ_t", "x0^ = (x_t - sqrt(1-abar_t)*eps^) / sqrt(abar_t)"), color: 245))
        switch objective {
        case .eps: break
        case .v:
            out.append(Line(text: sp("the net predicts v̂; ε̂ = √ᾱ_t·v̂ + √(1-ᾱ_t)·x_t",
                                     "the net predicts v^; eps^ = sqrt(abar_t)*v^ + sqrt(1-abar_t)*x_t"), color: 245))
        case .x0:
            out.append(Line(text: sp("the net predicts x̂0; ε̂ from it by the line above",
                                     "the net predicts x0^; eps^ from it by the line above"), color: 245))
        }
        if selfConditioned {
            // Short: at 80 columns the panel is about 34 wide and its last lines are cut first.
            let read = previousT.map { sp("the net also reads x̂0 from t=\($0)", "the net also reads x0^ from t=\($0)") }
                ?? sp("the net also reads x̂0: none yet", "the net also reads x0^: none yet")
            out.append(Line(text: read, color: 245))
        }
        if (set.kind == .ddpm && f.t > 0) || (set.kind == .ddim && set.eta > 0 && f.tNext >= 0) {
            out.append(Line(text: noise, color: 245))
        }
        return out
    }

    /// The panel shows the step taken; a setting changed while it plays
    /// applies from the next step (paused, the step is taken again with it,
    /// `retakesShownStep`, and this line goes once the engine has). On the latest step of a side still
    /// running, a line under the heading says what the next step will use,
    /// so the panel and the status line never seem to disagree.
    static func nextStepChange(_ s: AppState, shown f: RecordedFrame, isLast: Bool) -> Line? {
        guard isLast, !s.focusedSideFinished else { return nil }
        let next = s.forking && s.forkFocus ? (s.snapshot.forkSettings ?? s.settings) : s.settings
        let u = s.caps.unicode
        // The status line's words for the same change (`SampleView.pendingChange`).
        guard let what = SampleView.pendingChange(next, from: f.settings, unicode: u)?.full else { return nil }
        return Line(text: (u ? "changed: the next step uses " : "changed: next step uses ") + what, color: 208)
    }

    /// Draws the panel at (x, y), at most h rows; returns the rows used.
    static func render(_ s: AppState, _ buf: inout CellBuffer, x: Int, y: Int, w: Int, h: Int) -> Int {
        let shown = s.focusHistory   // the focused side's steps (the fork's, while it has the keys)
        let idx = s.scrub ?? (shown.count - 1)
        guard h > 0 else { return 0 }
        guard idx >= 0, idx < shown.count else {
            buf.text(x, y, "update equation: no step yet", fg: 245, maxWidth: w); return 1
        }
        var all = lines(shown[idx], schedule: s.schedule, unicode: s.caps.unicode,
                        previousT: idx > 0 ? shown[idx - 1].t : nil, objective: s.objective, selfConditioned: s.selfConditioned)
        if let next = nextStepChange(s, shown: shown[idx], isLast: idx == shown.count - 1) { all.insert(next, at: 1) }
        // Whole lines only: the heading and the formulas first, then the grey notes (numbers and remarks),
        // top down, each that still fits; the panel ends at the last line that fits whole, never partway
        // through a formula.
        let rows = all.map { wrapped($0.text, width: w) }
        var keep = all.indices.map { $0 == 0 || all[$0].color != 245 }
        var used = all.indices.filter { keep[$0] }.reduce(0) { $0 + rows[$1].count }
        for i in all.indices where !keep[i] && used + rows[i].count <= h { keep[i] = true; used += rows[i].count }
        var row = 0
        for (i, pieces) in rows.enumerated() where keep[i] {
            let l = all[i]
            guard row + pieces.count <= h || row == 0 else { break }
            for piece in pieces where row < h {
                buf.text(x, y + row, piece.replacingOccurrences(of: nbsp, with: " "), fg: l.color, bold: l.bold, maxWidth: w)
                row += 1
            }
        }
        return row
    }

    /// A line's rows at width `w`: a new row at each "\n", and long (ASCII) rows wrap with an indent, at the
    /// last space that fits, so a number is never split (nor words joined by nbsp, such as "= 0.01998": a
    /// value wraps with its "=").
    static func wrapped(_ text: String, width w: Int) -> [String] {
        text.split(separator: "\n").flatMap { wrappedRow(String($0), width: w) }
    }

    private static func wrappedRow(_ text: String, width w: Int) -> [String] {
        var out: [String] = [], rest = text
        while !rest.isEmpty {
            var piece = String(rest.prefix(max(8, w)))
            if piece.count < rest.count, let sp = piece.lastIndex(of: " "), piece.distance(from: piece.startIndex, to: sp) >= 4 {
                piece = String(piece[..<sp]) + " "
            }
            out.append(piece)
            rest = String(rest.dropFirst(piece.count))
            if !rest.isEmpty { rest = "  " + rest.drop { $0 == " " } }
        }
        return out
    }
}
