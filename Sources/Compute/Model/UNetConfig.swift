// UNetConfig.swift: the U-Net's architecture (Tiny, Small, attention levels) and its bounds.
/// Architecture of the chapter's `SimpleDDPMUNet` (see shared/reference/seed_unet.py).
public struct UNetConfig: Sendable, Equatable, Codable {
    /// Width of the first level; the time embedding is 4x this.
    public var nChannels: Int
    /// Width multiplier per resolution level; a stride-2 conv sits between levels.
    public var chMults: [Int]
    /// ResidualBlocks per level on the way down (n_blocks + 1 on the way up).
    public var nBlocks: Int
    public var nMidBlocks: Int = 2
    public var imageChannels: Int = 1
    /// Side of the square input. Tiny runs at 28; 4-level configs need 32
    /// (MNIST padded by 2 pixels of background).
    public var imageSize: Int
    /// Dropout probability inside every ResidualBlock (training only).
    public var dropout: Float = 0.1
    public var groups: Int = 8
    /// Resolution levels (indices into chMults) whose ResidualBlocks are each
    /// followed by the chapter's 4-head AttentionBlock; the middle counts as the
    /// deepest level. Empty in Tiny and Small (the chapter's U-Net has none).
    public var attention: [Int] = []
    public static let attentionHeads = 4
    /// The network also outputs v per pixel, the learned variance's
    /// interpolation Σ = exp(frac log β_t + (1 − frac) log β̃_t), frac = (v + 1)/2
    /// (improved DDPM): conv_out then has 2 · imageChannels outputs, ε first.
    public var learnSigma = false
    /// Channels conv_out writes: ε's, then v's when the variance is learned.
    public var outputChannels: Int { imageChannels * (learnSigma ? 2 : 1) }
    /// Self-conditioning (Chen et al. 2022, "Analog Bits"): the network also
    /// reads an estimate of x0 (the previous sampling step's x̂0, or its own
    /// first guess in training; zeros when there is none), so conv_in reads
    /// 2 · imageChannels planes, x_t first.
    public var selfCondition = false
    /// Channels conv_in reads: x_t's, then the x0 estimate's when self-conditioned.
    public var inputChannels: Int { imageChannels * (selfCondition ? 2 : 1) }

    public init(nChannels: Int, chMults: [Int], nBlocks: Int = 2, nMidBlocks: Int = 2,
                imageChannels: Int = 1, imageSize: Int, dropout: Float = 0.1, groups: Int = 8,
                attention: [Int] = [], learnSigma: Bool = false, selfCondition: Bool = false) {
        self.nChannels = nChannels; self.chMults = chMults; self.nBlocks = nBlocks
        self.nMidBlocks = nMidBlocks; self.imageChannels = imageChannels
        self.imageSize = imageSize; self.dropout = dropout; self.groups = groups
        self.attention = attention; self.learnSigma = learnSigma
        self.selfCondition = selfCondition
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case nChannels, chMults, nBlocks, nMidBlocks, imageChannels, imageSize, dropout, groups, attention, learnSigma, selfCondition
    }

