// FlatLoop.swift: two nested counting loops as one, for the direct kernels' inner loops.

/// `body(i, last)` for i in 0..<inner, `outer` times over, as one loop
/// (`last`: i is inner - 1, where the caller's pointers jump to the next row
/// or plane).
///
/// The direct convolution kernels' nested loops (positions in rows; input
/// channels, then taps) compiled with every register accumulator copied to
/// another register, and some spilled, in every iteration; one flat loop
/// compiles to the bare FMAs. `@inlinable` like FastMath, so each kernel
/// module compiles it for its own target.
@inlinable @inline(__always)
public func flatLoop(outer: Int, inner: Int, _ body: (_ i: Int, _ last: Bool) -> Void) {
    var i = 0
    for _ in 0..<(outer * inner) {
        let last = i == inner - 1
        body(i, last)
        i = last ? 0 : i + 1
    }
}
