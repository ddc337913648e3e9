import FathomModel
import Foundation
import LinkerdMetrics
import LogWhenChanged
import Logging

/// What the scrape loops report.
public enum ScrapeEvent: Sendable {
    /// A page was read by a scrape that took `seconds`; `at` (seconds since the epoch) is when the
    /// proxy answered, the time of its counters (`FetchedPage`). The snapshot's stats say
    /// whether some lines were bad.
    case scraped(ScrapeTarget, ProxySnapshot, seconds: Double, at: Double)
    case failed(ScrapeTarget, ScrapeFailure, detail: String)
    /// The target left the set at `at` (seconds since the epoch): its loop ended and its state
    /// can be forgotten; its pod served until about then.
    case removed(ScrapeTarget, at: Double)
}

/// Runs one scrape loop per target. The newest target set wins: loops of new targets start, loops
/// of removed (or changed) targets end, and the others go on undisturbed, each with its own page
/// decoder. Scrapes of a target happen at a fixed offset within the interval.
public actor ScrapeManager {
    /// Interval, timeout and page cap can change while running (`update(settings:)`); the
    /// concurrency cap and the page budget are fixed at start.
    public private(set) var settings: ScrapeSettings
    private let source: any PageSource
    private let logger: Logger
    private let deliver: @Sendable (ScrapeEvent) async -> Void
    private let permits: ScrapePermits
    private var targets: Set<ScrapeTarget> = []
    private var running: Set<ScrapeTarget> = []
    /// Wakes `run` when the target set changes; finished by `finish()`.
    private let updates: AsyncStream<Void>
    private nonisolated let changes: AsyncStream<Void>.Continuation

    public init(
        settings: ScrapeSettings, source: any PageSource, logger: Logger,
        deliver: @escaping @Sendable (ScrapeEvent) async -> Void
    ) {
        self.settings = settings
        self.source = source
        self.logger = logger
        self.deliver = deliver
        self.permits = ScrapePermits(slots: settings.maxConcurrentScrapes, bytes: settings.maxBytesInFlight)
        (updates, changes) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Replaces the target set.
    public func update(targets: [ScrapeTarget]) {
        self.targets = Set(targets)
        changes.yield()
    }

    /// Applies new interval, timeout and page-size settings to every loop from its next scrape.
    /// The concurrency cap and the page budget are restart-only keys: a reload never changes them
    /// (`AgentConfiguration.reloaded(with:)`), so the permits sized at start stay right.
    public func update(settings newSettings: ScrapeSettings) {
        settings = newSettings
    }

    /// Bytes the pages in flight hold now, received and inflated (within `maxBytesInFlight`).
    public nonisolated var pageBytesInFlight: Int { permits.reservedBytes }

    /// The most bytes the pages in flight held at once since the start.
    public nonisolated var highestPageBytesInFlight: Int { permits.highestReservedBytes }

    /// Runs the loops until cancelled or `finish()`; call it once.
    public func run() async {
        changes.yield()
        await withTaskGroup(of: Void.self) { group in
            for await _ in updates {
                for target in targets where !running.contains(target) {
                    running.insert(target)
                    group.addTask { await self.loop(target) }
                }
            }
            group.cancelAll()
        }
    }

    /// Ends `run()`: it stops waiting for target updates and ends every loop.
    public nonisolated func finish() {
        changes.finish()
    }

    private func isCurrent(_ target: ScrapeTarget) -> Bool { targets.contains(target) }

    private func ended(_ target: ScrapeTarget) {
        running.remove(target)
        // The same target may have come back while this loop was ending.
        if targets.contains(target) { changes.yield() }
    }

    /// Scrapes one target every interval, at its offset, until it leaves the set.
    private func loop(_ target: ScrapeTarget) async {
        var decoder = ProxyPageDecoder(maxSeries: settings.maxSeriesPerProxy)
        decoder.staleAfterPages = settings.stalePages
        if let port = target.adminPort { decoder.adminPort = port }
        let connection = source.connection(to: target.url)
        defer { connection.close() }
        var failing = LoggedState<ScrapeFailure?>(nil)
        // The kind of bad line last logged for this target's pages; nil while they read cleanly.
        var badLines = LoggedState<String?>(nil)
        var overSeriesLimit = LoggedState(false)
        // What this target's pages need of the page budget, reserved before each scrape: what
        // the last page needed; a first page starts small and grows within what is free.
        var pageBytes = Self.smallestPageBytes
        let clock = ContinuousClock()
        var intervalSeconds = settings.interval
        var interval = Duration.milliseconds(Int64(intervalSeconds * 1_000))
        var next =
            clock.now
            + .milliseconds(Int64(ScrapeOffset.seconds(for: target.proxy, interval: intervalSeconds) * 1_000))
        while !Task.isCancelled {
            do { try await Task.sleep(until: next, clock: clock) } catch { break }
            guard isCurrent(target) else { break }
            if settings.interval != intervalSeconds {
                // A reloaded interval: keep this scrape, then follow the new rhythm.
                intervalSeconds = settings.interval
                interval = .milliseconds(Int64(intervalSeconds * 1_000))
            }
            next += interval
            // A scrape that overran its slot does not make the next ones bunch up.
            while next < clock.now { next += interval }

            // Nil when the shutdown cut the scrape short: that is not a failure of the target.
            guard
                let (event, neededBytes) = await Self.scrape(
                    target, on: connection, decoder: &decoder, permits: permits,
                    reserving: pageBytes, timeout: settings.timeout, maxBytes: settings.maxPageBytes, logger: logger)
            else { break }
            if case .failed(_, .overBudget, _) = event {
                // Next time, wait until the largest page this target may send fits.
                pageBytes = 2 * settings.maxPageBytes
            } else if case .scraped = event {
                pageBytes = max(neededBytes, Self.smallestPageBytes)
            }
            if case .scraped(_, let snapshot, _, _) = event {
                // Logged when a target's pages start having bad lines or have another kind, and
                // when they read cleanly again; `fathom_page_bad_lines_total` counts every one.
                let problem = snapshot.stats.badLines > 0 ? snapshot.stats.firstBadLine : nil
                if badLines.record(problem?.reason) != nil {
                    if let problem {
                        logger.warning(
                            "Proxy page has bad lines; they were skipped",
                            metadata: [
                                "scrape.target": "\(target.url)", "k8s.pod": "\(target.proxy)",
                                "page.bad_lines": "\(snapshot.stats.badLines)", "page.first_problem": "\(problem)",
                            ])
                    } else {
                        logger.info(
                            "Proxy page reads cleanly again",
                            metadata: ["scrape.target": "\(target.url)", "k8s.pod": "\(target.proxy)"])
                    }
                }
                // The same for the series limit: logged when a proxy crosses it, either way.
                if let change = overSeriesLimit.record(snapshot.stats.seriesOverLimit > 0) {
                    if change.to {
                        logger.warning(
                            "Proxy has more series than aggregation.maxSeriesPerProxy; the new ones are not counted",
                            metadata: [
                                "scrape.target": "\(target.url)", "k8s.pod": "\(target.proxy)",
                                "series.over_limit": "\(snapshot.stats.seriesOverLimit)",
                                "series.limit": "\(settings.maxSeriesPerProxy)",
                            ])
                    } else {
                        logger.info(
                            "Proxy is within aggregation.maxSeriesPerProxy again",
                            metadata: ["scrape.target": "\(target.url)", "k8s.pod": "\(target.proxy)"])
                    }
                }
            }
            if case .failed(_, let reason, let detail) = event {
                // Logged when a target starts failing or fails differently, not on every interval.
                if failing.record(reason) != nil {
                    logger.warning(
                        "Scrape failed",
                        metadata: [
                            "scrape.target": "\(target.url)", "k8s.pod": "\(target.proxy)",
                            "reason": "\(reason.rawValue)",
                            "error": "\(detail.prefix(300))",
                        ])
                }
            } else if failing.record(nil) != nil {
                logger.info("Scrapes succeed again", metadata: ["scrape.target": "\(target.url)"])
            }
            guard isCurrent(target) else { break }
            await deliver(event)
        }
        // Only a target that left the set is gone: one whose loop the shutdown ended is still
        // there, and the last window counts it as alive (its open connections too).
        if !isCurrent(target) { await deliver(.removed(target, at: Date().timeIntervalSince1970)) }
        ended(target)
    }

    /// The least a scrape reserves of the page budget before it starts (and what a target's
    /// first scrape reserves): real pages are 0.1-2 MB.
    static let smallestPageBytes = 256 << 10

    /// One scrape: fetch, decode, and the event to deliver with the most page bytes it needed; nil
    /// when the task was cancelled before or during the fetch.
    ///
    /// It runs off the manager's actor, so the loops decode in parallel rather than one at a
    /// time (a proxy's first page takes about 11 ms to parse in full; a thousand of them would
    /// queue behind the actor for longer than an interval). The permit is held until the page is
    /// decoded, so at most `maxConcurrentScrapes` pages, and `maxBytesInFlight` bytes of them,
    /// are in memory at once; and the page is freed when this returns, not held while the event
    /// waits for the pipeline.
    @concurrent
    private static func scrape(
        _ target: ScrapeTarget, on connection: any PageConnection, decoder: inout ProxyPageDecoder,
        permits: ScrapePermits, reserving bytes: Int, timeout: Double, maxBytes: Int,
        logger: Logger
    ) async -> (ScrapeEvent, neededBytes: Int)? {
        let clock = ContinuousClock()
        let allowance = await permits.acquire(bytes: bytes)
        defer { allowance.release() }
        guard !Task.isCancelled else { return nil }
        let started = clock.now
        let fetched = await connection.fetchPage(timeout: timeout, maxBytes: maxBytes, allowance: allowance)
        guard !Task.isCancelled else { return nil }
        let event = Self.event(
            for: fetched, of: target, seconds: (clock.now - started).inSeconds, decoder: &decoder, logger: logger)
        return (event, allowance.neededBytes)
    }

    /// Decodes a fetched page into the event to deliver.
    private static func event(
        for fetched: Result<FetchedPage, PageFetchError>, of target: ScrapeTarget, seconds: Double,
        decoder: inout ProxyPageDecoder, logger: Logger
    ) -> ScrapeEvent {
        switch fetched {
        case .success(let page):
            let snapshot = try? decoder.decode(page.bytes)
            guard let snapshot, snapshot.stats.samples > 0 || snapshot.stats.badLines == 0 else {
                return .failed(target, .parseError, detail: "no sample on the page could be read")
            }
            return .scraped(target, snapshot, seconds: seconds, at: page.takenAt)
        case .failure(let error):
            return .failed(target, error.reason, detail: error.detail)
        }
    }

}
