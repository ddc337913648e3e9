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
        /// Seconds a response may take to be handed to the socket: a client that does not read
        /// what it asked for is cut off here; nil for none. Until a response is written, the
        /// connection's next request waits unanswered (and unread past what arrived), so a client
        /// pipelining requests it never reads costs one response, never a queue of them.
        public var writeTimeout: Double?
        /// Connections open at once. A connection arriving when this many are open is let in,
        /// and the one open longest of the address holding the most is closed: a kubelet probe,
        /// open for milliseconds, gets through even while other clients hold every connection.
        public var maxConnections: Int
        /// Connections one address may hold; past it, that address's own oldest is closed.
        public var maxConnectionsPerPeer: Int
        /// The kernel's send buffer per connection (`SO_SNDBUF`); nil leaves the system's (which
        /// grows to megabytes). Small, a client that does not read stalls the next write at once
        /// instead of after megabytes of answers, and holds little of the node's memory.
        public var sendBufferBytes: Int?

        public init(
            maxHeadBytes: Int, maxBodyBytes: Int, requestTimeout: Double?, idleTimeout: Double?,
            writeTimeout: Double? = nil, maxConnections: Int, maxConnectionsPerPeer: Int = .max,
            sendBufferBytes: Int? = nil
        ) {
            self.maxHeadBytes = maxHeadBytes
            self.maxBodyBytes = maxBodyBytes
            self.requestTimeout = requestTimeout
            self.idleTimeout = idleTimeout
            self.writeTimeout = writeTimeout
            self.maxConnections = maxConnections
            self.maxConnectionsPerPeer = maxConnectionsPerPeer
            self.sendBufferBytes = sendBufferBytes
        }

        /// The admin server's: its requests are probes and scrapes, a few hundred bytes without a
        /// body, from a handful of clients (kubelet, Prometheus, `kubectl port-forward`). Memory
        /// under attack is then at most 64 connections, each with a 16 KiB head, a 64 KiB body
        /// and one response; one address holds at most 16 of them, so probes from the node's
        /// address are never the ones closed to let an attacker's connections in.
        public static let admin = Limits(
            maxHeadBytes: 16 << 10, maxBodyBytes: 64 << 10, requestTimeout: 5, idleTimeout: 30, writeTimeout: 10,
            maxConnections: 64, maxConnectionsPerPeer: 16, sendBufferBytes: 64 << 10)

        /// The stand-ins': roomy enough for any test's batches and objects, no timeouts.
        public static let standIn = Limits(
            maxHeadBytes: 80 << 10, maxBodyBytes: 512 << 20, requestTimeout: nil, idleTimeout: nil,
            maxConnections: .max)
    }

    /// Why the server cut a client off: a bounded label for a counter.
    public enum Refusal: String, Sendable, CaseIterable {
        case tooManyConnections = "too_many_connections"
        case tooManyFromPeer = "too_many_from_peer"
        /// The client did not read a response within `writeTimeout`.
        case slowReader = "slow_reader"
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
        /// A reply whose body is shared, not copied, by every response that sends it (a large
        /// answer cached for many clients costs its size once).
        case shared(status: Int, headers: [(String, String)] = [], body: ByteBuffer)
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
        let decoderLimits = {
            var decoderLimits = NIOHTTPDecoderLimitConfiguration()
            decoderLimits.maxHeaderListSize = limits.maxHeadBytes
            decoderLimits.maxHeaderFieldSize = limits.maxHeadBytes
            return decoderLimits
        }()
        var bootstrap = ServerBootstrap(group: group)
        if let bytes = limits.sendBufferBytes {
            bootstrap = bootstrap.childChannelOption(.socketOption(.so_sndbuf), value: SocketOptionValue(bytes))
        }
        let channel =
            try await bootstrap
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Room for a burst of connections (NIO's default is 128): a full accept queue drops
            // SYNs, and a client then waits a second to try again.
            .serverChannelOption(.backlog, value: 1_024)
            .childChannelInitializer { channel in
                let (id, evicted) = connections.open(
                    channel, limit: limits.maxConnections, perPeer: limits.maxConnectionsPerPeer)
                if let (evicted, reason) = evicted {
                    refused(reason)
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
                            respond: respond, maxBodyBytes: limits.maxBodyBytes, writeTimeout: limits.writeTimeout,
                            deadlines: deadlines, refused: refused))
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

/// The connections open at once, in the order they arrived, by the address they came from.
private final class OpenConnections: Sendable {
    private struct Connection {
        var channel: any Channel
        var peer: String
    }
    private struct State {
        var next = 0
        var open: [Int: Connection] = [:]
        var perPeer: [String: Int] = [:]

        /// The oldest connection of `peer`.
        func oldest(of peer: String) -> Int? {
            open.filter { $0.value.peer == peer }.keys.min()
        }

        mutating func remove(_ id: Int) -> (any Channel)? {
            guard let connection = open.removeValue(forKey: id) else { return nil }
            perPeer[connection.peer, default: 1] -= 1
            if perPeer[connection.peer] == 0 { perPeer[connection.peer] = nil }
            return connection.channel
        }
    }
    private let state = Mutex(State())

    /// Counts `channel` in under an id for `closed`. With `perPeer` open already from its
    /// address, that address's oldest leaves; else with `limit` open, the oldest of the address
    /// holding the most leaves. The one leaving is returned, for the caller to close, with why:
    /// the count never passes `limit`, and one address cannot push the others out.
    func open(_ channel: any Channel, limit: Int, perPeer: Int) -> (
        id: Int, evicted: (channel: any Channel, reason: SimpleHTTPServer.Refusal)?
    ) {
        let peer = channel.remoteAddress?.ipAddress ?? "unknown"
        return state.withLock { state in
            var evicted: (channel: any Channel, reason: SimpleHTTPServer.Refusal)?
            if state.perPeer[peer, default: 0] >= perPeer, let oldest = state.oldest(of: peer),
                let channel = state.remove(oldest)
            {
                evicted = (channel, .tooManyFromPeer)
            } else if state.open.count >= limit,
                let busiest = state.perPeer.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }
                ),
                let oldest = state.oldest(of: busiest.key), let channel = state.remove(oldest)
            {
                evicted = (channel, .tooManyConnections)
            }
            defer { state.next += 1 }
            state.open[state.next] = Connection(channel: channel, peer: peer)
            state.perPeer[peer, default: 0] += 1
            return (state.next, evicted)
        }
    }

    /// Forgets a connection that closed (nothing if it was evicted).
    func closed(_ id: Int) { _ = state.withLock { $0.remove(id) } }
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
    /// A response is being written: the server reads nothing meanwhile, so neither the request
    /// nor the idle deadline runs (the response's own write deadline does).
    private var responding = false

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
        if !requestUnderWay {
            requestUnderWay = true
            if !responding { arm(context, after: limits.requestTimeout, refusal: .requestTimeout) }
        }
        context.fireChannelRead(data)
    }

    /// A request was read to its end: the connection is idle until the next one begins.
    func requestEnded(context: ChannelHandlerContext) {
        requestUnderWay = false
        if !responding { armIdle(context) }
    }

    /// A response (or a stream, a watch, for as long as it lasts) is being written.
    func responseStarted() {
        responding = true
        timer?.cancel()
        timer = nil
    }

    /// The response was written: the next request's deadline runs, or the idle one.
    func responseEnded(context: ChannelHandlerContext) {
        responding = false
        if requestUnderWay {
            arm(context, after: limits.requestTimeout, refusal: .requestTimeout)
        } else {
            armIdle(context)
        }
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

/// Collects one request's head and body, then writes the response `respond` chooses. One
/// response at a time: a request that arrives (pipelined) while the previous response is still
/// being written waits for it, and NIO's pipelining handler reads no further meanwhile.
private final class RequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let respond: @Sendable (SimpleHTTPServer.Request) -> SimpleHTTPServer.Response
    private let maxBodyBytes: Int
    private let writeTimeout: Double?
    private let deadlines: ConnectionDeadlines?
    private let refused: @Sendable (SimpleHTTPServer.Refusal) -> Void
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var requests = 0
    /// Set once the request was refused: the rest of it is not read.
    private var discarding = false
    /// A response is being written (or will be, after a delay, or streams).
    private var responding = false
    /// The complete request that waits for the response before it to be written.
    private var waiting: SimpleHTTPServer.Request?
    /// Closes the connection when a response is not written in time.
    private var writeTimer: Scheduled<Void>?

    init(
        respond: @escaping @Sendable (SimpleHTTPServer.Request) -> SimpleHTTPServer.Response,
        maxBodyBytes: Int = .max, writeTimeout: Double? = nil, deadlines: ConnectionDeadlines? = nil,
        refused: @escaping @Sendable (SimpleHTTPServer.Refusal) -> Void = { _ in }
    ) {
        self.respond = respond
        self.maxBodyBytes = maxBodyBytes
        self.writeTimeout = writeTimeout
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

    func channelInactive(context: ChannelHandlerContext) {
        writeTimer?.cancel()
        writeTimer = nil
        waiting = nil
        context.fireChannelInactive()
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
                    context: context, 413, [], ByteBuffer(string: "request body over \(maxBodyBytes) bytes\n"),
                    keepAlive: false)
                return
            }
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let head else { return }
            if let deadlines { deadlines.requestEnded(context: context) }
            requests += 1
            let request = SimpleHTTPServer.Request(head: head, body: body, numberOnConnection: requests)
            self.head = nil
            body = []
            if responding {
                waiting = request
            } else {
                answer(request, context: context)
            }
        }
    }

    private func answer(_ request: SimpleHTTPServer.Request, context: ChannelHandlerContext) {
        let keepAlive = request.head.isKeepAlive
        switch respond(request) {
        case .reply(let status, let headers, let body):
            write(context: context, status, headers, ByteBuffer(bytes: body), keepAlive: keepAlive)
        case .shared(let status, let headers, let body):
            write(context: context, status, headers, body, keepAlive: keepAlive)
        case .delayed(let seconds, let status, let headers, let body):
            responding = true
            deadlines?.responseStarted()
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .milliseconds(Int64(seconds * 1_000))) {
                let (handler, context) = bound.value
                guard context.channel.isActive else { return }
                handler.write(context: context, status, headers, ByteBuffer(bytes: body), keepAlive: keepAlive)
            }
        case .dropConnection:
            context.close(promise: nil)
        case .stream(let status, let extraHeaders, let open):
            // For as long as it lasts: whatever else the client sends waits.
            responding = true
            var headers = HTTPHeaders()
            for (name, value) in extraHeaders { headers.add(name: name, value: value) }
            let head = HTTPResponseHead(
                version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
            deadlines?.responseStarted()
            context.writeAndFlush(wrapOutboundOut(.head(head)), promise: nil)
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            open(
                ResponseStream(channel: context.channel, keepAlive: keepAlive) { succeeded in
                    let (handler, context) = bound.value
                    handler.written(context: context, keepAlive: keepAlive, succeeded: succeeded)
                })
        }
    }

    private func write(
        context: ChannelHandlerContext, _ status: Int, _ extraHeaders: [(String, String)], _ body: ByteBuffer,
        keepAlive: Bool
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
        responding = true
        deadlines?.responseStarted()
        if let writeTimeout {
            let channel = context.channel
            let refused = self.refused
            writeTimer = context.eventLoop.scheduleTask(in: .milliseconds(Int64(writeTimeout * 1_000))) {
                guard channel.isActive else { return }
                refused(.slowReader)
                channel.close(promise: nil)
            }
        }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { result in
            let (handler, context) = bound.value
            handler.written(context: context, keepAlive: keepAlive, succeeded: (try? result.get()) != nil)
        }
    }

    /// The response was handed to the socket (or the connection went): the next request, if
    /// one waits, is answered now.
    private func written(context: ChannelHandlerContext, keepAlive: Bool, succeeded: Bool) {
        writeTimer?.cancel()
        writeTimer = nil
        responding = false
        deadlines?.responseEnded(context: context)
        guard keepAlive, succeeded, context.channel.isActive else {
            context.close(promise: nil)
            return
        }
        if let next = waiting {
            waiting = nil
            answer(next, context: context)
        }
    }
}

/// The body of a streamed response. Writes may come from any thread; they are carried to the
/// connection's event loop in order.
public final class ResponseStream: Sendable {
    private let channel: any Channel
    private let keepAlive: Bool
    /// Told on the event loop when the last chunk was written (whether it was).
    private let ended: @Sendable (Bool) -> Void

    init(channel: any Channel, keepAlive: Bool, ended: @escaping @Sendable (Bool) -> Void) {
        self.channel = channel
        self.keepAlive = keepAlive
        self.ended = ended
    }

    /// Sends one chunk and flushes it.
    public func write(_ bytes: [UInt8]) {
        channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes))), promise: nil)
    }

    /// Ends the response properly (the last chunk), keeping the connection when the client asked to.
    public func finish() {
        let channel = self.channel
        let keepAlive = self.keepAlive
        let ended = self.ended
        channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { result in
            if !keepAlive { channel.close(promise: nil) }
            ended((try? result.get()) != nil)
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
