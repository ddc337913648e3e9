import Inventory
import ServiceLifecycle

/// Discovery as a service: the reflectors run until the graceful shutdown, which they end first
/// (readiness goes at once); each new set of scrape targets goes to `publish`. A discovery error
/// ends the group.
public struct DiscoveryService: Service {
    let discovery: Discovery
    let publishInterval: Double
    let publish: @Sendable ([ScrapeCandidate]) async -> Void

    /// - Parameter publishInterval: how often, at most, a changed target set is published (s).
    public init(
        discovery: Discovery, publishInterval: Double,
        publish: @escaping @Sendable ([ScrapeCandidate]) async -> Void
    ) {
        self.discovery = discovery
        self.publishInterval = publishInterval
        self.publish = publish
    }

    public func run() async throws {
        do {
            try await withGracefulShutdownHandler {
                try await cancelWhenGracefulShutdown { [discovery, publishInterval, publish] in
                    try await discovery.run(publishInterval: publishInterval, publish: publish)
                }
            } onGracefulShutdown: { [discovery] in
                discovery.stop()
            }
        } catch is CancellationError {
            // The shutdown (or the group ending) cancelled the reflectors: nothing failed.
        }
    }
}
