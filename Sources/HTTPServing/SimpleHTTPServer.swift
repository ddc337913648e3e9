import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import Synchronization

/// A minimal HTTP/1.1 server: it hands each complete request to `respond` and writes back what it
/// says, keeping connections alive as real servers do. The admin server binds it on the pod's
/// address, with `Limits.admin`; the demo's and tests' stand-ins on 127.0.0.1, port 0.
public final class SimpleHTTPServer: Sendable {
    /// What one client may make the server hold: any pod in the cluster can reach the admin port,
    /// so the bytes and time a connection costs are bounded, and so is the number of connections.
    public struct Limits: Sendable {
        /// The request line and headers together (NIO's decoder enforces it; more is a 400).
        public var maxHeadBytes: Int
        /// A request body; more is answered 413 and the connection closed, without reading on.
        public var maxBodyBytes: Int
        /// Seconds from a request's first byte to its end (a client sending its head a byte at a
        /// time is cut off here); nil for none.
        public var requestTimeout: Double?
        /// Seconds a connection may stay open with no request under way; nil for none.
        public var idleTimeout: Double?
        /// Connections open at once. A connection arriving when this many are open is let in
        /// and the one open longest is closed: a kubelet probe, open for milliseconds, gets
        /// through even while a client holds every other connection.
        public var maxConnections: Int

        public init(
            maxHeadBytes: Int, maxBodyBytes: Int, requestTimeout: Double?, idleTimeout: Double?, maxConnections: Int
        ) {
            self.maxHeadBytes = maxHeadBytes
            self.maxBodyBytes = maxBodyBytes
            self.requestTimeout = requestTimeout
            self.idleTimeout = idleTimeout
            self.maxConnections = maxConnections
        }

        /// The admin server's: its requests are probes and scrapes, a few hundred bytes without a
        /// body, from a handful of clients (kubelet, Prometheus, `kubectl port-forward`). Memory
        /// under attack is then at most 64 connections of 16 KiB heads and 64 KiB bodies.
        public static let admin = Limits(
            maxHeadBytes: 16 << 10, maxBodyBytes: 64 << 10, requestTimeout: 5, idleTimeout: 60, maxConnections: 64)

        /// The stand-ins': roomy enough for any test's batches and objects, no timeouts.
        public static let standIn = Limits(
            maxHeadBytes: 80 << 10, maxBodyBytes: 512 << 20, requestTimeout: nil, idleTimeout: nil,
            maxConnections: .max)
    }

    /// Why the server cut a client off: a bounded label for a counter.
    public enum Refusal: String, Sendable, CaseIterable {
        case tooManyConnections = "too_many_connections"
        case headTooLarge = "head_too_large"
        case bodyTooLarge = "body_too_large"
        case badRequest = "bad_request"
        case requestTimeout = "request_timeout"
    }

    /// One request: head and body.
    public struct Request: Sendable {
        public var head: HTTPRequestHead
        public var body: [UInt8]
        /// 1 for the first request on its connection, 2 for the next one kept alive, and so on.
        public var numberOnConnection = 1
    }

    /// What to do with a request.
    public enum Response: Sendable {
        case reply(status: Int, headers: [(String, String)] = [], body: [UInt8] = [])
        /// Answer after a delay (a slow peer); the client may give up first.
        case delayed(seconds: Double, status: Int, headers: [(String, String)] = [], body: [UInt8] = [])
        /// Close the connection without answering.
        case dropConnection
        /// Send the head now (chunked), then whatever `open` writes to the stream, as it comes: a
        /// Kubernetes watch.
        case stream(status: Int, headers: [(String, String)] = [], open: @Sendable (ResponseStream) -> Void)
    }

    private let channel: any Channel
    /// The server's own event loop, shut down with it; nil when it runs on a shared group.
    private let ownGroup: MultiThreadedEventLoopGroup?
    public let port: Int

    private init(channel: any Channel, ownGroup: MultiThreadedEventLoopGroup?, port: Int) {
        self.channel = channel
        self.ownGroup = ownGroup
        self.port = port
    }

