// TrajectoryGIF.swift: a recorded trajectory as an animated GIF (giflib).
import CGif
import Foundation

/// An animated GIF of a recording's main run: for each digit x_t and x̂0 side
/// by side, a t label and a progress bar in every frame. Frames are picked
/// with an ease-in, denser near t = 0 where the digits form; the last frame
/// shows the final samples (both panels) and is held longer. Encoded by
/// giflib with a 256-grey palette (x̂0's grey levels are the PNG export's).
public enum TrajectoryGIF {
    public struct Options: Sendable {
        /// Frames before the final one (at most the recording's steps).
        public var frames = 60
        /// Delay between frames, and how long the final samples stay (milliseconds; GIF counts hundredths).
        public var delayMs = 80, holdMs = 2000
        /// Nearest-neighbour scale factor (projectors want 3 or 4).
        public var scale = 2
        /// Digits shown (the first ones; nil: all recorded, at most 64).
        public var digits: Int? = nil
        public init() {}
        /// Seconds a GIF of `frames` pictures plays: the delays, the last one (the final samples, when
        /// the run finished) held instead.
        public func playSeconds(frames: Int, final: Bool) -> Double {
            Double(final ? (frames - 1) * delayMs + holdMs : frames * delayMs) / 1000
        }
        public func validate() throws {
            try EngineError.require((2...1000).contains(frames), "frames", "2...1000", frames)
            try EngineError.require((10...10_000).contains(delayMs), "delay", "10...10000 ms", delayMs)
            try EngineError.require((10...60_000).contains(holdMs), "hold", "10...60000 ms", holdMs)
            try EngineError.require((1...8).contains(scale), "scale", "1...8", scale)
            if let d = digits { try EngineError.require((1...64).contains(d), "digits", "1...64", d) }
        }
    }

    /// Which recorded frames to show: `count` of `total` (all of them when
    /// there are no more), strictly increasing from the first to the last,
    /// denser toward the end: index ≈ (1 - (1 - u)²) · (total - 1) for u evenly
    /// in [0, 1], nudged apart where two would round to the same frame.
    public static func frameIndices(total: Int, count: Int) -> [Int] {
        guard total > 0 else { return [] }
        guard count > 1, total > 1 else { return [total - 1] }
        if total <= count { return Array(0..<total) }
        var out: [Int] = []
        for i in 0..<count {
            let u = Double(i) / Double(count - 1)
            var idx = Int(((1 - (1 - u) * (1 - u)) * Double(total - 1)).rounded())
            idx = min(max(idx, (out.last ?? -1) + 1), total - count + i)
            out.append(idx)
        }
        return out
    }

    public typealias Picture = GreyImage

    /// The geometry of a frame for `k` digits of side `side`.
    struct Geometry {
        let k: Int, side: Int, cols: Int, rows: Int
        static let margin = 4, gap = 2, colGap = 8, rowGap = 4, title = 12, heads = 10, bar = 4
        init(k: Int, side: Int) {
            self.k = k; self.side = side
            // Square-ish, but filled when a wider grid divides k (8 digits: 4x2, not 3x3 with a hole).
            let square = max(1, Int(Double(k).squareRoot().rounded(.up)))
            cols = min(k, (square...(2 * square)).first { k % $0 == 0 } ?? square)
            rows = (k + cols - 1) / cols
        }
        var pairW: Int { 2 * side + Self.gap }
        var width: Int { 2 * Self.margin + cols * pairW + (cols - 1) * Self.colGap }
        var gridTop: Int { Self.margin + Self.title + Self.heads }
        var height: Int { gridTop + rows * side + (rows - 1) * Self.rowGap + Self.rowGap + Self.bar + Self.margin }
        /// Top-left of digit i's x_t panel; its x̂0 panel is `side + gap` to the right.
        func origin(_ i: Int) -> (x: Int, y: Int) {
            (Self.margin + (i % cols) * (pairW + Self.colGap), gridTop + (i / cols) * (side + Self.rowGap))
        }
    }

