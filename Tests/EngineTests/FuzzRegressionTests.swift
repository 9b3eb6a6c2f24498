import Engine
import Foundation
import XCTest

/// Runs the fuzz seeds (Fuzz/Corpus) and every input that once broke a parser
/// (Fixtures/fuzz-regressions) through the same checks the fuzz targets make,
/// without libFuzzer: each must parse consistently or give an EngineError.
/// The checks run in Engine, which is compiled with Swift's bounds and
/// overflow checks on in release builds too (only Compute is -Ounchecked).
final class FuzzRegressionTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    /// The files of one folder; a missing folder fails the test (it must not vanish unnoticed).
    func files(_ dir: URL) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted().map { dir.appendingPathComponent($0) }
    }

    /// Replays at least `seeds` corpus files and `regressions` regression files
    /// (the counts in the repository: a deleted file fails the test).
    func run(_ target: String, seeds: Int, regressions: Int, _ check: (Data) throws -> Void) throws {
        let corpus = try files(Self.root.appendingPathComponent("../../Fuzz/Corpus/\(target)"))
        let fixed = try files(Self.root.appendingPathComponent("Fixtures/fuzz-regressions/\(target)"))
        XCTAssertGreaterThanOrEqual(corpus.count, seeds, "seed corpus of \(target)")
        XCTAssertGreaterThanOrEqual(fixed.count, regressions, "regression inputs of \(target)")
        for f in corpus + fixed {
            let data = try Data(contentsOf: f)
            XCTAssertNoThrow(try check(data), f.lastPathComponent)
        }
    }

    func testIDXInputs() throws { try run("FuzzIDX", seeds: 6, regressions: 3, ParserChecks.idx) }
    func testSafeTensorsInputs() throws { try run("FuzzSafeTensors", seeds: 5, regressions: 3, ParserChecks.safetensors) }
    func testRecordingInputs() throws { try run("FuzzRecording", seeds: 3, regressions: 3, ParserChecks.recording) }
    func testMetadataInputs() throws { try run("FuzzCheckpoint", seeds: 2, regressions: 6, ParserChecks.metadata) }

    /// The checks are not vacuous: a broken invariant or a foreign error is reported.
    func testChecksReportViolations() {
        XCTAssertThrowsError(try ParserChecks.expectingEngineErrors("x") { throw CocoaError(.fileNoSuchFile) })
        XCTAssertThrowsError(try ParserChecks.check(false, "broken"))
        XCTAssertNoThrow(try ParserChecks.expectingEngineErrors("x") { throw EngineError.io("fine") })
    }
}
