import AgentApp
import AgentTestSupport
import FathomModel
import Foundation
import KubernetesModels
import LocalServers
import ProxySimulation
import ReportWindows
import Reporting
import RouteAggregation
import Synchronization
import Testing

/// The rates the agent reports (a window's count ÷ its `observed_seconds`) against the real
/// Prometheus's `sum(rate(...[window]))` over the same pages and against the truth, through the
/// churn a rollout brings, in the first window, a steady one and the one the shutdown cuts short.
///
/// Unlike `PrometheusOracleTests`, time runs continuously here: every pod serves 200 requests a
/// second, and each scraper sees what was served up to its own scrape, as with real proxies. In
/// the middle window one Deployment has a pod replaced (a new one created, the old one deleted
/// 4 s later), another scales from two pods to one, and a third's proxy restarts. The truth of a
/// workload's rate over a window is each pod's 200 requests a second times the share of the
/// window it was alive, summed: what `sum(rate())` estimates. The agent's rate must be within
/// 2 % of it (before, a replaced pod gave +50 %, a scale-down +33 %, a restart −4 %); PromQL's
/// own estimate, which extrapolates to the range's ends, must be within 3 % of the truth (this
/// says the comparison means something), and the agent within 3 % of PromQL.
@Suite struct PrometheusRateTests {
    static let namespace = "oracle-rates"
    static let rate = 200.0
    /// Seconds per window; long, so that a scrape's timestamp trailing its page by a few hundred
    /// milliseconds on a loaded machine stays a small share of the window.
    static let windowSeconds = 20.0

    enum Replica: Int, CaseIterable {
        case steady, replacedOld, replacedKept, replacedNew, scaledKept, scaledGone, restarted

        var workload: String {
            switch self {
            case .steady: "steady"
            case .replacedOld, .replacedKept, .replacedNew: "replaced"
            case .scaledKept, .scaledGone: "scaled"
            case .restarted: "restarted"
            }
        }

        var name: String { "\(workload)-6b7c8d9f5-p\(rawValue)" }
    }

    static let traffic = TrafficSpec(
        shape: .legacyOutbound(
            service: ServiceRef(namespace: namespace, name: "server", port: 80),
            destination: WorkloadRef(kind: "Deployment", namespace: namespace, name: "server"),
            destinationPods: ["server-6f7d8c9b5-a1"], serviceProfileRoutes: []),
        requestsPerSecond: rate, failureRate: 0, medianLatencyMilliseconds: 10)

    @Test func ratesThroughChurnEqualSumOfRate() async throws {
        guard let binary = PrometheusServer.binaryOrSkip("PrometheusRateTests") else { return }
        let now: @Sendable () -> Double = { Date().timeIntervalSince1970 }
        let longAgo = now() - 300
        var mesh = SimulatedMesh(
            proxies: Replica.allCases.map { pod in
                SimulatedProxy(
                    podName: pod.name, podIP: "127.0.0.1",
                    workload: WorkloadRef(kind: "Deployment", namespace: Self.namespace, name: pod.workload),
                    traffic: pod == .replacedNew ? [] : [Self.traffic], startedAt: longAgo,
                    seed: UInt64(10 + pod.rawValue))
            })
        mesh.advance(to: now())
        let proxies = try await SimulatedProxyServers.start(mesh: mesh, now: now)
        let api = try await FakeKubernetesAPI.start()
        var cluster = DemoCluster()
        cluster.populate(api, mesh: mesh, ports: proxies.ports)
        // The replacement pod is not there until the rollout creates it.
        let replacement = try #require(api.objects(Pod.self).first { $0.metadata.name == Replica.replacedNew.name })
        #expect(api.delete(Pod.self, namespace: Self.namespace, name: Replica.replacedNew.name))
        let collector = try await FakeCollector.start()
        let prometheus = try await PrometheusServer.start(
            binary: binary,
            targets: Replica.allCases.map { pod in
                PrometheusServer.Target(
                    address: "127.0.0.1:\(proxies.ports[pod.rawValue])",
                    labels: ["workload": pod.workload, "pod": pod.name])
            }, interval: 0.25)
        defer { prometheus.stop() }
        // Prometheus has scraped every pod before the agent starts, so its range over the first
        // window starts on samples too.
        #expect(
            await eventually(within: 60) {
                ((try? await prometheus.query("count(up == 1)", at: now()))?.first?.value ?? 0)
                    == Double(Replica.allCases.count)
            })

        let trigger = WindowTrigger()
        let agent = try OracleAgent.make(
            name: "oracle-rates", api: api, collector: collector, scrapeInterval: 0.5, trigger: trigger)

