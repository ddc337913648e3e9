import AgentTestSupport
import FathomModel
import Foundation
import GzipCodec
import MeshHealth
import ReportEncoding
import ReportProtos
import Reporting
import RouteAggregation
import Testing

@Suite struct BatchBuilderTests {
    let identity = AgentIdentity(agentID: "fathom", instanceID: "abc123", clusterName: "prod-eu", agentVersion: "0.1.0")

    func window() -> AggregationWindow {
        let key = RouteKey(
            workload: WorkloadRef(kind: "Deployment", namespace: "shop", name: "web"),
            identity: RouteIdentity(
                direction: .outbound, source: .inboundGRPCRoute, target: "t", route: "GET /items/{id}", peer: "p"))
        let route = RouteWindow(
            key: key, successCount: 95, failureCount: 5,
            latency: LatencyHistogram(
                upperBounds: [0.01, 0.1, .infinity], cumulativeCounts: [50, 100, 100], sum: 3.5),
            foldedRoutes: 0, duration: 10)
        return AggregationWindow(start: 1_700_000_000.25, end: 1_700_000_010.25, routes: [route])
    }

    @Test func encodedBatchDecodesToWhatWentIn() throws {
        var builder = BatchBuilder(identity: identity)
        var health = HealthSummary()
        health.targets = 12
        health.scrapeFailures = ["timeout": 2, "refused": 1]
        let encoded = try builder.encode(window: window(), health: health)
        #expect(encoded.idempotencyKey == "abc123-1")
        #expect(encoded.windowEndUnixMilliseconds == 1_700_000_010_250)

        let decoded = try Fathom_Agent_V1_ReportBatch(
            serializedBytes: try Gzip.decompress(encoded.body, limit: 1 << 20))
        #expect(decoded.sequence == 1)
        #expect(decoded.agent.clusterName == "prod-eu")
        #expect(decoded.windowStartUnixMs == 1_700_000_000_250)
        #expect(decoded.routeMetrics.count == 1)
        let route = decoded.routeMetrics[0]
        #expect(route.workload.name == "web")
        #expect(route.source == .inboundGrpcRoute)
        #expect(route.direction == .outbound)
        #expect(route.route == "GET /items/{id}")
        #expect(route.successCount == 95 && route.failureCount == 5)
        #expect(route.latency.upperBoundsSeconds == [0.01, 0.1, .infinity])
        #expect(route.latency.cumulativeCounts == [50, 100, 100])
        #expect(decoded.health.targets == 12)
        #expect(decoded.health.scrapeFailures.map(\.reason) == ["refused", "timeout"])
        #expect(decoded.health.scrapeFailures.map(\.count) == [1, 2])
    }

    @Test func everyBatchCarriesTheChecksWithTheirFirstHundredSubjects() throws {
        var builder = BatchBuilder(identity: identity)
        let outdated = (0..<250).map { "shop/web-\(1_000 + $0)" }
        let checks = [
            MeshCheck(id: "control-plane-pods-ready", category: "linkerd-existence", title: "ready", status: .ok),
            MeshCheck(
                id: "data-plane-proxies-version", category: "linkerd-data-plane", title: "versions match",
                status: .warning, message: "250 meshed pods run proxies not on stable-2.14.10", hint: "restart them",
                subjects: outdated),
        ]
        let message = builder.message(window: window(), health: HealthSummary(), checks: checks)
        #expect(message.meshHealth.checks.map(\.id) == ["control-plane-pods-ready", "data-plane-proxies-version"])
        #expect(message.meshHealth.checks.map(\.status) == [.ok, .warning])
        let version = message.meshHealth.checks[1]
        #expect(version.subjects == Array(outdated.prefix(100)))
        #expect(version.subjectsTotal == 250)
        #expect(
            version.message == "250 meshed pods run proxies not on stable-2.14.10" && version.hint == "restart them")
        // Without checks (an agent that made none yet), no message at all.
        #expect(!builder.message(window: window(), health: HealthSummary()).hasMeshHealth)
    }

    @Test func sequenceGrowsByOne() throws {
        var builder = BatchBuilder(identity: identity)
        let keys = try (0..<3).map { _ in try builder.encode(window: window(), health: HealthSummary()).idempotencyKey }
        #expect(keys == ["abc123-1", "abc123-2", "abc123-3"])
        #expect(builder.nextSequence == 4)
    }

    @Test func everyRouteSourceHasAWireValue() {
        let values = RouteSource.allCases.map { BatchBuilderTests.wire($0) }
        #expect(Set(values).count == RouteSource.allCases.count)
        #expect(!values.contains(.unspecified))
    }

    static func wire(_ source: RouteSource) -> Fathom_Agent_V1_Source {
        let key = RouteKey(
            workload: WorkloadRef(kind: "Deployment", namespace: "n", name: "w"),
            identity: RouteIdentity(direction: .inbound, source: source, target: "", route: "", peer: ""))
        let route = RouteWindow(
            key: key, successCount: 1, failureCount: 0,
            latency: LatencyHistogram(upperBounds: [], cumulativeCounts: []),
            foldedRoutes: 0, duration: 1)
        var builder = BatchBuilder(
            identity: AgentIdentity(agentID: "a", instanceID: "i", clusterName: "c", agentVersion: "v"))
        return builder.message(window: AggregationWindow(start: 0, end: 1, routes: [route]), health: HealthSummary())
            .routeMetrics[0].source
    }
}

