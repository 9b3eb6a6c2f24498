// main.swift: libFuzzer target: IDX sets, raw or gzip, then the dataset checks.
import Engine
import Foundation
import FuzzSupport

/// IDX sets, raw or gzip-compressed (the gzip path is taken when the input
/// starts with the gzip magic; the corpus has both kinds). Any input must
/// either parse into a consistent set or throw an `EngineError`; a parsed set
/// then goes through the checks the MNIST loader makes (as images and as labels).
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzIDX(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = start.map { Data(bytes: $0, count: count) } ?? Data()
    do { try ParserChecks.idx(data) } catch { fatalError("\(error)") }
    return 0
}

@_cdecl("FuzzIDX_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzIDX)
}
