import GzipCodec
import HTTPServing
import LocalServers
import Scraping
import Synchronization
import Testing

/// The deadline of a fetch that is not about timing: a page from a local server that answers at
/// once, which a loaded two-core machine running the whole suite can still take seconds to see
/// (CI's full run once timed out a 10 s fetch before the answer was read).
let patientTimeout = 60.0

/// Accept-Encoding values the server saw.
final class SeenEncodings: Sendable {
    let values = Mutex<[String]>([])
    init() {}
}

@Suite(.serialized) struct PageFetcherTests {
    static let page = Array(
        String(repeating: "response_total{direction=\"inbound\",classification=\"success\"} 7\n", count: 200).utf8)

    func withServer(
        _ respond: @escaping @Sendable (SimpleHTTPServer.Request) -> SimpleHTTPServer.Response,
        run body: (PageFetcher, String) async throws -> Void
    ) async throws {
        let server = try await SimpleHTTPServer.start(respond: respond)
        do {
            try await body(PageFetcher(), "http://127.0.0.1:\(server.port)/metrics")
        } catch {
            try await server.shutdown()
            throw error
        }
        try await server.shutdown()
    }

    /// Three scrapes on one kept connection, each expected to read the page.
    func fetchThreePagesOnOneConnection(_ fetcher: PageFetcher, _ url: String) async throws {
        let connection = fetcher.connection(to: url)
        for _ in 0..<3 {
            let page = try await connection.fetchPage(timeout: patientTimeout, maxBytes: 1 << 20, allowance: .unlimited)
                .map(
                    \.bytes
                ).get()
            #expect(page == Self.page)
        }
        connection.close()
    }

    func reason(_ result: Result<[UInt8], PageFetchError>) -> ScrapeFailure? {
        if case .failure(let error) = result { return error.reason }
        return nil
    }

    @Test func plainAndGzipPages() async throws {
        let seen = SeenEncodings()
        try await withServer(
            { request in
                let encoding = request.head.headers.first(name: "Accept-Encoding") ?? ""
                seen.values.withLock { $0.append(encoding) }
                if request.head.uri.hasSuffix("gz") {
                    return .reply(
                        status: 200, headers: [("Content-Encoding", "gzip")], body: try! Gzip.compress(Self.page))
                }
                return .reply(status: 200, body: Self.page)
            },
            run: { fetcher, url in
                let plain = try await fetcher.fetch(url, timeout: patientTimeout, maxBytes: 1 << 20).get()
                let compressed = try await fetcher.fetch(url + "?gz", timeout: patientTimeout, maxBytes: 1 << 20).get()
                #expect(plain == Self.page)
                #expect(compressed == Self.page)
            })
        #expect(seen.values.withLock { $0 } == ["gzip", "gzip"])
    }