    /// Starts serving; with `tls`, over HTTPS (the fake Kubernetes API's TLS tests), and over
    /// HTTP/2 as well when its `applicationProtocols` offer `h2` (chosen by ALPN per connection,
    /// each stream answered like an HTTP/1.1 request: the collector stand-in). Without
    /// `group` the server has an event loop thread of its own; many servers in one process (a
    /// simulated fleet) should share a group instead, which the caller then shuts down.
    /// `refused` is told of each client cut off, and why.
    public static func start(
        host: String = "127.0.0.1", port: Int = 0, tls: TLSConfiguration? = nil,
        group shared: (any EventLoopGroup)? = nil, limits: Limits = .standIn,
        refused: @escaping @Sendable (Refusal) -> Void = { _ in },
        respond: @escaping @Sendable (Request) -> Response
    ) async throws -> SimpleHTTPServer {
        let ownGroup = shared == nil ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        let group: any EventLoopGroup = shared ?? ownGroup!
        let context = try tls.map { try NIOSSLContext(configuration: $0) }
        let connections = OpenConnections()
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        decoderLimits.maxHeaderListSize = limits.maxHeadBytes
        decoderLimits.maxHeaderFieldSize = limits.maxHeadBytes
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Room for a burst of connections (NIO's default is 128): a full accept queue drops
            // SYNs, and a client then waits a second to try again.
            .serverChannelOption(.backlog, value: 1_024)
            .childChannelInitializer { channel in
                let (id, evicted) = connections.open(channel, limit: limits.maxConnections)
                if let evicted {
                    refused(.tooManyConnections)
                    evicted.close(promise: nil)
                }
                channel.closeFuture.whenComplete { _ in connections.closed(id) }
                if let context, tls?.applicationProtocols.contains("h2") == true {
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    }
                    .flatMap {
                        channel.configureCommonHTTPServerPipeline { stream in
                            stream.eventLoop.makeCompletedFuture {
                                try stream.pipeline.syncOperations.addHandler(RequestHandler(respond: respond))
                            }
                        }
                    }
                }
                return channel.eventLoop.makeCompletedFuture {
                    let deadlines = ConnectionDeadlines(limits: limits, refused: refused)
                    try channel.pipeline.syncOperations.addHandler(deadlines)
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withEncoderConfiguration: .init(), withDecoderLimitConfiguration: decoderLimits)
                    try channel.pipeline.syncOperations.addHandler(
                        RequestHandler(
                            respond: respond, maxBodyBytes: limits.maxBodyBytes, deadlines: deadlines,
                            refused: refused))
                }
            }
            .bind(host: host, port: port).get()
        return SimpleHTTPServer(channel: channel, ownGroup: ownGroup, port: channel.localAddress?.port ?? 0)
    }

    /// A server TLS configuration from a PEM certificate and key; with `offeringHTTP2`, ALPN
    /// offers `h2` before `http/1.1`.
    public static func tls(certificatePEM: [UInt8], keyPEM: [UInt8], offeringHTTP2: Bool = false) throws
        -> TLSConfiguration
    {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(certificatePEM).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: keyPEM, format: .pem)))
        if offeringHTTP2 { configuration.applicationProtocols = ["h2", "http/1.1"] }
        return configuration
    }

    public func shutdown() async throws {
        try await channel.close()
        try await ownGroup?.shutdownGracefully()
    }
}

/// The connections open at once, in the order they arrived.
private final class OpenConnections: Sendable {
    private struct State {
        var next = 0
        var open: [Int: any Channel] = [:]
    }
    private let state = Mutex(State())

    /// Counts `channel` in under an id for `closed`. With `limit` open already, the one open
    /// longest leaves the count at once and is returned, for the caller to close: the count
    /// never passes `limit`.
    func open(_ channel: any Channel, limit: Int) -> (id: Int, evicted: (any Channel)?) {
        state.withLock { state in
            var evicted: (any Channel)?
            if state.open.count >= limit, let oldest = state.open.keys.min() {
                evicted = state.open.removeValue(forKey: oldest)
            }
            defer { state.next += 1 }
            state.open[state.next] = channel
            return (state.next, evicted)
        }
    }

    /// Forgets a connection that closed (nothing if it was evicted).
    func closed(_ id: Int) { _ = state.withLock { $0.open.removeValue(forKey: id) } }
}

