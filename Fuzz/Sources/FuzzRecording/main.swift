// main.swift: libFuzzer target: recordings (.ddpmtraj), parsed, replayed and drawn.
import Engine
import Foundation
import FuzzSupport

/// Recordings: a safetensors file with F16 frames and JSON metadata, then
/// played to the end and drawn as GIF frames (what ddpm replay and
/// ddpm export-gif do with it), which must succeed or throw an `EngineError`.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzRecording(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = start.map { Data(bytes: $0, count: count) } ?? Data()
    do { try ParserChecks.recording(data) } catch { fatalError("\(error)") }
    return 0
}

@_cdecl("FuzzRecording_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzRecording)
}
