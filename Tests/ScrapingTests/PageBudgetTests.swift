import AgentTestSupport
import GzipCodec
import HTTPServing
import Synchronization
import Testing

@testable import Scraping

/// The page budget (`scrape.maxBytesInFlight`) as a fetch uses it: what a page holds, received
/// and inflated, is reserved as it grows; past what is free the fetch fails as `over_budget`;
/// a scrape waiting for its share goes on once another gives its share back.
@Suite struct PageBudgetTests {
    static let page = Array(
        String(repeating: "response_total{direction=\"inbound\",classification=\"success\"} 7\n", count: 2_000).utf8)

    func withGzipServer(run body: (PageFetcher, String, _ compressed: Int) async throws -> Void) async throws {
        let compressed = try Gzip.compress(Self.page)
        let server = try await SimpleHTTPServer.start { _ in
            .reply(status: 200, headers: [("Content-Encoding", "gzip")], body: compressed)
        }
        do {
            try await body(PageFetcher(), "http://127.0.0.1:\(server.port)/metrics", compressed.count)
        } catch {
            try await server.shutdown()
            throw error
        }
        try await server.shutdown()
    }

    @Test func aGzipPageHoldsItsBodyAndItsInflatedPage() async throws {
        try await withGzipServer { fetcher, url, compressed in
            let permits = ScrapePermits(slots: 2, bytes: 64 << 20)
            let allowance = await permits.acquire(bytes: 0)
            let connection = fetcher.connection(to: url)
            defer { connection.close() }
            let page = try await connection.fetchPage(timeout: patientTimeout, maxBytes: 1 << 20, allowance: allowance)
                .map(\.bytes)
                .get()
            #expect(page == Self.page)
            // Both at once: the body stays until the inflated page is complete.
            #expect(allowance.neededBytes >= compressed + Self.page.count)
            #expect(allowance.neededBytes <= 2 * (compressed + Self.page.count))
            #expect(permits.reservedBytes == allowance.neededBytes)
            allowance.release()
            #expect(permits.reservedBytes == 0)
            allowance.release()
            #expect(permits.reservedBytes == 0)
        }
    }

    @Test func aPageOutgrowingWhatIsFreeFailsAsOverBudget() async throws {
        try await withGzipServer { fetcher, url, compressed in
            // Room for the body as received, not for the page inflated beside it.
            let permits = ScrapePermits(slots: 2, bytes: compressed + Self.page.count / 2)
            let allowance = await permits.acquire(bytes: 0)
            let connection = fetcher.connection(to: url)
            defer { connection.close() }
            let result = await connection.fetchPage(timeout: patientTimeout, maxBytes: 1 << 20, allowance: allowance)
                .map(\.bytes)
            guard case .failure(let error) = result else {
                Issue.record("a page larger than the budget was fetched")
                return
            }
            #expect(error.reason == .overBudget)
            #expect(error.detail.contains("scrape.maxBytesInFlight"))
            // What it asked for is what the target's next scrape waits for.
            #expect(allowance.neededBytes > permits.totalBytes)
            allowance.release()
            #expect(permits.reservedBytes == 0)
            // The same page within a budget that holds it.
            let unlimited = try await connection.fetchPage(
                timeout: patientTimeout, maxBytes: 1 << 20, allowance: .unlimited
            ).map(
                \.bytes
            ).get()
            #expect(unlimited == Self.page)
        }
    }

    @Test func aScrapeWaitsForItsShareInOrder() async throws {
        let permits = ScrapePermits(slots: 8, bytes: 1_000)
        let first = await permits.acquire(bytes: 600)
        let order = Arrivals()
        // Asks for more than the whole budget: it waits for all of it, never for ever.
        let large = Task {
            let allowance = await permits.acquire(bytes: 5_000)
            order.names.withLock { $0.append("large") }
            return allowance
        }
        #expect(await eventually { permits.waitingCount == 1 })
        // Behind the large one although its 100 bytes are free: first come, first served.
        let small = Task {
            let allowance = await permits.acquire(bytes: 100)
            order.names.withLock { $0.append("small") }
            allowance.release()
        }
        #expect(await eventually { permits.waitingCount == 2 })
        #expect(order.names.withLock { $0 }.isEmpty)
        // Growing without waiting takes what is free, and no more.
        #expect(first.reserve(upTo: 1_000))
        #expect(!first.reserve(upTo: 1_001))
        first.release()
        let largeAllowance = await large.value
        #expect(permits.reservedBytes == 1_000)
        #expect(order.names.withLock { $0 } == ["large"])
        largeAllowance.release()
        await small.value
        #expect(order.names.withLock { $0 } == ["large", "small"])
        #expect(permits.reservedBytes == 0)
        #expect(permits.highestReservedBytes == 1_000)
    }
}

/// Which waiting scrapes got their share, in order.
final class Arrivals: Sendable {
    let names = Mutex<[String]>([])
}
