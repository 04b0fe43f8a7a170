// swift-tools-version: 6.1
import PackageDescription

/// Settings every target of the package shares: Swift 6 language mode (set for the package below),
/// plus the upcoming features the Swift server ecosystem (swift-log, Hummingbird) builds with.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "swift-asgi",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "AsyncBridge", targets: ["AsyncBridge"]),
        .library(name: "ASGI", targets: ["ASGI"]),
        .library(name: "ASGITesting", targets: ["ASGITesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .target(
            name: "AsyncBridge",
            dependencies: [.product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ASGI",
            dependencies: [
                "AsyncBridge",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ASGITesting",
            dependencies: ["ASGI", "AsyncBridge"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "BridgeTour",
            dependencies: ["AsyncBridge"],
            path: "examples/BridgeTour",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AsyncBridgeTests",
            dependencies: ["AsyncBridge"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ASGITests",
            dependencies: ["ASGI", "ASGITesting", "AsyncBridge"],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