/// Debian's `protoc --decode` reads the agent's batches with the published schema: the wire and
/// `proto/fathom/agent/v1/report.proto` agree, zero-count bounds and the observed time included.
@Suite struct ProtocDecodeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func protocReadsABatch() throws {
        guard (try? runCommand("protoc", ["--version"]))?.status == 0 else {
            let required = ProcessInfo.processInfo.environment["FATHOM_REQUIRE_ORACLES"] == "1"
            #expect(!required, "FATHOM_REQUIRE_ORACLES is set but protoc is missing")
            print("ProtocDecodeTests: skipped, no protoc (Debian: apt-get install protobuf-compiler)")
            return
        }
        var builder = BatchBuilder(
            identity: AgentIdentity(agentID: "fathom", instanceID: "abc", clusterName: "prod", agentVersion: "0.1.0"))
        let key = RouteKey(
            workload: WorkloadRef(kind: "Deployment", namespace: "shop", name: "web"), revision: "5",
            identity: RouteIdentity(
                direction: .outbound, source: .httpRoute, target: "Service/shop/cart:80", route: "default/http",
                peer: ""))
        var route = RouteWindow(
            key: key, successCount: 7, failureCount: 1,
            latency: LatencyHistogram(
                upperBounds: [0.05, 0.5, 1, 10, .infinity], cumulativeCounts: [0, 0, 8, 8, 8], sum: 6.5),
            foldedRoutes: 0, duration: 9.75)
        route.retries = [.requests: 6, .successes: 4, .limitExceeded: 1]
        route.outcomes = [
            OutcomeCount(
                outcome: ResponseOutcome(httpStatus: "200", grpcStatus: nil, error: nil), success: true, count: 7),
            OutcomeCount(
                outcome: ResponseOutcome(httpStatus: nil, grpcStatus: nil, error: "LOAD_SHED"), success: false, count: 1
            ),
        ]
        let scrapes = RouteWindow(
            key: RouteKey(
                workload: key.workload,
                identity: RouteIdentity(
                    direction: .inbound, source: .endpoint, target: "default/all-unauthenticated:4191",
                    route: "default/default", peer: "", toProxyAdmin: true)),
            successCount: 12, failureCount: 1, latency: LatencyHistogram(upperBounds: [], cumulativeCounts: [], sum: 0),
            foldedRoutes: 0, duration: 10)
        var database = RouteWindow(
            key: RouteKey(
                workload: WorkloadRef(kind: "StatefulSet", namespace: "shop", name: "postgres"), revision: "2",
                identity: RouteIdentity(
                    direction: .inbound, source: .tcp, target: "server/postgres:5432", route: "", peer: "",
                    security: .noTLSFromRemote)),
            successCount: 0, failureCount: 0, latency: LatencyHistogram(upperBounds: [], cumulativeCounts: [], sum: 0),
            foldedRoutes: 0, duration: 10)
        database.tcp = TCPCounts()
        database.tcp?.opened = 3
        database.tcp?.closed = 2
        database.tcp?.closedByErrno = [TCPCounter.errno("ECONNRESET"): 2]
        database.tcp?.bytesRead = 1_234
        database.tcp?.openConnections = 7
        var policy = RouteWindow(
            key: RouteKey(
                workload: WorkloadRef(kind: "StatefulSet", namespace: "shop", name: "postgres"), revision: "2",
                identity: RouteIdentity(
                    direction: .inbound, source: .authorization, target: "Server/db:5432", route: "", peer: "")),
            successCount: 0, failureCount: 0, latency: LatencyHistogram(upperBounds: [], cumulativeCounts: [], sum: 0),
            foldedRoutes: 0, duration: 10)
        policy.authorization = [.tcpAllowed: 12, .tcpDenied: 5]
        var toCart = RouteWindow(
            key: RouteKey(
                workload: key.workload, revision: "5",
                identity: RouteIdentity(
                    direction: .outbound, source: .endpoint, target: "cart.shop.svc.cluster.local:80", route: "",
                    peer: "shop/deployment/cart", security: .mutualTLS,
                    peerIdentity: "cart.shop.serviceaccount.identity.linkerd.cluster.local",
                    peerReplicaSet: "cart-5d8f7c9b6")),
            successCount: 3, failureCount: 0, latency: LatencyHistogram(upperBounds: [], cumulativeCounts: [], sum: 0),
            foldedRoutes: 0, duration: 10)
        toCart.peerRevision = "7"
        let encoded = try builder.encode(
            window: AggregationWindow(
                start: 1_700_000_000, end: 1_700_000_010, routes: [route, scrapes, database, policy, toCart]),
            health: HealthSummary())
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("fathom-batch-\(UUID().uuidString)")
        try Data(try Gzip.decompress(encoded.body, limit: 1 << 20)).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let proto = Self.root.appendingPathComponent("proto").path
        let decoded = try runCommand(
            "sh",
            [
                "-c",
                "protoc --decode=fathom.agent.v1.ReportBatch --proto_path='\(proto)' fathom/agent/v1/report.proto < '\(file.path)'",
            ])
        #expect(decoded.status == 0, "\(decoded.errors)")
        let text = decoded.text
        #expect(text.contains("cluster_name: \"prod\""))
        #expect(text.contains("target: \"Service/shop/cart:80\""))
        #expect(text.contains("observed_seconds: 9.75"))
        #expect(text.contains("revision: \"5\""))
        // The proxy's own admin traffic is marked, the application's is not.
        #expect(text.components(separatedBy: "to_proxy_admin: true").count == 2, "\(text)")
        // Why requests failed, beside the counts.
        #expect(text.contains("http_status_class: \"2xx\""))
        #expect(text.contains("error: \"LOAD_SHED\""))
        // A TCP route's connections, closes by errno and bytes.
        #expect(text.contains("source: SOURCE_TCP"))
        #expect(text.contains("connections_opened: 3"))
        #expect(text.contains("errno: \"ECONNRESET\""))
        #expect(text.contains("bytes_read: 1234"))
        #expect(text.contains("open_connections: 7"))
        // The inbound policy's decisions.
        #expect(text.contains("source: SOURCE_AUTHORIZATION"))
        #expect(text.contains("tcp_denied: 5"))
        // A route's retries.
        #expect(text.contains("retries {") && text.contains("limit_exceeded: 1"))
        // Whether each edge was mTLS, the destination's identity, ReplicaSet and revision.
        #expect(text.contains("security: EDGE_SECURITY_MUTUAL_TLS"))
        #expect(text.contains("security: EDGE_SECURITY_NO_TLS_FROM_REMOTE"))
        #expect(text.contains("peer_identity: \"cart.shop.serviceaccount.identity.linkerd.cluster.local\""))
        #expect(text.contains("peer_replica_set: \"cart-5d8f7c9b6\""))
        #expect(text.contains("peer_revision: \"7\""))
        // And the batch reads back into the same routes.
        let window = AggregationWindow(
            try Fathom_Agent_V1_ReportBatch(serializedBytes: Gzip.decompress(encoded.body, limit: 1 << 20)))
        #expect(
            window.routes.first { $0.key.identity.source == .authorization }?.authorization == [
                .tcpAllowed: 12, .tcpDenied: 5,
            ])
        #expect(window.routes.first { $0.key.identity.source == .tcp }?.tcp == database.tcp)
        let readCart = window.routes.first {
            $0.key.identity.source == .endpoint && $0.key.identity.direction == .outbound
        }
        #expect(readCart?.key == toCart.key && readCart?.peerRevision == "7")
        #expect(window.routes.first { $0.key.identity.source == .tcp }?.key == database.key)
        #expect(window.routes.first { $0.key.identity.source == .httpRoute }?.outcomes == route.outcomes)
        #expect(
            window.routes.first { $0.key.identity.source == .httpRoute }?.retries == [
                .requests: 6, .successes: 4, .limitExceeded: 1, .overflow: 0,
            ])
        // Every bound of the family, the ones without hits too, in order.
        let bounds = text.split(separator: "\n").filter { $0.contains("upper_bounds_seconds") }
        #expect(bounds.count == 5, "\(text)")
        #expect(text.contains("upper_bounds_seconds: 0.05"))
        #expect(text.contains("upper_bounds_seconds: inf"))
    }
}
