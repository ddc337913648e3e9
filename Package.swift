// swift-tools-version:6.0
// Fathom: an in-cluster metrics agent for Linkerd-meshed Kubernetes clusters.
// The target layout follows ../shared/DESIGN.md: pure cores inside, IO at the edge.
import PackageDescription

let package = Package(
    name: "fathom",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fathom-agent", targets: ["fathom-agent"]),
        .executable(name: "fathom-bench", targets: ["fathom-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // Zero-copy pull parser for the Prometheus text exposition format (0.0.4 and the
        // OpenMetrics block linkerd-proxy appends). Standard library and libc only.
        .target(name: "PrometheusText"),
        // Value types shared by the pure cores: series identities, proxy snapshots, workloads.
        .target(name: "FathomModel"),
        // Linkerd metric and label names of both generations; parsed page -> ProxySnapshot.
        .target(name: "LinkerdMetrics", dependencies: ["PrometheusText", "FathomModel"]),
        // Pure aggregation: counter deltas and resets, histogram merge, windows, quantiles.
        .target(name: "RouteAggregation", dependencies: ["FathomModel"]),
        // The system zlib, for gzip.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // gzip compression and bounded decompression on the system zlib.
        .target(name: "GzipCodec", dependencies: ["CZlib"]),
        // Generated code only (scripts/generate-protos.sh), from proto/fathom/agent/v1.
        .target(
            name: "ReportProtos",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        // A token read from a mounted file and read again when the file changes (Secrets rotate).
        .target(name: "CredentialFiles"),
        // Kubernetes API: in-cluster and kubeconfig connections, LIST and streaming WATCH,
        // reflectors (list, watch, bookmarks, 410, re-list), minimal Codable models.
        .target(
            name: "KubernetesAPI",
            dependencies: [
                "CredentialFiles",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Pure: pod -> ReplicaSet -> workload index, meshed-pod selection, proxy versions, and the
        // rollout state machine. Time is passed in.
        .target(name: "Inventory", dependencies: ["KubernetesAPI", "FathomModel"]),
        // Domain -> protobuf batches, gzip, retry policy, bounded queue and disk spool.
        .target(
            name: "Reporting",
            dependencies: [
                "GzipCodec", "ReportProtos", "RouteAggregation", "FathomModel", "CredentialFiles", "Inventory",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // One scrape loop per meshed pod: HTTP fetch with timeout, size cap and gzip; decoding.
        .target(
            name: "Scraping",
            dependencies: [
                "LinkerdMetrics", "FathomModel", "RouteAggregation", "GzipCodec",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Counts heap allocations by interposing malloc; linked into the benchmark only.
        .target(name: "AllocationCounter"),
        // Returns the allocator's free pages to the system once per report window (the agent).
        .target(name: "HeapRelease"),
        // Simulated linkerd-proxies serving realistic, changing pages, with the ground truth of
        // every request; used by the demo, the benchmark and end-to-end tests.
        .target(name: "ProxySimulation", dependencies: ["FathomModel"]),
        // Test-only helpers: the shared fixtures, page damage, and later the in-process fakes.
        // A minimal HTTP/1.1 server (SwiftNIO) for the admin endpoints and the local stand-ins.
        .target(
            name: "HTTPServing",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Stand-ins on loopback for the demo and tests: the SaaS collector (the demo's local sink)
        // and simulated linkerd-proxies serving their pages over HTTP.
        .target(
            name: "LocalServers",
            dependencies: [
                "Reporting", "ReportProtos", "GzipCodec", "ProxySimulation", "HTTPServing", "FathomModel",
                "KubernetesAPI", .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(name: "AgentTestSupport", dependencies: ["FathomModel", "ProxySimulation"]),
        .executableTarget(
            name: "fathom-bench",
            dependencies: [
                "PrometheusText", "LinkerdMetrics", "RouteAggregation", "FathomModel", "AllocationCounter",
                "AgentTestSupport", "KubernetesAPI", "Inventory", "LocalServers", "Reporting", "AgentApp",
                "AgentConfiguration", "GzipCodec", "HTTPServing",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The configuration: one key table drives YAML parsing, validation, env overrides and docs.
        .target(name: "AgentConfiguration", dependencies: [.product(name: "Yams", package: "Yams")]),
        // Composition root: the demo and (later) configuration, buildAgent, admin server.
        .target(
            name: "AgentApp",
            dependencies: [
                "PrometheusText", "LinkerdMetrics", "RouteAggregation", "FathomModel", "ProxySimulation", "Reporting",
                "ReportProtos", "LocalServers", "Scraping", "AgentConfiguration", "HTTPServing", "KubernetesAPI",
                "Inventory", "CredentialFiles", "HeapRelease", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "fathom-agent",
            dependencies: [
                "AgentApp", "AgentConfiguration", "KubernetesAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "PrometheusTextTests", dependencies: ["PrometheusText", "AgentTestSupport", "ProxySimulation"]),
        .testTarget(
            name: "LinkerdMetricsTests",
            dependencies: ["LinkerdMetrics", "PrometheusText", "FathomModel", "AgentTestSupport", "ProxySimulation"]
        ),
        .testTarget(name: "RouteAggregationTests", dependencies: ["RouteAggregation", "FathomModel"]),
        .testTarget(name: "GzipCodecTests", dependencies: ["GzipCodec"]),
        .testTarget(name: "AgentConfigurationTests", dependencies: ["AgentConfiguration", "AgentApp", "Inventory"]),
        .testTarget(
            name: "ScrapingTests",
            dependencies: [
                "Scraping", "LocalServers", "ProxySimulation", "FathomModel", "RouteAggregation", "GzipCodec",
                "HTTPServing",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ReportingTests",
            dependencies: [
                "Reporting", "ReportProtos", "RouteAggregation", "FathomModel", "ProxySimulation", "LocalServers",
                "AgentTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(
            name: "AgentAppTests",
            dependencies: [
                "AgentApp", "RouteAggregation", "FathomModel", "Scraping", "LinkerdMetrics", "PrometheusText",
                "LocalServers", "ProxySimulation", "Reporting", "ReportProtos", "AgentConfiguration", "KubernetesAPI",
                "AgentTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "KubernetesAPITests",
            dependencies: [
                "KubernetesAPI", "LocalServers", "AgentTestSupport", "ProxySimulation",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "InventoryTests", dependencies: ["Inventory", "KubernetesAPI", "FathomModel"]),
        // The Helm chart through the real Helm engine (PyPI helm-python-sdk) and kubernetes-validate.
        .testTarget(
            name: "ChartTests",
            dependencies: [
                "AgentApp", "AgentConfiguration", "AgentTestSupport", .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The pipeline end to end: simulated proxies -> decoder -> aggregator, checked against the truth.
        .testTarget(
            name: "PipelineTests",
            dependencies: ["LinkerdMetrics", "RouteAggregation", "FathomModel", "ProxySimulation"]
        ),
    ]
)
