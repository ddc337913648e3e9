import FathomModel
import HTTPServing
import ProxySimulation
import Synchronization

/// Simulated proxies whose pages change only at ticks, each sample stamped with its tick's time
/// (milliseconds): every scraper, whenever it comes, reads the same page between two ticks, and a
/// Prometheus honouring timestamps stores it at the tick. Two scrapers of these proxies (the agent
/// and a real Prometheus) therefore see exactly the same samples: the oracle test's ground.
public final class TickedProxyServers: Sendable {
    /// One page served: to which scraper (its `User-Agent`), of which proxy, of which tick, when.
    public struct Served: Sendable {
        public var proxy: Int
        public var tick: Int
        public var time: Double
        public var userAgent: String
    }

    public let mesh: Mutex<SimulatedMesh>
    private let state = Mutex<(pages: [[UInt8]], tick: Int, served: [Served])>(([], 0, []))
    private let servers: [SimpleHTTPServer]
    private let now: @Sendable () -> Double

    public var ports: [Int] { servers.map(\.port) }
    /// Pages served so far, oldest first.
    public var served: [Served] { state.withLock { $0.served } }
    /// The current tick (0 until the first `tick`).
    public var currentTick: Int { state.withLock { $0.tick } }

    private init(mesh: SimulatedMesh, servers: [SimpleHTTPServer], now: @escaping @Sendable () -> Double) {
        self.mesh = Mutex(mesh)
        self.servers = servers
        self.now = now
    }

    /// Starts one server per proxy, serving the pages of tick 0, rendered at `time`.
    public static func start(mesh: SimulatedMesh, at time: Double, now: @escaping @Sendable () -> Double)
        async throws -> TickedProxyServers
    {
        let box = Mutex<TickedProxyServers?>(nil)
        var servers: [SimpleHTTPServer] = []
        for index in mesh.proxies.indices {
            servers.append(
                try await SimpleHTTPServer.start { request in
                    guard let owner = box.withLock({ $0 }) else { return .reply(status: 503) }
                    let agent = request.head.headers.first(name: "User-Agent") ?? ""
                    let time = owner.now()
                    let page = owner.state.withLock { state -> [UInt8] in
                        state.served.append(Served(proxy: index, tick: state.tick, time: time, userAgent: agent))
                        return state.pages[index]
                    }
                    return .reply(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")], body: page)
                })
        }
        let started = TickedProxyServers(mesh: mesh, servers: servers, now: now)
        started.state.withLock { state in
            state.pages = mesh.proxies.map { Array($0.page(timestampMilliseconds: Self.milliseconds(time)).utf8) }
        }
        box.withLock { $0 = started }
        return started
    }

    /// Whole milliseconds of `time`, as pages stamp them.
    public static func milliseconds(_ time: Double) -> Int64 { Int64((time * 1_000).rounded(.down)) }

    /// The next tick at `time`: `change` may alter the mesh first (a restart, traffic starting or
    /// stopping), then every proxy's requests up to `time` happen and its page is rendered stamped
    /// with `time`; `edit` may then alter a proxy's page text (drop lines, duplicate one). Returns
    /// each proxy's ground truth since the previous tick.
    @discardableResult
    public func tick(
        at time: Double, change: (inout SimulatedMesh) -> Void = { _ in },
        edit: (_ proxy: Int, _ page: String) -> String = { $1 }
    ) -> [[RouteIdentity: RouteTruth]] {
        let (pages, truth) = mesh.withLock { mesh -> ([[UInt8]], [[RouteIdentity: RouteTruth]]) in
            change(&mesh)
            mesh.advance(to: time)
            let truth = mesh.proxies.indices.map { mesh.proxies[$0].takeTruth() }
            let pages = mesh.proxies.indices.map { index in
                Array(edit(index, mesh.proxies[index].page(timestampMilliseconds: Self.milliseconds(time))).utf8)
            }
            return (pages, truth)
        }
        state.withLock { state in
            state.pages = pages
            state.tick += 1
        }
        return truth
    }

    public func shutdown() async throws {
        for server in servers { try await server.shutdown() }
    }
}
