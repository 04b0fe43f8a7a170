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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        .target(
            name: "AsyncBridge",
            dependencies: [.product(name: "DequeModule", package: "swift-collections")],
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
    ],
    swiftLanguageModes: [.v6]
)
