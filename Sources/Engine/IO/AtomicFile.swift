// AtomicFile.swift: all-or-nothing file writes (temporary, fsync, rename).
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes a file all-or-nothing: bytes go to a temporary file in the same
/// folder (`.<name>.tmp-<pid>`; `hiddenPrefix`), are flushed to disk, and the temporary is
/// renamed over the target. A failure (full disk, read-only folder) never
/// leaves a partial file under the final name and removes the temporary; a
/// kill leaves at most the hidden temporary, which the next write to the same
/// name removes once its process is gone.
///
/// A target that exists and is not a regular file (a device such as /dev/full
/// or /dev/stdout) cannot be replaced atomically; it is written in place and
/// every write error is reported. A FIFO is written only if a process reads
/// it (the open never blocks: no reader is an error at once). The temporary
/// and probe files are created new (`O_EXCL | O_NOFOLLOW`), so a symlink
/// planted at their names is never followed; a dangling symlink as the
/// target is refused.
public enum AtomicFile {

    /// Where a write to a path goes: written in place (an existing device or
    /// FIFO), or as a new file `name` in the existing folder `dir`.
    /// A replaced file keeps its permission bits (`mode`; nil for a new file, made with 0644 less the umask).
    private enum Target { case inPlace, file(dir: String, name: String, mode: mode_t?) }

    private static func target(_ path: String) throws -> Target {
        guard !path.isEmpty else { throw EngineError.io("cannot write: an empty path was given for the file") }
        // A name that is not UTF-8 reaches the program with U+FFFD where its bytes were: written, it
        // would be another file than the one named (and replace a file of that name).
        if path.contains("\u{FFFD}") {
            throw EngineError.io("cannot write \(InputFile.shortened(path)): the name given is not UTF-8 (shown with \u{FFFD} where its bytes were), which this program's file names must be: give a UTF-8 name")
        }
        var st = stat()
        var mode: mode_t? = nil
        if stat(path, &st) != 0 {
            var link = stat()
            if lstat(path, &link) == 0 && link.st_mode & S_IFMT == S_IFLNK {
                throw EngineError.io("cannot write \(InputFile.shortened(path)): it is a symbolic link to a file that does not exist (or a link loop); remove it or give another path")
            }
        } else {
            if st.st_mode & S_IFMT == S_IFDIR { throw EngineError.io("cannot write \(InputFile.shortened(path)): it is a folder") }
            if st.st_mode & S_IFMT != S_IFREG { return .inPlace }
            // An existing file: replace it only if the user may write it, keep its mode,
            // and through a symlink replace the file it points to (not the link).
            guard access(path, W_OK) == 0 else { throw EngineError.io("cannot write \(InputFile.shortened(path)): \(String(cString: strerror(errno)))") }
            mode = st.st_mode & 0o7777
        }
        // "x.png/" names a folder that is not there, not a file in the current one.
        if path.hasSuffix("/") {
            throw EngineError.io("cannot write \(InputFile.shortened(path)): the / at its end makes it a folder's name, and there is no such folder; drop the /")
        }
        // Where the kernel puts it: through symlinks, "link/.." included.
        guard let real = InputFile.resolvedLocation(path) else {
            let dir = (path as NSString).deletingLastPathComponent
            throw EngineError.io("cannot write \(InputFile.shortened(path)): folder \(dir.isEmpty ? "." : InputFile.shortened(dir)) does not exist")
        }
        let url = URL(fileURLWithPath: real)
        let dir = url.deletingLastPathComponent().path, name = url.lastPathComponent
        // A name longer than the folder's file system takes fails only at the rename, after the work
        // (the probe's and temporary's names are shortened): said at once.
        let asked = pathconf(dir, Int32(_PC_NAME_MAX)), limit = asked > 0 ? asked : 255
        if name.utf8.count > limit {
            throw EngineError.io("cannot write \(InputFile.shortened(path)): its name is \(name.utf8.count) bytes, more than the \(limit) a file name may have here")
        }
        return .file(dir: dir, name: name, mode: mode)
    }

