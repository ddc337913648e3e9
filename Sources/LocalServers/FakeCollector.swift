import GzipCodec
import HTTPServing
import NIOCore
import NIOHTTP1
import ReportProtos
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
        /// A 3xx pointing elsewhere (a collector behind a misconfigured load balancer).
        case redirect(status: Int, location: String)
        /// A 200 whose body is this many bytes (an acknowledgement with a large page attached).
        case acceptWithBody(bytes: Int)
        /// A 200 whose body starts and never ends (a proxy in front of the collector stalls).
        case acceptWithStalledBody

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
        /// The HTTP major version the request came in (2 when HTTP/2 was negotiated).
        public var httpMajorVersion = 1
        /// The decoded batch, nil when the body did not decode.
        public var batch: Fathom_Agent_V1_ReportBatch?
        /// The body as it came, inflated: the batch's wire bytes, for other decoders (`protoc`).
        public var inflatedBody: [UInt8]?
        public var answeredStatus: Int?
    }

    struct State {
        var script: [Answer] = []
        var requests: [Request] = []
        var accepted: [String: Fathom_Agent_V1_ReportBatch] = [:]
        var acceptedOrder: [String] = []
        /// While set, every request gets this status (a collector outage of unknown length).
        var outage: Int?
        /// While set, a request without `Authorization: Bearer <token>` gets 401, as a real
        /// collector answers a wrong or missing token.
        var requiredToken: String?
        /// While set, a body larger than this gets 413, as a collector behind a proxy with a
        /// request size limit answers.
        var maxBodyBytes: Int?
    }

    private let state = Mutex(State())
    private let onBatch: @Sendable (Fathom_Agent_V1_ReportBatch) -> Void
    private let server = Mutex<SimpleHTTPServer?>(nil)

    public var port: Int { server.withLock { $0?.port ?? 0 } }
    public var url: String { "\(secure ? "https" : "http")://127.0.0.1:\(port)/v1/reports" }
    private let secure: Bool

    private init(secure: Bool, onBatch: @escaping @Sendable (Fathom_Agent_V1_ReportBatch) -> Void) {
        self.secure = secure
        self.onBatch = onBatch
    }

    /// Starts a collector answering `script` in order, then accepting everything. `onBatch` sees
    /// each batch the first time it is acknowledged. With `tls` (a PEM certificate and key) it
    /// serves HTTPS and offers HTTP/2 by ALPN, as a SaaS endpoint behind a modern load balancer does.
    public static func start(
        script: [Answer] = [], tls: (certificatePEM: [UInt8], keyPEM: [UInt8])? = nil,
        onBatch: @escaping @Sendable (Fathom_Agent_V1_ReportBatch) -> Void = { _ in }
    ) async throws -> FakeCollector {
        let collector = FakeCollector(secure: tls != nil, onBatch: onBatch)
        collector.state.withLock { $0.script = script }
        let tlsConfiguration = try tls.map {
            try SimpleHTTPServer.tls(certificatePEM: $0.certificatePEM, keyPEM: $0.keyPEM, offeringHTTP2: true)
        }
        let server = try await SimpleHTTPServer.start(tls: tlsConfiguration) { [collector] request in
            collector.response(to: collector.handle(head: request.head, body: request.body))
        }
        collector.server.withLock { $0 = server }
        return collector
    }

    private func response(to answer: Answer) -> SimpleHTTPServer.Response {
        switch answer {
        case .accept:
            return .reply(status: 200)
        case .status(let code, let retryAfter, let message):
            return .reply(
                status: code, headers: retryAfter.map { [("Retry-After", $0)] } ?? [], body: Array(message.utf8))
        case .slow(let seconds, .accept):
            return .delayed(seconds: seconds, status: 200)
        case .slow(let seconds, .status(let code)):
            return .delayed(seconds: seconds, status: code)
        case .dropConnection:
            return .dropConnection
        case .redirect(let status, let location):
            return .reply(status: status, headers: [("Location", location)])
        case .acceptWithBody(let bytes):
            return .reply(status: 200, body: [UInt8](repeating: UInt8(ascii: "x"), count: bytes))
        case .acceptWithStalledBody:
            return .stream(status: 200, headers: [("Content-Length", "100000")]) { stream in
                stream.write(Array("accepted, and then nothing".utf8))
            }
        }
    }

    /// Answers 413 to bodies over `bytes` (nil: no limit).
    public func limitBodies(to bytes: Int?) {
        state.withLock { $0.maxBodyBytes = bytes }
    }

    /// Adds answers to give before accepting again.
    public func script(_ answers: [Answer]) {
        state.withLock { $0.script.append(contentsOf: answers) }
    }

    /// Starts (with a status such as 503) or ends (nil) an outage: every request meanwhile gets it.
    public func setOutage(_ status: Int?) {
        state.withLock { $0.outage = status }
    }

    /// Requires (a token) or stops requiring (nil) `Authorization: Bearer <token>`.
    public func requireToken(_ token: String?) {
        state.withLock { $0.requiredToken = token }
    }

    /// Every request received, retries included, in arrival order.
    public var requests: [Request] { state.withLock { $0.requests } }

    /// Batches acknowledged, each once, in the order first acknowledged.
    public var acceptedBatches: [Fathom_Agent_V1_ReportBatch] {
        state.withLock { state in state.acceptedOrder.map { state.accepted[$0]! } }
    }

    public func shutdown() async throws {
        try await server.withLock { $0 }?.shutdown()
    }

    /// Decides the answer to a complete request and records it.
    func handle(head: HTTPRequestHead, body: [UInt8]) -> Answer {
        let inflated = try? Gzip.decompress(body, limit: 64 << 20)
        let batch = inflated.flatMap { try? Fathom_Agent_V1_ReportBatch(serializedBytes: $0) }
        var firstAcknowledged: Fathom_Agent_V1_ReportBatch?
        let answer = state.withLock { state -> Answer in
            let authorized =
                state.requiredToken.map { head.headers.first(name: "Authorization") == "Bearer \($0)" } ?? true
            let tooLarge = state.maxBodyBytes.map { body.count > $0 } ?? false
            let answer =
                state.outage.map { .status($0, message: "collector unavailable") }
                ?? (authorized ? nil : .status(401, message: "invalid token"))
                ?? (tooLarge ? .status(413, message: "request entity too large") : nil)
                ?? (state.script.isEmpty ? .accept : state.script.removeFirst())
            let key = head.headers.first(name: "Idempotency-Key")
            var status: Int?
            switch answer {
            case .accept, .slow(_, .accept), .acceptWithBody, .acceptWithStalledBody: status = batch == nil ? 400 : 200
            case .status(let code, _, _), .slow(_, .status(let code)), .redirect(let code, _): status = code
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
                    contentType: head.headers.first(name: "Content-Type"), httpMajorVersion: head.version.major,
                    batch: batch, inflatedBody: inflated, answeredStatus: status))
            if status == 400 { return .status(400, message: "body is not a gzip-compressed ReportBatch") }
            return answer
        }
        if let firstAcknowledged { onBatch(firstAcknowledged) }
        return answer
    }
}
