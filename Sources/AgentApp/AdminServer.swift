import AsyncHTTPClient
import ClusterDiscovery
import Foundation
import HTTPServing
import MeshHealth
import NIOCore
import RouteAggregation
import Synchronization
import TransportErrors

/// The agent's admin endpoints: `/metrics` (its own metrics, Prometheus text), `/healthz` (the
/// process answers), `/readyz` (200 once every watcher has listed once; 503 with the reason
/// until then and while shutting down), `/debug/routes` (the last closed window as JSON, for
/// `fathom-agent routes`) and `/debug/mesh` (the mesh's health checks as JSON, for `fathom-agent
/// mesh`). Any pod may reach it, so it runs with `SimpleHTTPServer.Limits.admin`
/// and counts the clients it cuts off.
public final class AdminServer: Sendable {
    private let server: SimpleHTTPServer
    public var port: Int { server.port }

    private init(server: SimpleHTTPServer) {
        self.server = server
    }

    public static func start(
        host: String, port: Int, metrics: AgentMetrics, readiness: @escaping @Sendable () -> Readiness,
        lastWindow: @escaping @Sendable () -> AggregationWindow?,
        checks: @escaping @Sendable () -> [MeshCheck] = { [] },
        encodeFailed: @escaping @Sendable (any Error) -> Void = { _ in },
        refused: @escaping @Sendable (SimpleHTTPServer.Refusal) -> Void = { _ in }
    ) async throws -> AdminServer {
        let countedRefusal: @Sendable (SimpleHTTPServer.Refusal) -> Void = { reason in
            metrics.recordAdminRefusal(reason.rawValue)
            refused(reason)
        }
        // Encoded once per window: a client asking again and again costs no new encoding.
        let encodedRoutes = Mutex<(start: Double, end: Double, body: ByteBuffer)?>(nil)
        let server = try await SimpleHTTPServer.start(
            host: host, port: port, limits: .admin, refused: countedRefusal
        ) { request in
            let path = request.head.uri.split(separator: "?").first.map(String.init) ?? request.head.uri
            switch path {
            case "/metrics":
                return .reply(
                    status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                    body: metrics.exposition())
            case "/healthz":
                return .reply(status: 200, body: Array("ok\n".utf8))
            case "/readyz":
                let answer = readiness().answer
                return .reply(status: answer.status, body: Array(answer.body.utf8))
            case "/debug/routes":
                let window = lastWindow()
                if let window, let cached = encodedRoutes.withLock({ $0 }), cached.start == window.start,
                    cached.end == window.end
                {
                    return .shared(status: 200, headers: [("Content-Type", "application/json")], body: cached.body)
                }
                let routes = (window?.routes ?? []).map(DebugRoute.init)
                do {
                    let body = ByteBuffer(bytes: try JSONEncoder().encode(routes))
                    if let window { encodedRoutes.withLock { $0 = (window.start, window.end, body) } }
                    return .shared(status: 200, headers: [("Content-Type", "application/json")], body: body)
                } catch {
                    // Never an empty list in its place: the client is told, and it is counted.
                    metrics.encodeFailed("debug_routes")
                    encodeFailed(error)
                    return .reply(status: 500, body: Array("cannot encode the routes: \(error)\n".utf8))
                }
            case "/debug/mesh":
                do {
                    let body = try JSONEncoder().encode(DebugMesh(checks: checks()))
                    return .reply(status: 200, headers: [("Content-Type", "application/json")], body: Array(body))
                } catch {
                    metrics.encodeFailed("debug_mesh")
                    encodeFailed(error)
                    return .reply(status: 500, body: Array("cannot encode the checks: \(error)\n".utf8))
                }
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

/// Reads a running agent's `/debug/routes`, for `fathom-agent routes`.
public enum RoutesClient {
    /// `fathom-agent routes`: the table of the agent at `agent`, its rows folded `by` route,
    /// revision or workload, with every failure reason or the commonest; or a line saying there is
    /// no traffic.
    public static func table(agent: String, by grouping: RouteGrouping = .route, allFailures: Bool = false)
        async throws -> String
    {
        let routes = try await AdminClient.withClient { try await fetch(agent: agent, client: $0) }
        guard !routes.isEmpty else { return "no route traffic in the last window" }
        let rows = RouteTable.rows(grouping.group(routes), allFailures: allFailures)
        let header = allFailures ? RouteTable.headerWithFailures : RouteTable.header
        return RouteTable.render(rows: rows, header: header) + "\n\n" + RouteTable.legend(rows: rows)
    }

    public static func fetch(agent: String, client: HTTPClient, timeout: Double = 5) async throws -> [DebugRoute] {
        try await AdminClient.fetch(
            [DebugRoute].self, path: "debug/routes", agent: agent, client: client, timeout: timeout)
    }
}

/// Reads a running agent's admin endpoints (`fathom-agent routes`, `fathom-agent mesh`).
public enum AdminClient {
    /// A failed read, with what to check.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// `path`'s JSON answer, decoded.
    /// - Parameter timeout: seconds; AsyncHTTPClient keeps retrying a refused connection until then.
    public static func fetch<Answer: Decodable>(
        _ answer: Answer.Type, path: String, agent: String, client: HTTPClient, timeout: Double = 5
    ) async throws -> Answer {
        let base = baseURL(agent)
        let url = base.hasSuffix("/") ? base + path : base + "/" + path
        let response: HTTPClientResponse
        do {
            response = try await client.execute(
                HTTPClientRequest(url: url), timeout: .milliseconds(Int64(timeout * 1_000)))
        } catch {
            throw Failure(
                description: "cannot reach the agent at \(url): \(why(error, timeout: timeout)) "
                    + "(port-forward its admin port: kubectl port-forward deploy/fathom-agent 9990)")
        }
        guard response.status == .ok else {
            throw Failure(description: "the agent answered \(response.status.code) for \(url)")
        }
        let body = try await response.body.collect(upTo: 64 << 20)
        return try JSONDecoder().decode(Answer.self, from: Data(body.readableBytesView))
    }

    /// The agent's address as a URL: `127.0.0.1:9990` and `localhost:9990` are taken as http.
    static func baseURL(_ agent: String) -> String {
        agent.contains("://") ? agent : "http://" + agent
    }

    /// Why a read failed, in words, from the error's type (`TransportFailure`), not its text.
    static func why(_ error: any Error, timeout: Double) -> String {
        switch TransportFailure(error) {
        case .refused: "connection refused (nothing listens there)"
        case .reset: "the connection was closed before an answer"
        case .timeout: "no answer within \(timeout.formatted()) s"
        case .tls: "the TLS handshake failed (the admin server speaks plain http)"
        case .dns: "the host name does not resolve"
        case .other: "\(error)"
        }
    }

    /// Runs `body` with a client of its own, shut down after. A refused connection fails at once
    /// (an agent that is not there is not retried until the deadline).
    static func withClient<Result>(_ body: (HTTPClient) async throws -> Result) async throws -> Result {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}