    /// The picture of one frame: `xt` (already scaled to [-1, 1] for display)
    /// and `x0` for `k` digits, the label on top, progress in [0, 1].
    public static func picture(xt: [Float], x0: [Float], k: Int, side: Int, label: String, progress: Double) -> Picture {
        let g = Geometry(k: k, side: side)
        var px = [UInt8](repeating: 0, count: g.width * g.height)
        // The label, or as much of it as fits: its parts are separated by two spaces, the first (t) always kept.
        var shown = label
        while BitmapFont.width(of: shown) > g.width - 2 * Geometry.margin, let cut = shown.range(of: "  ", options: .backwards) {
            shown = String(shown[..<cut.lowerBound])
        }
        BitmapFont.draw(shown, into: &px, imageWidth: g.width, x: Geometry.margin, y: Geometry.margin)
        for c in 0..<min(g.cols, k) {
            let (x, _) = g.origin(c)
            let y = Geometry.margin + Geometry.title
            BitmapFont.draw("x_t", into: &px, imageWidth: g.width, x: x + (side - BitmapFont.width(of: "x_t")) / 2, y: y, ink: 160)
            BitmapFont.draw("x0", into: &px, imageWidth: g.width, x: x + side + Geometry.gap + (side - BitmapFont.width(of: "x0")) / 2, y: y, ink: 160)
        }
        for i in 0..<k {
            let (ox, oy) = g.origin(i)
            GreyImage.blit(xt, index: i, side: side, into: &px, width: g.width, x: ox, y: oy)
            GreyImage.blit(x0, index: i, side: side, into: &px, width: g.width, x: ox + side + Geometry.gap, y: oy)
        }
        // The progress bar: dark grey track, white share done.
        let barY = g.height - Geometry.margin - Geometry.bar, barW = g.width - 2 * Geometry.margin
        let done = Int((Double(barW) * min(1, max(0, progress))).rounded())
        for y in barY..<(barY + Geometry.bar) {
            for x in 0..<barW { px[y * g.width + Geometry.margin + x] = x < done ? 255 : 60 }
        }
        return Picture(width: g.width, height: g.height, pixels: px)
    }

    /// The GIF's frames for a recording, drawn one at a time when asked for
    /// (`picture(i)`: the i-th picture and its delay in hundredths of a
    /// second), so a long GIF never holds all its pictures at once.
    public struct Frames {
        public let count: Int
        /// Width and height of every picture, before scaling.
        public let width: Int, height: Int
        public let picture: (Int) -> (Picture, Int)
    }

    public static func frames(_ r: Recording, _ o: Options) -> Frames {
        let sched = try? NoiseSchedule(r.schedule)
        let k = min(o.digits ?? r.n, r.n), side = r.size, px = k * side * side
        let frames = r.main.frames
        let total = max(r.timesteps.count, frames.count)
        let shown = frameIndices(total: frames.count, count: min(o.frames, frames.count))
        let g = Geometry(k: k, side: side)
        return Frames(count: shown.count + (r.main.final == nil ? 0 : 1), width: g.width, height: g.height) { j in
            if j == shown.count, let fin = r.main.final {
                let x = Array(fin.prefix(px))
                return (picture(xt: x, x0: x, k: k, side: side, label: "t=0  done  seed \(r.seed)", progress: 1), (o.holdMs + 5) / 10)
            }
            let f = frames[shown[j]]
            let range = sched?.xtDisplayRange(t: f.t, temperature: r.temperature) ?? 1
            let xt = f.xt.prefix(px).map { Float($0) / range }
            let x0 = f.x0.prefix(px).map { Float($0) }
            // Each frame's own settings (they can change mid-run), as far as the width allows.
            return (picture(xt: xt, x0: x0, k: k, side: side, label: "t=\(f.t)  step \(f.step + 1)/\(total)  " + f.settings.caption(temperature: r.temperature),
                             progress: Double(f.step + 1) / Double(total)), (o.delayMs + 5) / 10)
        }
    }

    /// The GIF's pictures and delays (hundredths of a second) for a recording, all at once.
    public static func pictures(_ r: Recording, _ o: Options) -> [(Picture, Int)] {
        let f = frames(r, o)
        return (0..<f.count).map(f.picture)
    }