/// Closes a connection that takes too long over a request (from its first byte to its end) or
/// stays idle too long between requests. It sees the raw bytes, before TLS and HTTP decoding, so
/// a head that trickles in a byte at a time is timed from its first byte.
private final class ConnectionDeadlines: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let limits: SimpleHTTPServer.Limits
    private let refused: @Sendable (SimpleHTTPServer.Refusal) -> Void
    private var timer: Scheduled<Void>?
    private var requestUnderWay = false
    private var streaming = false

    init(limits: SimpleHTTPServer.Limits, refused: @escaping @Sendable (SimpleHTTPServer.Refusal) -> Void) {
        self.limits = limits
        self.refused = refused
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { armIdle(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        armIdle(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !requestUnderWay && !streaming {
            requestUnderWay = true
            arm(context, after: limits.requestTimeout, refusal: .requestTimeout)
        }
        context.fireChannelRead(data)
    }

    /// A request was read to its end: the connection is idle until the next one begins.
    func requestEnded(context: ChannelHandlerContext) {
        requestUnderWay = false
        if !streaming { armIdle(context) }
    }

    /// A streamed response (a watch) is open for as long as it lasts: no deadlines.
    func streamOpened() {
        streaming = true
        timer?.cancel()
        timer = nil
    }

    private func armIdle(_ context: ChannelHandlerContext) {
        arm(context, after: limits.idleTimeout, refusal: nil)
    }

    private func arm(_ context: ChannelHandlerContext, after seconds: Double?, refusal: SimpleHTTPServer.Refusal?) {
        timer?.cancel()
        timer = nil
        guard let seconds else { return }
        let channel = context.channel
        let refused = self.refused
        timer = context.eventLoop.scheduleTask(in: .milliseconds(Int64(seconds * 1_000))) {
            guard channel.isActive else { return }
            if let refusal { refused(refusal) }
            channel.close(promise: nil)
        }
    }
}

/// Collects one request's head and body, then writes the response `respond` chooses.
private final class RequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let respond: @Sendable (SimpleHTTPServer.Request) -> SimpleHTTPServer.Response
    private let maxBodyBytes: Int
    private let deadlines: ConnectionDeadlines?
    private let refused: @Sendable (SimpleHTTPServer.Refusal) -> Void
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var requests = 0
    /// Set once the request was refused: the rest of it is not read.
    private var discarding = false

    init(
        respond: @escaping @Sendable (SimpleHTTPServer.Request) -> SimpleHTTPServer.Response,
        maxBodyBytes: Int = .max, deadlines: ConnectionDeadlines? = nil,
        refused: @escaping @Sendable (SimpleHTTPServer.Refusal) -> Void = { _ in }
    ) {
        self.respond = respond
        self.maxBodyBytes = maxBodyBytes
        self.deadlines = deadlines
        self.refused = refused
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // NIO's protocol error handler has answered 400 already; the connection goes. After a
        // refusal, what the client still sends is no request, and a client that hangs up
        // mid-request (or is cut off) sent nothing malformed.
        if !discarding, let parserError = error as? HTTPParserError, parserError != .invalidEOFState {
            refused(parserError == .headerOverflow ? .headTooLarge : .badRequest)
        }
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !discarding else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(let buffer):
            guard body.count + buffer.readableBytes <= maxBodyBytes else {
                // Answer at once and stop reading: the client may be sending gigabytes.
                discarding = true
                body = []
                refused(.bodyTooLarge)
                write(
                    context: context, 413, [],
                    Array("request body over \(maxBodyBytes) bytes\n".utf8), keepAlive: false)
                return
            }
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let head else { return }
            if let deadlines { deadlines.requestEnded(context: context) }
            let keepAlive = head.isKeepAlive
            requests += 1
            switch respond(SimpleHTTPServer.Request(head: head, body: body, numberOnConnection: requests)) {
            case .reply(let status, let headers, let body):
                write(context: context, status, headers, body, keepAlive: keepAlive)
            case .delayed(let seconds, let status, let headers, let body):
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .milliseconds(Int64(seconds * 1_000))) {
                    let (handler, context) = bound.value
                    guard context.channel.isActive else { return }
                    handler.write(context: context, status, headers, body, keepAlive: keepAlive)
                }
            case .dropConnection:
                context.close(promise: nil)
            case .stream(let status, let extraHeaders, let open):
                var headers = HTTPHeaders()
                for (name, value) in extraHeaders { headers.add(name: name, value: value) }
                let head = HTTPResponseHead(
                    version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
                deadlines?.streamOpened()
                context.writeAndFlush(wrapOutboundOut(.head(head)), promise: nil)
                open(ResponseStream(channel: context.channel, keepAlive: keepAlive))
            }
        }
    }

    private func write(
        context: ChannelHandlerContext, _ status: Int, _ extraHeaders: [(String, String)], _ body: [UInt8],
        keepAlive: Bool
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: String(body.count))
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}

/// The body of a streamed response. Writes may come from any thread; they are carried to the
/// connection's event loop in order.
public final class ResponseStream: Sendable {
    private let channel: any Channel
    private let keepAlive: Bool

    init(channel: any Channel, keepAlive: Bool) {
        self.channel = channel
        self.keepAlive = keepAlive
    }

    /// Sends one chunk and flushes it.
    public func write(_ bytes: [UInt8]) {
        channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes))), promise: nil)
    }

    /// Ends the response properly (the last chunk), keeping the connection when the client asked to.
    public func finish() {
        let channel = self.channel
        let keepAlive = self.keepAlive
        channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }

    /// Cuts the connection mid-response, as a failing load balancer or a restarting server does.
    public func abort() {
        channel.close(promise: nil)
    }

    /// Runs `action` on the connection's event loop after `seconds` unless the connection closed first.
    public func schedule(after seconds: Double, _ action: @escaping @Sendable () -> Void) {
        let channel = self.channel
        channel.eventLoop.scheduleTask(in: .milliseconds(Int64(seconds * 1_000))) {
            if channel.isActive { action() }
        }
    }

    /// Runs `action` once when the connection closes, whoever closed it.
    public func onClose(_ action: @escaping @Sendable () -> Void) {
        channel.closeFuture.whenComplete { _ in action() }
    }
}
