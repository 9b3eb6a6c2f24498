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

    public static func read(_ path: String) throws -> IDXFile {
        var st = stat()
        guard stat(path, &st) == 0 else { throw EngineError.badFile(path: path, reason: "no such file") }
        guard st.st_mode & S_IFMT != S_IFDIR else { throw EngineError.badFile(path: path, reason: "is a folder, not an IDX file") }
        let size = Int(st.st_size)
        guard size <= maxFileBytes else { throw EngineError.badFile(path: path, reason: "file of \(size >> 20) MiB is too large for an IDX set") }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw EngineError.badFile(path: path, reason: "cannot read the file")
        }
        defer { try? handle.close() }
        // Check the header against the file size before reading everything:
        // a file that is neither gzip nor a consistent IDX file is refused at once.
        let head = [UInt8]((try? handle.read(upToCount: 64)) ?? Data())
        if !Gzip.isGzip(Data(head)) {
            let h = try header(head, path: path)
            try checkPayload(h, payload: size - h.length, path: path)
        }
        let rest: Data
        do { rest = try handle.readToEnd() ?? Data() } catch {    // nil: nothing after the first bytes
            throw EngineError.badFile(path: path, reason: "cannot read the file")
        }
        return try parse(Data(head) + rest, path: path)
    }

    public static func parse(_ raw: Data, path: String) throws -> IDXFile {
        let data = Gzip.isGzip(raw) ? try Gzip.decompress(raw, path: path, limit: maxBytes + 64) : raw
        let b = [UInt8](data)
        let h = try header(b, path: path)
        try checkPayload(h, payload: b.count - h.length, path: path)
        return IDXFile(dims: h.dims, bytes: Array(b[h.length...]))
    }

    /// Magic, dimension count and sizes (bounded by `maxBytes`) from the first bytes.
    static func header(_ b: [UInt8], path: String) throws -> (dims: [Int], total: Int, length: Int) {
        guard b.count >= 4 else { throw EngineError.badFile(path: path, reason: "too short for an IDX header (\(b.count) bytes)") }
        guard b[0] == 0, b[1] == 0, b[2] == 0x08, b[3] >= 1, b[3] <= 4 else {
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
