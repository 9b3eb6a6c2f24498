// IDX.swift: the IDX format of MNIST, raw or gzip.
import Foundation

/// The IDX format of MNIST: magic 0x0000 0x08 (unsigned byte) ndims, then ndims
/// big-endian UInt32 sizes, then the bytes; optionally gzip-compressed.
public struct IDXFile: Equatable {
    public var dims: [Int]
    public var bytes: [UInt8]

    public init(dims: [Int], bytes: [UInt8]) { self.dims = dims; self.bytes = bytes }

    /// Largest payload accepted (the memory bound for hostile headers).
    public static let maxBytes = 1 << 30
    /// Largest file read at all (a gzip of maxBytes is far smaller).
    public static let maxFileBytes = 1 << 30

    /// Reads a raw or gzip IDX file. The header is checked (against the
    /// bound, and for a raw file against its size) before the payload is read
    /// or inflated, and the payload goes into its final buffer once.
    /// `usable` sees the header's dimensions before any payload is read or
    /// inflated and throws when the caller could not use them.
    public static func read(_ path: String, usable: (([Int]) throws -> Void)? = nil) throws -> IDXFile {
        let size = try InputFile.size(path, what: "IDX file", limit: maxFileBytes)
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw EngineError.badFile(path: path, reason: InputFile.cannotRead(path))
        }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 20)) ?? Data()
        if Gzip.isGzip(head) {
            // Mapped, not read: only the pages the inflater reaches are loaded,
            // so a header that asks too much is refused after a few bytes.
            return try inflate(try InputFile.mapped(path, size: size), path: path, usable: usable)
        }
        let h = try header([UInt8](head), path: path)
        try checkPayload(h, payload: size - h.length, path: path)
        try usable?(h.dims)
        // The payload read straight into its buffer.
        try InputFile.checkMemory(h.total, for: "the \(h.dims) bytes of \(path)")
        var bytes = [UInt8](head.dropFirst(h.length))
        bytes.reserveCapacity(h.total)
        while bytes.count < h.total {
            guard let chunk = try? handle.read(upToCount: min(h.total - bytes.count, 1 << 24)), !chunk.isEmpty else {
                throw EngineError.badFile(path: path, reason: "truncated: header says \(h.dims) = \(h.total) bytes, could read \(bytes.count)")
            }
            bytes += chunk
        }
        guard bytes.count == h.total else { throw EngineError.badFile(path: path, reason: "the file grew while it was read") }
        return IDXFile(dims: h.dims, bytes: bytes)
    }

    /// Parses IDX bytes in memory (raw or gzip), as `read` does.
    public static func parse(_ raw: Data, path: String, usable: (([Int]) throws -> Void)? = nil) throws -> IDXFile {
        if Gzip.isGzip(raw) { return try inflate(raw, path: path, usable: usable) }
        let b = [UInt8](raw)
        let h = try header(b, path: path)
        try checkPayload(h, payload: b.count - h.length, path: path)
        try usable?(h.dims)
        return IDXFile(dims: h.dims, bytes: Array(b[h.length...]))
    }

    /// A gzip IDX file: inflates the header first and checks it against the
    /// bound, then inflates the payload into a buffer of exactly its size.
    static func inflate(_ gz: Data, path: String, usable: (([Int]) throws -> Void)?) throws -> IDXFile {
        try Gzip.inflating(gz, path: path) { fill, atEnd in
            var head = [UInt8](repeating: 0, count: 4 + 4 * 4)
            var got = try head.withUnsafeMutableBytes { try fill($0.baseAddress!, 4) }
            guard got == 4 else { throw EngineError.badFile(path: path, reason: "too short for an IDX header (\(got) bytes)") }
            let nd = Int(head[3])
            if (1...4).contains(nd) { got += try head.withUnsafeMutableBytes { try fill($0.baseAddress! + 4, 4 * nd) } }
            let h = try header(Array(head[0..<got]), path: path)
            try usable?(h.dims)
            try InputFile.checkMemory(h.total, for: "the \(h.dims) bytes of \(path)")
            var bytes = [UInt8](repeating: 0, count: h.total)
            let n = h.total == 0 ? 0 : try bytes.withUnsafeMutableBytes { try fill($0.baseAddress!, h.total) }
            var extra: UInt8 = 0
            let more = atEnd() ? 0 : try fill(&extra, 1)
            if more > 0 { throw EngineError.badFile(path: path, reason: "trailing bytes after \(h.dims) data") }
            try checkPayload(h, payload: n, path: path)
            return IDXFile(dims: h.dims, bytes: bytes)
        }
    }

    /// Magic, dimension count and sizes (bounded by `maxBytes`) from the first bytes.
    static func header(_ b: [UInt8], path: String) throws -> (dims: [Int], total: Int, length: Int) {
        guard b.count >= 4 else { throw EngineError.badFile(path: path, reason: "too short for an IDX header (\(b.count) bytes)") }
        guard b[0] == 0, b[1] == 0, b[2] == 0x08, b[3] >= 1, b[3] <= 4 else {
            // Files this program writes that are not IDX: say what they are.
            if SafeTensors.startsLikeSafeTensors(b) {
                throw EngineError.badFile(path: path, reason: "is a safetensors file (a model or a recording), not IDX images (ddpm sample --out FILE.idx writes those)")
            }
            if b.starts(with: [0x89, 0x50, 0x4E, 0x47]) {
                throw EngineError.badFile(path: path, reason: "is a PNG, not IDX images (ddpm sample --out FILE.idx writes those)")
            }
            // The magic is right and the dimension count is not: say that (it read as a wrong magic).
            if b[0] == 0, b[1] == 0, b[2] == 0x08 {
                throw EngineError.badFile(path: path, reason: "IDX header gives \(b[3]) dimensions; this program reads 1 to 4 (labels 1, images 3)")
            }
            throw EngineError.badFile(path: path, reason: String(format: "wrong IDX magic %02x%02x%02x%02x (want 000008xx, unsigned bytes)", b[0], b[1], b[2], b[3]))
        }
        let nd = Int(b[3])
        guard b.count >= 4 + 4 * nd else { throw EngineError.badFile(path: path, reason: "truncated IDX header") }
        var dims: [Int] = []
        var total = 1
        for i in 0..<nd {
            let o = 4 + 4 * i
            let d = Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3])
            dims.append(d)
            // One dimension alone past the bound is named (with a zero after it the product would be 0).
            if d > maxBytes { throw EngineError.badFile(path: path, reason: "IDX dimension \(i + 1) of \(nd) is \(d), more than the \(maxBytes >> 20) MiB bound holds") }
            total *= d
            if total > maxBytes { throw EngineError.badFile(path: path, reason: "IDX header asks for \(dims) items, more than the \(maxBytes >> 20) MiB bound") }
        }
        return (dims, total, 4 + 4 * nd)
    }

    static func checkPayload(_ h: (dims: [Int], total: Int, length: Int), payload: Int, path: String) throws {
        guard payload == h.total else {
            throw EngineError.badFile(path: path, reason: payload < h.total
                ? "truncated: header says \(h.dims) = \(h.total) bytes, file has \(payload)"
                : "\(payload - h.total) trailing bytes after \(h.dims) data")
        }
    }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = [0, 0, 0x08, UInt8(dims.count)]
        for d in dims { out += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
        return out + bytes
    }
}
