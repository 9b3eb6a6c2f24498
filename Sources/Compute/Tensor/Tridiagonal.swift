// Tridiagonal.swift: the O(n^3) half of a symmetric eigenvalue problem, built
// with Compute's fast settings (Metrics, which calls it, keeps bounds checks).

public enum Tridiagonal {
    /// Householder reduction of a symmetric n x n matrix (row-major) to a
    /// tridiagonal one with the same eigenvalues: `diagonal[0..<n]`, and
    /// `offDiagonal[i]` between rows i - 1 and i (`offDiagonal[0]` = 0).
    /// Reads only the lower triangle of `a`, which it overwrites; `scratch`
    /// holds n values.
    ///
    /// Numerical Recipes' tred2 without eigenvectors (about 4/3 n^3 flops),
    /// with A u computed the way SYMV does from the lower triangle, so that
    /// every inner loop runs along a row and vectorises: a dot product and an
    /// axpy per row, then the rank-2 update row by row.
    public static func reduce(_ a: UnsafeMutablePointer<Double>, n: Int, diagonal d: UnsafeMutablePointer<Double>,
                              offDiagonal e: UnsafeMutablePointer<Double>, scratch p: UnsafeMutablePointer<Double>) {
        guard n > 0 else { return }
        for i in stride(from: n - 1, to: 0, by: -1) {
            let l = i - 1, m = i  // the block 0...l (m rows) and the vector u in row i
            let u = a + i * n
            if l == 0 { e[i] = u[0]; continue }
            var scale = 0.0
            for k in 0..<m { scale += abs(u[k]) }
            if scale == 0 { e[i] = u[l]; continue }
            var h = 0.0
            for k in 0..<m { u[k] /= scale; h += u[k] * u[k] }
            let f = u[l], g = f >= 0 ? -h.squareRoot() : h.squareRoot()
            e[i] = scale * g
            h -= f * g
            u[l] = f - g
            // p = A u / h, A the block's lower triangle.
            p.update(repeating: 0, count: m)
            for j in 0..<m {
                let row = a + j * n
                p[j] += dot(row, u, j + 1)  // the row up to its diagonal
                axpy(u[j], row, p, j)       // the column above the diagonal, by symmetry
            }
            let invH = 1 / h
            for j in 0..<m { p[j] *= invH }
            let hh = dot(p, u, m) / (h + h)
            for j in 0..<m { p[j] -= hh * u[j] }  // q
            // A -= u q^T + q u^T on the lower triangle.
            for j in 0..<m {
                rank2(a + j * n, u[j], p, p[j], u, j + 1)
            }
        }
        for i in 0..<n { d[i] = a[i * n + i] }
        e[0] = 0
    }

    @inline(__always) static func load(_ p: UnsafePointer<Double>) -> SIMD4<Double> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Double>.self)
    }

    @inline(__always) static func store(_ v: SIMD4<Double>, _ p: UnsafeMutablePointer<Double>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD4<Double>.self)
    }

    /// sum x[k] y[k] for k < count.
    @inline(__always) static func dot(_ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>, _ count: Int) -> Double {
        var s0 = SIMD4<Double>(), s1 = SIMD4<Double>()
        var k = 0
        while k + 8 <= count {
            s0.addProduct(load(x + k), load(y + k))
            s1.addProduct(load(x + k + 4), load(y + k + 4))
            k += 8
        }
        if k + 4 <= count { s0.addProduct(load(x + k), load(y + k)); k += 4 }
        var s = (s0 + s1).sum()
        while k < count { s += x[k] * y[k]; k += 1 }
        return s
    }

    /// y[k] += alpha x[k] for k < count.
    @inline(__always) static func axpy(_ alpha: Double, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, _ count: Int) {
        let av = SIMD4<Double>(repeating: alpha)
        var k = 0
        while k + 4 <= count { store(load(y + k).addingProduct(av, load(x + k)), y + k); k += 4 }
        while k < count { y[k] += alpha * x[k]; k += 1 }
    }

    /// row[k] -= uj q[k] + qj u[k] for k < count.
    @inline(__always) static func rank2(_ row: UnsafeMutablePointer<Double>, _ uj: Double, _ q: UnsafePointer<Double>,
                                        _ qj: Double, _ u: UnsafePointer<Double>, _ count: Int) {
        let uv = SIMD4<Double>(repeating: -uj), qv = SIMD4<Double>(repeating: -qj)
        var k = 0
        while k + 4 <= count { store(load(row + k).addingProduct(uv, load(q + k)).addingProduct(qv, load(u + k)), row + k); k += 4 }
        while k < count { row[k] -= uj * q[k] + qj * u[k]; k += 1 }
    }

    /// `reduce` as Numerical Recipes writes tred2 (values only), scalar, its
    /// inner products running down columns: the reference the tests compare
    /// `reduce` with.
    public static func reduceReference(_ a: UnsafeMutablePointer<Double>, n: Int, diagonal d: UnsafeMutablePointer<Double>,
                                       offDiagonal e: UnsafeMutablePointer<Double>) {
        guard n > 0 else { return }
        for i in stride(from: n - 1, to: 0, by: -1) {
            let l = i - 1
            if l > 0 {
                var scale = 0.0
                for k in 0...l { scale += abs(a[i * n + k]) }
                if scale == 0 {
                    e[i] = a[i * n + l]
                } else {
                    var h = 0.0
                    for k in 0...l { a[i * n + k] /= scale; h += a[i * n + k] * a[i * n + k] }
                    var f = a[i * n + l]
                    var g = f >= 0 ? -h.squareRoot() : h.squareRoot()
                    e[i] = scale * g
                    h -= f * g
                    a[i * n + l] = f - g
                    f = 0
                    for j in 0...l {
                        g = 0
                        for k in 0...j { g += a[j * n + k] * a[i * n + k] }
                        if j < l { for k in (j + 1)...l { g += a[k * n + j] * a[i * n + k] } }
                        e[j] = g / h
                        f += e[j] * a[i * n + j]
                    }
                    let hh = f / (h + h)
                    for j in 0...l {
                        let fj = a[i * n + j]
                        let gj = e[j] - hh * fj
                        e[j] = gj
                        for k in 0...j { a[j * n + k] -= fj * e[k] + gj * a[i * n + k] }
                    }
                }
            } else {
                e[i] = a[i * n + l]
            }
        }
        for i in 0..<n { d[i] = a[i * n + i] }
        e[0] = 0
    }
}
