import AgentApp
import AgentTestSupport
import FathomModel
import Foundation
import KubernetesAPI
import KubernetesModels
import LocalServers
import ProxySimulation
import ReportProtos
import ReportWindows
import Reporting
import RouteAggregation
import Synchronization
import Testing

/// The real Prometheus as the oracle of every number the agent reports.
///
/// Prometheus and the agent scrape the same simulated proxies. Their pages change only at ticks,
/// and every sample on a page carries its tick's timestamp, which Prometheus honours: both see the
/// same samples whenever they scrape. The test ticks three times per window, and waits after each
/// tick until both have read the new page of every proxy (the log of pages served says so, and
/// the agent's scrape counts say it ingested them); then it closes the agent's window itself
/// (`WindowSchedule.onTrigger`). So each window of the agent holds exactly the increases from the
/// last tick of the previous window (B₀) to the last tick of its own (B₁), whatever the machine's
/// load. PromQL's `increase(x[R] @ T)` with T = B₁ and R = B₁ − B₀ then
/// selects the samples of exactly those ticks, and because the range starts and ends on a sample,
/// its extrapolation factor is exactly 1: `increase` is the plain sum of the differences, counter
/// resets included, the same sums the agent takes. So counts, success ratios and
/// `histogram_quantile` over `sum by (le)` must agree to 1e-9 relative (only the ms → s division
/// of legacy families and summation order differ).
///
/// Compared per route and window: counts, successes, quantiles, latency sums, outcomes (status
/// class, gRPC status, error reason), an HTTPRoute's retries; for TCP and policy routes, connections opened and closed
/// (by errno), bytes each way, connections open at the window's end and decisions; the last window is the one the shutdown closes.
///
/// Cases: both metric generations (legacy milliseconds, modern seconds); hits only in `+Inf`, only
/// in the lowest bucket, a narrow band; pods of one workload with different bucket layouts;
/// series missing from every other page; a proxy alternating the two generations page by page;
/// a duplicated series (both keep the first copy); a pod replaced mid-window (a new one created,
/// the old one deleted, as a rollout does); a restart that lowers the counters (a reset
/// for both); an empty window; a new route; a route first requested after the first page (absent
/// from the agent's baseline); a route missing from a window's last page (its increase moves to
/// the next window: the two together equal PromQL over both); a route that goes idle, is dropped
/// by the proxy and comes back from zero. Where the agent is deliberately more exact than PromQL (a new route's or
/// a returning series' first value, which `increase` cannot count; a restart whose first values
/// are above the last before, which PromQL takes for no reset; a deleted pod's series ending
/// inside the range, which PromQL extrapolates) the test checks the agent against
/// the simulator's ground truth instead, and says so below.
@Suite struct PrometheusOracleTests {
    static let ticksPerWindow = 3
    /// Windows 2...lastWindow have ticks; window 1 ends before the first. The last is the one
    /// the agent closes as it shuts down.
    static let lastWindow = 9

    /// How a route is checked in a window.
    enum Check {
        case prometheus
        /// Against the simulator's ground truth, with the reason PromQL cannot be exact there.
        case truth(String)
    }

    @Test func everyRouteAndWindowEqualsPromQL() async throws {
        guard let binary = PrometheusServer.binaryOrSkip("PrometheusOracleTests") else { return }
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
        // The replacement pod is created mid-run; the old one it replaces is deleted.
        let replacement = try #require(
            api.objects(Pod.self).first {
                $0.metadata.name == mesh.proxies[OracleMesh.Proxy.replacedNew.rawValue].podName
            })
        _ = api.delete(Pod.self, namespace: OracleMesh.namespace, name: replacement.metadata.name)
        let replacedPod = mesh.proxies[OracleMesh.Proxy.replacedOld.rawValue].podName
        /// The proxy indices and agent target names of `cases`.
        func pods(_ cases: [OracleMesh.Proxy]) -> [Int: String] {
            Dictionary(
                uniqueKeysWithValues: cases.map {
                    ($0.rawValue, "\(OracleMesh.namespace)/\(mesh.proxies[$0.rawValue].podName)")
                })
        }
        let collector = try await FakeCollector.start()
        let prometheus = try await PrometheusServer.start(
            binary: binary,
            targets: mesh.proxies.indices.map { index in
                PrometheusServer.Target(
                    address: "127.0.0.1:\(proxies.ports[index])",
                    labels: ["workload": mesh.proxies[index].workload.name, "pod": mesh.proxies[index].podName])
            }, interval: 0.25)
        defer { prometheus.stop() }

