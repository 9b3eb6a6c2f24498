// Compare.swift: the chapter's ablations live: one row of samples per value of one setting.
import Foundation

/// The setting a comparison varies (Exercise 3.5.2's temperatures, 3.7's DDIM
/// steps and eta, the variance choice, clipping, DDPM against DDIM).
public enum CompareParameter: String, CaseIterable, Sendable {
    case temperature, noiseTemperature = "noise temperature", eta = "DDIM eta", steps = "DDIM steps"
    case variance, clip = "clipping", sampler
    /// Classifier guidance's strength, toward the base's digit (7 when it has none).
    case guideScale = "guidance scale"

    /// The digit a guidance-scale comparison guides toward when the base guides toward none.
    public static let defaultGuideDigit = 7

    /// The chapter's values.
    public var defaults: [Double] {
        switch self {
        case .temperature: return [0.5, 0.7, 1.0, 1.3, 1.5]
        case .noiseTemperature: return [0, 0.5, 1.0, 1.5]
        case .eta: return [0, 0.5, 1]
        case .steps: return [10, 20, 50, 100, 1000]
        case .variance, .clip: return [0, 1]
        case .sampler: return [0, 1, 2]
        case .guideScale: return [0, 1, 2, 4, 8]
        }
    }

    /// Whether the values can be typed (the settings with two or three values always show them all).
    public var editable: Bool { ![.variance, .clip, .sampler].contains(self) }

    public var next: CompareParameter {
        let all = CompareParameter.allCases
        return all[(all.firstIndex(of: self)! + 1) % all.count]
    }

    /// The base settings with this parameter set to `v`; the DDIM-only
    /// parameters switch the sampler to DDIM, the DDPM-only variance to DDPM.
    public func apply(_ v: Double, to base: SamplerSettings) -> SamplerSettings {
        var s = base
        switch self {
        case .temperature: s.temperature = v
        case .noiseTemperature: s.noiseTemperature = v
        case .eta: s.kind = .ddim; s.eta = v
        case .steps: s.kind = .ddim; s.steps = Int(v)
        case .variance: s.kind = .ddpm; s.variance = v == 0 ? .beta : (v == 1 ? .posterior : .learned)
        case .clip: s.clip = v != 0
        case .sampler: s.kind = SamplerKind.allCases[min(SamplerKind.allCases.count - 1, max(0, Int(v)))]
        case .guideScale: s.guide = s.guide ?? Self.defaultGuideDigit; s.guideScale = v
        }
        return s
    }

    /// The row label for value `v`.
    public func label(_ v: Double, base: SamplerSettings) -> String {
        switch self {
        case .temperature: return "temp " + Self.number(v)
        case .noiseTemperature: return "noise " + Self.number(v)
        case .eta: return "η " + Self.number(v)
        case .steps: return v == 1 ? "1 step" : "\(Int(v)) steps"
        case .variance: return v == 0 ? "σ²=β" : (v == 1 ? "σ²=β̃" : "σ²=learned")
        case .clip: return v == 0 ? "clip off" : "clip on"
        case .sampler: return apply(v, to: base).shortName
        case .guideScale: return "→\(apply(v, to: base).guide!) ×" + String(format: "%g", v)
        }
    }

    /// `label` within `width` characters: its number with fewer significant
    /// digits, then the number alone (the view's heading names the setting).
    /// Cut at the width, 1.23457e-07 read as "temp 1.2345" and 0.000123456 as "noise 0.000".
    public func label(_ v: Double, base: SamplerSettings, width: Int) -> String {
        let full = label(v, base: base)
        guard full.count > width, [.temperature, .noiseTemperature, .eta].contains(self) else { return full }
        let name = full.prefix { $0 != " " } + " ", numbers = [4, 3, 2].map { String(format: "%.\($0)g", v) }
        if let n = numbers.first(where: { (name + $0).count <= width }) { return name + n }
        return numbers.first { $0.count <= width } ?? String(format: "%.1g", v)
    }

    /// A value as typed and shown: steps as whole numbers, the rest with one decimal at least.
    public func format(_ v: Double) -> String { self == .steps ? "\(Int(v))" : Self.number(v) }

    public static func number(_ v: Double) -> String {
        v == v.rounded() ? String(format: "%.1f", v) : String(format: "%g", v)
    }

