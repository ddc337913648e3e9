import Foundation
import GzipCodec
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// One target's keep-alive HTTP/1.1 connection on SwiftNIO, used by one scrape loop.
///
/// Scraping has its own client, rather than AsyncHTTPClient's pool, for what a thousand
/// long-lived targets need:
/// - memory: each idle connection holds only a small receive buffer (one of at most 4 KB)
///   between scrapes; a pooled client connection keeps up to four 64 KB buffers, which was 110 MB
///   for 1,000 targets in the fleet benchmark;
/// - a refused or unreachable target fails at once, instead of being retried until the timeout;
/// - the body is copied out of the receive buffers as it arrives, and capped as it grows.
public final class ScrapeConnection: PageConnection {
    /// Where a page is, parsed from a scrape URL.
    struct Endpoint: Sendable, Equatable {
        var host: String
        var port: Int
        var path: String

        /// Parses `http://host:port/path` (the host may be a bracketed IPv6 address).
        init?(_ url: String) {
            guard url.hasPrefix("http://") else { return nil }
            let rest = url.dropFirst("http://".count)
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            let authority = rest[..<slash]
            path = slash == rest.endIndex ? "/" : String(rest[slash...])
            let hostPart: Substring
            let portPart: Substring?
            if authority.hasPrefix("[") {
                guard let close = authority.firstIndex(of: "]") else { return nil }
                hostPart = authority[authority.index(after: authority.startIndex)..<close]
                let after = authority[authority.index(after: close)...]
                portPart = after.hasPrefix(":") ? after.dropFirst() : (after.isEmpty ? nil : "")
            } else if let colon = authority.lastIndex(of: ":") {
                hostPart = authority[..<colon]
                portPart = authority[authority.index(after: colon)...]
            } else {
                hostPart = authority
                portPart = nil
            }
            guard !hostPart.isEmpty else { return nil }
            host = String(hostPart)
            if let portPart {
                guard let number = Int(portPart), (1...65_535).contains(number) else { return nil }
                port = number
            } else {
                port = 80
            }
        }

        /// The Host header's value.
        var hostHeader: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    private let endpoint: Endpoint?
    private let url: String
    private let group: any EventLoopGroup
    private let channel = Mutex<(any Channel)?>(nil)

    init(url: String, group: any EventLoopGroup) {
        self.url = url
        self.endpoint = Endpoint(url)
        self.group = group
    }

    public func fetchPage(timeout: Double, maxBytes: Int, allowance: PageAllowance) async -> Result<
        FetchedPage, PageFetchError
    > {
        await fetchRaw(timeout: timeout, maxBytes: maxBytes, allowance: allowance).flatMap {
            $0.page(maxBytes: maxBytes, allowance: allowance)
        }
    }

    /// The page's bytes as sent (maybe gzip-compressed) and its encoding, or why there are none.
    /// A request on a kept-alive connection that the target closed before answering (its idle
    /// timeout raced the request) is repeated once on a new connection and is not a failure.
    func fetchRaw(timeout: Double, maxBytes: Int, allowance: PageAllowance) async -> Result<RawPage, PageFetchError> {
        guard let endpoint else {
            return .failure(.init(reason: .other, detail: "not an http:// URL with a host: \(url)"))
        }
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeout * 1_000))
        var reused = true
        for attempt in 0..<2 {
            let current: any Channel
            if let open = channel.withLock({ $0 }), open.isActive {
                current = open
            } else {
                reused = false
                switch await connect(endpoint, deadline: deadline) {
                case .success(let opened):
                    current = opened
                    channel.withLock { $0 = opened }
                case .failure(let error):
                    return .failure(error)
                }
            }
            let result = await request(
                on: current, endpoint, deadline: deadline, maxBytes: maxBytes, allowance: allowance)
            if case .failure(let error) = result {
                // A failed exchange leaves the connection in an unknown state: start afresh.
                current.close(promise: nil)
                channel.withLock { if $0 === current { $0 = nil } }
                if attempt == 0 && reused && error.reason == .reset && error.beforeResponse { continue }
            }
            return result
        }
        return .failure(.init(reason: .reset, detail: "connection closed twice before a response"))
    }

    /// Closes the connection (the target left the set).
    public func close() {
        channel.withLock { channel in
            channel?.close(promise: nil)
            channel = nil
        }
    }

    private func connect(_ endpoint: Endpoint, deadline: NIODeadline) async -> Result<any Channel, PageFetchError> {
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(max(.milliseconds(1), deadline - .now()))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            // One receive buffer per connection, and a small one: it is kept between scrapes.
            .channelOption(.maxMessagesPerRead, value: 1)
            .channelOption(
                .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 1_024, initial: 4_096, maximum: 4_096)
            )
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(PageResponseHandler())
                }
            }
        do {
            if let address = try? SocketAddress(ipAddress: endpoint.host, port: endpoint.port) {
                return .success(try await bootstrap.connect(to: address).get())
            }
            return .success(try await bootstrap.connect(host: endpoint.host, port: endpoint.port).get())
        } catch {
            return .failure(
                .init(reason: ScrapeFailure(transportError: error), detail: "connecting to \(url): \(error)"))
        }
    }

    private func request(
        on channel: any Channel, _ endpoint: Endpoint, deadline: NIODeadline, maxBytes: Int,
        allowance: PageAllowance
    ) async -> Result<RawPage, PageFetchError> {
        let promise = channel.eventLoop.makePromise(of: RawPage.self)
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: endpoint.path)
        head.headers.add(name: "Host", value: endpoint.hostHeader)
        head.headers.add(name: "Accept-Encoding", value: "gzip")
        head.headers.add(name: "User-Agent", value: "fathom-agent")
        let exchange = PageExchange(head: head, maxBytes: maxBytes, allowance: allowance, promise: promise)
        let timeout = channel.eventLoop.scheduleTask(deadline: deadline) {
            promise.fail(PageFetchError(reason: .timeout, detail: "no complete answer in time"))
            channel.close(promise: nil)
        }
        channel.writeAndFlush(exchange).whenFailure { error in
            promise.fail(PageFetchError(reason: .reset, detail: "sending: \(error)", beforeResponse: true))
        }
        do {
            let page = try await promise.futureResult.get()
            timeout.cancel()
            return .success(page)
        } catch let error as PageFetchError {
            timeout.cancel()
            return .failure(error)
        } catch {
            timeout.cancel()
            return .failure(.init(reason: .other, detail: "\(error)"))
        }
    }
}

