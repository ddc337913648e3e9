import AgentTestSupport
import FathomModel
import HTTPServing
import LocalServers
import Logging
import RouteAggregation
import Scraping
import Synchronization
import Testing

/// Events the manager delivered, and how many requests were in flight at most.
final class Recorder: Sendable {
    let events = Mutex<[ScrapeEvent]>([])
    let inFlight = Mutex<(now: Int, most: Int)>((0, 0))
    init() {}

    func scraped(_ proxy: String) -> [UInt64] {
        events.withLock { events in
            events.compactMap { event in
                if case .scraped(let target, let snapshot, _, _) = event, target.proxy.rawValue == proxy {
                    return snapshot.epoch
                }
                return nil
            }
        }
    }

    func removed() -> [String] {
        events.withLock { events in
            events.compactMap { event in
                if case .removed(let target, _) = event { return target.proxy.rawValue }
                return nil
            }
        }
    }
}

@Suite(.serialized) struct ScrapeManagerTests {
    static let page = Array(
        "response_total{direction=\"outbound\",authority=\"a:80\",classification=\"success\"} 1\n".utf8)

    func target(_ name: String, _ port: Int) -> ScrapeTarget {
        ScrapeTarget(
            proxy: ProxyID(name), workload: WorkloadRef(kind: "Deployment", namespace: "n", name: "w"),
            url: "http://127.0.0.1:\(port)/\(name)/metrics")
    }

    @Test func latestTargetSetWinsWithoutRestartingOthers() async throws {
        let recorder = Recorder()
        let server = try await SimpleHTTPServer.start { _ in .reply(status: 200, body: Self.page) }
        var settings = ScrapeSettings()
        settings.interval = 0.05
        // Roomy: on a loaded machine a loopback scrape can take long; this test is about targets.
        settings.timeout = 5
        let manager = ScrapeManager(
            settings: settings, source: PageFetcher(), logger: Logger(label: "test"),
            deliver: { event in recorder.events.withLock { $0.append(event) } })
        let running = Task { await manager.run() }
        await manager.update(targets: [target("a", server.port), target("b", server.port)])
        #expect(await eventually { recorder.scraped("a").count >= 3 && recorder.scraped("b").count >= 3 })

        await manager.update(targets: [target("a", server.port), target("c", server.port)])
        #expect(await eventually { recorder.removed() == ["b"] && recorder.scraped("c").count >= 3 })
        let bScrapes = recorder.scraped("b").count
        let aBefore = recorder.scraped("a").count
        #expect(await eventually { recorder.scraped("a").count >= aBefore + 3 })
        // "b" stays stopped; "a" kept one decoder (one epoch) through the change.
        #expect(recorder.scraped("b").count == bScrapes)
        #expect(Set(recorder.scraped("a")).count == 1)

        manager.finish()
        running.cancel()
        await running.value
        try await server.shutdown()
    }

    /// Scrapes one target that serves each of `pages` in turn, for at least five scrapes each,
    /// with a manager logging into the returned store.
    func logsWhileServing(_ pages: [[UInt8]], maxSeriesPerProxy: Int = 100_000) async throws -> LogStore {
        let recorder = Recorder()
        let served = Mutex<[UInt8]>(pages[0])
        let server = try await SimpleHTTPServer.start { _ in .reply(status: 200, body: served.withLock { $0 }) }
        var settings = ScrapeSettings()
        settings.interval = 0.05
        settings.timeout = 5
        settings.maxSeriesPerProxy = maxSeriesPerProxy
        let logs = LogStore()
        let manager = ScrapeManager(
            settings: settings, source: PageFetcher(), logger: logs.logger("scrape"),
            deliver: { event in recorder.events.withLock { $0.append(event) } })
        let running = Task { await manager.run() }
        await manager.update(targets: [target("a", server.port)])
        for page in pages {
            served.withLock { $0 = page }
            let before = recorder.scraped("a").count
            #expect(await eventually(within: 60) { recorder.scraped("a").count >= before + 5 })
        }
        manager.finish()
        running.cancel()
        await running.value
        try await server.shutdown()
        return logs
    }

