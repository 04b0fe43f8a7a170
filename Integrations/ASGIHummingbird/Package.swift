// swift-tools-version: 6.1
import PackageDescription

// The Hummingbird adapter lives in its own package (as swift-nio keeps Benchmarks/): Hummingbird
// and its testing product cost minutes to build, and the core package's `swift test` must not pay
// for them. `make test` builds and tests this package after the core one.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "swift-asgi-hummingbird",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ASGIHummingbird", targets: ["ASGIHummingbird"]),
        .executable(name: "MountInHummingbird", targets: ["MountInHummingbird"]),
    ],
    dependencies: [
        .package(name: "swift-asgi", path: "../.."),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .target(
            name: "ASGIHummingbird",
            dependencies: [
                .product(name: "ASGI", package: "swift-asgi"),
                .product(name: "AsyncBridge", package: "swift-asgi"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "MountInHummingbird",
            dependencies: [
                "ASGIHummingbird",
                .product(name: "ASGI", package: "swift-asgi"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ASGIHummingbirdTests",
            dependencies: [
                "ASGIHummingbird",
                .product(name: "ASGI", package: "swift-asgi"),
                .product(name: "ASGIConformance", package: "swift-asgi"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
