// FMAPeak.swift: this machine's floating-point peak, measured, for `ddpm bench` to compare with.
import CSIMD

/// The floating-point operations a second this CPU's FMA units reach on all
/// cores at once when nothing waits on memory (ten independent FMA chains a
/// core, `Sources/CSIMD/peak.c`): the ceiling a convolution kernel's GFLOP/s
/// is measured against. AVX-512 where the CPU has it, else AVX2. Measured,
/// not looked up, since a VM's clock and vector width vary from host to host.
public enum FMAPeak {
    /// GFLOP/s over `Parallel.cores` threads, the best of `tries` rounds of
    /// `iters` FMA rounds a thread (about 50-150 ms a round on the CPUs measured).
    public static func measure(iters: Int = 20_000_000, tries: Int = 3) -> Double {
        let cores = Parallel.cores, wide = Backend.cpuHasAVX512
        var best = 0.0
        let rates = UnsafeMutableBufferPointer<Double>.allocate(capacity: cores)
        defer { rates.deallocate() }
        for _ in 0..<tries {
            Parallel.run(cores) { i in
                rates[i] = wide ? ddpm_fma_peak_avx512(iters) : ddpm_fma_peak_avx2(iters)
            }
            best = max(best, rates.reduce(0, +) / 1e9)
        }
        return best
    }
}