        // When each pod's traffic began and ended (nil: before and after the run).
        var alive: [Replica: (from: Double?, until: Double?)] = [:]
        alive[.replacedNew] = (now() + 1e9, nil)
        /// Waits until `seconds` past `start`, then until the next whole second (a proxy's start
        /// time is whole seconds on its page); returns that second.
        func wholeSecond(after seconds: Double, from start: Double) async -> Double {
            _ = await eventually(within: seconds + 5) { now() >= start + seconds }
            _ = await eventually(within: 5) { now().truncatingRemainder(dividingBy: 1) < 0.05 }
            return now().rounded(.down)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await agent.run() }
            let pods = Set(Replica.allCases.filter { $0 != .replacedNew }.map { "\(Self.namespace)/\($0.name)" })
            #expect(await eventually(within: 60) { Set(agent.scrapeCounts.keys).isSuperset(of: pods) })
            let firstStart = now()
            _ = await eventually(within: Self.windowSeconds + 5) { now() >= firstStart + Self.windowSeconds }
            trigger.closeWindow()
            #expect(await eventually(within: 60) { collector.acceptedBatches.count >= 1 })

            // The churn window.
            let churnStart = now()
            let created = await wholeSecond(after: 6, from: churnStart)
            proxies.mesh.withLock { mesh in
                mesh.proxies[Replica.replacedNew.rawValue] = SimulatedProxy(
                    podName: Replica.replacedNew.name, podIP: "127.0.0.1",
                    workload: WorkloadRef(kind: "Deployment", namespace: Self.namespace, name: "replaced"),
                    traffic: [Self.traffic], startedAt: created, seed: 99)
            }
            api.apply(replacement)
            alive[.replacedNew] = (created, nil)
            let restartedAt = await wholeSecond(after: 8, from: churnStart)
            proxies.mesh.withLock { mesh in mesh.proxies[Replica.restarted.rawValue].restart(at: restartedAt) }
            /// The pod of `replica` stops serving at `time` and is deleted.
            func delete(_ replica: Replica, at time: Double) {
                proxies.mesh.withLock { mesh in
                    mesh.proxies[replica.rawValue].advance(to: time)
                    mesh.proxies[replica.rawValue].setTraffic([])
                }
                #expect(api.delete(Pod.self, namespace: Self.namespace, name: replica.name))
                alive[replica] = (nil, time)
            }
            delete(.scaledGone, at: await wholeSecond(after: 9, from: churnStart))
            delete(.replacedOld, at: await wholeSecond(after: 10, from: churnStart))
            _ = await eventually(within: Self.windowSeconds + 5) { now() >= churnStart + Self.windowSeconds }
            trigger.closeWindow()
            #expect(await eventually(within: 60) { collector.acceptedBatches.count >= 2 })

            // Half a window, which the shutdown closes.
            let lastStart = now()
            _ = await eventually(within: Self.windowSeconds) { now() >= lastStart + Self.windowSeconds / 2 }
            await agent.shutdown()
            try await group.waitForAll()
        }
        #expect(await eventually(within: 60) { collector.acceptedBatches.count >= 3 })
        let windows = collector.acceptedBatches.sorted { $0.sequence < $1.sequence }.map(AggregationWindow.init)
        try #require(windows.count == 3)
        // Prometheus must have scraped past the last window's end before it is asked.
        let lastEnd = windows[2].end
        #expect(
            await eventually(within: 30) {
                ((try? await prometheus.query("min(timestamp(up))", at: now()))?.first?.value ?? 0) > lastEnd + 0.5
            })

        var compared = 0
        for (index, window) in windows.enumerated() {
            let seconds = window.end - window.start
            for workload in ["steady", "replaced", "scaled", "restarted"] {
                // The truth: each pod's rate times the share of the window it was alive.
                var truth = 0.0
                for pod in Replica.allCases where pod.workload == workload {
                    let from = max(window.start, alive[pod]?.from ?? -.infinity)
                    let until = min(window.end, alive[pod]?.until ?? .infinity)
                    truth += Self.rate * max(0, until - from) / seconds
                }
                let route = window.routes.first {
                    $0.key.workload.name == workload && $0.key.identity.source == .endpoint
                }
                let agentRate = route?.requestRate ?? 0
                let range = Int((seconds * 1_000).rounded())
                let promQL =
                    try await prometheus.query(
                        "sum(rate(response_total{direction=\"outbound\",workload=\"\(workload)\"}[\(range)ms] @ \(String(format: "%.3f", window.end))))",
                        at: window.end
                    ).first?.value ?? 0
                let context =
                    "window \(index + 1) [\(window.start), \(window.end)] \(workload): agent \(agentRate) rps "
                    + "(\(route?.requestCount ?? 0) over \(route?.duration ?? 0) s), PromQL \(promQL), truth \(truth); "
                    + "created \(alive[.replacedNew]!.from!), deleted \(alive[.replacedOld]!.until!), "
                    + "scaled \(alive[.scaledGone]!.until!)"
                #expect(abs(agentRate - truth) <= 0.02 * truth, "\(context)")
                #expect(abs(promQL - truth) <= 0.03 * truth, "PromQL itself is off: \(context)")
                #expect(abs(agentRate - promQL) <= 0.03 * promQL, "\(context)")
                compared += 1
            }
        }
        // The churn happened inside the middle window.
        let churn = windows[1]
        for time in [alive[.replacedNew]!.from!, alive[.replacedOld]!.until!, alive[.scaledGone]!.until!] {
            #expect(time > churn.start && time < churn.end)
        }
        #expect(compared == 12)
        try await api.shutdown()
        try await collector.shutdown()
        try await proxies.shutdown()
    }
}
