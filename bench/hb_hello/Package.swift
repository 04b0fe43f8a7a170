// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "HBHello",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
    ],
    targets: [
        .executableTarget(
            name: "HBHello",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            path: "Sources/HBHello"
        )
    ]
)
