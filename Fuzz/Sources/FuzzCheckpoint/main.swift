// main.swift: libFuzzer target: weights-file and checkpoint metadata.
import Engine
import Foundation
import FuzzSupport

/// The `__metadata__` of weights files and checkpoints: model config, noise
/// schedule, trainer options, step and RNG state. The input is read as the
/// metadata object (JSON, string values; the corpus holds real ones); whatever
/// it says must end in a validated model spec / trainer state or an `EngineError`.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzCheckpoint(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = start.map { Data(bytes: $0, count: count) } ?? Data()
    do { try ParserChecks.metadata(data) } catch { fatalError("\(error)") }
    return 0
}

@_cdecl("FuzzCheckpoint_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzCheckpoint)
}
