import FathomModel
import GzipCodec
import HTTPServing
import ProxySimulation
import Synchronization

/// Serves a simulated mesh's proxies over HTTP, one loopback server (port) per proxy as each pod
/// has its own address. A request first generates the proxy's traffic up to now, then answers its
/// current page, gzip-compressed when asked for, as linkerd-proxy does.
public final class SimulatedProxyServers: Sendable {
    public let mesh: Mutex<SimulatedMesh>
    /// While true, requests serve the current pages without generating traffic, so a last
    /// round of scrapes sees final values (end-to-end tests).
    public let frozen = Mutex(false)
    private let servers: [SimpleHTTPServer]

    /// The URL of proxy `index`'s metrics page.
    /// The loopback port of each proxy, in mesh order.
    public var ports: [Int] { servers.map(\.port) }
    public func url(_ index: Int) -> String { "http://127.0.0.1:\(servers[index].port)/metrics" }

    private init(mesh: SimulatedMesh, servers: [SimpleHTTPServer]) {
        self.mesh = Mutex(mesh)
        self.servers = servers
    }

    /// Starts one server per proxy of `mesh`; `now` is the time in Unix seconds. `served` receives,
    /// for every page served, the requests it newly shows (what really happened), for tests.
    public static func start(
        mesh: SimulatedMesh, now: @escaping @Sendable () -> Double,
        served: @escaping @Sendable (SimulatedProxy, [RouteIdentity: RouteTruth]) -> Void = { _, _ in }
    ) async throws -> SimulatedProxyServers {
        let box = Mutex<SimulatedProxyServers?>(nil)
        var servers: [SimpleHTTPServer] = []
        for index in mesh.proxies.indices {
            servers.append(
                try await SimpleHTTPServer.start { request in
                    guard let owner = box.withLock({ $0 }) else { return .reply(status: 503) }
                    let frozen = owner.frozen.withLock { $0 }
                    let page = owner.mesh.withLock { mesh in
                        if !frozen { mesh.proxies[index].advance(to: now()) }
                        served(mesh.proxies[index], mesh.proxies[index].takeTruth())
                        return Array(mesh.proxies[index].page().utf8)
                    }
                    let acceptsGzip = request.head.headers.first(name: "Accept-Encoding")?.contains("gzip") ?? false
                    if acceptsGzip, let compressed = try? Gzip.compress(page, level: 1) {
                        return .reply(
                            status: 200, headers: [("Content-Type", "text/plain"), ("Content-Encoding", "gzip")],
                            body: compressed)
                    }
                    return .reply(status: 200, headers: [("Content-Type", "text/plain")], body: page)
                })
        }
        let started = SimulatedProxyServers(mesh: mesh, servers: servers)
        box.withLock { $0 = started }
        return started
    }

    public func shutdown() async throws {
        for server in servers { try await server.shutdown() }
    }
}
