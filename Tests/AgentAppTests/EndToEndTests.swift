import AsyncHTTPClient
import FathomModel
import Foundation
import LocalServers
import Logging
import ProxySimulation
import Reporting
import RouteAggregation
import Scraping
import Synchronization
import Testing

/// The real parts end to end over loopback HTTP: simulated proxies → scrape manager → decoder →
/// aggregator → batches → uploader → collector, through a collector outage (503, 429 with
/// Retry-After, a slow answer) and a proxy restart. Every request a proxy's pages showed must
/// reach the collector exactly once.
@Suite struct EndToEndTests {
    actor Aggregation {
        var aggregator: RouteAggregator
        init(startedAt: Double) { aggregator = RouteAggregator(startedAt: startedAt) }

        func handle(_ event: ScrapeEvent) {
            if case .scraped(let target, let snapshot, _) = event {
                aggregator.ingest(snapshot, from: target.proxy, workload: target.workload)
            }
        }

        func close(at time: Double) -> AggregationWindow { aggregator.closeWindow(at: time) }
        var restarts: Int { aggregator.stats.proxyRestarts }
    }

    @Test func everyRequestReachesTheCollectorOnce() async throws {
        let now: @Sendable () -> Double = { Date().timeIntervalSince1970 }
        let start = now()
        let truth = ServedTruth()
        let mesh = SimulatedMesh.demo(startedAt: start, seed: 7)
        let proxies = try await SimulatedProxyServers.start(mesh: mesh, now: now, served: truth.add)
        let collector = try await FakeCollector.start(script: [
            .status(503), .status(429, retryAfter: "1"), .slow(seconds: 0.5, then: .accept), .dropConnection,
        ])
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        var uploadSettings = UploaderConfiguration(endpoint: collector.url)
        uploadSettings.retry.initialBackoff = 0.05
        uploadSettings.requestTimeout = 0.3
        let uploader = try Uploader(configuration: uploadSettings, client: client, logger: Logger(label: "e2e"))
        let aggregation = Aggregation(startedAt: start)
        var scrapeSettings = ScrapeSettings()
        scrapeSettings.interval = 0.25
        scrapeSettings.timeout = 0.2
        let scraper = ScrapeManager(
            settings: scrapeSettings, fetcher: PageFetcher(), logger: Logger(label: "e2e"),
            deliver: { await aggregation.handle($0) })
        await scraper.update(
            targets: mesh.proxies.indices.map {
                ScrapeTarget(
                    proxy: ProxyID(mesh.proxies[$0].podName), workload: mesh.proxies[$0].workload, url: proxies.url($0))
            })
        var builder = BatchBuilder(
            identity: AgentIdentity(agentID: "e2e", instanceID: "run1", clusterName: "test", agentVersion: "0"))

        await withTaskGroup(of: Void.self) { group in
            group.addTask { await scraper.run() }
            group.addTask { await uploader.run() }
            for round in 1...8 {
                try? await Task.sleep(for: .milliseconds(500))
                if round == 3 {
                    // A restart after every proxy has been scraped; requests it wipes out were never
                    // on a page (as with a real proxy), so they leave the truth too.
                    proxies.mesh.withLock { mesh in
                        mesh.proxies[0].restart(at: max(now(), start + 1.5))
                        _ = mesh.proxies[0].takeTruth()
                    }
                }
                if let batch = try? builder.encode(window: await aggregation.close(at: now()), health: HealthSummary())
                {
                    await uploader.enqueue(batch)
                }
            }
            // Freeze traffic, let every proxy be scraped again with its final values, then stop.
            proxies.frozen.withLock { $0 = true }
            try? await Task.sleep(for: .milliseconds(800))
            await scraper.finish()
            group.cancelAll()
        }
        if let batch = try? builder.encode(window: await aggregation.close(at: now()), health: HealthSummary()) {
            await uploader.enqueue(batch)
        }
        #expect(await uploader.flush(within: 10))

        let received = routeCounts(in: collector.acceptedBatches)
        let expected = truth.expected
        #expect(Set(received.keys) == Set(expected.keys))
        for (key, routeTruth) in expected {
            #expect(received[key]?.success == routeTruth.success, "\(key)")
            #expect(received[key]?.failure == routeTruth.failure, "\(key)")
        }
        let total = expected.values.reduce(0) { $0 + $1.success + $1.failure }
        // Traffic flowed on every route kind (about 100 requests a second in all).
        #expect(total > 200)
        #expect(await aggregation.restarts == 1)
        #expect(collector.acceptedBatches.map(\.sequence) == Array(1...9))
        let stats = await uploader.currentStats
        #expect(stats.retries["http_5xx", default: 0] >= 1 && stats.retries["throttled", default: 0] >= 1)

        try await client.shutdown()
        try await proxies.shutdown()
        try await collector.shutdown()
    }
}
