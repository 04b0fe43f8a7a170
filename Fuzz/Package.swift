// swift-tools-version: 6.1
import PackageDescription

// libFuzzer targets, a package of its own (as Benchmarks/) so the main package never builds with
// the fuzzer's instrumentation. Linux only. Build and run them with `make fuzz` / `make fuzz-smoke`
// (Fuzz/fuzz.sh); README.md says how to add one.

/// Every fuzz target: `Sources/<name>/main.swift` defines `LLVMFuzzerTestOneInput`; its seed
/// corpus is `Corpus/<name>/`, its past crashes `Regressions/<name>/`.
let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
    ("FuzzURLEncodedForm", [.product(name: "ASGIToolkit", package: "swift-asgi")]),
    ("FuzzMultipart", [.product(name: "ASGIToolkit", package: "swift-asgi"), .product(name: "ASGI", package: "swift-asgi")]),
    ("FuzzCookies", [.product(name: "ASGIToolkit", package: "swift-asgi")]),
    ("FuzzSetCookie", [.product(name: "ASGIToolkit", package: "swift-asgi")]),
    ("FuzzEscaping", [.product(name: "ASGIToolkit", package: "swift-asgi")]),
    // The protocol core every frontend shares (issue: hostile input).
    ("FuzzRequestTarget", [.product(name: "ASGI", package: "swift-asgi")]),
    ("FuzzContentLength", [.product(name: "ASGI", package: "swift-asgi")]),
    ("FuzzResponseFraming", [.product(name: "ASGI", package: "swift-asgi")]),
    ("FuzzCGIParams", [.product(name: "ASGI", package: "swift-asgi")]),
    ("FuzzStartResponse", [.product(name: "ASGI", package: "swift-asgi")]),
]

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "swift-asgi-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-asgi", path: "../")
    ],
    targets: [
        .target(name: "FuzzSupport", swiftSettings: swiftSettings)
    ]
        + fuzzTargets.map { target in
            .executableTarget(
                name: target.name,
                dependencies: ["FuzzSupport"] + target.dependencies,
                // libFuzzer supplies `main`: main.swift holds declarations only.
                swiftSettings: swiftSettings + [.unsafeFlags(["-parse-as-library"])]
            )
        },
    swiftLanguageModes: [.v6]
)