    /// A proxy whose every page has a bad line is logged about once, not on every scrape; a page
    /// with another kind of bad line, and pages that read cleanly again, once each.
    @Test func badLinesAreLoggedOncePerChange() async throws {
        let logs = try await logsWhileServing([
            Self.page + Array("garbage line\n".utf8),
            // Another kind: a series twice on the page.
            Self.page + Self.page,
            Self.page,
        ])
        let warnings = logs.lines.withLock { lines in
            lines.filter { $0.message == "Proxy page has bad lines; they were skipped" }
                .map { $0.metadata["page.first_problem"] ?? "" }
        }
        #expect(warnings.count == 2, "\(warnings)")
        #expect(warnings.last?.hasPrefix("duplicate_series") == true, "\(warnings)")
        #expect(logs.count("Proxy page reads cleanly again") == 1)
        #expect(
            logs.count("Proxy has more series than aggregation.maxSeriesPerProxy; the new ones are not counted") == 0)
    }

    /// A proxy past the series limit is logged about once, and once when it is back under.
    @Test func theSeriesLimitIsLoggedOncePerCrossing() async throws {
        let wide = (0..<5).map {
            "response_total{direction=\"outbound\",authority=\"s\($0):80\",classification=\"success\"} 1\n"
        }.joined()
        let logs = try await logsWhileServing(
            [
                Array(wide.utf8),
                // The proxy drops the series it had beyond the limit: only numbered ones are left.
                Array(wide.split(separator: "\n")[0].utf8) + [0x0A],
            ], maxSeriesPerProxy: 3)
        let warning = "Proxy has more series than aggregation.maxSeriesPerProxy; the new ones are not counted"
        #expect(logs.count(warning) == 1)
        #expect(logs.count(warning) { $0["series.over_limit"] == "2" } == 1)
        #expect(logs.count("Proxy is within aggregation.maxSeriesPerProxy again") == 1)
    }

    /// Requests in flight are counted at the proxy, from a request's arrival to its answer being
    /// written: both happen while the agent holds the request's permit. (Counting up to the
    /// event's delivery instead would overlap the next scrape, which may start as soon as the
    /// permit is back.) The timeout is roomy, so no request is given up on a busy machine.
    @Test func concurrencyIsCapped() async throws {
        let recorder = Recorder()
        let server = try await SimpleHTTPServer.start { _ in
            recorder.inFlight.withLock { state in
                state.now += 1
                state.most = max(state.most, state.now)
            }
            return .stream(status: 200) { stream in
                stream.schedule(after: 0.03) {
                    recorder.inFlight.withLock { $0.now -= 1 }
                    stream.write(Self.page)
                    stream.finish()
                }
            }
        }
        var settings = ScrapeSettings()
        settings.interval = 0.05
        settings.timeout = 30
        settings.maxConcurrentScrapes = 2
        let manager = ScrapeManager(
            settings: settings, source: PageFetcher(), logger: Logger(label: "test"),
            deliver: { event in recorder.events.withLock { $0.append(event) } })
        let running = Task { await manager.run() }
        await manager.update(targets: (0..<6).map { target("p\($0)", server.port) })
        #expect(await eventually { recorder.events.withLock { $0.count } >= 24 })
        manager.finish()
        running.cancel()
        await running.value
        let scraped = recorder.events.withLock { events in
            events.filter { if case .scraped = $0 { return true } else { return false } }.count
        }
        #expect(scraped >= 24)
        #expect(recorder.inFlight.withLock { $0.most } <= 2)
        #expect(recorder.inFlight.withLock { $0.most } == 2)
        try await server.shutdown()
    }

    /// Eight proxies with 1 MiB pages against a budget of 3 MiB. The first eight requests all
    /// start at once (each reserved the least up front) and the proxies hold their pages back
    /// until all eight are in: the budget cannot hold them all, and some fail as `over_budget`.
    /// Each such target then waits for room for the largest page, and once scraped reserves what
    /// its page needed: none fails twice, every one goes on being scraped, and the bytes held
    /// never pass the budget.
    @Test func pagesInFlightStayWithinTheByteBudget() async throws {
        let recorder = Recorder()
        let page = LargePages.padded(Self.page, to: 1 << 20)
        let firstRound = Mutex<[ResponseStream]>([])
        let server = try await SimpleHTTPServer.start { _ in
            .stream(status: 200) { stream in
                // A chunked body, its first 64 KiB at once, the rest when all eight are waiting.
                stream.write(Array(page[..<(64 << 10)]))
                let ready = firstRound.withLock { streams -> [ResponseStream] in
                    guard streams.count < 8 else { return [stream] }
                    streams.append(stream)
                    return streams.count == 8 ? streams : []
                }
                for waiting in ready {
                    waiting.write(Array(page[(64 << 10)...]))
                    waiting.finish()
                }
            }
        }
        var settings = ScrapeSettings()
        settings.interval = 0.2
        settings.timeout = 30
        settings.maxConcurrentScrapes = 8
        settings.maxPageBytes = 3 << 19
        settings.maxBytesInFlight = 3 << 20
        let manager = ScrapeManager(
            settings: settings, source: PageFetcher(), logger: Logger(label: "test"),
            deliver: { event in recorder.events.withLock { $0.append(event) } })
        let running = Task { await manager.run() }
        let names = (0..<8).map { "p\($0)" }
        await manager.update(targets: names.map { target($0, server.port) })
        #expect(await eventually(within: 60) { names.allSatisfy { recorder.scraped($0).count >= 3 } })
        manager.finish()
        running.cancel()
        await running.value
        try await server.shutdown()

        let overBudget = recorder.events.withLock { events in
            events.compactMap { event -> String? in
                if case .failed(let target, .overBudget, _) = event { return target.proxy.rawValue }
                return nil
            }
        }
        #expect(!overBudget.isEmpty)
        #expect(Set(overBudget).count == overBudget.count, "a target failed twice: \(overBudget)")
        let otherFailures = recorder.events.withLock { events in
            events.filter {
                if case .failed(_, let reason, _) = $0 { return reason != .overBudget } else { return false }
            }
        }
        #expect(otherFailures.isEmpty, "\(otherFailures)")
        #expect(manager.highestPageBytesInFlight <= 3 << 20)
        #expect(manager.highestPageBytesInFlight >= page.count)
        #expect(manager.pageBytesInFlight == 0)
    }

    @Test func offsetsAreStableAndSpread() {
        let offsets = (0..<1_000).map { ScrapeOffset.seconds(for: ProxyID("pod-\($0)"), interval: 10) }
        #expect(offsets.allSatisfy { $0 >= 0 && $0 < 10 })
        #expect(ScrapeOffset.seconds(for: ProxyID("pod-1"), interval: 10) == offsets[1])
        // Roughly uniform: every second of the interval gets some proxies.
        let buckets = Set(offsets.map { Int($0) })
        #expect(buckets.count == 10)
    }
}