    /// Encodes `count` pictures (all the same size) with their delays as a
    /// looping GIF, each drawn when it is written.
    public static func encode(count: Int, _ frame: (Int) -> (Picture, Int)) throws -> [UInt8] {
        guard count > 0 else { throw EngineError.invalidArgument("no frames to write") }
        let opening = frame(0), first = opening.0
        final class Sink { var bytes: [UInt8] = [] }
        let sink = Sink()
        var err: Int32 = 0
        let box = Unmanaged.passRetained(sink)
        defer { box.release() }
        guard let gif = EGifOpen(box.toOpaque(), { g, data, len in
            guard let g, let data, len > 0 else { return 0 }
            let s = Unmanaged<Sink>.fromOpaque(g.pointee.UserData).takeUnretainedValue()
            s.bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(len)))
            return len
        }, &err) else { throw gifError("cannot start the GIF", err) }
        var closed = false
        defer { if !closed { EGifCloseFile(gif, &err) } }
        EGifSetGifVersion(gif, true)
        var colours = (0..<256).map { GifColorType(Red: GifByteType($0), Green: GifByteType($0), Blue: GifByteType($0)) }
        guard let map = GifMakeMapObject(256, &colours) else { throw gifError("cannot make the palette", 0) }
        defer { GifFreeMapObject(map) }
        guard EGifPutScreenDesc(gif, Int32(first.width), Int32(first.height), 8, 0, map) == GIF_OK else {
            throw gifError("cannot write the screen descriptor", gif.pointee.Error)
        }
        // Loop forever (the NETSCAPE2.0 application extension).
        var app = Array("NETSCAPE2.0".utf8), loop: [UInt8] = [1, 0, 0]
        guard EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) == GIF_OK,
              EGifPutExtensionBlock(gif, 11, &app) == GIF_OK,
              EGifPutExtensionBlock(gif, 3, &loop) == GIF_OK,
              EGifPutExtensionTrailer(gif) == GIF_OK else { throw gifError("cannot write the loop extension", gif.pointee.Error) }
        for i in 0..<count {
            let (pic, delay) = i == 0 ? opening : frame(i)
            precondition(pic.width == first.width && pic.height == first.height)
            var gcb = GraphicsControlBlock(DisposalMode: DISPOSE_DO_NOT, UserInputFlag: false, DelayTime: Int32(delay), TransparentColor: -1)
            var ext = [GifByteType](repeating: 0, count: 4)
            let n = EGifGCBToExtension(&gcb, &ext)
            guard EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, Int32(n), ext) == GIF_OK,
                  EGifPutImageDesc(gif, 0, 0, Int32(pic.width), Int32(pic.height), false, nil) == GIF_OK else {
                throw gifError("cannot write a frame", gif.pointee.Error)
            }
            var row = [GifPixelType](repeating: 0, count: pic.width)
            for y in 0..<pic.height {
                for x in 0..<pic.width { row[x] = pic.pixels[y * pic.width + x] }
                guard EGifPutLine(gif, &row, Int32(pic.width)) == GIF_OK else { throw gifError("cannot write a frame", gif.pointee.Error) }
            }
        }
        closed = true
        guard EGifCloseFile(gif, &err) == GIF_OK else { throw gifError("cannot finish the GIF", err) }
        return sink.bytes
    }

    /// Renders and writes a recording's GIF atomically; returns the frame count and the file size.
    @discardableResult
    public static func write(_ path: String, recording r: Recording, options o: Options) throws -> (frames: Int, bytes: Int) {
        try o.validate()
        let f = frames(r, o)
        // Noise compresses badly: the file is about as large as its pixels.
        let pixels = f.count * f.width * f.height * o.scale * o.scale
        guard pixels <= maxPixels else {
            throw EngineError.invalidArgument(String(format: "this GIF would hold %d MiB of pixels (%d frames of %dx%d), over the %d MiB a GIF may have: give fewer --frames, a smaller --scale or fewer --digits",
                                                     pixels >> 20, f.count, f.width * o.scale, f.height * o.scale, maxPixels >> 20))
        }
        let bytes = try encode(count: f.count) { let (p, d) = f.picture($0); return (p.scaled(by: o.scale), d) }
        try AtomicFile.write(path, data: Data(bytes))
        return (f.count, bytes.count)
    }

    /// Most pixels a GIF may have, all frames together (its bytes are about
    /// as many, and are held twice while written).
    public static let maxPixels = 256 << 20

    static func gifError(_ what: String, _ code: Int32) -> EngineError {
        let why = GifErrorString(code).map { String(cString: $0) } ?? "giflib error \(code)"
        return .invalidArgument("\(what): \(why)")
    }
}
