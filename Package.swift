// swift-tools-version: 6.1
import PackageDescription

/// Settings every target of the package shares: Swift 6 language mode (set for the package below),
/// plus the upcoming features the Swift server ecosystem (swift-log, Hummingbird) builds with.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "swift-asgi",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "AsyncBridge", targets: ["AsyncBridge"]),
        .library(name: "ASGI", targets: ["ASGI"]),
        .library(name: "ASGITesting", targets: ["ASGITesting"]),
        // The applications and tables every frontend's conformance tests share (the core package's
        // and the Hummingbird mount's): test support, not API.
        .library(name: "ASGIConformance", targets: ["ASGIConformance"]),
        .library(name: "ASGIToolkit", targets: ["ASGIToolkit"]),
        .library(name: "ASGIHTTPServer", targets: ["ASGIHTTPServer"]),
        .library(name: "ASGIFastCGI", targets: ["ASGIFastCGI"]),
        .library(name: "Gateway", targets: ["Gateway"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // `swift package generate-documentation` (`make docs`); no target depends on it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
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
        // Forms, multipart, cookies, escaping for handlers (werkzeug's role): depends on ASGI only.
        .target(
            name: "ASGIToolkit",
            dependencies: ["ASGI"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ASGIConformance",
            dependencies: ["ASGI"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ASGIHTTPServer",
            dependencies: [
                "ASGI",
                "AsyncBridge",
                "CGatewaySystem",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
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
        // Linux calls the Gateway's supervisor and workers, and the HTTP server, use that Swift
        // does not import (prctl, memfd_create, sigabbrev_np, accept4).
        .target(name: "CGatewaySystem"),
        .target(
            name: "Gateway",
            dependencies: [
                "ASGI",
                "ASGIFastCGI",
                "ASGIHTTPServer",
                "AsyncBridge",
                "CGatewaySystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "HelloLegacy",
            dependencies: ["ASGI", "ASGIToolkit", "Gateway"],
            path: "examples/HelloLegacy",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FastCGIHello",
            dependencies: ["ASGI", "Gateway"],
            path: "examples/FastCGIHello",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "BridgeTour",
            dependencies: ["AsyncBridge"],
            path: "examples/BridgeTour",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "Chat",
            dependencies: [
                "ASGI",
                "ASGIHTTPServer",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "examples/Chat",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "HTTPHello",
            dependencies: [
                "ASGI",
                "ASGIHTTPServer",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "examples/HTTPHello",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "GatewayProbe",
            dependencies: [
                "ASGI",
                "Gateway",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/GatewayProbe",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "StreamingServer",
            dependencies: [
                "ASGI",
                "ASGIHTTPServer",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/StreamingServer",
            swiftSettings: swiftSettings
        ),
        // The misbehaving application the supervisor's tests serve through the Gateway runner:
        // routes that trap, hang, leak and answer normally.
        .executableTarget(
            name: "FaultyApp",
            dependencies: ["ASGI", "Gateway"],
            path: "Tests/FaultyApp",
            swiftSettings: swiftSettings
        ),
        // The LegacyMigration example: its app in a library (so its tests can import it), its
        // main in an executable, and the system SQLite library that only this example uses.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(
            name: "LegacyMigrationApp",
            dependencies: [
                "ASGI",
                "ASGIToolkit",
                "AsyncBridge",
                "CSQLite",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "examples/LegacyMigration/App",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "LegacyMigration",
            dependencies: [
                "ASGIFastCGI",
                "ASGIHTTPServer",
                "AsyncBridge",
                "LegacyMigrationApp",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "examples/LegacyMigration/Main",
            swiftSettings: swiftSettings
        ),
        // What the test targets share: gates, recorders, child processes, external tools, log capture.
        .target(
            name: "TestSupport",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AsyncBridgeTests",
            dependencies: ["TestSupport", "AsyncBridge"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ASGITests",
            dependencies: [
                "TestSupport", "ASGI", "ASGITesting", "AsyncBridge",
                .product(name: "InMemoryLogging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ASGIToolkitTests",
            dependencies: ["TestSupport", "ASGI", "ASGITesting", "ASGIToolkit"],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HelloLegacyTests",
            dependencies: ["TestSupport", "ASGI", "ASGITesting", "HelloLegacy"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ASGIHTTPServerTests",
            dependencies: [
                "TestSupport",
                "ASGI",
                "ASGIHTTPServer",
                "AsyncBridge",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ASGIFastCGITests",
            dependencies: [
                "TestSupport",
                "ASGI",
                "ASGIConformance",
                "ASGIFastCGI",
                "ASGIHTTPServer",
                "ASGITesting",
                "CFastCGI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The supervisor tests' load client runs as a Python process of its own.
            exclude: ["Support/load_client.py"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "TestSupport",
                "ASGI",
                "ASGIFastCGI",
                "ASGIHTTPServer",
                "Gateway",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LegacyMigrationTests",
            dependencies: ["TestSupport", "ASGI", "ASGITesting", "AsyncBridge", "LegacyMigrationApp"],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