/// What the scrape loop hands the connection's handler: a request, the bounds of its answer's
/// body, and where that answer goes.
final class PageExchange: Sendable {
    let head: HTTPRequestHead
    let maxBytes: Int
    /// The bytes the body may hold, reserved from the page budget as it grows.
    let allowance: PageAllowance
    let promise: EventLoopPromise<RawPage>

    init(head: HTTPRequestHead, maxBytes: Int, allowance: PageAllowance, promise: EventLoopPromise<RawPage>) {
        self.head = head
        self.maxBytes = maxBytes
        self.allowance = allowance
        self.promise = promise
    }
}

/// Carries out what `PageExchangeState` decides: sends the request, copies the body out of the
/// receive buffers as it arrives (so they can be reused), completes the exchange's promise, and
/// closes the connection when told.
final class PageResponseHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = PageExchange
    typealias OutboundOut = HTTPClientRequestPart

    private var state = PageExchangeState()
    /// The promise of the exchange in flight.
    private var promise: EventLoopPromise<RawPage>?
    /// When an answer's head arrived (seconds since the epoch); tests set their own clock.
    private let now: () -> Double

    init(now: @escaping () -> Double = { Date().timeIntervalSince1970 }) {
        self.now = now
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise writePromise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        let allowance = exchange.allowance
        let limits = PageExchangeState.Limits(maxBytes: exchange.maxBytes) { allowance.reserve(upTo: $0) }
        switch state.request(exchange.head, limits: limits, at: now()) {
        case .send(let head):
            promise = exchange.promise
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.end(nil)), promise: writePromise)
        case .refuse(let error):
            exchange.promise.fail(error)
            writePromise?.fail(error)
        default:
            preconditionFailure("a request is sent or refused")
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            let action = state.head(
                status: Int(head.status.code),
                gzip: head.headers.first(name: "Content-Encoding")?.lowercased() == "gzip",
                keepAlive: head.isKeepAlive,
                contentLength: head.headers.first(name: "Content-Length").flatMap(Int.init), at: now())
            carryOut(action, context)
        case .body(let part):
            carryOut(state.bodyPart(part), context)
        case .end:
            carryOut(state.end(), context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        carryOut(state.closed(), context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        carryOut(state.error(error), context)
    }

    private func carryOut(_ action: PageExchangeState.Action, _ context: ChannelHandlerContext) {
        switch action {
        case .none, .send, .refuse:
            break
        case .succeed(let page, let close):
            takePromise()?.succeed(page)
            if close { context.close(promise: nil) }
        case .fail(let error):
            takePromise()?.fail(error)
            context.close(promise: nil)
        case .close:
            context.close(promise: nil)
        }
    }

    private func takePromise() -> EventLoopPromise<RawPage>? {
        defer { promise = nil }
        return promise
    }
}
