// Driver.swift: hands each fuzz target's test function to libFuzzer's driver.
/// SwiftPM links an executable target by pointing `main` at `<Target>_main`;
/// each fuzz target defines that symbol and hands control to libFuzzer's driver
/// with its test function (LLVMFuzzerRunDriver, libFuzzer since LLVM 12).
public typealias FuzzTest = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ test: FuzzTest) -> CInt

public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ test: FuzzTest) -> CInt {
    var c = argc
    var v = argv
    return LLVMFuzzerRunDriver(&c, &v, test)
}