        // The test closes the windows, each once both scrapers have read what it needs: the
        // comparison holds on a machine of any speed.
        let trigger = WindowTrigger()
        let queued = Counter()
        let agent = try OracleAgent.make(
            name: "oracle", api: api, collector: collector, scrapeInterval: 0.25, trigger: trigger,
            onBatch: { _ in queued.count.withLock { $0 += 1 } })

        // Ticks, with the changes each case needs; the truth of every tick, per proxy.
        var truth: [Int: [[RouteIdentity: RouteTruth]]] = [:]
        var boundaryTimes: [Int: Double] = [:]
        var boundaryTicks: [Int: Int] = [1: 0]
        // What the `edge` route served in the tick whose page lacks it (`OracleMesh.boundaryGap`).
        var heldBack: [RouteIdentity: RouteTruth] = [:]
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await agent.run() }
            // Window 1 holds the first pages, the agent's baselines: it closes once both
            // scrapers have read tick 0 of every proxy.
            try await Self.settle(
                proxies, agent, tick: 0,
                scraped: pods(OracleMesh.Proxy.allCases.filter { OracleMesh.exists($0, window: 1, tick: 0) }))
            trigger.closeWindow()
            try await Self.wait("window 1 to be queued") { queued.count.withLock { $0 } >= 1 }
            boundaryTimes[1] = Double(TickedProxyServers.milliseconds(tickZero)) / 1_000
            var saved: [[TrafficSpec]] = []
            for window in 2...Self.lastWindow {
                var lastTick = 0.0
                for tick in 1...Self.ticksPerWindow {
                    let time = now()
                    lastTick = time
                    let perProxy = proxies.tick(
                        at: time,
                        change: { mesh in
                            OracleMesh.change(&mesh, window: window, tick: tick, at: time, saved: &saved)
                        },
                        edit: { index, page in OracleMesh.edit(page, proxy: index, window: window, tick: tick) })
                    // The replacement pod is created, the old one deleted, as the controller would.
                    if (window, tick) == OracleMesh.created { api.apply(replacement) }
                    if (window, tick) == OracleMesh.deleted {
                        _ = api.delete(Pod.self, namespace: OracleMesh.namespace, name: replacedPod)
                    }
                    truth[window, default: Array(repeating: [:], count: perProxy.count)] =
                        zip(truth[window] ?? Array(repeating: [:], count: perProxy.count), perProxy).map { sum, next in
                            sum.merging(next) { a, b in
                                var total = a
                                total.add(b)
                                return total
                            }
                        }
                    if (window, tick) == OracleMesh.boundaryGap {
                        heldBack = perProxy[OracleMesh.Proxy.boundary.rawValue].filter {
                            $0.key.target.hasPrefix("edge.")
                        }
                    }
                    // The next page only once both scrapers have this one from every proxy.
                    try await Self.settle(
                        proxies, agent, tick: proxies.currentTick,
                        scraped: pods(
                            OracleMesh.Proxy.allCases.filter {
                                OracleMesh.exists($0, window: window, tick: tick)
                            }))
                }
                boundaryTimes[window] = Double(TickedProxyServers.milliseconds(lastTick)) / 1_000
                boundaryTicks[window] = proxies.currentTick
                if window == Self.lastWindow {
                    // The shutdown closes the last window with what was scraped since the one
                    // before: nothing of it may be lost.
                    await agent.shutdown()
                } else {
                    trigger.closeWindow()
                    try await Self.wait("window \(window) to be queued") { queued.count.withLock { $0 } >= window }
                }
            }
            try await group.waitForAll()
            try await Self.wait("every window to reach the collector") {
                collector.acceptedBatches.count >= Self.lastWindow
            }
        }
        let batches = collector.acceptedBatches.sorted { $0.sequence < $1.sequence }

        var compared = 0
        var checkedAgainstTruth = 0
        var countersCompared = 0
        var outcomesCompared = 0
        var retriesCompared = 0
        var gaugesCompared = 0
        for window in 2...Self.lastWindow {
            let batch = try #require(batches.first { $0.sequence == UInt64(window) })
            let fathom = AggregationWindow(batch)
            // Every simulated workload has one revision; PromQL and the truth know workloads only.
            #expect(fathom.routes.allSatisfy { $0.key.revision == "1" }, "window \(window)")
            let routes = Dictionary(
                uniqueKeysWithValues: fathom.routes.map { route in
                    var key = route.key
                    key.revision = ""
                    return (key, route)
                })
            let end = try #require(boundaryTimes[window])
            let range = Int(((end - (boundaryTimes[window - 1] ?? end)) * 1_000).rounded())
            var windowTruth: [RouteKey: RouteTruth] = [:]
            for (index, proxyTruth) in (truth[window] ?? []).enumerated() {
                for (identity, routeTruth) in proxyTruth {
                    windowTruth[RouteKey(workload: mesh.proxies[index].workload, identity: identity), default: .init()]
                        .add(routeTruth)
                }
            }
            // The increase of the boundary's missing page is seen on the next window's first page.
            let boundaryWorkload = mesh.proxies[OracleMesh.Proxy.boundary.rawValue].workload
            for (identity, held) in heldBack {
                let key = RouteKey(workload: boundaryWorkload, identity: identity)
                if window == OracleMesh.boundaryGap.window {
                    windowTruth[key, default: .init()].add(Self.negated(held))
                }
                if window == OracleMesh.boundaryGap.window + 1 { windowTruth[key, default: .init()].add(held) }
            }
            for route in OracleMesh.routes {
                let key = RouteKey(workload: OracleMesh.workload(route.workload), identity: route.identity)
                let mine = routes[key]
                if !route.counters.isEmpty {
                    // Connections, bytes and policy decisions: PromQL's increase, and the truth.
                    let expected = windowTruth[key] ?? RouteTruth()
                    let promQL = try await route.measuredCounters(prometheus, at: end, rangeMilliseconds: range)
                    for (counter, value) in zip(route.counters, promQL) {
                        let agent: Double = mine.map { counter.read($0) } ?? 0
                        #expect(Self.same(agent, value), "\(key) window \(window) \(counter.name): PromQL \(value)")
                        if let truth = counter.truth {
                            #expect(agent == truth(expected), "\(key) window \(window) \(counter.name): truth")
                        }
                        gaugesCompared += counter.gauge && value > 0 ? 1 : 0
                    }
                    countersCompared += promQL.filter { $0 > 0 }.count
                    compared += 1
                    continue
                }
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
                    // Why they counted as they did: the status class, gRPC status and error reason.
                    let outcomes = Dictionary(agent.outcomes.map { ($0.outcome, $0.count) }, uniquingKeysWith: +)
                    #expect(
                        outcomes.keys == promQL.outcomes.keys
                            && outcomes.allSatisfy { Self.same($0.value, promQL.outcomes[$0.key] ?? .nan) },
                        "\(key) window \(window) outcomes: \(outcomes) vs PromQL \(promQL.outcomes)")
                    outcomesCompared += outcomes.count
                    // An HTTPRoute's retries, sent and successful.
                    for (counter, value) in promQL.retries {
                        let retried = agent.retries?[counter] ?? 0
                        #expect(
                            Self.same(retried, value),
                            "\(key) window \(window) retries \(counter): \(retried) vs PromQL \(value)")
                        retriesCompared += value > 0 ? 1 : 0
                    }
                    #expect(
                        Self.same(agent.latency.sum, promQL.latencySum),
                        "\(key) window \(window) latency sum: \(agent.latency.sum) vs PromQL \(promQL.latencySum)")
                    for (q, value) in zip(OracleRoute.quantiles, promQL.quantiles) {
                        #expect(
                            Self.same(agent.latencyQuantile(q), value),
                            "\(key) window \(window) p\(Int(q * 100)): \(agent.latencyQuantile(q)) vs PromQL \(value)")
                    }
                    compared += 1
                }
            }
        }
        // Across the boundary whose page lacked the `edge` route, the two windows together equal
        // PromQL's increase over both: nothing lost, nothing counted twice.
        #expect(!heldBack.isEmpty && heldBack.values.allSatisfy { $0.success + $0.failure > 0 })
        let gap = OracleMesh.boundaryGap.window
        for route in OracleMesh.routes where route.workload == "boundary" && route.identity.target.hasPrefix("edge.") {
            let key = RouteKey(workload: OracleMesh.workload(route.workload), identity: route.identity)
            let windows = [gap, gap + 1].compactMap { window in
                batches.first { $0.sequence == UInt64(window) }.flatMap { batch in
                    AggregationWindow(batch).routes.first {
                        $0.key.workload == key.workload && $0.key.identity == key.identity
                    }
                }
            }
            try #require(windows.count == 2, "\(key): both windows have traffic")
            let start = try #require(boundaryTimes[gap - 1])
            let end = try #require(boundaryTimes[gap + 1])
            let range = Int(((end - start) * 1_000).rounded())
            let promQL = try await route.measured(prometheus, at: end, rangeMilliseconds: range)
            let count = windows.map(\.requestCount).reduce(0, +)
            #expect(
                Self.same(count, promQL.count), "\(key) windows \(gap)-\(gap + 1): \(count) vs PromQL \(promQL.count)")
            #expect(Self.same(windows.map(\.successCount).reduce(0, +), promQL.success), "\(key) successes")
            #expect(Self.same(windows.map(\.latency.sum).reduce(0, +), promQL.latencySum), "\(key) latency sum")
            var merged = windows[0].latency
            for index in merged.cumulativeCounts.indices {
                merged.cumulativeCounts[index] += windows[1].latency.cumulativeCounts[index]
            }
            for (q, value) in zip(OracleRoute.quantiles, promQL.quantiles) {
                #expect(Self.same(merged.quantile(q), value), "\(key) p\(Int(q * 100)) across the boundary")
            }
            // Each window alone is off from the truth of its own ticks by the missing page's increase.
            #expect(windows[0].requestCount < count && windows[1].requestCount < count)
        }

        // The comparison meant something: every designed route in every window.
        #expect(compared + checkedAgainstTruth == OracleMesh.routes.count * (Self.lastWindow - 1))
        #expect(checkedAgainstTruth >= 4)
        #expect(countersCompared >= 20, "TCP and policy counters with traffic, compared with PromQL")
        #expect(outcomesCompared >= 100, "outcomes compared with PromQL")
        #expect(retriesCompared >= 20, "HTTPRoute retries compared with PromQL")
        #expect(gaugesCompared >= 10, "open connections compared with PromQL")
        try await api.shutdown()
        try await collector.shutdown()
        try await proxies.shutdown()
    }

    /// `truth` with every count negated: added, it takes `truth` away.
    static func negated(_ truth: RouteTruth) -> RouteTruth {
        var negative = RouteTruth()
        negative.success = -truth.success
        negative.failure = -truth.failure
        negative.cumulativeBuckets = truth.cumulativeBuckets.mapValues { -$0 }
        negative.latencySumSeconds = -truth.latencySumSeconds
        return negative
    }

    /// Equal to 1e-9 relative; NaN equals NaN (no observations on both sides).
    static func same(_ a: Double, _ b: Double) -> Bool {
        if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b)) || a == b
    }

    final class Counter: Sendable {
        let count = Mutex(0)
    }

    struct Timeout: Error, CustomStringConvertible {
        var description: String
    }

    /// Waits for `condition` (60 s at most, for a very busy machine), or fails saying what for.
    static func wait(_ what: String, _ condition: () async -> Bool) async throws {
        guard await eventually(within: 60, condition) else {
            throw Timeout(description: "timed out waiting for \(what)")
        }
    }

    /// Waits until Prometheus has read every proxy's page of `tick`, and the agent has read and
    /// ingested it from each proxy whose pod exists (`scraped`: proxy index to target name): two
    /// more scrapes of each counted after the page was served to it (one may have been under way
    /// when the tick came).
    static func settle(_ proxies: TickedProxyServers, _ agent: Agent, tick: Int, scraped: [Int: String])
        async throws
    {
        let before = agent.scrapeCounts
        let proxiesCount = proxies.ports.count
        try await wait("both scrapers to read tick \(tick)") {
            let served = proxies.served.filter { $0.tick == tick }
            let prometheus = Set(served.filter { $0.userAgent.hasPrefix("Prometheus") }.map(\.proxy))
            let fathom = Set(served.filter { $0.userAgent.hasPrefix("fathom-agent") }.map(\.proxy))
            let counts = agent.scrapeCounts
            return prometheus.count == proxiesCount && fathom.isSuperset(of: scraped.keys)
                && scraped.values.allSatisfy { counts[$0, default: 0] >= before[$0, default: 0] + 2 }
        }
    }
}
