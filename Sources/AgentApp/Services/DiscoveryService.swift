import Scraping
import ServiceLifecycle

/// Discovery as a service: the reflectors run until the graceful shutdown, which they end first;
/// the scrape targets go to the scraper as they change. A discovery error ends the group.
struct DiscoveryService: Service {
    let discovery: Discovery
    let scraper: ScrapeManager
    let publishInterval: Double
    let metrics: AgentMetrics

    func run() async throws {
        do {
            try await withGracefulShutdownHandler {
                try await cancelWhenGracefulShutdown { [discovery, scraper, publishInterval, metrics] in
                    try await discovery.run(publishInterval: publishInterval) { candidates in
                        await scraper.update(targets: candidates.map(ScrapeTarget.init))
                        metrics.record(targets: candidates.count)
                    }
                }
            } onGracefulShutdown: { [discovery] in
                discovery.stop()
            }
        } catch is CancellationError {
            // The shutdown (or the group ending) cancelled the reflectors: nothing failed.
        }
    }
}
