import NIOCore
import NIOHTTP1
import NIOPosix
import ReportProtos
import Reporting
import Synchronization

/// An in-process stand-in for the SaaS collector on 127.0.0.1 (port 0), speaking HTTP/1.1 like the
/// real one: it decodes every gzip-compressed `ReportBatch`, acknowledges with 200, de-duplicates
/// retries by `Idempotency-Key`, and can be scripted to answer 429 with `Retry-After`, 5xx, 4xx,
/// slowly, or by dropping the connection. The demo uses it as its local sink; tests as the SaaS.
public final class FakeCollector: Sendable {
    /// How to answer one request.
    public enum Answer: Sendable, Equatable {
        case accept
        case status(Int, retryAfter: String? = nil, message: String = "")
        /// Wait before answering (a slow collector); the request may time out on the client.
        case slow(seconds: Double, then: Status)
        /// Close the connection without answering.
        case dropConnection

        public enum Status: Sendable, Equatable {
            case accept
            case status(Int)
        }
    }

    /// One request as received.
    public struct Request: Sendable {
        public var idempotencyKey: String?
        public var authorization: String?
        public var contentEncoding: String?
        public var contentType: String?
        /// The decoded batch, nil when the body did not decode.
        public var batch: Fathom_Agent_V1_ReportBatch?
        public var answeredStatus: Int?
    }

    struct State {
        var script: [Answer] = []
        var requests: [Request] = []
        var accepted: [String: Fathom_Agent_V1_ReportBatch] = [:]
        var acceptedOrder: [String] = []
    }

    private let state = Mutex(State())
    private let onBatch: @Sendable (Fathom_Agent_V1_ReportBatch) -> Void
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    public let port: Int

    public var url: String { "http://127.0.0.1:\(port)/v1/reports" }

    private init(
        channel: any Channel, group: MultiThreadedEventLoopGroup, port: Int,
        onBatch: @escaping @Sendable (Fathom_Agent_V1_ReportBatch) -> Void
    ) {
        self.channel = channel
        self.group = group
        self.port = port
        self.onBatch = onBatch
    }

    /// Starts a collector answering `script` in order, then accepting everything. `onBatch` sees
    /// each batch the first time it is acknowledged.
    public static func start(
        script: [Answer] = [], onBatch: @escaping @Sendable (Fathom_Agent_V1_ReportBatch) -> Void = { _ in }
    ) async throws -> FakeCollector {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let box = Mutex<FakeCollector?>(nil)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(CollectorHandler(collector: { box.withLock { $0 } }))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let collector = FakeCollector(
            channel: channel, group: group, port: channel.localAddress?.port ?? 0, onBatch: onBatch)
        collector.state.withLock { $0.script = script }
        box.withLock { $0 = collector }
        return collector
    }

    /// Adds answers to give before accepting again.
    public func script(_ answers: [Answer]) {
        state.withLock { $0.script.append(contentsOf: answers) }
    }

    /// Every request received, retries included, in arrival order.
    public var requests: [Request] { state.withLock { $0.requests } }

    /// Batches acknowledged, each once, in the order first acknowledged.
    public var acceptedBatches: [Fathom_Agent_V1_ReportBatch] {
        state.withLock { state in state.acceptedOrder.map { state.accepted[$0]! } }
    }

    public func shutdown() async throws {
        try await channel.close()
        try await group.shutdownGracefully()
    }

    /// Decides the answer to a complete request and records it.
    func handle(head: HTTPRequestHead, body: [UInt8]) -> Answer {
        let batch = (try? Gzip.decompress(body, limit: 64 << 20)).flatMap {
            try? Fathom_Agent_V1_ReportBatch(serializedBytes: $0)
        }
        var firstAcknowledged: Fathom_Agent_V1_ReportBatch?
        let answer = state.withLock { state -> Answer in
            let answer = state.script.isEmpty ? .accept : state.script.removeFirst()
            let key = head.headers.first(name: "Idempotency-Key")
            var status: Int?
            switch answer {
            case .accept, .slow(_, .accept): status = batch == nil ? 400 : 200
            case .status(let code, _, _), .slow(_, .status(let code)): status = code
            case .dropConnection: status = nil
            }
            if status == 200, let key, let batch, state.accepted[key] == nil {
                state.accepted[key] = batch
                state.acceptedOrder.append(key)
                firstAcknowledged = batch
            }
            state.requests.append(
                Request(
                    idempotencyKey: key, authorization: head.headers.first(name: "Authorization"),
                    contentEncoding: head.headers.first(name: "Content-Encoding"),
                    contentType: head.headers.first(name: "Content-Type"), batch: batch, answeredStatus: status))
            if status == 400 { return .status(400, message: "body is not a gzip-compressed ReportBatch") }
            return answer
        }
        if let firstAcknowledged { onBatch(firstAcknowledged) }
        return answer
    }
}

/// Collects one request's head and body, then answers as the collector decides.
private final class CollectorHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let collector: @Sendable () -> FakeCollector?
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(collector: @escaping @Sendable () -> FakeCollector?) {
        self.collector = collector
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(let buffer):
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let head, let collector = collector() else { return }
            let answer = collector.handle(head: head, body: body)
            respond(context: context, answer: answer, keepAlive: head.isKeepAlive)
        }
    }

    private func respond(context: ChannelHandlerContext, answer: FakeCollector.Answer, keepAlive: Bool) {
        switch answer {
        case .accept:
            write(context: context, status: 200, retryAfter: nil, message: "", keepAlive: keepAlive)
        case .status(let code, let retryAfter, let message):
            write(context: context, status: code, retryAfter: retryAfter, message: message, keepAlive: keepAlive)
        case .slow(let seconds, let then):
            let code: Int
            switch then {
            case .accept: code = 200
            case .status(let status): code = status
            }
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .milliseconds(Int64(seconds * 1_000))) {
                let (handler, context) = loopBound.value
                guard context.channel.isActive else { return }
                handler.write(context: context, status: code, retryAfter: nil, message: "", keepAlive: keepAlive)
            }
        case .dropConnection:
            context.close(promise: nil)
        }
    }

    private func write(
        context: ChannelHandlerContext, status: Int, retryAfter: String?, message: String, keepAlive: Bool
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: String(message.utf8.count))
        if let retryAfter { headers.add(name: "Retry-After", value: retryAfter) }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !message.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: message)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}
