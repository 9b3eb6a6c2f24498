import Engine
import Foundation
import XCTest

/// Runs the fuzz seeds (Fuzz/Corpus) and every input that once broke a parser
/// (Fixtures/fuzz-regressions) through the same checks the fuzz targets make,
/// without libFuzzer: each must parse consistently or give an EngineError.
final class FuzzRegressionTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    func inputs(_ target: String) throws -> [URL] {
        let dirs = [Self.root.appendingPathComponent("../../Fuzz/Corpus/\(target)"),
                    Self.root.appendingPathComponent("Fixtures/fuzz-regressions/\(target)")]
        var out: [URL] = []
        for d in dirs {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: d.path) else { continue }
            out += names.sorted().map { d.appendingPathComponent($0) }
        }
        return out
    }

    func run(_ target: String, minimum: Int, _ check: (Data) throws -> Void) throws {
        let files = try inputs(target)
        XCTAssertGreaterThanOrEqual(files.count, minimum, "seed corpus for \(target) missing")
        for f in files {
            let data = try Data(contentsOf: f)
            XCTAssertNoThrow(try check(data), f.lastPathComponent)
        }
    }

    func testIDXInputs() throws { try run("FuzzIDX", minimum: 6, ParserChecks.idx) }
    func testSafeTensorsInputs() throws { try run("FuzzSafeTensors", minimum: 5, ParserChecks.safetensors) }
    func testMetadataInputs() throws { try run("FuzzCheckpoint", minimum: 2, ParserChecks.metadata) }

    /// The checks are not vacuous: a broken invariant or a foreign error is reported.
    func testChecksReportViolations() {
        XCTAssertThrowsError(try ParserChecks.expectingEngineErrors("x") { throw CocoaError(.fileNoSuchFile) })
        XCTAssertThrowsError(try ParserChecks.check(false, "broken"))
        XCTAssertNoThrow(try ParserChecks.expectingEngineErrors("x") { throw EngineError.io("fine") })
    }
}
