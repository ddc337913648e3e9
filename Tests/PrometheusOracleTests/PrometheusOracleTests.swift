import AgentApp
import AgentConfiguration
import AgentTestSupport
import FathomModel
import Foundation
import KubernetesAPI
import LocalServers
import Logging
import ProxySimulation
import ReportProtos
import Reporting
import RouteAggregation
import Testing

/// The real Prometheus as the oracle of every number the agent reports.
///
/// Prometheus and the agent scrape the same simulated proxies. Their pages change only at ticks,
/// and every sample on a page carries its tick's timestamp, which Prometheus honours: both see the
/// same samples whenever they scrape. The agent closes a window every 5 s; the test ticks three
/// times inside each window (1.25 s, 2.5 s and 3.75 s after its start), never near a window's end,
/// so each window of the agent holds exactly the increases from the last tick of the previous
/// window (B₀) to the last tick of its own (B₁); the test checks from the log of pages served that
/// this held for every proxy. PromQL's `increase(x[R] @ T)` with T = B₁ and R = B₁ − B₀ then
/// selects the samples of exactly those ticks, and because the range starts and ends on a sample,
/// its extrapolation factor is exactly 1: `increase` is the plain sum of the differences, counter
/// resets included, the same sums the agent takes. So counts, success ratios and
/// `histogram_quantile` over `sum by (le)` must agree to 1e-9 relative (only the ms → s division
/// of legacy families and summation order differ).
///
/// Cases: both metric generations (legacy milliseconds, modern seconds); hits only in `+Inf`, only
/// in the lowest bucket, a narrow band; pods of one workload with different bucket layouts;
/// series missing from every other page; a proxy alternating the two generations page by page;
/// a duplicated series (both keep the first copy); a restart that lowers the counters (a reset
/// for both); an empty window; a new route; a route that goes idle, is dropped by the proxy and
/// comes back from zero. Where the agent is deliberately more exact than PromQL (a new route's or
/// a returning series' first value, which `increase` cannot count; a restart whose first values
/// are above the last before, which PromQL takes for no reset) the test checks the agent against
/// the simulator's ground truth instead, and says so below.
@Suite struct PrometheusOracleTests {
    static let window = 5.0
    static let tickOffsets = [1.25, 2.5, 3.75]
    /// Windows 2...lastWindow have ticks; window 1 ends before the first.
    static let lastWindow = 8

    /// How a route is checked in a window.
    enum Check {
        case prometheus
        /// Against the simulator's ground truth, with the reason PromQL cannot be exact there.
        case truth(String)
    }