    /// Parses typed values ("0.5, 1, 1.5"): 1 to 8 numbers in the setting's range, in order.
    public func parse(_ text: String, T: Int) throws -> [Double] {
        let parts = text.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
        guard !parts.isEmpty, parts.count <= 8 else {
            throw EngineError.invalidArgument("give 1 to 8 values separated by commas or spaces, got \(parts.count)")
        }
        let values = try parts.map { p in
            guard let v = Double(p), v.isFinite else { throw EngineError.invalidArgument("'\(EngineError.quoted(p, limit: 20))' is not a number") }
            switch self {
            case .temperature: try EngineError.require(v >= 0 && v <= 10, "temperature", "[0, 10]", v)
            case .noiseTemperature: try EngineError.require(v >= 0 && v <= 10, "noise temperature", "[0, 10]", v)
            case .eta: try EngineError.require(v >= 0 && v <= 1, "eta", "[0, 1]", v)
            case .steps: try EngineError.require(v == v.rounded() && v >= 1 && v <= Double(T), "steps", "1...\(T), whole",
                                                   v == v.rounded() && abs(v) < 1e15 ? "\(Int(v))" : "\(v)")
            case .guideScale: try EngineError.require(SamplerSettings.guideScales.contains(v), "guidance scale", "[0, 100]", v)
            case .variance, .clip, .sampler: break
            }
            return v == 0 ? 0 : v   // "-0" is 0, not a row labelled -0.0
        }
        // By value: "0.5, .5" and "0, -0" are one value twice.
        guard Set(values).count == values.count else { throw EngineError.invalidArgument("a value is given twice") }
        // Rows from the smallest value down to the largest, however they were typed.
        return values.sorted()
    }
}

/// What a comparison runs: the values of one parameter over base settings,
/// `n` digits per row from the same seed (so column j starts from the same x_T
/// noise in every row, scaled by the row's temperature).
public struct CompareSpec: Equatable, Sendable {
    public var parameter: CompareParameter
    public var values: [Double]
    public var base: SamplerSettings
    public var n: Int
    public var seed: UInt64
    public init(parameter: CompareParameter, values: [Double]? = nil, base: SamplerSettings, n: Int = 8, seed: UInt64 = 0) {
        self.parameter = parameter; self.values = values ?? parameter.defaults; self.base = base; self.n = n; self.seed = seed
    }

    /// Each row's settings (`CompareParameter.apply` of its value to the base).
    public var rowSettings: [SamplerSettings] { values.map { parameter.apply($0, to: base) } }

    /// The settings the rows share, as they run them (the variance's rows DDPM, eta's and steps'
    /// DDIM: `apply`), for describing them; the compared one's value is the first row's.
    public var shared: SamplerSettings { rowSettings.first ?? base }

    /// Whether any row draws fresh noise z (so that the noise temperature acts on it).
    public var drawsNoise: Bool { rowSettings.contains { $0.drawsNoise } }
}

/// One row of a comparison, as the UI reads it.
public struct CompareRow: Sendable {
    public var label: String
    public var settings: SamplerSettings
    /// The row's current x̂0, or its final samples once finished: n images of side `size`.
    public var images: [Float]
    public var size: Int
    public var t = 0, step = 0, totalSteps = 0
    public var finished = false
    /// Mean over pixels of the per-pixel variance across the row's images (Exercise 3.5.2), clamped to [-1, 1] as drawn.
    public var diversity = 0.0
    /// Images the classifier reads with probability at least `DigitReader.confident` and inked like a digit (nil: no classifier).
    public var confident: Int? = nil
    /// The classifier's reading of each image (empty without a classifier).
    public var readings: [DigitReader.Reading] = []
    /// Seconds spent stepping this row.
    public var wallTime = 0.0
}

public struct CompareSnapshot: Sendable {
    public var spec: CompareSpec
    public var rows: [CompareRow]
    public var running = true
    /// The t at which a row's output stopped being finite numbers (the comparison ended there), or nil.
    public var nonFinite: Int? = nil
    public var finished: Bool { rows.allSatisfy(\.finished) }

    /// The digit every row is guided toward (a comparison of guidance scales, or a guided base), or nil.
    public var guidedDigit: Int? {
        let digits = Set(rows.map { $0.settings.guide })
        return digits.count == 1 ? digits.first! : nil
    }

    /// What a row's confident count says: with guidance toward g, the images read as g with p >= 0.9
    /// ("as 7: 5/8"; any confident digit counted the ones guidance missed too), else any ("sure 6/8").
    public func sure(_ row: CompareRow) -> (label: String, count: Int)? {
        guard let conf = row.confident else { return nil }
        guard let g = guidedDigit else { return ("sure", conf) }
        return ("as \(g):", row.readings.filter { $0.isConfidentDigit && $0.digit == g }.count)
    }
}

/// Mean over pixels of the variance across `n` images (population variance).
public func meanPixelVariance(_ images: [Float], n: Int, pixels: Int) -> Double {
    guard n > 1, images.count >= n * pixels else { return 0 }
    var total = 0.0
    for p in 0..<pixels {
        var s = 0.0, s2 = 0.0
        for i in 0..<n { let v = Double(images[i * pixels + p]); s += v; s2 += v * v }
        let mean = s / Double(n)
        total += max(0, s2 / Double(n) - mean * mean)
    }
    return total / Double(pixels)
}

