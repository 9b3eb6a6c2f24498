@testable import Engine
import Foundation
import XCTest

/// Writing under faults: a full device, a file-size limit hit in the middle of
/// a checkpoint (what a full disk does), a folder that is gone. The previous
/// file must stay loadable and nothing partial may sit under the final name.
/// (The read-only folder, the full tmpfs and SIGKILL are tested on the real
/// binary in TUITests/FaultTests.)
final class FaultTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = NSTemporaryDirectory() + "faults-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func tinyWeights(_ value: Float) throws -> (ParameterLayout, FloatBuffer) {
        let net = try UNet(.tiny)
        let p = FloatBuffer(count: net.parameterCount)
        for i in 0..<net.parameterCount { p.ptr[i] = value }
        return (net.layout, p)
    }

    func assertLoads(_ path: String, value: Float, file: StaticString = #filePath, line: UInt = #line) throws {
        let (L, _) = try tinyWeights(0)
        let q = FloatBuffer(count: L.count)
        try SafeTensors.read(path).load(into: q.ptr, layout: L)
        XCTAssertEqual(q.ptr[0], value, file: file, line: line)
        XCTAssertEqual(q.ptr[L.count - 1], value, file: file, line: line)
    }

    func leftovers() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".") }
    }

    func testDevFullReportsNoSpace() throws {
        let (L, p) = try tinyWeights(1)
        XCTAssertThrowsError(try Checkpoint.writeWeights("/dev/full", layout: L, params: p.ptr, metadata: [:])) {
            XCTAssertTrue("\($0)".contains("cannot write /dev/full") && "\($0)".contains("No space left on device"), "\($0)")
        }
        // The device is written in place, never replaced by a rename.
        var st = stat()
        XCTAssertEqual(stat("/dev/full", &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFCHR)
        XCTAssertThrowsError(try AtomicFile.write(dir, data: Data([1]))) { XCTAssertTrue("\($0)".contains("it is a folder")) }
    }

    /// RLIMIT_FSIZE makes write(2) fail with EFBIG part-way through the file,
    /// as a disk that fills up does: the old checkpoint survives, no temporary stays.
    func testWriteFailingMidwayKeepsPreviousFile() throws {
        let path = dir + "/ckpt.safetensors"
        let (L, old) = try tinyWeights(0.25)
        try Checkpoint.writeWeights(path, layout: L, params: old.ptr, metadata: ["step": "1"])
        let (_, new) = try tinyWeights(0.5)
        let previous = signal(SIGXFSZ, SIG_IGN)
        var saved = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &saved)
        var small = saved
        small.rlim_cur = 256 << 10      // the file is 1.6 MB
        XCTAssertEqual(setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &small), 0)
        let result = Result { try Checkpoint.writeWeights(path, layout: L, params: new.ptr, metadata: ["step": "2"]) }
        setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &saved)
        signal(SIGXFSZ, previous)
        XCTAssertThrowsError(try result.get()) { XCTAssertTrue("\($0)".contains("File too large"), "\($0)") }
        try assertLoads(path, value: 0.25)
        XCTAssertEqual(try SafeTensors.read(path).metadata["step"], "1")
        XCTAssertEqual(try leftovers(), [])
        // Without the limit the next write goes through.
        try Checkpoint.writeWeights(path, layout: L, params: new.ptr, metadata: ["step": "2"])
        try assertLoads(path, value: 0.5)
    }

    func testMissingFolderAndStaleTemporaries() throws {
        XCTAssertThrowsError(try AtomicFile.write(dir + "/nope/x.bin", data: Data([1]))) {
            XCTAssertTrue("\($0)".contains("does not exist"), "\($0)")
        }
        XCTAssertThrowsError(try AtomicFile.checkWritable(dir + "/nope/x.bin"))
        // "x.png/" is a folder's name, not a file in the current folder (it said "folder . does not exist").
        XCTAssertThrowsError(try AtomicFile.write("x.png/", data: Data([1]))) {
            XCTAssertTrue("\($0)".hasSuffix("cannot write x.png/: the / at its end makes it a folder's name, and there is no such folder; drop the /"), "\($0)")
        }
        XCTAssertNoThrow(try AtomicFile.checkWritable(dir + "/x.bin"))
        // A temporary left by a killed process (pid 999999999 cannot exist) is
        // removed by the next write; one of a live process (ours, the parent) is not.
        let stale = dir + "/.x.bin.tmp-999999999", live = dir + "/.x.bin.tmp-\(getppid())"
        _ = FileManager.default.createFile(atPath: stale, contents: Data([0]))
        _ = FileManager.default.createFile(atPath: live, contents: Data([0]))
        try AtomicFile.write(dir + "/x.bin", data: Data([7, 8]))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/x.bin")), Data([7, 8]))
        XCTAssertEqual(try leftovers(), [".x.bin.tmp-\(getppid())"])
    }

    /// A name of up to the 255 bytes a file name may have is written and
    /// probed: its hidden temporary and probe (which add a dot, ".tmp-" and
    /// the pid) take a hash of the name where they would be longer. Before,
    /// names of about 243-255 bytes failed with "File name too long".
    func testLongestFileNamesAreWritten() throws {
        for length in [200, 243, 250, 255] {
            let name = String(repeating: "a", count: length - 4) + ".png", path = dir + "/" + name
            XCTAssertNoThrow(try AtomicFile.checkWritable(path), "\(length) bytes")
            try AtomicFile.write(path, data: Data([UInt8(length & 255)]))
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data([UInt8(length & 255)]))
            XCTAssertEqual(try leftovers(), [], "\(length) bytes")
            try FileManager.default.removeItem(atPath: path)
        }
        XCTAssertEqual(AtomicFile.hiddenPrefix("x.bin", "tmp"), ".x.bin.tmp-")
        let long = String(repeating: "b", count: 250)
        XCTAssertNotEqual(AtomicFile.hiddenPrefix(long, "tmp"), AtomicFile.hiddenPrefix(long + "c", "tmp"))
        XCTAssertLessThanOrEqual(AtomicFile.hiddenPrefix(long, "probe").utf8.count + 10, 255)
    }

    /// A big file of random bytes given as data or weights is refused from its
    /// first bytes, without reading it (a sparse 1 GiB file with a random head).
    func testHugeRandomFilesAreRefusedQuickly() throws {
        let path = dir + "/random.bin"
        var rng = RNG(seed: 9)
        var head = Data((0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        head[0] = 0x13      // neither gzip nor IDX magic
        _ = FileManager.default.createFile(atPath: path, contents: head)
        XCTAssertEqual(truncate(path, 1 << 30), 0)
        let t0 = Date()
        XCTAssertThrowsError(try IDXFile.read(path)) { XCTAssertTrue("\($0)".contains("wrong IDX magic"), "\($0)") }
        XCTAssertThrowsError(try SafeTensors.read(path)) { XCTAssertTrue("\($0)".contains("header length"), "\($0)") }
        // An IDX header whose sizes do not match the file is refused before reading it.
        var idx = Data([0, 0, 8, 3, 0, 0, 0x27, 0x10, 0, 0, 0, 28, 0, 0, 0, 28])
        idx.append(head)
        _ = FileManager.default.createFile(atPath: path, contents: idx)
        XCTAssertEqual(truncate(path, 1 << 30), 0)
        XCTAssertThrowsError(try IDXFile.read(path)) { XCTAssertTrue("\($0)".contains("trailing bytes"), "\($0)") }
        XCTAssertLessThan(Date().timeIntervalSince(t0), 1.0, "refusing must not read the whole file")
    }
}
