// swift-tools-version: 6.1
import PackageDescription

// A separate package so that `swift test` in the main package never resolves or builds the
// benchmark dependencies (ordo-one/benchmark, swift-nio). Run with `swift package benchmark`.
let package = Package(
    name: "swift-asgi-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-asgi", path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "BridgeBenchmarks",
            dependencies: [
                .product(name: "AsyncBridge", package: "swift-asgi"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/BridgeBenchmarks",
            swiftSettings: [
                .enableUpcomingFeature("ExistentialAny"),
                .enableUpcomingFeature("MemberImportVisibility"),
            ],
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
        .executableTarget(
            name: "WSGIBenchmarks",
            dependencies: [
                .product(name: "ASGI", package: "swift-asgi"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/WSGIBenchmarks",
            swiftSettings: [
                .enableUpcomingFeature("ExistentialAny"),
                .enableUpcomingFeature("MemberImportVisibility"),
            ],
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