/// The comparison as one labelled grey image (the chapter's figure): a title,
/// then per row its label, diversity, confident count and wall time beside
/// its digits at full size.
public enum CompareFigure {
    /// A label's ASCII spelling (the figure's bitmap font, an ASCII terminal): words for the Greek.
    public static func ascii(_ s: String) -> String {
        s.replacingOccurrences(of: "σ²=β̃", with: "var post").replacingOccurrences(of: "σ²=β", with: "var beta")
            .replacingOccurrences(of: "σ²=learned", with: "var learned")
            .replacingOccurrences(of: "η", with: "eta").replacingOccurrences(of: "x̂0", with: "x0")
            .replacingOccurrences(of: "→", with: "to ").replacingOccurrences(of: "×", with: "scale ")
            .replacingOccurrences(of: "≥", with: ">=")
    }

    /// The base settings the rows share, in the title: all but the one compared, the
    /// temperatures when not 1 ("ddim 20 steps, eta 0.1", "ddpm, var post, guide 7 x4, temp 0.5").
    public static func base(_ spec: CompareSpec) -> String {
        let p = spec.parameter, b = spec.shared
        var parts: [String] = []
        if p != .sampler {
            parts.append(b.kind.rawValue + (b.kind.hasSteps && p != .steps ? " \(b.steps) step" + (b.steps == 1 ? "" : "s") : ""))
            if b.kind == .ddim && p != .eta { parts.append(String(format: "eta %.1f", b.eta)) }
            if b.kind == .ddpm && p != .variance { parts.append("var " + (b.variance == .posterior ? "post" : b.variance.rawValue)) }
        }
        if let g = b.guide, p != .guideScale { parts.append(String(format: "guide %d x%g", g, b.guideScale)) }
        if b.clip && p != .clip { parts.append("clip") }
        if b.temperature != 1 && p != .temperature { parts.append(String(format: "temp %.1f", b.temperature)) }
        if b.noiseTemperature != 1 && spec.drawsNoise && p != .noiseTemperature { parts.append(String(format: "noise %.1f", b.noiseTemperature)) }
        return parts.isEmpty ? "as each row says" : parts.joined(separator: ", ")
    }

    public static func image(_ c: CompareSnapshot) -> GreyImage {
        let side = c.rows.first?.size ?? MNIST.side, n = c.spec.n, gap = 2, margin = 6, line = BitmapFont.height + 3
        let lines: [[String]] = c.rows.map { r in
            [ascii(r.label), String(format: "div %.3f", r.diversity), c.sure(r).map { "\($0.label) \($0.count)/\(n)" } ?? "sure n/a",
             String(format: "%.1f s%@", r.wallTime, r.finished ? "" : " t=\(r.t)")]
        }
        let labelW = (lines.flatMap { $0 }.map(BitmapFont.width(of:)).max() ?? 0) + 3 * margin
        let rowH = max(side, 4 * line) + 2 * gap
        // The title on one line, or on two (the base settings on the second) where one line would
        // be wider than the rows and leave the figure's right part empty.
        let content = labelW + n * (side + gap) + margin
        let head = "\(c.spec.parameter.rawValue): \(n) digits per row, seed \(c.spec.seed)", rest = "base \(base(c.spec))"
        let unfinished = c.finished ? "" : " (unfinished)"
        let oneLine = ascii(head + ", " + rest + unfinished)
        let title = BitmapFont.width(of: oneLine) + 2 * margin <= content ? [oneLine] : [ascii(head + unfinished), ascii(rest)]
        let width = max(content, title.map { BitmapFont.width(of: $0) + 2 * margin }.max()!)
        let top = margin + title.count * line + gap
        let height = top + c.rows.count * rowH + margin
        var px = [UInt8](repeating: 0, count: width * height)
        for (i, text) in title.enumerated() { BitmapFont.draw(text, into: &px, imageWidth: width, x: margin, y: margin + i * line) }
        for (r, row) in c.rows.enumerated() {
            let y = top + r * rowH
            for (i, text) in lines[r].enumerated() {
                BitmapFont.draw(text, into: &px, imageWidth: width, x: margin, y: y + i * line, ink: i == 0 ? 255 : 170)
            }
            for i in 0..<min(n, row.images.count / (side * side)) {
                let x0 = labelW + i * (side + gap)
                for yy in 0..<side { for xx in 0..<side {
                    px[(y + yy) * width + x0 + xx] = ImageWriter.byte(row.images[i * side * side + yy * side + xx])
                } }
            }
        }
        return GreyImage(width: width, height: height, pixels: px)
    }
}
