// MNIST.swift: Dataset: labelled grey digits from IDX files, scaled to [-1, 1], padding.
import Foundation

/// A set of 28x28 grey digits with labels, pixels scaled to [-1, 1].
public struct Dataset: Sendable {
    public var images: [Float]      // [N, side*side]
    public var labels: [UInt8]
    public var side: Int
    public var count: Int { labels.count }

    public init(images: [Float], labels: [UInt8], side: Int) {
        self.images = images; self.labels = labels; self.side = side
    }

    /// Loads `train-*` or `t10k-*` IDX files (gzip or raw) from `dir`.
    public static func load(dir: String, train: Bool, limit: Int? = nil) throws -> Dataset {
        let prefix = train ? "train" : "t10k"
        guard !dir.isEmpty else {
            throw EngineError.badFile(path: "\"\"", reason: "an empty folder name (an MNIST-style IDX folder is needed)")
        }
        var st = stat()
        guard stat(dir, &st) == 0 else {
            let e = errno
            throw EngineError.badFile(path: InputFile.shortened(dir), reason: e == ENOENT
                ? "no such folder (an MNIST-style IDX folder is needed)" : InputFile.reason(e))
        }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw EngineError.badFile(path: dir, reason: (st.st_mode & S_IFMT == S_IFREG ? "is a file" : "is not a folder") + "; give the folder that holds \(prefix)-images-idx3-ubyte[.gz] and \(prefix)-labels-idx1-ubyte[.gz]")
        }
        func find(_ kind: String) throws -> String {
            for p in spellings(dir, prefix, kind) {
                if FileManager.default.fileExists(atPath: p) { return p }
                // A link to nothing (or to itself) is there, unreadable: said so, not "no such file here".
                var ls = stat(), target = stat()
                if lstat(p, &ls) == 0, stat(p, &target) != 0 {
                    throw EngineError.badFile(path: p, reason: "is a link that leads nowhere readable (" + InputFile.reason(errno) + ")")
                }
            }
            throw EngineError.badFile(path: dir, reason: "no \(prefix)-\(kind)-ubyte[.gz] here (an MNIST-style IDX folder is needed)")
        }
        let ip = try find("images-idx3"), lp = try find("labels-idx1")
        let images = try IDXFile.read(ip) { dims in try usableImages(dims, path: ip) }
        let labels = try IDXFile.read(lp) { dims in
            guard dims.count == 1, dims[0] == images.dims[0] else {
                throw EngineError.badFile(path: lp, reason: "expected [\(images.dims[0])] labels for \(ip), got \(dims)")
            }
        }
        return try Dataset(images: images, labels: labels, imagesPath: ip, labelsPath: lp, limit: limit)
    }

    /// The IDX files in `dir` that `load` may read (both sets, every spelling
    /// it accepts), those that exist: what an output must not overwrite.
    public static func files(in dir: String) -> [String] {
        ["train", "t10k"].flatMap { prefix in ["images-idx3", "labels-idx1"].flatMap { spellings(dir, prefix, $0) } }
            .filter { FileManager.default.fileExists(atPath: $0) }
    }

    /// The names `load` looks for, in its order: gzip, raw, `.idx`.
    static func spellings(_ dir: String, _ prefix: String, _ kind: String) -> [String] {
        ["\(prefix)-\(kind)-ubyte.gz", "\(prefix)-\(kind)-ubyte", "\(prefix)-\(kind).idx"].map { dir + "/" + $0 }
    }

    /// Largest image set loaded (bytes; as floats it takes 4x). MNIST's
    /// training set is 47 MB; sets up to 32x32 are what a model here takes.
    public static let maxImageBytes = 256 << 20
    public static let maxSide = 32

    /// Whether an IDX header describes an image set a model here can use:
    /// [N, side, side], side <= 32, at most `maxImageBytes` (checked before the payload is read).
    public static func usableImages(_ dims: [Int], path: String) throws {
        guard dims.count == 3, dims[1] == dims[2], dims[1] > 0 else {
            throw EngineError.badFile(path: path, reason: "expected [N, side, side] images, got \(dims)")
        }
        guard dims[1] <= maxSide else {
            throw EngineError.badFile(path: path, reason: "images of \(dims[1])x\(dims[1]) are larger than the \(maxSide)x\(maxSide) a model here takes")
        }
        guard dims[0] * dims[1] * dims[2] <= maxImageBytes else {
            throw EngineError.badFile(path: path, reason: "\(dims[0]) images are more than the \(maxImageBytes >> 20) MiB an image set may have")
        }
    }

    /// Checks a pair of parsed IDX files is an image set with matching labels
    /// (labels 0...9) and scales the pixels.
    public init(images imgs: IDXFile, labels labs: IDXFile, imagesPath ip: String, labelsPath lp: String,
                limit: Int? = nil) throws {
        guard imgs.dims.count == 3, imgs.dims[1] == imgs.dims[2], imgs.dims[1] > 0 else {
            throw EngineError.badFile(path: ip, reason: "expected [N, side, side] images, got \(imgs.dims)")
        }
        guard labs.dims.count == 1 else { throw EngineError.badFile(path: lp, reason: "expected [N] labels, got \(labs.dims)") }
        guard imgs.dims[0] == labs.dims[0] else {
            throw EngineError.badFile(path: lp, reason: "\(labs.dims[0]) labels for \(imgs.dims[0]) images in \(ip)")
        }
        guard imgs.dims[0] > 0 else { throw EngineError.badFile(path: ip, reason: "the set is empty") }
        if let bad = labs.bytes.firstIndex(where: { $0 > 9 }) {
            throw EngineError.badFile(path: lp, reason: "label \(labs.bytes[bad]) at index \(bad) is not a digit 0...9")
        }
        let n = min(max(limit ?? imgs.dims[0], 1), imgs.dims[0]), side = imgs.dims[1]
        try InputFile.checkMemory(n * side * side * MemoryLayout<Float>.size, for: "\(n) images of \(ip) as floats (--limit takes fewer)")
        let images = imgs.bytes[0..<(n * side * side)].map { Float($0) / 127.5 - 1 }
        self.init(images: images, labels: Array(labs.bytes[0..<n]), side: side)
    }

    /// The images `range` and their labels.
    public func subset(_ range: Range<Int>) -> Dataset {
        let P = side * side
        return Dataset(images: Array(images[(range.lowerBound * P)..<(range.upperBound * P)]), labels: Array(labels[range]), side: side)
    }

    /// Whether this program draws and reads these images: 28x28, or up to 32x32
    /// around a central 28x28 (what a 32x32 model is padded from).
    public func checkDrawable(_ dir: String) throws {
        guard side >= MNIST.side, side <= Dataset.maxSide, (side - MNIST.side) % 2 == 0 else {
            throw EngineError.badFile(path: dir, reason: "its images are \(side)x\(side); this program takes 28x28 images, or 32x32 around a central 28x28")
        }
    }

    /// The central 28x28 of every image (a 32x32 set as the 28x28 classifier
    /// reads it, as generated 32x32 samples are read); a 28x28 set as it is.
    public func centre28() -> Dataset {
        Dataset(images: crop(images, n: count, from: side), labels: labels, side: MNIST.side)
    }

    /// Pads every image with background (-1) to `newSide` (28 -> 32 for
    /// 4-level models). Throws when the images are larger than `newSide` or
    /// the padding is odd: a model cannot take them (a real error, not a
    /// precondition, since the images come from a file).
    public func padded(to newSide: Int) throws -> Dataset {
        if newSide == side { return self }
        guard newSide > side, (newSide - side) % 2 == 0 else {
            throw EngineError.invalidArgument(
                "the images are \(side)x\(side) but the model takes \(newSide)x\(newSide)"
                + (newSide > side ? " (padding must be even on both sides)" : " (images larger than the model's are not cropped)"))
        }
        let off = (newSide - side) / 2
        try InputFile.checkMemory(count * newSide * newSide * MemoryLayout<Float>.size, for: "\(count) images padded to \(newSide)x\(newSide) (--limit takes fewer)")
        var out = [Float](repeating: -1, count: count * newSide * newSide)
        images.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count {
                    for y in 0..<side {
                        let from = i * side * side + y * side, to = i * newSide * newSide + (y + off) * newSide + off
                        // Bounds-checked slices: this copies data read from a file.
                        dst[to..<(to + side)].update(fromContentsOf: src[from..<(from + side)])
                    }
                }
            }
        }
        return Dataset(images: out, labels: labels, side: newSide)
    }
}