    @Test func failuresHaveBoundedReasons() async throws {
        try await withServer(
            { request in
                switch request.head.uri {
                case "/500": return .reply(status: 500, body: Array("boom".utf8))
                case "/big": return .reply(status: 200, body: [UInt8](repeating: 0x61, count: 5_000))
                case "/bomb":
                    return .reply(
                        status: 200, headers: [("Content-Encoding", "gzip")],
                        body: try! Gzip.compress([UInt8](repeating: 0x61, count: 5_000_000)))
                case "/badgzip":
                    return .reply(status: 200, headers: [("Content-Encoding", "gzip")], body: [1, 2, 3, 4])
                case "/slow": return .delayed(seconds: 1, status: 200, body: Self.page)
                case "/drop": return .dropConnection
                case "/short":
                    // 5,000 bytes promised, 100 sent, then the connection closes.
                    return .stream(status: 200, headers: [("Content-Length", "5000")]) { stream in
                        stream.write([UInt8](repeating: 0x61, count: 100))
                        stream.schedule(after: 0.05) { stream.abort() }
                    }
                case "/unfinished":
                    // A chunked body without its last chunk.
                    return .stream(status: 200) { stream in
                        stream.write(Self.page)
                        stream.schedule(after: 0.05) { stream.abort() }
                    }
                case "/403": return .reply(status: 403)
                default: return .reply(status: 404)
                }
            },
            run: { fetcher, url in
                let base = String(url.dropLast("/metrics".count))
                #expect(
                    reason(await fetcher.fetch(base + "/500", timeout: patientTimeout, maxBytes: 1 << 20))
                        == .httpStatus)
                // The proxy's authorization policy refused the scrape.
                #expect(
                    reason(await fetcher.fetch(base + "/403", timeout: patientTimeout, maxBytes: 1 << 20))
                        == .forbidden)
                #expect(
                    reason(await fetcher.fetch(base + "/big", timeout: patientTimeout, maxBytes: 1_000)) == .tooLarge)
                #expect(
                    reason(await fetcher.fetch(base + "/bomb", timeout: patientTimeout, maxBytes: 1 << 20)) == .tooLarge
                )
                #expect(
                    reason(await fetcher.fetch(base + "/badgzip", timeout: patientTimeout, maxBytes: 1 << 20))
                        == .parseError)
                #expect(reason(await fetcher.fetch(base + "/slow", timeout: 0.2, maxBytes: 1 << 20)) == .timeout)
                #expect(
                    reason(await fetcher.fetch(base + "/drop", timeout: patientTimeout, maxBytes: 1 << 20)) == .reset)
                #expect(
                    reason(await fetcher.fetch(base + "/short", timeout: patientTimeout, maxBytes: 1 << 20))
                        == .truncated)
                #expect(
                    reason(await fetcher.fetch(base + "/unfinished", timeout: patientTimeout, maxBytes: 1 << 20))
                        == .truncated)
            })
    }

    @Test func refusedWhenNothingListens() async throws {
        let server = try await SimpleHTTPServer.start { _ in .reply(status: 200) }
        let port = server.port
        try await server.shutdown()
        let result = await PageFetcher().fetch(
            "http://127.0.0.1:\(port)/metrics", timeout: patientTimeout, maxBytes: 100)
        #expect(reason(result) == .refused)
    }

    @Test func oneConnectionIsKeptAliveAcrossScrapes() async throws {
        let seen = Mutex<[Int]>([])
        try await withServer(
            { request in
                seen.withLock { $0.append(request.numberOnConnection) }
                return .reply(status: 200, body: Self.page)
            },
            run: fetchThreePagesOnOneConnection)
        #expect(seen.withLock { $0 } == [1, 2, 3])
    }

    @Test func aKeptConnectionClosedByTheTargetIsRetriedOnceOnANewOne() async throws {
        let seen = Mutex<[Int]>([])
        try await withServer(
            { request in
                seen.withLock { $0.append(request.numberOnConnection) }
                // The proxy's idle timeout closes the kept connection as the second request arrives.
                if request.numberOnConnection == 2 { return .dropConnection }
                return .reply(status: 200, body: Self.page)
            },
            run: fetchThreePagesOnOneConnection)
        // Request 2 met the closing connection and went again as request 1 of a new one.
        #expect(seen.withLock { $0 } == [1, 2, 1, 2, 1])
    }

    @Test func aNewConnectionClosedBeforeAnsweringIsAReset() async throws {
        let seen = Mutex(0)
        try await withServer(
            { _ in
                seen.withLock { $0 += 1 }
                return .dropConnection
            },
            run: { fetcher, url in
                let connection = fetcher.connection(to: url)
                #expect(
                    reason(
                        await connection.fetchPage(timeout: patientTimeout, maxBytes: 1 << 20, allowance: .unlimited)
                            .map(\.bytes))
                        == .reset)
                connection.close()
            })
        // Not repeated: only a kept-alive connection can have been closed for being idle.
        #expect(seen.withLock { $0 } == 1)
    }

    @Test func contentLengthOverTheCapFailsBeforeTheBody() async throws {
        try await withServer(
            { _ in .reply(status: 200, body: [UInt8](repeating: 0x61, count: 50_000)) },
            run: { fetcher, url in
                let result = await fetcher.fetch(url, timeout: patientTimeout, maxBytes: 1_000)
                #expect(reason(result) == .tooLarge)
                if case .failure(let error) = result { #expect(error.detail.contains("Content-Length 50000")) }
            })
    }

    @Test func urlsThatAreNotHTTPAreRefusedClearly() async {
        let result = await PageFetcher().fetch("https://10.0.0.1:4191/metrics", timeout: 1, maxBytes: 100)
        #expect(reason(result) == .other)
        if case .failure(let error) = result { #expect(error.detail.contains("not an http:// URL")) }
    }
}
