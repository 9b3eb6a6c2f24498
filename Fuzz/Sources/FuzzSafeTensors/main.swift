// main.swift: libFuzzer target: safetensors files, then loading into the Tiny layout.
import Engine
import Foundation
import FuzzSupport

/// Safetensors files: header length, JSON header, tensor entries and data.
/// A file that parses is then loaded into the Tiny layout (as the explorer does
/// with a weights file), which must either succeed or throw an `EngineError`.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzSafeTensors(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = start.map { Data(bytes: $0, count: count) } ?? Data()
    do { try ParserChecks.safetensors(data) } catch { fatalError("\(error)") }
    return 0
}

@_cdecl("FuzzSafeTensors_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzSafeTensors)
}
