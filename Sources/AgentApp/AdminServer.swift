import Foundation
import HTTPServing
import RouteAggregation

/// The agent's admin endpoints: `/metrics` (its own metrics, Prometheus text), `/healthz` (the
/// process answers), `/readyz` (every watcher has listed once; 503 until then) and `/debug/routes`
/// (the last closed window as JSON, for `fathom-agent routes`).
public final class AdminServer: Sendable {
    private let server: SimpleHTTPServer
    public var port: Int { server.port }

    private init(server: SimpleHTTPServer) {
        self.server = server
    }

    public static func start(
        host: String, port: Int, metrics: AgentMetrics, ready: @escaping @Sendable () -> Bool,
        lastWindow: @escaping @Sendable () -> AggregationWindow?
    ) async throws -> AdminServer {
        let server = try await SimpleHTTPServer.start(host: host, port: port) { request in
            let path = request.head.uri.split(separator: "?").first.map(String.init) ?? request.head.uri
            switch path {
            case "/metrics":
                return .reply(
                    status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                    body: metrics.exposition())
            case "/healthz":
                return .reply(status: 200, body: Array("ok\n".utf8))
            case "/readyz":
                return ready()
                    ? .reply(status: 200, body: Array("ready\n".utf8))
                    : .reply(status: 503, body: Array("not ready: waiting for the first full list\n".utf8))
            case "/debug/routes":
                let routes = (lastWindow()?.routes ?? []).map(DebugRoute.init)
                let body = (try? JSONEncoder().encode(routes)).map { [UInt8]($0) } ?? Array("[]".utf8)
                return .reply(status: 200, headers: [("Content-Type", "application/json")], body: body)
            default:
                return .reply(status: 404, body: Array("not found\n".utf8))
            }
        }
        return AdminServer(server: server)
    }

    public func shutdown() async throws {
        try await server.shutdown()
    }
}

/// One row of `/debug/routes`.
public struct DebugRoute: Codable, Sendable, Equatable {
    public var workload: String
    public var direction: String
    public var kind: String
    public var target: String
    public var route: String
    public var peer: String
    public var success: Double
    public var failure: Double
    /// Responses per second over the window.
    public var rps: Double
    /// Latency quantiles in seconds; nil without observations.
    public var p50: Double?
    public var p95: Double?
    public var p99: Double?

    init(_ route: RouteWindow) {
        workload = route.key.workload.description
        direction = route.key.identity.direction.rawValue
        kind = RouteTable.kind(route.key.identity.source)
        target = route.key.identity.target
        self.route = route.key.identity.route
        peer = route.key.identity.peer
        success = route.successCount
        failure = route.failureCount
        rps = route.requestRate
        func finite(_ value: Double) -> Double? { value.isFinite ? value : nil }
        p50 = finite(route.latencyQuantile(0.5))
        p95 = finite(route.latencyQuantile(0.95))
        p99 = finite(route.latencyQuantile(0.99))
    }
}
