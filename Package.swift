// swift-tools-version:6.0
import PackageDescription

// Only the numeric kernels (Compute, Kernels512, SIMDMath) are compiled with
// -Ounchecked and a target CPU, and CSIMD's C tile with -O3 and per-function
// targets. Everything that reads outside input (Engine's IO, Data, Training,
// Metrics; the TUI and its commands) keeps Swift's bounds and overflow checks
// in release builds.
let fast: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"], .when(configuration: .release)),
]


let package = Package(
    name: "DDPMExplorer",
    products: [
        .executable(name: "ddpm", targets: ["ddpm"]),
        .library(name: "Engine", targets: ["Engine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLIS", path: "Sources/CBLIS"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "CNcursesw", path: "Sources/CNcursesw"),
        // giflib (animated GIFs of trajectories) and OpenSSL's libcrypto (SHA-256 of model files).
        .systemLibrary(name: "CGif", path: "Sources/CGif"),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL"),
        // exp and sigmoid on SIMD vectors, inlined into Compute and Kernels512.
        .target(name: "SIMDMath", path: "Sources/SIMDMath", swiftSettings: fast),
        // AVX-512 lane permutations (interleave, even/odd) as inline C intrinsics,
        // and the bfloat16 convolution tile (the bf16 backend's sampling).
        .target(name: "CSIMD", path: "Sources/CSIMD", cSettings: [.unsafeFlags(["-O3"], .when(configuration: .release))]),
        // The input files mapped into memory (Engine registers them), which the fatal-signal
        // handler (CCrashRestore, the terminal's side) names when one shrinks under us.
        .target(name: "CMapped", path: "Sources/CMapped"),
        .target(name: "CCrashRestore", dependencies: ["CMapped"], path: "Sources/CCrashRestore"),
        // The AVX-512 convolution tiles and element-wise loops, compiled for that
        // instruction set and called only by the avx512 backend (Compute).
        .target(
            name: "Kernels512",
            dependencies: ["SIMDMath", "CSIMD"],
            path: "Sources/Kernels512",
            swiftSettings: [.unsafeFlags(["-Ounchecked", "-target-cpu", "skylake-avx512"], .when(configuration: .release))]
        ),
        // Tensors, layers and models: the hot loops, over unsafe pointers.
        .target(
            name: "Compute",
            dependencies: ["CBLIS", "CSIMD", "Kernels512", "SIMDMath"],
            path: "Sources/Compute",
            swiftSettings: fast
        ),
        // Diffusion, training, data, files, metrics, the engine thread (checked).
        .target(
            name: "Engine",
            dependencies: ["Compute", "CZlib", "CGif", "COpenSSL", "CMapped"],
            path: "Sources/Engine"
        ),
        .target(
            name: "TUI",
            dependencies: [
                "Engine", "CNcursesw", "CCrashRestore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/TUI"
        ),
        .executableTarget(name: "ddpm", dependencies: ["TUI"], path: "Sources/ddpm"),
        // Counts heap allocations in the test process (the no-allocation-per-step tests).
        .target(name: "MallocCounter", path: "Tests/MallocCounter"),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Compute", "SIMDMath", "MallocCounter"], path: "Tests/EngineTests",
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "TUITests", dependencies: ["TUI", "Engine", "CGif"], path: "Tests/TUITests", exclude: ["Snapshots", "Fixtures"]),
    ],
    swiftLanguageModes: [.v5]
)
