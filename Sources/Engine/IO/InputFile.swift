// InputFile.swift: the checks every file a user hands the program passes
// before it is opened: it exists, is a regular file (a FIFO or pipe is refused
// without blocking), and fits a size bound; errno is said in words.
import CMapped
import Foundation

public enum InputFile {
    /// Runs after a file is mapped (`mapped`): the tests' hook that truncates it then
    /// (TestHooks, DDPM_TEST_TRUNCATE_MAPPED), as another program might.
    nonisolated(unsafe) public static var afterMapping: ((String) -> Void)? = nil

    /// A file named for a message: by its name when it is in the current folder (the
    /// explorer's default export folder), else by `path` (DDPM_EXPORT_DIR's, --out's).
    public static func shown(_ path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let here = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).standardizedFileURL.path
        return url.deletingLastPathComponent().standardizedFileURL.path == here ? url.lastPathComponent : path
    }

    /// The size of the regular file at `path` (following symlinks), or a
    /// one-line error naming it. `what` names the expected kind ("IDX file").
    public static func size(_ path: String, what: String, limit: Int) throws -> Int {
        let a = "AEIOUaeiou".contains(what.first ?? "x") ? "an" : "a"
        guard !path.isEmpty else { throw EngineError.invalidArgument("an empty path was given where \(a) \(what) was expected") }
        var st = stat()
        guard stat(path, &st) == 0 else {
            let e = errno
            // A name that is not UTF-8 reaches the program with U+FFFD where its bytes were: no such file
            // by that name, and the message shows the replacement, not the name typed.
            if e == ENOENT && path.contains("\u{FFFD}") {
                throw EngineError.badFile(path: shortened(path), reason: "no such file (the name given is not UTF-8, which this program's file names must be: rename the file)")
            }
            throw EngineError.badFile(path: shortened(path), reason: reason(e))
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw EngineError.badFile(path: path, reason: "is a folder, not \(a) \(what)")
        case S_IFIFO, S_IFSOCK:
            throw EngineError.badFile(path: path, reason: "is a pipe or socket; give a regular \(what) (e.g. save the stream to a file first)")
        default: throw EngineError.badFile(path: path, reason: "is a device, not \(a) \(what)")
        }
        let size = Int(st.st_size)
        if size == 0, hasBytes(path) {
            // (/proc and /sys files report 0 bytes and are made as they are read: mapping one reads nothing.)
            throw EngineError.badFile(path: shortened(path), reason: "is a file the system makes as it is read (as under /proc), not \(a) \(what); save it to a regular file first")
        }
        guard size <= limit else {
            throw EngineError.badFile(path: path, reason: "file of \(size >> 20) MiB is larger than the \(limit >> 20) MiB \(a) \(what) may have")
        }
        return size
    }

    /// Whether reading the file gives at least one byte (without blocking).
    static func hasBytes(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var byte: UInt8 = 0
        return read(fd, &byte, 1) == 1
    }

    /// "cannot read the file: Permission denied": the system's reason, where opening the file gives one.
    public static func cannotRead(_ path: String) -> String {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd < 0 else { close(fd); return "cannot read the file" }
        return "cannot read the file: " + reason(errno)
    }

    /// The file's bytes, mapped (only the pages read are loaded). A file that opens but cannot be
    /// mapped is out of address space (ulimit -v), not missing or damaged: the error says so.
    ///
    /// A mapped file that another program shortens meanwhile would end the process with SIGBUS
    /// where a page past its new end is read: the mapping is registered (CMapped) while it lives,
    /// and the fatal-signal handler (crash_restore.c) then says so in one line and exits 1.
    public static func mapped(_ path: String, size: Int) throws -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw EngineError.badFile(path: path, reason: cannotRead(path)) }
        defer { close(fd) }
        // `size` as checked against its limit (a file that grew since is read no further).
        let length = size
        if length == 0 { return Data() }
        guard let base = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), base != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw EngineError.invalidArgument("out of memory: cannot map \(path) (\(max(1, length >> 20)) MiB) into memory")
        }
        ddpm_mapped_input_add(base, length, "Error: " + EngineError.oneLine(shortened(path))
            + ": the file could no longer be read while in use (another program shortened or rewrote it, or a read error)")
        afterMapping?(path)
        return Data(bytesNoCopy: base, count: length, deallocator: .custom { p, n in
            ddpm_mapped_input_remove(p)
            munmap(p, n)
        })
    }

    /// Throws when `bytes` cannot be allocated now (an address-space limit such as ulimit -v): an
    /// array that size would end the process ("failed to allocate"), so callers about to make one
    /// from a file's contents check first. `what` names it ("the training images as floats").
    public static func checkMemory(_ bytes: Int, for what: String) throws {
        guard bytes > 0 else { return }
        // (mmap, not malloc: the optimiser may drop a malloc whose memory is never used, and the check with it.)
        let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else {
            throw EngineError.invalidArgument("out of memory: \(what) need \(max(1, bytes >> 20)) MiB")
        }
        munmap(p, bytes)
    }

    /// Where a file at `path` is or would be created, as the kernel resolves
    /// it: the real path of an existing file (through symlinks), else the real
    /// path of its folder (the text before the last "/", so "link/.." goes
    /// where the link leads) plus its name; nil when that folder does not exist.
    public static func resolvedLocation(_ path: String) -> String? {
        if let real = realpath(path, nil) { defer { free(real) }; return String(cString: real) }
        let cut = path.lastIndex(of: "/")
        let dir = cut.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = cut.map { String(path[path.index(after: $0)...]) } ?? path
        guard !name.isEmpty, name != ".", name != "..", let real = realpath(dir, nil) else { return nil }
        defer { free(real) }
        let folder = String(cString: real)
        return (folder == "/" ? "" : folder) + "/" + name
    }

    /// What a path names, for telling two paths apart: an existing regular
    /// file by device and inode (hard links and symlinks included), a file
    /// yet to be made by where it would be made; nil for a device, FIFO or
    /// folder, which writing does not replace.
    enum Identity: Equatable { case inode(dev_t, ino_t), location(String) }

    static func identity(_ path: String) -> Identity? {
        var st = stat()
        if stat(path, &st) == 0 { return st.st_mode & S_IFMT == S_IFREG ? .inode(st.st_dev, st.st_ino) : nil }
        return resolvedLocation(path).map { .location($0) }
    }

    /// Throws when an output would overwrite one of the inputs or another
    /// output: the same file through any spelling or link ("./a" and "a",
    /// "link/../a", a symlink or hard link to it), whether or not the output
    /// exists yet. Inputs that do not exist are skipped (their own check names them).
    public static func refuseClashes(outputs: [(flag: String, path: String)], inputs: [(flag: String, path: String)]) throws {
        for (i, o) in outputs.enumerated() {
            guard let id = identity(o.path) else { continue }
            if case .inode = id, let input = inputs.first(where: { identity($0.path) == id }) {
                throw EngineError.io("\(o.flag) \(shortened(o.path)) would overwrite \(shortened(input.path)) (\(input.flag)); choose another path for \(o.flag)")
            }
            if let other = outputs[..<i].first(where: { identity($0.path) == id }) {
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
