import CZlib
import Foundation

/// gzip (and zlib) decompression through zlib, with an output bound.
public enum Gzip {
    public static func isGzip(_ d: Data) -> Bool { d.count >= 2 && d[d.startIndex] == 0x1f && d[d.startIndex + 1] == 0x8b }

    /// Inflates `data`; refuses to produce more than `limit` bytes.
    public static func decompress(_ data: Data, path: String, limit: Int) throws -> Data {
        var stream = z_stream()
        guard czlib_inflateInit2(&stream, 15 + 32) == Z_OK else {
            throw EngineError.badFile(path: path, reason: "cannot initialise zlib")
        }
        defer { inflateEnd(&stream) }
        var out = Data()
        let chunk = 1 << 20
        var buf = [UInt8](repeating: 0, count: chunk)
        var status: Int32 = Z_OK
        try data.withUnsafeBytes { (src: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: src.bindMemory(to: Bytef.self).baseAddress!)
            stream.avail_in = uInt(src.count)
            while status != Z_STREAM_END {
                buf.withUnsafeMutableBufferPointer { b in
                    stream.next_out = b.baseAddress
                    stream.avail_out = uInt(chunk)
                    status = inflate(&stream, Z_NO_FLUSH)
                    let produced = chunk - Int(stream.avail_out)
                    out.append(b.baseAddress!, count: produced)
                }
                if out.count > limit {
                    throw EngineError.badFile(path: path, reason: "decompresses to more than \(limit >> 20) MiB; refusing")
                }
                if status == Z_STREAM_END { break }
                if status == Z_BUF_ERROR || (status == Z_OK && stream.avail_in == 0 && stream.avail_out != 0) {
                    throw EngineError.badFile(path: path, reason: "truncated gzip data")
                }
                if status != Z_OK {
                    throw EngineError.badFile(path: path, reason: "corrupt gzip data (zlib error \(status))")
                }
            }
        }
        return out
    }

    /// zlib-wrapped deflate (for PNG IDAT).
    public static func deflate(_ input: [UInt8]) -> [UInt8] {
        var len = compressBound(uLong(input.count))
        var out = [UInt8](repeating: 0, count: Int(len))
        let rc = input.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                compress2(dst.baseAddress, &len, src.baseAddress, uLong(input.count), 6)
            }
        }
        precondition(rc == Z_OK)
        return Array(out[0..<Int(len)])
    }

    public static func crc(_ bytes: [UInt8], start: UInt = 0) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(crc32(uLong(start), $0.baseAddress, uInt($0.count))) }
    }
}