    /// Writes `chunks` to `path` atomically. `pauseMidwayMs` pauses that long
    /// once half the bytes reached the temporary file (the fault tests kill
    /// the process there; 0 in normal use).
    public static func write(_ path: String, chunks: [UnsafeRawBufferPointer], pauseMidwayMs: Int = 0) throws {
        guard case .file(let dir, let name, let mode) = try target(path) else { return try writeInPlace(path, chunks: chunks) }
        let prefix = hiddenPrefix(name, "tmp")
        removeStaleTemporaries(dir: dir, prefix: prefix)
        let tmp = dir + "/" + prefix + "\(getpid())"
        let fd = try createNew(tmp, mode: mode == nil ? 0o644 : 0o600, for: path)
        func fail(_ what: String) -> EngineError {
            let msg = String(cString: strerror(errno))
            close(fd); unlink(tmp)
            return EngineError.io("cannot write \(InputFile.shortened(path)): \(what): \(msg)")
        }
        if let mode, fchmod(fd, mode) != 0 { throw fail("chmod failed") }
        if !writeAll(fd, chunks, pauseMidwayMs: pauseMidwayMs) { throw fail("write failed") }
        if fsync(fd) != 0 { throw fail("fsync failed") }
        if close(fd) != 0 {
            let msg = String(cString: strerror(errno)); unlink(tmp)
            throw EngineError.io("cannot write \(InputFile.shortened(path)): close failed: \(msg)")
        }
        if rename(tmp, dir + "/" + name) != 0 {
            let msg = String(cString: strerror(errno)); unlink(tmp)
            throw EngineError.io("cannot write \(InputFile.shortened(path)): \(msg)")
        }
        // Make the rename itself durable.
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    public static func write(_ path: String, data: Data) throws {
        try data.withUnsafeBytes { try write(path, chunks: [$0]) }
    }

    /// Writes every chunk; false with errno set on the first failure.
    private static func writeAll(_ fd: Int32, _ chunks: [UnsafeRawBufferPointer], pauseMidwayMs: Int = 0) -> Bool {
        let total = chunks.reduce(0) { $0 + $1.count }
        var written = 0
        var paused = pauseMidwayMs <= 0
        for chunk in chunks {
            var off = 0
            while off < chunk.count {
                var len = chunk.count - off
                if !paused { len = min(len, max(1, total / 2 - written)) }
                let n = Glibc.write(fd, chunk.baseAddress! + off, len)
                if n < 0 { if errno == EINTR { continue }; return false }
                if n == 0 { errno = EIO; return false }
                off += n; written += n
                if !paused && written >= total / 2 {
                    paused = true
                    usleep(UInt32(pauseMidwayMs) * 1000)
                }
            }
        }
        return true
    }

    /// Creates `path` as a new file, never through a symlink: a file or link
    /// already there (a stale temporary of this pid, a planted link) is
    /// removed (the link itself, not what it points to) and the create retried once.
    private static func createNew(_ path: String, mode: mode_t, for target: String) throws -> Int32 {
        let flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC
        var fd = open(path, flags, mode)
        if fd < 0 && errno == EEXIST { unlink(path); fd = open(path, flags, mode) }
        guard fd >= 0 else {
            let e = errno
            throw EngineError.io("cannot write \(InputFile.shortened(target)): " + (e == EEXIST ? "\(InputFile.shortened(path)) is in the way and cannot be removed" : String(cString: strerror(e))))
        }
        return fd
    }

    private static func writeInPlace(_ path: String, chunks: [UnsafeRawBufferPointer]) throws {
        // Non-blocking open: a FIFO nobody reads fails with ENXIO instead of hanging.
        let fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            // open(2) gives ENXIO for a socket too: a socket is said to be one, not a pipe.
            var st = stat()
            let socket = e == ENXIO && stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK
            throw EngineError.io("cannot write \(InputFile.shortened(path)): " + (socket ? "it is a socket, which a file cannot be written to (give a file's name)"
                : e == ENXIO ? "it is a pipe that no process reads" : String(cString: strerror(e))))
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        if !writeAll(fd, chunks) {
            let msg = String(cString: strerror(errno)); close(fd)
            throw EngineError.io("cannot write \(InputFile.shortened(path)): write failed: \(msg)")
        }
        if close(fd) != 0 { throw EngineError.io("cannot write \(InputFile.shortened(path)): close failed: \(String(cString: strerror(errno)))") }
    }

    /// The start of the hidden name of a temporary (`kind` "tmp") or probe
    /// of the file `name`, to which the pid is added: ".<name>.<kind>-", or
    /// where that name would pass the 255 bytes a file name may have (a
    /// target name of about 240 bytes), ".ddpm-<hash of name>.<kind>-".
    static func hiddenPrefix(_ name: String, _ kind: String) -> String {
        let plain = "." + name + "." + kind + "-"
        if plain.utf8.count + 10 <= 255 { return plain }           // a pid has at most 7 digits
        var h: UInt64 = 0xcbf2_9ce4_8422_2325                       // FNV-1a
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return ".ddpm-" + String(h, radix: 16) + "." + kind + "-"
    }

    /// Removes the temporaries of writes of `path` whose processes no longer exist (a write
    /// does so itself; a cache read, which writes nothing, calls this).
    public static func removeStaleTemporaries(of path: String) {
        let url = URL(fileURLWithPath: path)
        removeStaleTemporaries(dir: url.deletingLastPathComponent().path, prefix: hiddenPrefix(url.lastPathComponent, "tmp"))
    }

    /// Removes `<prefix><pid>` files left by processes that no longer exist.
    private static func removeStaleTemporaries(dir: String, prefix: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count)), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(dir + "/" + name) }
        }
    }

    /// Fails early, before any work: every output must be writable
    /// (`checkWritable`) and none may be an input or another output
    /// (`InputFile.refuseClashes`). `flag` names each path in the messages.
    public static func checkOutputs(_ outputs: [(flag: String, path: String)], notOverwriting inputs: [(flag: String, path: String)]) throws {
        for o in outputs { try checkWritable(o.path) }
        try InputFile.refuseClashes(outputs: outputs, inputs: inputs)
    }

    /// Fails early (before hours of work) if `path` could not be written:
    /// creates and removes a probe file in its folder.
    /// (A device or FIFO is written in place, and only its write can tell:
    /// opening a FIFO here would end its reader's stream.)
    public static func checkWritable(_ path: String) throws {
        guard case .file(let dir, let name, _) = try target(path) else { return }
        let prefix = hiddenPrefix(name, "probe")
        removeStaleTemporaries(dir: dir, prefix: prefix)
        let probe = dir + "/" + prefix + "\(getpid())"
        let fd = try createNew(probe, mode: 0o644, for: path)
        close(fd); unlink(probe)
    }
}
