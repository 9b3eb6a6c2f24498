import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes a file all-or-nothing: bytes go to a temporary file in the same
/// folder, are flushed to disk, and the temporary is renamed over the target.
/// A failure (full disk, read-only folder, a kill) never leaves a partial file
/// under the final name; the temporary is removed on error.
public enum AtomicFile {
    public static func write(_ path: String, chunks: [UnsafeRawBufferPointer]) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw EngineError.io("cannot write \(path): folder \(dir) does not exist")
        }
        let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw EngineError.io("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        func fail(_ what: String) -> EngineError {
            let msg = String(cString: strerror(errno))
            close(fd); unlink(tmp)
            return EngineError.io("cannot write \(path): \(what): \(msg)")
        }
        for chunk in chunks {
            var off = 0
            while off < chunk.count {
                let n = Glibc.write(fd, chunk.baseAddress! + off, chunk.count - off)
                if n < 0 { if errno == EINTR { continue }; throw fail("write failed") }
                off += n
            }
        }
        if fsync(fd) != 0 { throw fail("fsync failed") }
        if close(fd) != 0 { unlink(tmp); throw EngineError.io("cannot write \(path): close failed") }
        if rename(tmp, path) != 0 {
            let msg = String(cString: strerror(errno)); unlink(tmp)
            throw EngineError.io("cannot write \(path): \(msg)")
        }
    }

    public static func write(_ path: String, data: Data) throws {
        try data.withUnsafeBytes { try write(path, chunks: [$0]) }
    }
}
