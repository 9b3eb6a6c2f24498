// swift-tools-version:6.0
import PackageDescription

// Hot loops are compiled with -Ounchecked in release builds (bounds checks are
// done explicitly where input comes from outside).
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
        // The AVX-512 convolution kernel, compiled for that instruction set and
        // called only after a CPU check (Engine's DirectConv).
        // exp and sigmoid on SIMD vectors, inlined into Engine and Kernels512.
        .target(name: "SIMDMath", path: "Sources/SIMDMath", swiftSettings: fast),
        .target(
            name: "Kernels512",
            dependencies: ["SIMDMath"],
            path: "Sources/Kernels512",
            swiftSettings: [.unsafeFlags(["-Ounchecked", "-target-cpu", "skylake-avx512"], .when(configuration: .release))]
        ),
        .target(
            name: "Engine",
            dependencies: ["CBLIS", "CZlib", "Kernels512", "SIMDMath"],
            path: "Sources/Engine",
            swiftSettings: fast
        ),
        .target(
            name: "TUI",
            dependencies: [
                "Engine", "CNcursesw",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/TUI",
            swiftSettings: fast
        ),
        .executableTarget(name: "ddpm", dependencies: ["TUI"], path: "Sources/ddpm"),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "SIMDMath"], path: "Tests/EngineTests",
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "TUITests", dependencies: ["TUI", "Engine"], path: "Tests/TUITests", exclude: ["Snapshots"]),
    ],
    swiftLanguageModes: [.v5]
)
