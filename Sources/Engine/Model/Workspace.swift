/// Scratch memory shared by the layers of one model instance: reused by every
/// layer, grown only when a larger batch arrives.
public final class Workspace: @unchecked Sendable {
    /// im2col / col2im matrix.
    public let col = FloatBuffer(count: 1)
    /// Two activation-sized temporaries for block-internal gradients.
    public let t1 = FloatBuffer(count: 1), t2 = FloatBuffer(count: 1)
    /// GroupNorm backward's per-element scratch.
    public let gn = FloatBuffer(count: 1)
    /// Gradient of a concatenated (h, skip) input.
    public let dcat = FloatBuffer(count: 1)
    public init() {}
}
