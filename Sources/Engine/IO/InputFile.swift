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

    /// Where a path leads: device and inode when the file exists (through any
    /// symlink), else the real folder it would be created in plus its name.
    static func identity(_ path: String) -> String {
        var st = stat()
        if stat(path, &st) == 0 { return "inode \(st.st_dev):\(st.st_ino)" }
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        guard let real = realpath(dir, nil) else { return "path " + url.standardized.path }
        defer { free(real) }
        return "path " + String(cString: real) + "/" + url.lastPathComponent
    }

    /// Throws when an output would overwrite one of the inputs or another
    /// output: the same file through any spelling or symlink ("./a" and "a",
    /// a link to it), whether or not the output exists yet. Inputs that do not
    /// exist are skipped (their own check names them).
    public static func refuseClashes(outputs: [(flag: String, path: String)], inputs: [(flag: String, path: String)]) throws {
        for (i, o) in outputs.enumerated() {
            let id = identity(o.path)
            for input in inputs where identity(input.path) == id && id.hasPrefix("inode") {
                throw EngineError.io("\(o.flag) \(shortened(o.path)) would overwrite \(input.flag)'s \(shortened(input.path)) (the same file); choose another \(o.flag)")
            }
            for other in outputs[..<i] where identity(other.path) == id {
                throw EngineError.io("\(o.flag) \(shortened(o.path)) and \(other.flag) \(shortened(other.path)) are the same file; choose two different files")
            }
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
