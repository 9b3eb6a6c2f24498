// WriterLock.swift: one writer per checkpoint: an advisory lock (flock) on a
// hidden file beside it that holds the writer's pid.
import Foundation

/// Held while a process writes `path` again and again (training checkpoints).
/// A second writer is refused with the holder's pid; the lock goes with the
/// process (flock), so a killed trainer never leaves a stale lock behind.
public final class WriterLock {
    let fd: Int32
    let lockPath: String

    /// Takes the lock for `path`, or throws naming the process that holds it.
    /// The lock sits beside the file the path leads to (through symlinks and
    /// `./` spellings), so two spellings of one checkpoint share one lock; it
    /// is never opened through a symlink.
    public init(for path: String) throws {
        // Stored only once the lock is held: a refused init must not let
        // deinit unlink the holder's lock file.
        let url = URL(fileURLWithPath: InputFile.resolvedLocation(path) ?? path)
        let lockPath = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let e = errno
            throw EngineError.io("cannot lock \(path): " + (e == ELOOP ? "\(lockPath) is a symbolic link; remove it" : String(cString: strerror(e))))
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buf = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buf, 31, 0)
            close(fd)
            let pid = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            throw EngineError.io("\(path) is being written by another process (pid \(pid)); stop it first or choose another --out")
        }
        let me = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, me, me.count, 0)
        self.fd = fd
        self.lockPath = lockPath
    }

    deinit {
        unlink(lockPath)
        close(fd)
    }
}
