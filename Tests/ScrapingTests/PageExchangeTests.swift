import GzipCodec
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Scraping

/// The page exchange on an `EmbeddedChannel`: the real HTTP codec and `PageResponseHandler`
/// carrying out `PageExchangeState`'s actions, fed answers byte by byte, with no socket and no
/// clock.
@Suite struct PageExchangeTests {
    /// A channel as `ScrapeConnection` builds one, active as a connected socket would be.
    func connectedChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHTTPClientHandlers()
        try channel.pipeline.syncOperations.addHandler(PageResponseHandler(now: { 42 }))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4191)).wait()
        return channel
    }

    /// The outcome of an exchange, once it has one.
    final class Outcome: @unchecked Sendable {
        var result: Result<RawPage, any Error>?

        var page: RawPage? { try? result?.get() }
        var error: PageFetchError? {
            guard case .failure(let error) = result else { return nil }
            return error as? PageFetchError
        }
    }

    /// Sends one request for a page, bounded by `maxBytes` and `allowance`.
    func request(
        on channel: EmbeddedChannel, maxBytes: Int = 1 << 20, allowance: PageAllowance = .unlimited
    ) -> Outcome {
        let outcome = Outcome()
        let promise = channel.eventLoop.makePromise(of: RawPage.self)
        promise.futureResult.whenComplete { outcome.result = $0 }
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/metrics")
        head.headers.add(name: "Host", value: "10.0.0.7:4191")
        channel.writeAndFlush(PageExchange(head: head, maxBytes: maxBytes, allowance: allowance, promise: promise))
            .whenFailure { _ in }
        return outcome
    }

    /// What the target sends, as bytes on the wire.
    func answer(_ channel: EmbeddedChannel, _ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    func answer(_ channel: EmbeddedChannel, _ bytes: [UInt8]) throws {
        try channel.writeInbound(ByteBuffer(bytes: bytes))
    }

    /// The request the target received.
    func sentRequest(_ channel: EmbeddedChannel) throws -> String {
        var sent = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { sent += String(buffer: buffer) }
        return sent
    }

    @Test func aPageIsTakenWhenItsRequestIsWritten() {
        var state = PageExchangeState()
        let limits = PageExchangeState.Limits(maxBytes: 100) { _ in true }
        _ = state.request(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/metrics"), limits: limits, at: 10)
        _ = state.head(status: 200, gzip: false, keepAlive: true, contentLength: nil, at: 10.5)
        _ = state.bodyPart(ByteBuffer(string: "page\n"))
        guard case .succeed(let page, close: false) = state.end() else {
            Issue.record("a complete answer is a page")
            return
        }
        #expect(page.takenAt == 10)
    }

    @Test func aCompleteAnswerIsAPageAndTheConnectionIsKept() throws {
        let channel = try connectedChannel()
        for round in 1...2 {
            let outcome = request(on: channel)
            #expect(try sentRequest(channel).hasPrefix("GET /metrics HTTP/1.1\r\nHost: 10.0.0.7:4191\r\n"))
            #expect(outcome.result == nil)
            try answer(channel, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\npage \(round)\n")
            #expect(
                outcome.page == RawPage(status: 200, gzip: false, body: Array("page \(round)\n".utf8), takenAt: 42))
            #expect(channel.isActive, "kept alive for the next scrape")
        }
    }

    @Test func anAnswerThatAsksToCloseIsAPageAndThenTheConnectionCloses() throws {
        let channel = try connectedChannel()
        let outcome = request(on: channel)
        try answer(channel, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        #expect(outcome.page?.body == Array("ok".utf8))
        #expect(!channel.isActive)
    }

    @Test func aBodyCutShortIsTruncated() throws {
        let channel = try connectedChannel()
        let outcome = request(on: channel)
        try answer(channel, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
        #expect(outcome.result == nil)
        channel.pipeline.fireChannelInactive()
        #expect(outcome.error?.reason == .truncated, "\(String(describing: outcome.result))")
        #expect(outcome.error?.beforeResponse == false, "a page half read is not repeated")
    }

    @Test func aDeclaredLengthOverTheCapFailsBeforeTheBodyAndCloses() throws {
        let channel = try connectedChannel()
        let outcome = request(on: channel, maxBytes: 1_000)
        try answer(channel, "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n")
        #expect(outcome.error?.reason == .tooLarge)
        #expect(outcome.error?.detail == "Content-Length 2000 over 1000 bytes")
        #expect(!channel.isActive)
    }

    @Test func aChunkedBodyGrowingPastTheCapFailsAsItCrossesIt() throws {
        let channel = try connectedChannel()
        let outcome = request(on: channel, maxBytes: 1_000)
        try answer(channel, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        let chunk = "258\r\n" + String(repeating: "x", count: 600) + "\r\n"
        try answer(channel, chunk)
        #expect(outcome.result == nil, "600 bytes fit")
        try? answer(channel, chunk)
        #expect(outcome.error?.reason == .tooLarge)
        #expect(!channel.isActive)
    }

    @Test func theBudgetRefusedMidBodyFailsAsOverBudget() async throws {
        let budget = 256 << 10
        let permits = ScrapePermits(slots: 1, bytes: budget)
        let allowance = await permits.acquire(bytes: 0)
        let channel = try connectedChannel()
        let outcome = request(on: channel, maxBytes: 4 << 20, allowance: allowance)
        try answer(channel, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        let chunk = "4000\r\n" + String(repeating: "x", count: 16 << 10) + "\r\n"
        var accepted = 0
        while outcome.result == nil && accepted < 100 {
            try? answer(channel, chunk)
            if outcome.result == nil { accepted += 1 }
        }
        #expect(accepted >= 4, "the body grew within the budget first")
        #expect(outcome.error?.reason == .overBudget, "\(String(describing: outcome.result))")
        #expect(permits.highestReservedBytes <= budget)
        #expect(!channel.isActive)
        allowance.release()
        #expect(permits.reservedBytes == 0)
    }

    @Test func aGzipBombIsRefusedAtTheCapWithoutInflatingIt() async throws {
        let bomb = try Gzip.compress([UInt8](repeating: 0, count: 64 << 20), level: 9)
        #expect(bomb.count < 100 << 10)
        let permits = ScrapePermits(slots: 1, bytes: 128 << 20)
        let allowance = await permits.acquire(bytes: 0)
        let channel = try connectedChannel()
        let outcome = request(on: channel, maxBytes: 1 << 20, allowance: allowance)
        try answer(channel, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: \(bomb.count)\r\n\r\n")
        try answer(channel, bomb)
        let raw = try #require(outcome.page)
        #expect(raw.gzip)
        guard case .failure(let error) = raw.page(maxBytes: 1 << 20, allowance: allowance) else {
            Issue.record("a 64 MiB page was inflated past a 1 MiB cap")
            return
        }
        #expect(error.reason == .tooLarge)
        // What it held: the body and at most the cap's worth of page, never the 64 MiB.
        #expect(permits.highestReservedBytes <= bomb.count + 2 << 20)
        allowance.release()
    }

    @Test func aConnectionClosedBetweenScrapesFailsNothingAndOneClosedBeforeTheAnswerMayBeRepeated() throws {
        let idle = try connectedChannel()
        let first = request(on: idle)
        try answer(idle, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        #expect(first.page != nil)
        idle.pipeline.fireChannelInactive()
        #expect(first.page != nil, "the answered exchange stays answered")

        // The target's idle timeout raced the next request: closed before any answer.
        let raced = try connectedChannel()
        let outcome = request(on: raced)
        raced.pipeline.fireChannelInactive()
        #expect(outcome.error?.reason == .reset)
        #expect(outcome.error?.beforeResponse == true, "ScrapeConnection repeats it once on a new connection")
    }

    @Test func aSecondRequestInFlightIsRefusedAndTheFirstIsAnswered() throws {
        let channel = try connectedChannel()
        let first = request(on: channel)
        let second = request(on: channel)
        #expect(second.error?.reason == .other, "one exchange at a time, never pipelined")
        #expect(try sentRequest(channel).components(separatedBy: "GET /metrics").count == 2, "one request sent")
        try answer(channel, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
        #expect(first.page?.body == Array("first".utf8))
        #expect(channel.isActive)
    }

    @Test func anAnswerNobodyAskedForClosesTheConnection() throws {
        let channel = try connectedChannel()
        let first = request(on: channel)
        // Two answers pipelined by the target for one request: the second is out of step.
        try? answer(
            channel,
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none" + "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo")
        #expect(first.page?.body == Array("one".utf8))
        #expect(!channel.isActive, "an answer out of step leaves the connection unusable")
    }
}
