// InputFile.swift: the checks every file a user hands the program passes
// before it is opened: it exists, is a regular file (a FIFO or pipe is refused
// without blocking), and fits a size bound; errno is said in words.
import Foundation

public enum InputFile {
    /// The size of the regular file at `path` (following symlinks), or a
    /// one-line error naming it. `what` names the expected kind ("IDX file").
    public static func size(_ path: String, what: String, limit: Int) throws -> Int {
        let a = "AEIOUaeiou".contains(what.first ?? "x") ? "an" : "a"
        guard !path.isEmpty else { throw EngineError.invalidArgument("an empty path was given where \(a) \(what) was expected") }
        var st = stat()
        guard stat(path, &st) == 0 else { throw EngineError.badFile(path: shortened(path), reason: reason(errno)) }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw EngineError.badFile(path: path, reason: "is a folder, not \(a) \(what)")
        case S_IFIFO, S_IFSOCK:
            throw EngineError.badFile(path: path, reason: "is a pipe or socket; give a regular \(what) (e.g. save the stream to a file first)")
        default: throw EngineError.badFile(path: path, reason: "is a device, not \(a) \(what)")
        }
        let size = Int(st.st_size)
        guard size <= limit else {
            throw EngineError.badFile(path: path, reason: "file of \(size >> 20) MiB is larger than the \(limit >> 20) MiB \(a) \(what) may have")
        }
        return size
    }

    /// Throws when `output` names the same file as `input` (same device and
    /// inode, through any symlink or path spelling): writing it would destroy the input.
    public static func refuseSameFile(output: String, input: String, flag: String = "--out") throws {
        var a = stat(), b = stat()
        guard stat(output, &a) == 0, stat(input, &b) == 0 else { return }
        if a.st_dev == b.st_dev && a.st_ino == b.st_ino {
            throw EngineError.io("\(output) is the same file as \(input); writing it would destroy it (choose another \(flag))")
        }
    }

    /// Why stat/open failed, in words (not only "no such file").
    public static func reason(_ code: Int32) -> String {
        switch code {
        case ENOENT: return "no such file"
        case ENOTDIR: return "a part of the path is not a folder"
        case ELOOP: return "too many levels of symbolic links (a symlink loop?)"
        case ENAMETOOLONG: return "the path or one of its names is too long"
        case EACCES: return "permission denied"
        default: return String(cString: strerror(code))
        }
    }

    /// A path cut to at most 200 characters for messages.
    public static func shortened(_ path: String) -> String {
        path.count <= 200 ? path : String(path.prefix(120)) + "…" + String(path.suffix(60))
    }
}