/// A page source with no socket: each connection plays its target's script, one answer per
/// scrape, repeating the last; it records whether it was closed.
final class ScriptedPageSource: PageSource {
    let script: [Result<[UInt8], PageFetchError>]
    let connections = Mutex<[String: ScriptedConnection]>([:])

    init(_ script: [Result<[UInt8], PageFetchError>]) {
        self.script = script
    }

    func connection(to url: String) -> any PageConnection {
        let connection = ScriptedConnection(script)
        connections.withLock { $0[url] = connection }
        return connection
    }

    final class ScriptedConnection: PageConnection {
        let script: [Result<[UInt8], PageFetchError>]
        let fetches = Mutex(0)
        let closed = Mutex(false)

        init(_ script: [Result<[UInt8], PageFetchError>]) {
            self.script = script
        }

        func fetchPage(timeout: Double, maxBytes: Int, allowance: PageAllowance) async -> Result<
            FetchedPage, PageFetchError
        > {
            let index = fetches.withLock { fetches in
                defer { fetches += 1 }
                return min(fetches, script.count - 1)
            }
            return script[index].map { FetchedPage(bytes: $0, takenAt: 1_000) }
        }

        func close() { closed.withLock { $0 = true } }
    }
}

extension ScrapeManagerTests {
    /// Through the page seam, without sockets: a target that fails twice with one reason and
    /// then answers is reported each time, logged once failing and once recovered, and its
    /// connection is closed when it leaves the set.
    @Test func aFailingTargetIsReportedEachTimeLoggedOnceAndClosedWhenItLeaves() async throws {
        let refused = PageFetchError(reason: .refused, detail: "connection refused")
        let source = ScriptedPageSource([.failure(refused), .failure(refused), .success(Self.page)])
        let recorder = Recorder()
        let logs = LogStore()
        var settings = ScrapeSettings()
        settings.interval = 0.05
        let manager = ScrapeManager(
            settings: settings, source: source, logger: logs.logger("scrape"),
            deliver: { event in recorder.events.withLock { $0.append(event) } })
        let running = Task { await manager.run() }
        let a = target("a", 4191)
        await manager.update(targets: [a])
        #expect(await eventually { recorder.scraped("a").count >= 3 })
        let failures = recorder.events.withLock { events in
            events.compactMap { event -> ScrapeFailure? in
                if case .failed(_, let reason, _) = event { return reason }
                return nil
            }
        }
        #expect(failures == [.refused, .refused])
        #expect(recorder.scraped("a").allSatisfy { $0 == recorder.scraped("a").first })
        #expect(logs.count("Scrape failed") == 1)
        #expect(logs.count("Scrapes succeed again") == 1)

        let connection = try #require(source.connections.withLock { $0[a.url] })
        #expect(!connection.closed.withLock { $0 })
        await manager.update(targets: [])
        #expect(await eventually { recorder.removed() == ["a"] })
        #expect(connection.closed.withLock { $0 })
        manager.finish()
        running.cancel()
        await running.value
    }
}