    /// learnSigma and selfCondition are written only when set, so other models' metadata reads as before.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(nChannels, forKey: .nChannels); try c.encode(chMults, forKey: .chMults)
        try c.encode(nBlocks, forKey: .nBlocks); try c.encode(nMidBlocks, forKey: .nMidBlocks)
        try c.encode(imageChannels, forKey: .imageChannels); try c.encode(imageSize, forKey: .imageSize)
        try c.encode(dropout, forKey: .dropout); try c.encode(groups, forKey: .groups)
        try c.encode(attention, forKey: .attention)
        if learnSigma { try c.encode(true, forKey: .learnSigma) }
        if selfCondition { try c.encode(true, forKey: .selfCondition) }
    }

    /// The names a config's JSON may have.
    public static let keyNames = CodingKeys.allCases.map(\.rawValue)
    /// A name in a config's JSON that is not one of `keyNames`, at `path` (its last key).
    public struct UnknownKey: Error {
        public var path: [CodingKey]
    }

    /// Any name in a JSON object.
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Fields after the first three default when absent (files written before they existed).
    /// A name it does not know is refused: a file of a model this program cannot build.
    public init(from decoder: Decoder) throws {
        let names = try decoder.container(keyedBy: AnyKey.self).allKeys.sorted { $0.stringValue < $1.stringValue }
        if let unknown = names.first(where: { CodingKeys(stringValue: $0.stringValue) == nil }) {
            throw UnknownKey(path: decoder.codingPath + [unknown])
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        nChannels = try c.decode(Int.self, forKey: .nChannels)
        chMults = try c.decode([Int].self, forKey: .chMults)
        nBlocks = try c.decode(Int.self, forKey: .nBlocks)
        imageSize = try c.decode(Int.self, forKey: .imageSize)
        nMidBlocks = try c.decodeIfPresent(Int.self, forKey: .nMidBlocks) ?? 2
        imageChannels = try c.decodeIfPresent(Int.self, forKey: .imageChannels) ?? 1
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? 0.1
        groups = try c.decodeIfPresent(Int.self, forKey: .groups) ?? 8
        attention = try c.decodeIfPresent([Int].self, forKey: .attention) ?? []
        learnSigma = try c.decodeIfPresent(Bool.self, forKey: .learnSigma) ?? false
        selfCondition = try c.decodeIfPresent(Bool.self, forKey: .selfCondition) ?? false
    }

    public func hasAttention(level: Int) -> Bool { attention.contains(level) }

    public static let tiny = UNetConfig(nChannels: 16, chMults: [1, 2, 2], imageSize: MNIST.side)
    public static let small = UNetConfig(nChannels: 32, chMults: [1, 2, 2, 4], imageSize: 32)

    public static func named(_ name: String) -> UNetConfig? {
        switch name.lowercased() {
        case "tiny": return .tiny
        case "small": return .small
        default: return nil
        }
    }

    /// "tiny", "small" or a description; "+ learned variance" when it learns one,
    /// "+ attention at 7x7" when Tiny or Small has attention blocks.
    public var name: String {
        if learnSigma { var a = self; a.learnSigma = false; return a.name + " + learned variance" }
        if selfCondition { var a = self; a.selfCondition = false; return a.name + " + self-conditioning" }
        var a = self; a.dropout = UNetConfig.tiny.dropout
        if a == .tiny { return "tiny" }
        if a == .small { return "small" }
        if !attention.isEmpty {
            a.attention = []
            if a == .tiny || a == .small {
                let sides = attention.sorted().map { "\(imageSize >> $0)x\(imageSize >> $0)" }
                return a.name + " + attention at " + sides.joined(separator: ", ")
            }
        }
        let attn = attention.isEmpty ? "" : ",attn" + attention.map(String.init).joined(separator: "-")
        return "custom(c\(nChannels),\(chMults.map(String.init).joined(separator: "-")),b\(nBlocks),s\(imageSize)\(attn))"
    }

    /// Largest widths and sizes accepted (a config read from a file is
    /// checked against these before anything is allocated).
    public static let maxChannels = 1024, maxImageSize = 256, maxLevels = 6, maxBlocks = 8

    /// Checks every field is in range, group norm divides every width, and the
    /// spatial sizes work out (each downsampling must be undone exactly).
    public func validate() throws {
        func bad(_ s: String) -> EngineError { .invalidConfig(s) }
        guard groups >= 1, groups <= 64 else { throw bad("groups must be in 1...64; got \(groups)") }
        guard nChannels > 0, nChannels <= Self.maxChannels else {
            throw bad("n_channels must be in 1...\(Self.maxChannels); got \(nChannels)")
        }
        // Either may be the one at fault: the message names both (groups 3 read as a bad n_channels 16).
        guard nChannels % groups == 0 else {
            throw bad("groups \(groups) does not divide n_channels \(nChannels): GroupNorm splits the channels into equal groups")
        }
        // The sinusoidal time embedding is n_channels wide, sin and cos of n_channels / 2 frequencies spaced
        // by 1 / (n_channels / 2 - 1): under 4 the model could not see t (1) or saw NaN (2, 3). An odd
        // width's last entry stays 0, harmless, and files of such widths were written: they still load.
        guard nChannels >= 4 else {
            throw bad("n_channels must be at least 4 (the time embedding's sin and cos of n_channels / 2 frequencies); got \(nChannels)")
        }
        guard !chMults.isEmpty, chMults.count <= Self.maxLevels else {
            throw bad("ch_mults must have 1...\(Self.maxLevels) levels; got \(chMults.count)")
        }
        for m in chMults where m < 1 || m > Self.maxChannels / nChannels {
            throw bad("ch_mults \(chMults): each must be >= 1 and n_channels x mult <= \(Self.maxChannels)")
        }
        // At least one middle block: the backward pass takes the middle's channels from its last block.
        guard nBlocks >= 1, nBlocks <= Self.maxBlocks, nMidBlocks >= 1, nMidBlocks <= Self.maxBlocks else {
            throw bad("n_blocks must be in 1...\(Self.maxBlocks) and mid blocks in 1...\(Self.maxBlocks); got \(nBlocks), \(nMidBlocks)")
        }
        guard imageChannels == 1 else { throw bad("only 1-channel (grey) images are supported; got \(imageChannels) channels") }
        guard imageSize >= 4, imageSize <= Self.maxImageSize else {
            throw bad("image size must be in 4...\(Self.maxImageSize); got \(imageSize)")
        }
        guard attention.count <= chMults.count, Set(attention).count == attention.count,
              attention.allSatisfy({ (0..<chMults.count).contains($0) }) else {
            // (A list longer than the levels is named by its length: a file's could be a million long.)
            let shown = attention.count <= chMults.count ? "\(attention)" : "(\(attention.count) of them)"
            throw bad("attention levels \(shown) must be distinct indices into ch_mults (0..<\(chMults.count))")
        }
        for l in attention where (nChannels * chMults[l]) % Self.attentionHeads != 0 {
            throw bad("attention at level \(l): \(nChannels * chMults[l]) channels do not split into \(Self.attentionHeads) heads")
        }
        try EngineError.require(dropout >= 0 && dropout < 1, "dropout", "[0, 1)", dropout)
        var s = imageSize
        for _ in 0..<(chMults.count - 1) {
            if s % 2 != 0 {
                throw bad("image size \(imageSize) cannot be halved \(chMults.count - 1) times (pad to 32)")
            }
            s /= 2
        }
    }
}
