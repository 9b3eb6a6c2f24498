// ParserChecks.swift: what the fuzz targets and their regression tests check on one input.
import Foundation

/// What the fuzz targets (Fuzz/) and their regression tests run on one input:
/// every parser must either return a consistent result or throw an
/// `EngineError` (a one-line message naming the file) — never trap, never
/// throw anything else. A broken invariant is reported as a thrown `Failure`.
public enum ParserChecks {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func check(_ ok: Bool, _ what: @autoclosure () -> String) throws {
        if !ok { throw Failure(description: what()) }
    }

    /// Runs `body`; engine errors are the expected outcome of bad input.
    public static func expectingEngineErrors(_ what: String, _ body: () throws -> Void) throws {
        do { try body() } catch let e as EngineError {
            // One clear line: no newline, and short (names and shapes are cut).
            let text = e.description
            try check(text.count <= 1000 && !text.contains("\n"), "\(what): an error of \(text.count) characters: \(text.prefix(200))…")
        } catch let f as Failure { throw f
        } catch { throw Failure(description: "\(what) threw a non-engine error: \(error)") }
    }

    private static let tinyLayout = try! UNet(.tiny).layout

    /// IDX sets, raw or gzip (taken when the input starts with the gzip magic),
    /// then the loader's checks as images and as labels.
    public static func idx(_ data: Data) throws {
        try expectingEngineErrors("IDX parse") {
            let f = try IDXFile.parse(data, path: "input.idx")
            try check(f.bytes.count == f.dims.reduce(1, *), "IDX parse returned \(f.bytes.count) bytes for \(f.dims)")
            try check(f.encoded().count == 4 + 4 * f.dims.count + f.bytes.count, "IDX encoding size")
            if f.dims.count == 3, f.dims[0] > 0 {
                let labels = IDXFile(dims: [f.dims[0]], bytes: [UInt8](repeating: 7, count: f.dims[0]))
                try expectingEngineErrors("Dataset(images:)") {
                    let d = try Dataset(images: f, labels: labels, imagesPath: "input.idx", labelsPath: "l", limit: 2)
                    try check(d.images.count == d.count * d.side * d.side, "dataset size")
                    // What `ddpm train` does next: pad to the model's side (28 or 32), then train on it.
                    for side in [28, 32] {
                        try expectingEngineErrors("Dataset.padded(to: \(side))") {
                            let p = try d.padded(to: side)
                            try check(p.side == side && p.images.count == p.count * side * side, "padded size")
                        }
                    }
                }
            }
            if f.dims.count == 1, f.dims[0] > 0 {
                let images = IDXFile(dims: [f.dims[0], 2, 2], bytes: [UInt8](repeating: 0, count: f.dims[0] * 4))
                try expectingEngineErrors("Dataset(labels:)") {
                    _ = try Dataset(images: images, labels: f, imagesPath: "i", labelsPath: "input.idx")
                }
            }
        }
    }

    /// Safetensors header and data, then the model metadata, then loading into
    /// the Tiny layout (what the explorer does with a weights file).
    public static func safetensors(_ data: Data) throws {
        try expectingEngineErrors("safetensors parse") {
            let f = try SafeTensors.parse(data, path: "input.safetensors")
            for (name, t) in f.tensors {
                try check(t.name == name && t.data.count == t.shape.reduce(1, *), "inconsistent tensor \(name)")
            }
            try check(Set(f.order) == Set(f.tensors.keys), "tensor order does not list every tensor")
            try expectingEngineErrors("model metadata") { _ = try Checkpoint.modelSpec(f.metadata, path: "input.safetensors") }
            let params = FloatBuffer(count: tinyLayout.count)
            try f.load(into: params.ptr, layout: tinyLayout)
        }
    }

    /// A weights file's or checkpoint's `__metadata__`, given as a JSON object
    /// (non-string values are dropped, as the safetensors reader refuses them).
    public static func metadata(_ data: Data) throws {
        guard let obj = try? JSONSerialization.jsonObject(with: data), let dict = obj as? [String: Any] else { return }
        var meta: [String: String] = [:]
        for (k, v) in dict { if let s = v as? String { meta[k] = s } }
        try expectingEngineErrors("model metadata") {
            let (cfg, spec) = try Checkpoint.modelSpec(meta, path: "input.safetensors")
            // What passed validation must be buildable.
            try check(try UNet(cfg).parameterCount <= Checkpoint.maxParameters, "model over the parameter bound")
            _ = try NoiseSchedule(spec)
        }
        try expectingEngineErrors("checkpoint metadata") {
            let s = try Checkpoint.trainState(meta, path: "input.safetensors")
            try check(s.step >= 0 && s.rng.count == 4, "train state")
            _ = try UNet(s.options.config)
        }
    }

    /// A recording (.ddpmtraj): parsed, then played to the end as `ddpm replay`
    /// does and drawn as `ddpm export-gif` does, all without a model.
    public static func recording(_ data: Data) throws {
        try expectingEngineErrors("recording parse") {
            let r = try Recording.parse(data, path: "input.ddpmtraj")
            let px = r.n * r.size * r.size
            for side in [r.main] + (r.fork.map { [$0.side] } ?? []) {
                for f in side.frames {
                    try check(f.xt.count == px && f.x0.count == px, "frame \(f.step) holds \(f.xt.count) pixels, not \(px)")
                    try check(f.readings.isEmpty || f.readings.count == r.n, "frame \(f.step) has \(f.readings.count) readings")
                }
                try check(side.final.map { $0.count == px } ?? true, "final samples of the wrong size")
            }
            let player = ReplayPlayer(r)
            var steps = 0
            while !player.isFinished && steps <= r.main.frames.count + (r.fork?.side.frames.count ?? 0) { player.step(); steps += 1 }
            try check(player.isFinished, "the replay did not finish in \(steps) steps")
            try check(player.snapshot.history.count == r.main.frames.count, "the replay showed \(player.snapshot.history.count) of \(r.main.frames.count) frames")
            var o = TrajectoryGIF.Options(); o.frames = 4; o.scale = 1
            let pics = TrajectoryGIF.pictures(r, o)
            try check(!pics.isEmpty && pics.allSatisfy { $0.0.pixels.count == $0.0.width * $0.0.height }, "GIF pictures")
        }
    }
}
