// swift-tools-version:6.0
// libFuzzer targets for every parser the explorer owns (issue #6).
// Built and run by ../scripts/fuzz.sh, not by `swift test`:
//   swift build --package-path Fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
import PackageDescription

let package = Package(
    name: "DDPMFuzz",
    dependencies: [.package(name: "DDPMExplorer", path: "..")],
    targets: [
        .target(name: "FuzzSupport"),
        .executableTarget(name: "FuzzIDX", dependencies: ["FuzzSupport", .product(name: "Engine", package: "DDPMExplorer")]),
        .executableTarget(name: "FuzzSafeTensors", dependencies: ["FuzzSupport", .product(name: "Engine", package: "DDPMExplorer")]),
        .executableTarget(name: "FuzzRecording", dependencies: ["FuzzSupport", .product(name: "Engine", package: "DDPMExplorer")]),
        .executableTarget(name: "FuzzCheckpoint", dependencies: ["FuzzSupport", .product(name: "Engine", package: "DDPMExplorer")]),
    ],
    swiftLanguageModes: [.v5]
)