    @Test func everyRouteAndWindowEqualsPromQL() async throws {
        guard let binary = PrometheusServer.binary else {
            let required = ProcessInfo.processInfo.environment["FATHOM_REQUIRE_ORACLES"] == "1"
            #expect(!required, "FATHOM_REQUIRE_ORACLES is set but no prometheus binary was found")
            print("PrometheusOracleTests: skipped, no prometheus binary (Debian: apt-get install prometheus)")
            return
        }
        let now: @Sendable () -> Double = { Date().timeIntervalSince1970 }
        var mesh = OracleMesh.mesh(startedAt: now() - 60)
        // Every series exists before the first page: both scrapers start from the same samples.
        let tickZero = now()
        mesh.advance(to: tickZero)
        _ = mesh.takeTruth()
        let proxies = try await TickedProxyServers.start(mesh: mesh, at: tickZero, now: now)
        let api = try await FakeKubernetesAPI.start(behaviour: .init(token: "oracle"))
        var cluster = DemoCluster()
        cluster.populate(api, mesh: mesh, ports: proxies.ports)
        let collector = try await FakeCollector.start()
        let prometheus = try await PrometheusServer.start(
            binary: binary,
            targets: mesh.proxies.indices.map { index in
                PrometheusServer.Target(
                    address: "127.0.0.1:\(proxies.ports[index])",
                    labels: ["workload": mesh.proxies[index].workload.name, "pod": mesh.proxies[index].podName])
            }, interval: 0.25)
        defer { prometheus.stop() }

        var configuration = AgentConfiguration()
        configuration.clusterName = "oracle"
        configuration.agentID = "fathom-oracle"
        configuration.reportEndpoint = collector.url
        configuration.tokenFile = ""
        configuration.scrapeInterval = 0.25
        configuration.scrapeTimeout = 2
        configuration.reportInterval = Self.window
        configuration.adminAddress = "127.0.0.1"
        configuration.adminPort = 0
        var logger = Logger(label: "oracle")
        logger.logLevel = .error
        let agent = try Agent(
            configuration: configuration,
            environment: AgentEnvironment(connection: api.connection, targetPublishInterval: 0.1), logger: logger)

        // Ticks, with the changes each case needs; the truth of every tick, per proxy.
        var truth: [Int: [[RouteIdentity: RouteTruth]]] = [:]
        var boundaryTimes: [Int: Double] = [:]
        var boundaryTicks: [Int: Int] = [1: 0]
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await agent.run() }
            #expect(await eventually(within: 60) { collector.acceptedBatches.count >= 1 })
            let first = try #require(collector.acceptedBatches.first)
            boundaryTimes[1] = Double(TickedProxyServers.milliseconds(tickZero)) / 1_000
            let firstEnd = Double(first.windowEndUnixMs) / 1_000
            var saved: [[TrafficSpec]] = []
            for window in 2...Self.lastWindow {
                let start = firstEnd + Double(window - 2) * Self.window
                for (step, offset) in Self.tickOffsets.enumerated() {
                    await Self.sleep(until: start + offset)
                    let time = now()
                    let tick = step + 1
                    let perProxy = proxies.tick(
                        at: time,
                        change: { mesh in
                            OracleMesh.change(&mesh, window: window, tick: tick, at: time, saved: &saved)
                        },
                        edit: { index, page in OracleMesh.edit(page, proxy: index, tick: tick) })
                    truth[window, default: Array(repeating: [:], count: perProxy.count)] =
                        zip(truth[window] ?? Array(repeating: [:], count: perProxy.count), perProxy).map { sum, next in
                            sum.merging(next) { a, b in
                                var total = a
                                total.add(b)
                                return total
                            }
                        }
                    if tick == Self.tickOffsets.count {
                        boundaryTimes[window] = Double(TickedProxyServers.milliseconds(time)) / 1_000
                        boundaryTicks[window] = proxies.currentTick
                    }
                }
            }
            #expect(
                await eventually(within: 30) { collector.acceptedBatches.count >= Self.lastWindow },
                "the agent closes a window every \(Self.window) s")
            await agent.shutdown()
            try await group.waitForAll()
        }
        let batches = collector.acceptedBatches.sorted { $0.sequence < $1.sequence }
        let served = proxies.served

        var compared = 0
        var checkedAgainstTruth = 0
        for window in 2...Self.lastWindow {
            let batch = try #require(batches.first { $0.sequence == UInt64(window) })
            let closed = Double(batch.windowEndUnixMs) / 1_000
            let base = try #require(boundaryTicks[window - 1])
            let boundary = try #require(boundaryTicks[window])
            // The ground of the comparison: before the window closed, the agent read every
            // proxy's boundary page, and Prometheus every page of the ticks.
            for proxy in mesh.proxies.indices {
                let agentPages = served.filter { $0.proxy == proxy && $0.userAgent.hasPrefix("fathom-agent") }
                #expect(
                    agentPages.contains { $0.tick == boundary && $0.time < closed - 0.1 },
                    "window \(window): the agent did not read proxy \(proxy)'s last page in time (a machine too slow?)")
                #expect(!agentPages.contains { $0.tick > boundary && $0.time < closed })
                let prometheusTicks = Set(
                    served.filter { $0.proxy == proxy && $0.userAgent.hasPrefix("Prometheus") }.map(\.tick))
                #expect(prometheusTicks.isSuperset(of: [base, boundary]), "Prometheus missed a boundary page")
            }
            let fathom = AggregationWindow(batch)
            let routes = Dictionary(uniqueKeysWithValues: fathom.routes.map { ($0.key, $0) })
            let end = try #require(boundaryTimes[window])
            let range = Int(((end - (boundaryTimes[window - 1] ?? end)) * 1_000).rounded())
            var windowTruth: [RouteKey: RouteTruth] = [:]
            for (index, proxyTruth) in (truth[window] ?? []).enumerated() {
                for (identity, routeTruth) in proxyTruth {
                    windowTruth[RouteKey(workload: mesh.proxies[index].workload, identity: identity), default: .init()]
                        .add(routeTruth)
                }
            }
            for route in OracleMesh.routes {
                let key = RouteKey(workload: OracleMesh.workload(route.workload), identity: route.identity)
                let mine = routes[key]
                switch OracleMesh.check(route, window: window) {
                case .truth(let why):
                    // The agent is more exact than PromQL here (see `why`): it must equal the truth.
                    let expected = windowTruth[key] ?? RouteTruth()
                    #expect(mine?.successCount ?? 0 == expected.success, "\(key) window \(window) (\(why))")
                    #expect(mine?.failureCount ?? 0 == expected.failure, "\(key) window \(window) (\(why))")
                    if let mine, expected.success + expected.failure > 0 {
                        for (bound, count) in zip(mine.latency.upperBounds, mine.latency.cumulativeCounts) {
                            #expect(count == expected.cumulativeBuckets[bound, default: 0], "\(key) le=\(bound)")
                        }
                    }
                    checkedAgainstTruth += 1
                case .prometheus:
                    let promQL = try await route.measured(prometheus, at: end, rangeMilliseconds: range)
                    guard promQL.count > 0 else {
                        #expect(mine == nil || mine!.requestCount == 0, "\(key) window \(window): PromQL saw none")
                        compared += 1
                        continue
                    }
                    let agent = try #require(mine, "\(key) window \(window): PromQL counts \(promQL.count)")
                    if !Self.same(agent.requestCount, promQL.count) {
                        let samples = await prometheus.samples(
                            "\(route.responses){\(route.matchers),workload=\"\(route.workload)\"}[\(range + 3_000)ms]",
                            at: end)
                        let start = end - Double(range) / 1_000
                        Issue.record(
                            "\(key) window \(window) [\(start), \(end)]: the agent counts \(agent.requestCount), PromQL \(promQL.count); Prometheus holds:\n\(samples)"
                        )
                    }
                    #expect(Self.same(agent.successCount, promQL.success), "\(key) window \(window) successes")
                    for (q, value) in zip(OracleRoute.quantiles, promQL.quantiles) {
                        #expect(
                            Self.same(agent.latencyQuantile(q), value),
                            "\(key) window \(window) p\(Int(q * 100)): \(agent.latencyQuantile(q)) vs PromQL \(value)")
                    }
                    compared += 1
                }
            }
        }
        // The comparison meant something: every designed route in every window.
        #expect(compared + checkedAgainstTruth == OracleMesh.routes.count * (Self.lastWindow - 1))
        #expect(checkedAgainstTruth >= 4)
        try await api.shutdown()
        try await collector.shutdown()
        try await proxies.shutdown()
    }

    /// Equal to 1e-9 relative; NaN equals NaN (no observations on both sides).
    static func same(_ a: Double, _ b: Double) -> Bool {
        if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b)) || a == b
    }

    static func sleep(until time: Double) async {
        let wait = time - Date().timeIntervalSince1970
        if wait > 0 { try? await Task.sleep(for: .milliseconds(Int64(wait * 1_000))) }
    }
}
