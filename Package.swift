// swift-tools-version:6.0
// Fathom: an in-cluster metrics agent for Linkerd-meshed Kubernetes clusters.
//
// Four groups of targets (../shared/DESIGN.md), dependencies pointing only inward:
// core (pure: no networking, no lifecycle), edge (IO adapters), shipped (AgentApp and the
// fathom-agent executable), stage (stand-ins, simulation, demo, benchmark; never linked into
// fathom-agent). PackageGraphTests holds the core to it.
import PackageDescription

let nio: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
    .product(name: "NIOHTTP1", package: "swift-nio"),
]
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let httpClient: Target.Dependency = .product(name: "AsyncHTTPClient", package: "async-http-client")

let package = Package(
    name: "fathom",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fathom-agent", targets: ["fathom-agent"]),
        .executable(name: "fathom-demo", targets: ["fathom-demo"]),
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
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // MARK: core (pure)

        // Zero-copy pull parser for the Prometheus text exposition format (0.0.4 and the
        // OpenMetrics block linkerd-proxy appends). Standard library and libc only.
        .target(name: "PrometheusText"),
        // Value types shared by the pure cores: series identities, proxy snapshots, workloads.
        .target(name: "FathomModel"),
        // Linkerd metric and label names of both generations; parsed page -> ProxySnapshot.
        .target(name: "LinkerdMetrics", dependencies: ["PrometheusText", "FathomModel"]),
        // Pure aggregation: counter deltas and resets, histogram merge, windows, quantiles.
        .target(name: "RouteAggregation", dependencies: ["FathomModel"]),
        // Minimal Codable Kubernetes models, the registry of watched resources, and the pure
        // reflector and leader-election state machines.
        .target(name: "KubernetesModels"),
        // Pure: pod -> ReplicaSet -> workload index, meshed-pod selection, proxy versions, and the
        // rollout state machine. Time is passed in.
        .target(name: "Inventory", dependencies: ["KubernetesModels", "FathomModel"]),
        // Pure: the mesh's health as the agent sees it, first each proxy's identity certificate
        // (valid, failing to refresh, expired). Time is passed in.
        .target(
            name: "MeshHealth",
            dependencies: ["FathomModel", "Inventory", .product(name: "X509", package: "swift-certificates")]),
        // The configuration: one key table drives YAML parsing, validation, env overrides,
        // reload and docs.
        .target(name: "AgentConfiguration", dependencies: [.product(name: "Yams", package: "Yams")]),
        // When a condition is logged: as it starts, changes or ends, or the first of a run and
        // then every n-th, never on each repetition.
        .target(name: "LogWhenChanged"),
        // Generated code only (scripts/generate-protos.sh), from proto/fathom/agent/v1.
        .target(name: "ReportProtos", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),

        // MARK: edge (IO adapters)

        // The system zlib, for gzip.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // gzip compression and bounded decompression on the system zlib.
        .target(name: "GzipCodec", dependencies: ["CZlib"]),
        // A token read from a mounted file and read again when the file changes (Secrets rotate).
        .target(name: "CredentialFiles"),
        // Small synchronisation points between tasks: a one-shot signal, a doorbell, a sleep that
        // a graceful shutdown cuts short.
        .target(
            name: "AsyncSignals",
            dependencies: [.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]
        ),
        // The one classifier of transport failures (refused, reset, timeout, tls, dns) by error type.
        .target(
            name: "TransportErrors",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), httpClient,
            ]
        ),
        // Kubernetes API: in-cluster and kubeconfig connections, LIST and streaming WATCH,
        // reflectors (list, watch, bookmarks, 410, re-list), the Lease elector.
        .target(
            name: "KubernetesAPI",
            dependencies: [
                "KubernetesModels", "CredentialFiles", "AsyncSignals", "LogWhenChanged", "TransportErrors", httpClient,
                logging,
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Domain -> protobuf batches: batch identity and sequence, the inventory's full and delta
        // sections, gzip, the 413 splitter, and reading batches back. No networking.
        .target(
            name: "ReportEncoding",
            dependencies: [
                "GzipCodec", "ReportProtos", "RouteAggregation", "FathomModel", "Inventory", "MeshHealth",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // Batches to the collector: retry policy, bounded queue, disk spool, the uploader.
        .target(
            name: "Reporting",
            dependencies: [
                "ReportEncoding", "GzipCodec", "FathomModel", "CredentialFiles", "AsyncSignals",
                "TransportErrors", "AgentConfiguration", "LogWhenChanged",
                httpClient, logging,
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The cluster as the agent sees it: one reflector per watched resource into the inventory,
        // watch states and readiness, the scrape targets published as a service, the pod watch's
        // switch with leadership, rollout events kept for the next window.
        .target(
            name: "ClusterDiscovery",
            dependencies: [
                "KubernetesAPI", "KubernetesModels", "Inventory", "FathomModel", "MeshHealth", logging,
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // One scrape loop per meshed pod: HTTP fetch with timeout, size cap and gzip; decoding.
        .target(
            name: "Scraping",
            dependencies: [
                "LinkerdMetrics", "FathomModel", "GzipCodec", "TransportErrors", "AgentConfiguration", "LogWhenChanged",
                logging,
            ] + nio
        ),
        // Scrapes into windows: the aggregation's actor, the window clock, and each window closed
        // with the inventory and rollout events into one batch for the uploader.
        .target(
            name: "ReportWindows",
            dependencies: [
                "ClusterDiscovery", "KubernetesAPI", "KubernetesModels", "Inventory", "MeshHealth", "Reporting",
                "ReportEncoding", "RouteAggregation", "Scraping",
                "FathomModel", "AsyncSignals", logging,
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // A minimal HTTP/1.1 server (SwiftNIO) for the admin endpoints and the local stand-ins.
        .target(
            name: "HTTPServing",
            dependencies: nio + [
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Returns the allocator's free pages to the system (malloc_trim), every scrape interval.
        .target(name: "HeapRelease"),

        // MARK: shipped

        // Composition root: the one function that builds the agent's ServiceGroup from the edge
        // targets' services (discovery, leader election, scraping, the window clock, the uploader,
        // the admin server, the configuration watcher, heap release); its own metrics, log
        // handler, `check`, `routes`.
        .target(
            name: "AgentApp",
            dependencies: [
                "PrometheusText", "RouteAggregation", "FathomModel", "Reporting", "ReportEncoding", "Scraping",
                "AgentConfiguration", "HTTPServing", "KubernetesModels", "KubernetesAPI", "Inventory",
                "CredentialFiles", "MeshHealth",
                "HeapRelease", "TransportErrors", "ClusterDiscovery", "ReportWindows", "AsyncSignals", "LogWhenChanged",
                httpClient, logging,
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The executable users run: command-line entry points only, no stand-in or simulation.
        .executableTarget(
            name: "fathom-agent",
            dependencies: [
                "AgentApp", "AgentConfiguration", "MeshHealth", logging,
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: stage (never linked into fathom-agent)

        // Simulated linkerd-proxies serving realistic, changing pages, with the ground truth of
        // every request; used by the demo, the benchmark and end-to-end tests.
        .target(name: "ProxySimulation", dependencies: ["FathomModel"]),
        // Stand-ins on loopback: the fake Kubernetes API, the collector (the demo's local sink,
        // the tests' SaaS), the simulated proxies' HTTP servers, the demo cluster.
        .target(
            name: "LocalServers",
            dependencies: [
                "ReportProtos", "GzipCodec", "ProxySimulation", "HTTPServing", "FathomModel", "KubernetesModels",
                "KubernetesAPI", .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The demo: the agent's own service graph against the stand-ins, with a live route table.
        .target(
            name: "FathomDemo",
            dependencies: [
                "AgentApp", "AgentConfiguration", "LocalServers", "ProxySimulation", "Reporting", "ReportProtos",
                "ReportWindows", "RouteAggregation", "KubernetesAPI", "FathomModel", "MeshHealth", logging,
            ]
        ),
        .executableTarget(
            name: "fathom-demo",
            dependencies: [
                "FathomDemo", "AgentApp", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Test-only helpers: the shared fixtures, page damage, subprocesses, certificates.
        .target(name: "AgentTestSupport", dependencies: ["ProxySimulation", logging]),
        // Counts heap allocations by interposing malloc; linked into the benchmark only.
        .target(name: "AllocationCounter"),
        .executableTarget(
            name: "fathom-bench",
            dependencies: [
                "PrometheusText", "LinkerdMetrics", "RouteAggregation", "FathomModel", "AllocationCounter",
                "AgentTestSupport", "KubernetesModels", "KubernetesAPI", "Inventory", "LocalServers", "Reporting",
                "ReportEncoding",
                "AgentApp", "AgentConfiguration", "GzipCodec", "HTTPServing", "ClusterDiscovery", logging,
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),

        // MARK: tests

        .testTarget(
            name: "PrometheusTextTests", dependencies: ["PrometheusText", "AgentTestSupport", "ProxySimulation"]),
        .testTarget(
            name: "LinkerdMetricsTests",
            dependencies: ["LinkerdMetrics", "PrometheusText", "FathomModel", "AgentTestSupport", "ProxySimulation"]
        ),
        .testTarget(name: "RouteAggregationTests", dependencies: ["RouteAggregation", "FathomModel"]),
        .testTarget(name: "GzipCodecTests", dependencies: ["GzipCodec"]),
        .testTarget(name: "LogWhenChangedTests", dependencies: ["LogWhenChanged"]),
        .testTarget(name: "CredentialFilesTests", dependencies: ["CredentialFiles", "AgentTestSupport"]),
        .testTarget(name: "AgentConfigurationTests", dependencies: ["AgentConfiguration", "AgentApp", "Inventory"]),
        .testTarget(
            name: "ScrapingTests",
            dependencies: [
                "Scraping", "LocalServers", "FathomModel", "RouteAggregation", "GzipCodec", "HTTPServing",
                "AgentTestSupport", logging,
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "ReportingTests",
            dependencies: [
                "Reporting", "ReportEncoding", "ReportProtos", "RouteAggregation", "FathomModel", "ProxySimulation",
                "LocalServers", "MeshHealth",
                "AgentTestSupport", httpClient, logging, .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(
            name: "AgentAppTests",
            dependencies: [
                "AgentApp", "FathomDemo", "RouteAggregation", "FathomModel", "Scraping", "LinkerdMetrics",
                "PrometheusText", "LocalServers", "ProxySimulation", "Reporting", "ReportProtos", "AgentConfiguration",
                "KubernetesModels", "KubernetesAPI", "AgentTestSupport", "MeshHealth", "ReportWindows", httpClient,
                logging,
            ]
        ),
        // The built executables as subprocesses, with config files, as users run them: against
        // loopback fakes, and against a real kube-apiserver, kube-controller-manager and etcd
        // (../shared/kube, Debian's etcd-server); and the package graph read from
        // `swift package describe`.
        .testTarget(
            name: "AgentProcessTests",
            dependencies: [
                "AgentApp", "AgentConfiguration", "LocalServers", "ProxySimulation", "Reporting", "ReportProtos",
                "ReportEncoding", "KubernetesModels", "AgentTestSupport", "PrometheusText", "GzipCodec", "HTTPServing",
                "FathomModel",
                "RouteAggregation", httpClient,
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The real Prometheus (Debian's prometheus) as the oracle of every number the agent reports.
        .testTarget(
            name: "PrometheusOracleTests",
            dependencies: [
                "AgentApp", "AgentConfiguration", "AgentTestSupport", "FathomModel", "KubernetesAPI",
                "KubernetesModels", "LocalServers", "ProxySimulation", "ReportProtos", "Reporting", "ReportWindows",
                "RouteAggregation", httpClient, logging,
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "KubernetesAPITests",
            dependencies: [
                "KubernetesModels", "KubernetesAPI", "LocalServers", "AgentTestSupport", "ProxySimulation",
                "HTTPServing", "TransportErrors", logging,
            ]
        ),
        .testTarget(
            name: "InventoryTests", dependencies: ["Inventory", "KubernetesModels", "FathomModel", "AgentTestSupport"]),
        .testTarget(
            name: "MeshHealthTests",
            dependencies: [
                "MeshHealth", "FathomModel", "Inventory", "LocalServers",
            ]),
        // The Helm chart through the real Helm engine (PyPI helm-python-sdk) and kubernetes-validate.
        .testTarget(
            name: "ChartTests",
            dependencies: [
                "AgentApp", "AgentConfiguration", "AgentTestSupport", "KubernetesModels",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The pipeline end to end: simulated proxies -> decoder -> aggregator, checked against the truth.
        .testTarget(
            name: "PipelineTests",
            dependencies: ["LinkerdMetrics", "RouteAggregation", "FathomModel", "ProxySimulation"]
        ),
    ]
)

// The project's own code builds without a warning: in Sources every warning is an error (tests,
// and the packages the project depends on, are left as they are).
for target in package.targets where target.type == .regular || target.type == .executable {
    target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-warnings-as-errors"])]
}
