import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL

/// A minimal HTTP/1.1 server: it hands each complete request to `respond` and writes back what it
/// says, keeping connections alive as real servers do. The admin server binds it on the pod's
/// address; the demo's and tests' stand-ins on 127.0.0.1, port 0.
public final class SimpleHTTPServer: Sendable {
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
    public static func start(
        host: String = "127.0.0.1", port: Int = 0, tls: TLSConfiguration? = nil,
        group shared: (any EventLoopGroup)? = nil,
        respond: @escaping @Sendable (Request) -> Response
    ) async throws -> SimpleHTTPServer {
        let ownGroup = shared == nil ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        let group: any EventLoopGroup = shared ?? ownGroup!
        let context = try tls.map { try NIOSSLContext(configuration: $0) }
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
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
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(RequestHandler(respond: respond))
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

/// Collects one request's head and body, then writes the response `respond` chooses.
private final class RequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let respond: @Sendable (SimpleHTTPServer.Request) -> SimpleHTTPServer.Response
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var requests = 0

    init(respond: @escaping @Sendable (SimpleHTTPServer.Request) -> SimpleHTTPServer.Response) {
        self.respond = respond
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(let buffer):
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let head else { return }
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
