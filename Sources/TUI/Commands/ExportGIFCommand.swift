// ExportGIFCommand.swift: `ddpm export-gif`: a recording as an animated GIF.
import ArgumentParser
import Engine
import Foundation

struct ExportGIFCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-gif",
        abstract: "Write a recorded trajectory (.ddpmtraj) as an animated GIF: x_t and predicted x0 side by side for each digit, a t label and a progress bar in every frame, frames denser near t = 0, the final samples held at the end.", usage: "ddpm export-gif <file> --out <out> [<options>]")

    @Argument(help: "The recording (.ddpmtraj), from 'ddpm sample --record' or R in the explorer.") var file: String
    @Option(help: "The GIF to write.") var out: String
    @Option(parsing: .unconditional, help: "Frames before the final one (2...1000; at most the recording's steps).") var frames: Int = 60
    @Option(parsing: .unconditional, help: "Milliseconds between frames (10...10000).") var delay: Int = 80
    @Option(parsing: .unconditional, help: "Milliseconds the final samples stay (10...60000).") var hold: Int = 2000
    @Option(parsing: .unconditional, help: "Scale factor (1...8; 3 or 4 for a projector).") var scale: Int = 2
    @Option(parsing: .unconditional, help: "Digits shown, the first ones (1...64; default: all recorded).") var digits: Int?

    var options: TrajectoryGIF.Options {
        var o = TrajectoryGIF.Options()
        o.frames = frames; o.delayMs = delay; o.holdMs = hold; o.scale = scale; o.digits = digits
        return o
    }

    func validate() throws {
        try validating { try options.validate() }
        guard (out as NSString).pathExtension.lowercased() == "gif" else { throw ValidationError("--out must be a file name ending in .gif, got '\(EngineError.quoted(out))'") }
    }

    func run() throws {
        try wrap {
            try AtomicFile.checkOutputs([("--out", out)], notOverwriting: [("the recording", file)])
            let rec = try Recording.read(file)
            // Say where the recording has less than asked for.
            if frames > rec.main.frames.count { print("note: the recording has \(rec.main.frames.count) steps: all of them are shown") }
            if let d = digits, d > rec.n { print("note: the recording has \(rec.n) digits: all of them are shown") }
            if rec.main.final == nil { print("note: the recording was made before the run finished: no final frame") }
            let t0 = Benchmark.now()
            let r = try TrajectoryGIF.write(out, recording: rec, options: options)
            let s = Benchmark.now() - t0
            // How long it plays (the frames' delays and the final hold), then how long encoding took
            // ("1.4 ms a frame" alone read as the playback speed).
            let plays = options.playSeconds(frames: r.frames, final: rec.main.final != nil)
            print(String(format: "wrote %@: %d frames, %d ms apart, plays %.1f s; %.1f MB, encoded in %.2f s (%.1f ms a frame)",
                         EngineError.oneLine(out), r.frames, delay, plays, Double(r.bytes) / 1e6, s, 1000 * s / Double(r.frames)))
        }
    }
}
