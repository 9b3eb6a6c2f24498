// ReferenceCache.swift: the reference digits' features and statistics kept on
// disk between runs of `ddpm eval`, so that a run does not classify the 10,000
// test digits and decompose their covariance again (about 5 s of every run on
// a 2-core machine). Like torch-fidelity's and clean-fid's cached reference
// statistics, but keyed by everything the numbers depend on.
import Compute
import Foundation

/// Where `Evaluation`'s reference part is kept: one file per classifier and
/// reference set, `reference-<16 hex digits>.bin` in a folder the caller
/// gives (`ddpm eval`: `Assets.cacheFolder`), holding the reference's
/// features, mean, covariance, the covariance's square root and trace, and
/// the kernel distance's scale and within-set mean, exactly as computed, in
/// this machine's byte order.
///
/// The file's key is the SHA-256 of the classifier's architecture and
/// weights, the reference images, and what computes the numbers: the ddpm
/// binary, the kernels it chose on this CPU, its core count, the CPU and the
/// BLIS library it loaded (and BLIS_ARCH_TYPE); so a rebuilt program,
/// another machine sharing the folder or an upgraded BLIS never reads
/// numbers computed otherwise. A file whose key, checksum or numbers do not
/// hold is computed again and replaced (only a regular file: a symlink is
/// removed, anything else left alone). Either way the numbers are the ones a
/// run without the cache gives, bit for bit.
public enum ReferenceCache {
    static let magic = Array("ddpm-explorer reference statistics 1\n".utf8)

    /// The file for this classifier and reference set, and the key it must hold.
    static func entry(classifier: Classifier, params: FloatBuffer, reference: Dataset, folder: String) throws -> (path: String, key: [UInt8]) {
        let source = try SHA256()
        source.update(magic)
        source.update(classifier.arch.description + "\n")
        source.update(UnsafeRawBufferPointer(start: params.ptr, count: classifier.layout.count * MemoryLayout<Float>.size))
        source.update([Int64(reference.count), Int64(reference.side)])
        source.update(reference.images)
        let name = try source.finish()
        let key = try SHA256()
        key.update(name)
        key.update(try computedBy())
        let hex = name.prefix(8).map { String(format: "%02x", $0) }.joined()
        return (folder + "/reference-" + hex + ".bin", try key.finish())
    }

