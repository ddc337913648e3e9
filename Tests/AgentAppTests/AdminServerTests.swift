import AgentApp
import AsyncHTTPClient
import FathomModel
import Foundation
import LinkerdMetrics
import MeshHealth
import PrometheusText
import Reporting
import RouteAggregation
import Scraping
import Synchronization
import Testing

@Suite struct AdminServerTests {
    final class Flags: Sendable {
        let ready = Mutex(false)
        let window = Mutex<AggregationWindow?>(nil)
        let checks = Mutex<[MeshCheck]>([])
        init() {}
    }

    func get(_ client: HTTPClient, _ url: String) async throws -> (Int, [UInt8]) {
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), Array(body.readableBytesView))
    }

    @Test func endpointsServeMetricsHealthReadinessAndRoutes() async throws {
        let metrics = AgentMetrics(version: "9.9.9")
        let target = ScrapeTarget(
            proxy: ProxyID("p"), workload: WorkloadRef(kind: "Deployment", namespace: "n", name: "w"), url: "http://x")
        var stats = PageStats()
        stats.badLines = 2
        stats.badLinesByReason = ["truncated": 2]
        metrics.record(.scraped(target, ProxySnapshot(epoch: 1, stats: stats), seconds: 0.02, at: 1_000))
        metrics.record(.failed(target, .timeout, detail: "slow"))
        metrics.record(.failed(target, .timeout, detail: "slow"))
        var upload = UploaderStats()
        upload.batchesSent = 3
        upload.retries = ["throttled": 2]
        upload.recentUploadSeconds = [0.01, 0.02, 0.3]
        metrics.record(upload)
        upload.batchesSent = 5
        upload.recentUploadSeconds += [0.05, 4]
        metrics.record(upload)

        let flags = Flags()
        let admin = try await AdminServer.start(
            host: "127.0.0.1", port: 0, metrics: metrics,
            readiness: {
                flags.ready.withLock { $0 }
                    ? .ready(unwatched: []) : .notReady("waiting for the first full list of pods")
            },
            lastWindow: { flags.window.withLock { $0 } }, checks: { flags.checks.withLock { $0 } })
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let base = "http://127.0.0.1:\(admin.port)"

        let (metricsStatus, metricsBody) = try await get(client, base + "/metrics")
        #expect(metricsStatus == 200)
        // The agent's own page parses with the agent's own parser.
        let page = try ParsedPage.parse(metricsBody, policy: .rejectPage)
        func value(_ name: String, _ labels: [LabelPair] = []) -> Double? {
            page.samples.first { $0.name == name && $0.labels == labels }?.value
        }
        #expect(value("fathom_scrapes_total", [.init("result", "success")]) == 1)
        #expect(value("fathom_scrapes_total", [.init("result", "failure"), .init("reason", "timeout")]) == 2)
        #expect(value("fathom_scrapes_total", [.init("result", "failure"), .init("reason", "refused")]) == 0)
        #expect(value("fathom_page_bad_lines_total", [.init("reason", "truncated")]) == 2)
        #expect(value("fathom_page_bad_lines_total", [.init("reason", "non_finite_value")]) == 0)
        #expect(value("fathom_report_batches_sent_total") == 5)
        #expect(value("fathom_report_retries_total", [.init("reason", "throttled")]) == 2)
        #expect(value("fathom_build_info", [.init("version", "9.9.9")]) == 1)
        #expect(value("fathom_scrape_duration_seconds_count") == 1)
        // Each acknowledged upload observed once, however often the stats are read.
        #expect(value("fathom_report_upload_duration_seconds_count") == 5)
        #expect(value("fathom_report_upload_duration_seconds_bucket", [.init("le", "0.025")]) == 2)

        #expect(try await get(client, base + "/healthz").0 == 200)
        #expect(try await get(client, base + "/readyz").0 == 503)
        flags.ready.withLock { $0 = true }
        #expect(try await get(client, base + "/readyz").0 == 200)
        #expect(try await get(client, base + "/nope").0 == 404)

        #expect(try await get(client, base + "/debug/routes").1 == Array("[]".utf8))
        let key = RouteKey(
            workload: WorkloadRef(kind: "Deployment", namespace: "shop", name: "web"),
            identity: RouteIdentity(direction: .outbound, source: .httpRoute, target: "t", route: "r", peer: ""))
        let route = RouteWindow(
            key: key, successCount: 9, failureCount: 1,
            latency: LatencyHistogram(upperBounds: [0.1, .infinity], cumulativeCounts: [10, 10]), foldedRoutes: 0,
            duration: 10)
        flags.window.withLock { $0 = AggregationWindow(start: 0, end: 10, routes: [route]) }
        let routes = try JSONDecoder().decode(
            [DebugRoute].self, from: Data(try await get(client, base + "/debug/routes").1))
        #expect(routes.count == 1)
        #expect(routes.first?.workload == "web")
        #expect(routes.first?.workloadKind == "Deployment")
        #expect(routes.first?.kind == "http-route")
        #expect(routes.first?.rps == 1)
        #expect(routes.first?.p50 == 0.05)

        // The mesh's checks: on /debug/mesh in full, on /metrics as one series per check and status.
        #expect(try await get(client, base + "/debug/mesh").1 == Array(#"{"checks":[]}"#.utf8))
        let outdated = MeshCheck(
            id: "data-plane-proxies-version", category: "linkerd-data-plane", title: "versions match",
            status: .warning, message: "1 meshed pod runs a proxy not on stable-2.14.10", hint: "restart it",
            subjects: ["shop/web-1"])
        let ready = MeshCheck(
            id: "control-plane-pods-ready", category: "linkerd-existence", title: "ready", status: .ok)
        flags.checks.withLock { $0 = [ready, outdated] }
        metrics.record(checks: [ready, outdated])
        let mesh = try JSONDecoder().decode(DebugMesh.self, from: Data(try await get(client, base + "/debug/mesh").1))
        #expect(mesh.checks == [ready, outdated])
        #expect(try await MeshReport.fetch(agent: base) == [ready, outdated])
        // The address as host:port, as users type it.
        #expect(try await MeshReport.fetch(agent: "127.0.0.1:\(admin.port)") == [ready, outdated])
        let checked = try ParsedPage.parse(try await get(client, base + "/metrics").1, policy: .rejectPage)
        func check(_ id: String, _ status: String) -> Double? {
            checked.samples.first {
                $0.name == "fathom_mesh_check" && $0.labels == [.init("check", id), .init("status", status)]
            }?.value
        }
        #expect(check("data-plane-proxies-version", "warning") == 1)
        #expect(check("data-plane-proxies-version", "ok") == 0)
        #expect(check("control-plane-pods-ready", "ok") == 1)
        // A check this agent does not make (a follower's inventory checks) has no status.
        #expect(check("control-plane-proxies-version", "ok") == 0)
        #expect(check("control-plane-proxies-version", "error") == 0)

        // `fathom-agent routes` reads the same endpoint and prints the local table's row.
        let fetched = try await RoutesClient.fetch(agent: base, client: client)
        #expect(RouteTable.rows(fetched) == RouteTable.rows([route]))
        #expect(RouteTable.render(rows: RouteTable.rows(fetched)).contains("shop/web  -    outbound  http-route"))

        let port = admin.port
        try await client.shutdown()
        try await admin.shutdown()
        // Nothing listens there any more: refused at once, not retried until the 30 s deadline
        // (which would fail as "no answer within 30 s").
        let refused = await #expect(throws: AdminClient.Failure.self) {
            try await MeshReport.fetch(agent: "127.0.0.1:\(port)", timeout: 30)
        }
        #expect(
            refused?.description.hasPrefix(
                "cannot reach the agent at http://127.0.0.1:\(port)/debug/mesh: connection refused (nothing listens there)"
            )
                == true, "\(String(describing: refused))")
    }
}
