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
        .library(name: "ASGIFastCGI", targets: ["ASGIFastCGI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
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
        .systemLibrary(
            name: "CFastCGI",
            pkgConfig: "fcgi",
            providers: [.apt(["libfcgi-dev"])]
        ),
        .target(
            name: "ASGIFastCGI",
            dependencies: [
                "ASGI",
                "AsyncBridge",
                "CFastCGI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FastCGIHello",
            dependencies: [
                "ASGI",
                "ASGIFastCGI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "examples/FastCGIHello",
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
        .testTarget(
            name: "ASGIFastCGITests",
            dependencies: [
                "ASGI",
                "ASGIFastCGI",
                "CFastCGI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
