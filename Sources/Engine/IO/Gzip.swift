// Gzip.swift: gzip and zlib through the system zlib.
import CZlib
import Foundation

/// gzip (and zlib) through the system zlib: inflating piece by piece, deflate, CRC.
public enum Gzip {
    public static func isGzip(_ d: Data) -> Bool { d.count >= 2 && d[d.startIndex] == 0x1f && d[d.startIndex + 1] == 0x8b }

    /// Inflates `data` in pieces the caller asks for: `body` gets a `fill`
    /// function that writes up to `count` bytes of output to a pointer and
    /// returns how many it wrote (fewer only at the end of the stream), and an
    /// `atEnd` function that says whether the stream is complete. Nothing is
    /// inflated beyond what the caller asks for, so a header can be checked
    /// before any memory is given to the payload.
    public static func inflating<T>(_ data: Data, path: String,
                                    _ body: (_ fill: (UnsafeMutableRawPointer, Int) throws -> Int,
                                             _ atEnd: () -> Bool) throws -> T) throws -> T {
        var stream = z_stream()
        guard czlib_inflateInit2(&stream, 15 + 32) == Z_OK else {
            throw EngineError.badFile(path: path, reason: "cannot initialise zlib")
        }
        defer { inflateEnd(&stream) }
        var ended = false
        return try data.withUnsafeBytes { (src: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: src.bindMemory(to: Bytef.self).baseAddress!)
            stream.avail_in = uInt(src.count)
            func fill(_ dst: UnsafeMutableRawPointer, _ count: Int) throws -> Int {
                var done = 0
                while done < count && !ended {
                    stream.next_out = (dst + done).assumingMemoryBound(to: Bytef.self)
                    let ask = min(count - done, Int(UInt32.max >> 1))
                    stream.avail_out = uInt(ask)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    done += ask - Int(stream.avail_out)
                    switch status {
                    case Z_STREAM_END:
                        // Members one after another (`cat a.gz b.gz`) are one file to gzip and zcat: read on.
                        if stream.avail_in >= 2 && stream.next_in[0] == 0x1f && stream.next_in[1] == 0x8b {
                            guard inflateReset(&stream) == Z_OK else { throw EngineError.badFile(path: path, reason: "cannot restart zlib") }
                        } else {
                            ended = true
                        }
                    case Z_OK: if stream.avail_in == 0 && stream.avail_out != 0 { throw EngineError.badFile(path: path, reason: "truncated gzip data") }
                    case Z_BUF_ERROR: throw EngineError.badFile(path: path, reason: "truncated gzip data")
                    default: throw EngineError.badFile(path: path, reason: "corrupt gzip data (\(Self.why(status, stream.msg)))")
                    }
                }
                return done
            }
            let result = try body(fill, { ended })
            // After the last gzip member, anything else is not ours to ignore.
            if ended && stream.avail_in > 0 {
                throw EngineError.badFile(path: path, reason: "\(stream.avail_in) bytes after the end of the gzip data")
            }
            return result
        }
    }

    /// zlib's word on a stream it refused, the two checks at a gzip file's end said plainly.
    static func why(_ status: Int32, _ msg: UnsafePointer<CChar>?) -> String {
        switch msg.map({ String(cString: $0) }) {
        case "incorrect data check"?: "its CRC-32 does not match the data: the file is damaged"
        case "incorrect length check"?: "the length at its end does not match the data: the file is damaged"
        case let said?: "zlib: \(said)"
        case nil: "zlib error \(status)"
        }
    }

    /// A gzip file of `input` (for tests and fixtures).
    public static func gzip(_ input: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        guard czlib_deflateInitGzip(&stream, 6) == Z_OK else { return [] }
        defer { deflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 32)
        var inp = input
        let produced: Int = inp.withUnsafeMutableBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                stream.next_in = src.baseAddress; stream.avail_in = uInt(src.count)
                stream.next_out = dst.baseAddress; stream.avail_out = uInt(dst.count)
                _ = CZlib.deflate(&stream, Z_FINISH)
                return dst.count - Int(stream.avail_out)
            }
        }
        return Array(out[0..<produced])
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
