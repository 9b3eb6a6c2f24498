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
    public init(for path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        lockPath = dir + "/." + url.lastPathComponent + ".lock"
        fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EngineError.io("cannot lock \(path): \(String(cString: strerror(errno)))") }
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
    }

    deinit {
        unlink(lockPath)
        close(fd)
    }
}