    /// What the numbers depend on besides their inputs: the program's SHA-256, the kernels and
    /// core count it runs with, the CPU and BLIS_ARCH_TYPE (by which BLIS picks its kernels),
    /// and each BLIS library mapped into it (path, size, change time).
    static func computedBy() throws -> String {
        var parts = [try sha256(ofFile: "/proc/self/exe"), Backend.detected.rawValue, "\(Parallel.cores) cores",
                     // BLIS picks its kernels by the CPU, or by BLIS_ARCH_TYPE when set.
                     "BLIS_ARCH_TYPE=" + (ProcessInfo.processInfo.environment["BLIS_ARCH_TYPE"] ?? "")]
        // The CPU: vendor, family, model and feature flags (of the first processor).
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let block = cpuinfo.components(separatedBy: "\n\n").first ?? ""
        parts += block.split(separator: "\n").filter { line in
            ["vendor_id", "cpu family", "model", "model name", "flags"].contains { line.hasPrefix($0 + "\t") || line.hasPrefix($0 + " ") }
        }.map(String.init)
        let maps = (try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)) ?? ""
        let libraries = Set(maps.split(separator: "\n").compactMap { line -> String? in
            guard let at = line.firstIndex(of: "/") else { return nil }
            let path = String(line[at...])
            return path.contains("blis") ? path : nil
        })
        for path in libraries.sorted() {
            var st = stat()
            guard stat(path, &st) == 0 else { throw EngineError.io("cannot stat \(path)") }
            parts.append("\(path) \(st.st_size) \(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)")
        }
        return parts.joined(separator: "\n")
    }

    static func byteCount(n: Int, d: Int) -> Int {
        magic.count + 32 + 16 + n * d * 4 + (d + 2 * d * d + 3) * 8 + 32
    }

    /// The reference part stored at `path` under `key`, or nil when the file is
    /// missing, of another key or size, or damaged.
    static func load(_ path: String, key: [UInt8], n: Int, d: Int) -> Evaluation.ReferencePart? {
        let size = byteCount(n: n, d: d)
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: path),
              attrs[.type] as? FileAttributeType == .typeRegular, (attrs[.size] as? NSNumber)?.intValue == size,
              let data = FileManager.default.contents(atPath: path), data.count == size else { return nil }
        return data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Evaluation.ReferencePart? in
            guard let check = try? SHA256() else { return nil }
            check.update(UnsafeRawBufferPointer(rebasing: raw[0..<(size - 32)]))
            guard let sum = try? check.finish(), Array(raw[(size - 32)...]) == sum,
                  Array(raw[0..<magic.count]) == magic, Array(raw[magic.count..<(magic.count + 32)]) == key else { return nil }
            var at = magic.count + 32
            func read<T>(_ count: Int, _: T.Type) -> [T] {
                let bytes = count * MemoryLayout<T>.size
                let values = [T](unsafeUninitializedCapacity: count) { buf, made in
                    UnsafeMutableRawBufferPointer(buf).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[at..<(at + bytes)]))
                    made = count
                }
                at += bytes
                return values
            }
            let shape = read(2, Int64.self)
            guard shape == [Int64(n), Int64(d)] else { return nil }
            let feats = read(n * d, Float.self), mean = read(d, Double.self), cov = read(d * d, Double.self)
            let sqrtCov = read(d * d, Double.self), scalars = read(3, Double.self)
            // Anyone who can write the folder can write a file whose checksum holds: numbers the
            // computation never gives (a NaN square root took 25 s and printed "NaN") are not read.
            guard feats.allSatisfy(\.isFinite), mean.allSatisfy(\.isFinite), cov.allSatisfy(\.isFinite),
                  sqrtCov.allSatisfy(\.isFinite), scalars.allSatisfy(\.isFinite), scalars[0] >= 0, scalars[1] > 0 else { return nil }
            // A write killed midway left its temporary (11 MB): a hit writes nothing, so it goes here.
            AtomicFile.removeStaleTemporaries(of: path)
            return Evaluation.ReferencePart(features: feats, count: n, mean: mean, cov: cov, sqrtCov: sqrtCov,
                                            trace: scalars[0], kernelScale: scalars[1], kernelWithin: scalars[2])
        }
    }

    /// Writes `part` to `path` under `key` (atomically: a reader sees the old file or the whole new one).
    static func save(_ part: Evaluation.ReferencePart, to path: String, key: [UInt8]) throws {
        var head = magic + key
        withUnsafeBytes(of: Int64(part.count)) { head += $0 }
        withUnsafeBytes(of: Int64(part.mean.count)) { head += $0 }
        let scalars = [part.trace, part.kernelScale, part.kernelWithin]
        let check = try SHA256()
        check.update(head); check.update(part.features); check.update(part.mean); check.update(part.cov)
        check.update(part.sqrtCov); check.update(scalars)
        let sum = try check.finish()
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        // Only a regular file of ours is replaced: AtomicFile writes through a symlink (to another
        // file, or /dev/stdout) and into a FIFO (where a reader that never reads blocked the run),
        // as an --out given by the user should. A symlink is removed (the link, not its target).
        var st = stat()
        if lstat(path, &st) == 0 {
            switch st.st_mode & S_IFMT {
            case S_IFREG: break
            case S_IFLNK:
                guard unlink(path) == 0 else { throw EngineError.io("cannot remove the symlink \(InputFile.shortened(path)): \(String(cString: strerror(errno)))") }
            default: throw EngineError.io("\(InputFile.shortened(path)) is not a regular file: left as it is")
            }
        }
        try head.withUnsafeBytes { h in try part.features.withUnsafeBytes { f in try part.mean.withUnsafeBytes { m in
            try part.cov.withUnsafeBytes { c in try part.sqrtCov.withUnsafeBytes { s in try scalars.withUnsafeBytes { v in
                try sum.withUnsafeBytes { e in try AtomicFile.write(path, chunks: [h, f, m, c, s, v, e]) }
            } } }
        } } }
    }
}
