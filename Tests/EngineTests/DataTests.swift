import XCTest
@testable import Compute
@testable import Engine

final class DataTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = NSTemporaryDirectory() + "idx-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    static var mnistDir: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("assets/mnist").path
    }

    func testRealMNISTLoads() throws {
        let test = try Dataset.load(dir: Self.mnistDir, train: false)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(test.side, 28)
        var counts = [Int](repeating: 0, count: 10)
        for l in test.labels { counts[Int(l)] += 1 }
        XCTAssertEqual(counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
        XCTAssertEqual(test.images.min(), -1); XCTAssertEqual(test.images.max(), 1)
        XCTAssertEqual(try test.padded(to: 32).images.count, 10_000 * 1024)
    }

    func write(_ name: String, _ bytes: [UInt8]) { try! Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + name)) }

    func assertLoadError(_ needle: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Dataset.load(dir: dir, train: true), file: file, line: line) { e in
            XCTAssertTrue("\(e)".contains(needle), "'\(needle)' not in '\(e)'", file: file, line: line)
        }
    }

    func testBadIDXFiles() throws {
        let imgs = IDXFile(dims: [3, 2, 2], bytes: Array(repeating: 7, count: 12)).encoded()
        let labs = IDXFile(dims: [3], bytes: [1, 2, 3]).encoded()
        write("train-images-idx3-ubyte", imgs); write("train-labels-idx1-ubyte", labs)
        XCTAssertEqual(try Dataset.load(dir: dir, train: true).count, 3)
        // Counts that differ.
        write("train-labels-idx1-ubyte", IDXFile(dims: [2], bytes: [1, 2]).encoded())
        assertLoadError("expected [3] labels")
        write("train-labels-idx1-ubyte", labs)
        // Wrong magic.
        var bad = imgs; bad[2] = 0x0D
        write("train-images-idx3-ubyte", bad); assertLoadError("wrong IDX magic")
        // The magic right and the dimension count not (0 or 5 read as a wrong magic).
        for nd: UInt8 in [0, 5] {
            var dims = imgs; dims[3] = nd
            write("train-images-idx3-ubyte", dims); assertLoadError("IDX header gives \(nd) dimensions; this program reads 1 to 4")
        }
        // Truncated payload, trailing bytes (both found from the header and the file size).
        write("train-images-idx3-ubyte", Array(imgs.dropLast(3))); assertLoadError("truncated: header says [3, 2, 2] = 12 bytes, file has 9")
        write("train-images-idx3-ubyte", imgs + [1, 2]); assertLoadError("2 trailing bytes")
        write("train-images-idx3-ubyte", imgs)
        // Labels that are not digits.
        write("train-labels-idx1-ubyte", IDXFile(dims: [3], bytes: [1, 12, 3]).encoded())
        assertLoadError("label 12 at index 1")
        write("train-labels-idx1-ubyte", labs)
        // A header that asks for a huge allocation is refused before allocating.
        write("train-images-idx3-ubyte", [0, 0, 8, 3, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0x10, 0, 0, 0, 0x10, 0])
        assertLoadError("bound")
        // Truncated gzip (the plain set kept aside, to compare with).
        try FileManager.default.createDirectory(atPath: dir + "/plain", withIntermediateDirectories: true)
        write("plain/train-images-idx3-ubyte", imgs); write("plain/train-labels-idx1-ubyte", labs)
        try FileManager.default.removeItem(atPath: dir + "/train-images-idx3-ubyte")
        let gz = try Data(contentsOf: URL(fileURLWithPath: Self.mnistDir + "/t10k-images-idx3-ubyte.gz"))
        write("train-images-idx3-ubyte.gz", Array(gz.prefix(gz.count / 2)))
        assertLoadError("truncated gzip")
        // A gzip whose header asks for images no model takes is refused from its first bytes, before inflating.
        write("train-images-idx3-ubyte.gz", Gzip.gzip(IDXFile(dims: [1, 512, 512], bytes: []).encoded()))
        assertLoadError("larger than the 32x32")
        write("train-images-idx3-ubyte.gz", Gzip.gzip(IDXFile(dims: [300_000, 32, 32], bytes: []).encoded()))
        assertLoadError("more than the 256 MiB")
        // A gzip file whose data is whole but its CRC-32 or length at the end is not says so.
        var crc = Gzip.gzip(IDXFile(dims: [1, 28, 28], bytes: [UInt8](repeating: 7, count: 784)).encoded())
        crc[crc.count - 8] ^= 0xff
        write("train-images-idx3-ubyte.gz", crc)
        assertLoadError("corrupt gzip data (its CRC-32 does not match the data: the file is damaged)")
        crc[crc.count - 8] ^= 0xff; crc[crc.count - 4] ^= 0x01
        write("train-images-idx3-ubyte.gz", crc)
        assertLoadError("corrupt gzip data (the length at its end does not match the data: the file is damaged)")
        // Members one after another (`cat a.gz b.gz`) are one file, as to gzip and zcat; bytes after the last are not.
        let two = Gzip.gzip(Array(imgs.prefix(10))) + Gzip.gzip(Array(imgs.dropFirst(10)))
        write("train-images-idx3-ubyte.gz", two)
        XCTAssertEqual(try Dataset.load(dir: dir, train: true).images, try Dataset.load(dir: dir + "/plain", train: true).images)
        write("train-images-idx3-ubyte.gz", two + [0x1f])
        assertLoadError("1 bytes after the end of the gzip data")
        // A file given where the folder belongs.
        XCTAssertThrowsError(try Dataset.load(dir: Self.mnistDir + "/t10k-labels-idx1-ubyte.gz", train: true)) {
            XCTAssertTrue("\($0)".contains("is a file; give the folder"), "\($0)")
        }
        // One dimension past the bound is named, even with a zero after it (the product would be 0).
        write("train-images-idx3-ubyte.gz", Gzip.gzip([0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]))
        assertLoadError("IDX dimension 1 of 3 is 4294967295")
        // Missing files.
        try FileManager.default.removeItem(atPath: dir + "/train-images-idx3-ubyte.gz")
        assertLoadError("no train-images-idx3-ubyte")
        // A link that leads nowhere (or to itself) is named as such, and an empty folder name too.
        for target in ["nowhere", "train-images-idx3-ubyte"] {
            try FileManager.default.createSymbolicLink(atPath: dir + "/train-images-idx3-ubyte", withDestinationPath: target)
            assertLoadError("train-images-idx3-ubyte: is a link that leads nowhere readable")
            try FileManager.default.removeItem(atPath: dir + "/train-images-idx3-ubyte")
        }
        XCTAssertThrowsError(try Dataset.load(dir: "", train: true)) { XCTAssertTrue("\($0)".contains("an empty folder name"), "\($0)") }
    }

    func testImageWritersProduceValidFiles() throws {
        let imgs = (0..<(4 * 784)).map { (i: Int) -> Float in Float(i % 784) / 392 - 1 }
        try ImageWriter.write(dir + "/g.png", images: imgs, n: 4, side: 28)
        let png = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/g.png")))
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        try ImageWriter.write(dir + "/g.idx", images: imgs, n: 4, side: 28)
        let back = try IDXFile.read(dir + "/g.idx")
        XCTAssertEqual(back.dims, [4, 28, 28])
        XCTAssertThrowsError(try ImageWriter.write(dir + "/g.jpg", images: imgs, n: 4, side: 28))
        XCTAssertThrowsError(try ImageWriter.write("/nonexistent-dir/g.png", images: imgs, n: 4, side: 28))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/nonexistent-dir/g.png"))
    }

    /// A FIFO (no writer) and a process-substitution pipe are refused at once,
    /// without blocking in open(2); a symlink loop and an overlong name are named as such.
    func testNonRegularFilesAreRefusedWithoutBlocking() throws {
        let fifo = dir + "/fifo-images"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let t0 = Date()
        XCTAssertThrowsError(try IDXFile.read(fifo)) { XCTAssertTrue("\($0)".contains("is a pipe or socket"), "\($0)") }
        XCTAssertThrowsError(try SafeTensors.read(fifo)) { XCTAssertTrue("\($0)".contains("is a pipe or socket"), "\($0)") }
        XCTAssertLessThan(Date().timeIntervalSince(t0), 1)
        XCTAssertThrowsError(try IDXFile.read("/dev/zero")) { XCTAssertTrue("\($0)".contains("is a device"), "\($0)") }
        // A /proc file reports 0 bytes and has many: said as such (it was "only 0 bytes").
        XCTAssertThrowsError(try SafeTensors.read("/proc/self/status")) {
            XCTAssertTrue("\($0)".contains("is a file the system makes as it is read (as under /proc)"), "\($0)")
        }
        // A name that is not UTF-8 arrives with U+FFFD in it: said so (it was "��: no such file").
        XCTAssertThrowsError(try SafeTensors.read(dir + "/\u{FFFD}\u{FFFD}.safetensors")) { XCTAssertTrue("\($0)".contains("the name given is not UTF-8"), "\($0)") }
        let empty = dir + "/empty.safetensors"
        XCTAssertTrue(FileManager.default.createFile(atPath: empty, contents: Data()))
        XCTAssertThrowsError(try SafeTensors.read(empty)) { XCTAssertTrue("\($0)".contains("only 0 bytes"), "\($0)") }
        let loop = dir + "/loop"
        XCTAssertEqual(symlink(loop, loop), 0)
        XCTAssertThrowsError(try IDXFile.read(loop)) { XCTAssertTrue("\($0)".contains("symlink loop"), "\($0)") }
        let long = dir + "/" + String(repeating: "x", count: 300)
        XCTAssertThrowsError(try Dataset.load(dir: long, train: true)) { XCTAssertTrue("\($0)".contains("too long"), "\($0)") }
    }
}
