import FathomModel
import LinkerdMetrics
import ProxySimulation
import RouteAggregation

/// Settings of `fathom-agent demo`.
public struct DemoOptions: Sendable {
    /// How long to run, in seconds; 0 runs until interrupted.
    public var duration: Double = 60
    public var scrapeInterval: Double = 2
    public var windowLength: Double = 10
    /// When to restart one simulated proxy, in seconds from the start; negative for never.
    public var restartAfter: Double = 25
    public var seed: UInt64 = 42

    public init() {}
}

/// The demo: a simulated meshed cluster whose proxies serve changing pages of both Linkerd metric
/// generations, read by the agent's real decoder and aggregator, with a per-route table printed
/// every window. Kubernetes discovery, HTTP scraping and reporting join as they are built.
public struct Demo {
    public var options: DemoOptions
    /// Seconds since the epoch; injected so the demo loop can be tested without waiting.
    public var now: @Sendable () -> Double
    public var sleep: @Sendable (Double) async throws -> Void
    public var output: @Sendable (String) -> Void

    public init(
        options: DemoOptions, now: @escaping @Sendable () -> Double,
        sleep: @escaping @Sendable (Double) async throws -> Void, output: @escaping @Sendable (String) -> Void
    ) {
        self.options = options
        self.now = now
        self.sleep = sleep
        self.output = output
    }

    /// Runs the demo; returns the windows it printed.
    @discardableResult
    public func run() async throws -> [AggregationWindow] {
        let start = now()
        var mesh = SimulatedMesh.demo(startedAt: start, seed: options.seed)
        var decoders = mesh.proxies.map { _ in ProxyPageDecoder() }
        var aggregator = RouteAggregator(startedAt: start)
        var windows: [AggregationWindow] = []
        var nextWindow = start + options.windowLength
        var restarted = options.restartAfter < 0
        var bytes = 0
        var pages = 0

        output(
            "fathom demo: \(mesh.proxies.count) simulated linkerd-proxies in \(Set(mesh.proxies.map(\.workload)).count) workloads; "
                + "scraping every \(RouteTable.formatted(options.scrapeInterval, decimals: 0)) s, "
                + "a window every \(RouteTable.formatted(options.windowLength, decimals: 0)) s")
        while options.duration <= 0 || now() - start < options.duration {
            try await sleep(options.scrapeInterval)
            let time = now()
            mesh.advance(to: time)
            for (index, proxy) in mesh.proxies.enumerated() {
                let page = Array(proxy.page().utf8)
                bytes += page.count
                pages += 1
                let snapshot = try decoders[index].decode(page)
                if let problem = snapshot.stats.firstBadLine {
                    output("page of \(proxy.podName): \(snapshot.stats.badLines) bad lines, first: \(problem)")
                }
                aggregator.ingest(snapshot, from: ProxyID(proxy.podName), workload: proxy.workload)
            }
            if !restarted && time - start >= options.restartAfter {
                restarted = true
                mesh.proxies[0].restart(at: time)
                output("» simulated restart of the linkerd-proxy in pod \(mesh.proxies[0].podName)")
            }
            if time >= nextWindow {
                nextWindow += options.windowLength
                let window = aggregator.closeWindow(at: time)
                windows.append(window)
                output(describe(window, aggregator: aggregator, pages: pages, bytes: bytes))
                bytes = 0
                pages = 0
            }
        }
        return windows
    }

    private func describe(_ window: AggregationWindow, aggregator: RouteAggregator, pages: Int, bytes: Int) -> String {
        let stats = aggregator.stats
        let header =
            "\nwindow of \(RouteTable.formatted(window.duration, decimals: 1)) s: \(window.routes.count) routes "
            + "from \(pages) pages (\(RouteTable.formatted(Double(bytes) / 1_000, decimals: 0)) kB); "
            + "proxy restarts seen: \(stats.proxyRestarts), counter resets: \(stats.counterResets)"
        return header + "\n" + RouteTable.render(window.routes)
    }
}
