import AgentConfiguration
import AsyncHTTPClient
import AsyncSignals
import CredentialFiles
import FathomModel
import Foundation
import LogWhenChanged
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import ReportEncoding
import Synchronization
import TransportErrors

/// Settings of the uploader.
public struct UploaderConfiguration: Sendable {
    /// The collector's URL, e.g. `https://ingest.example.com/v1/reports`.
    public var endpoint: String
    /// File holding the API token (mounted from a Secret); no `Authorization` header without it.
    public var tokenFile: String?
    /// Seconds one POST may take, connection included.
    public var requestTimeout: Double
    /// Bound of the in-memory queue, in compressed bytes.
    public var queueMaxBytes: Int
    /// Directory for the disk spool (an emptyDir); nil keeps batches in memory only.
    public var spoolDirectory: String?
    public var spoolMaxBytes: Int
    public var retry = RetryPolicy()
    /// Sent as `User-Agent`.
    public var userAgent = "fathom-agent"
    /// The TLS configuration for each upload (a CA bundle read again when its file changes);
    /// nil, or nil returned, uses the client's.
    public var tlsConfiguration: (@Sendable () -> TLSConfiguration?)?
    /// Told the token file's path when the token in it changed (never the token).
    public var tokenChanged: @Sendable (String) -> Void = { _ in }
    /// Of a 2xx answer's body, at most this much is read (for the log); the rest is not awaited:
    /// a 2xx acknowledges the batch whatever follows.
    public var maxAnswerBytes = 16 << 10

    /// The `report` keys of a configuration.
    public init(_ configuration: AgentConfiguration) {
        endpoint = configuration.reportEndpoint
        tokenFile = configuration.tokenFile.isEmpty ? nil : configuration.tokenFile
        requestTimeout = configuration.requestTimeout
        queueMaxBytes = configuration.queueMaxBytes
        spoolDirectory = configuration.spoolDirectory
        spoolMaxBytes = configuration.spoolMaxBytes
    }

    /// The configuration table's defaults, with this endpoint, no token and no spool.
    public init(endpoint: String) {
        var configuration = AgentConfiguration.defaults
        configuration.reportEndpoint = endpoint
        configuration.tokenFile = ""
        configuration.spoolDirectory = nil
        self.init(configuration)
    }

    /// What the uploader's `HTTPClient` must be built with: redirects are not followed (a 3xx is
    /// an answer, reason `redirect`; following it would send the batch, or a GET without it,
    /// somewhere the configuration never named), and bodies are not decompressed.
    public static var httpClient: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        return configuration
    }
}

/// What the uploader did, for the agent's own metrics.
public struct UploaderStats: Sendable, Equatable {
    public var batchesSent = 0
    public var bytesSent = 0
    /// Retries by bounded reason (throttled, http_5xx, refused, timeout, ...).
    public var retries: [String: Int] = [:]
    /// Batches given up by bounded reason (rejected, too_large, queue_full, spool_full,
    /// spool_unreadable, spool_damaged).
    public var dropped: [String: Int] = [:]
    /// Batches waiting to be sent, in memory or only on disk.
    public var queuedBatches = 0
    /// Bytes of the batches waiting in memory.
    public var queuedBytes = 0
    /// Bytes of batches in the spool (on disk), those also in memory included.
    public var spooledBytes = 0
    /// Batches that could not be written to the spool (kept in memory only).
    public var spoolWriteFailures = 0
    /// Batches an earlier run left in the spool, found at start and queued to be sent.
    public var resumedBatches = 0
    /// Batches (or parts) split in two because the collector answered 413.
    public var batchesSplit = 0
    /// Seconds each acknowledged POST took, most recent last (bounded).
    public var recentUploadSeconds: [Double] = []

    public init() {}
}

/// Sends encoded batches to the collector, oldest first, one at a time, from one loop (`run`), so
/// each batch is in flight at most once.
///
/// A batch stays queued (and spooled) until the collector acknowledges it or rejects it for good;
/// transient failures are retried with `RetryPolicy`. New batches keep arriving during an outage:
/// with a spool, the in-memory queue holds the oldest of them and the rest wait on disk until
/// there is room, so an outage is bounded by `spoolMaxBytes` (the spool drops its oldest past
/// that); without one, the bounded queue drops the oldest. Each drop is counted. At shutdown `drain(within:)` turns
/// the same loop into a drain: it retries through the whole grace period and returns once the
/// queue is empty or the time is up; what is left stays in the spool.
public actor Uploader {
    public let configuration: UploaderConfiguration
    private let client: HTTPClient
    private let logger: Logger
    private let token: TokenFile?
    /// What waits to be sent, in memory and on disk.
    private var backlog: UploadBacklog
    private let sleep: @Sendable (Double) async throws -> Void
    private let observe: @Sendable (UploaderStats) -> Void
    private var stats = UploaderStats()
    private var random = SystemRandomNumberGenerator()
    /// Failed uploads since the last acknowledgement: logged as an outage starts, then every 20.
    private var outage = LoggedRun(every: 20)
    /// Batches the collector rejected since it last acknowledged one: a collector rejecting every
    /// batch (a bad schema, say) must not write a line per window.
    private var rejections = LoggedRun(every: 20)
    /// Where the collector last redirected to, so each place is logged once.
    private var redirect = LoggedState<String?>(nil)
    /// Whether a 413 split has been logged this run: a collector with a small limit splits every
    /// large batch; the counter has the rest.
    private var splitLogged = LoggedState(false)
    /// Whether the last spool write failed: the failure is logged once, and the recovery.
    private var spoolFailing = LoggedState(false)
    /// Wakes the loop when a batch is queued or a drain is asked for.
    private let wakeUps: AsyncStream<Void>
    private nonisolated let wakeUp: AsyncStream<Void>.Continuation
    /// When the drain must end; nil until `drain(within:)`.
    private nonisolated let drainDeadline = Mutex<ContinuousClock.Instant?>(nil)
    /// Fired by `drain(within:)`, to cut a backoff short.
    private nonisolated let drainRequested = OneShotSignal()

    /// Loads batches left in the spool by an earlier run, oldest first.
    /// - Parameter observe: called with the statistics after every change (a batch queued,
    ///   sent, retried or dropped), so the agent's metrics are current within the event.
    public init(
        configuration: UploaderConfiguration, client: HTTPClient, logger: Logger,
        sleep: @escaping @Sendable (Double) async throws -> Void = { try await Task.sleep(for: .seconds($0)) },
        observe: @escaping @Sendable (UploaderStats) -> Void = { _ in }
    ) throws {
        self.configuration = configuration
        self.observe = observe
        self.client = client
        self.logger = logger
        self.sleep = sleep
        self.token = configuration.tokenFile.map { TokenFile(path: $0, onChange: configuration.tokenChanged) }
        (wakeUps, wakeUp) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let spool = try configuration.spoolDirectory.map {
            try BatchSpool(directory: $0, maxBytes: configuration.spoolMaxBytes)
        }
        var loaded: [UploadBacklog.Event] = []
        let backlog = UploadBacklog(queueMaxBytes: configuration.queueMaxBytes, spool: spool, loaded: &loaded)
        self.backlog = backlog
        var stats = UploaderStats()
        stats.resumedBatches = backlog.resumed
        Self.record(loaded, in: &stats, spoolFailing: &spoolFailing, logger: logger)
        self.stats = stats
        if backlog.resumed > 0, let directory = configuration.spoolDirectory {
            logger.info(
                "Resuming batches from the spool",
                metadata: ["spool.batches": "\(backlog.resumed)", "spool.directory": "\(directory)"])
        }
        stats.queuedBatches = backlog.batchCount
        stats.queuedBytes = backlog.queuedBytes
        stats.spooledBytes = backlog.spooledBytes
        observe(stats)
    }

    public var currentStats: UploaderStats {
        var current = stats
        current.queuedBatches = backlog.batchCount
        current.queuedBytes = backlog.queuedBytes
        current.spooledBytes = backlog.spooledBytes
        return current
    }

    /// Queues a batch (and writes it to the spool); the oldest batches go when the bound is hit.
    public func enqueue(_ batch: EncodedBatch) {
        record(backlog.enqueue(batch))
        observe(currentStats)
        wakeUp.yield()
    }

    /// Counts and logs what the backlog did on the way: batches dropped, read back damaged or
    /// not at all, and the spool failing (logged once per outage of the disk) and recovering.
    private func record(_ events: [UploadBacklog.Event]) {
        Self.record(events, in: &stats, spoolFailing: &spoolFailing, logger: logger)
    }

    private static func record(
        _ events: [UploadBacklog.Event], in stats: inout UploaderStats, spoolFailing: inout LoggedState<Bool>,
        logger: Logger
    ) {
        for event in events {
            switch event {
            case .dropped(let key, let reason):
                stats.dropped[reason, default: 0] += 1
                switch reason {
                case "spool_damaged":
                    logger.error(
                        "A spooled batch is damaged (its checksum differs); dropped, not sent",
                        metadata: ["batch.key": "\(key)"])
                case "spool_unreadable":
                    logger.error("Cannot read a spooled batch; dropped", metadata: ["batch.key": "\(key)"])
                case "spool_full":
                    logger.warning("Spool full: dropped the oldest batch", metadata: ["batch.key": "\(key)"])
                default:
                    logger.warning("Queue full: dropped the oldest batch", metadata: ["batch.key": "\(key)"])
                }
            case .spoolWriteFailed(let key, let error):
                stats.spoolWriteFailures += 1
                if spoolFailing.record(true) != nil {
                    logger.error(
                        "Cannot write the spool; batches are kept in memory only until it works again",
                        metadata: ["error": "\(error)", "batch.key": "\(key)"])
                }
            case .spoolWritten(let key):
                if spoolFailing.record(false) != nil {
                    logger.info("Spool writable again", metadata: ["batch.key": "\(key)"])
                }
            }
        }
    }

    /// Sends queued batches, oldest first, until cancelled; after `drain(within:)`, until the
    /// queue is empty or the drain's time is up. Call it once.
    public func run() async {
        var waiting = wakeUps.makeAsyncIterator()
        while !Task.isCancelled {
            let deadline = drainDeadline.withLock { $0 }
            if let deadline, ContinuousClock.now >= deadline { return }
            if isEmpty {
                if deadline != nil { return }
                guard await waiting.next() != nil else { return }
                continue
            }
            let decision = await sendFirst(timeout: requestTimeout(before: deadline))
            guard case .retry(let delay, let reason) = decision else { continue }
            if reason == Self.cancelled { return }
            await pause(delay)
        }
    }

    /// Asks `run` to deliver what is queued, and what is queued meanwhile, within `seconds`,
    /// retrying through the whole period, and then to return. A backoff under way is cut short.
    public nonisolated func drain(within seconds: Double) {
        let deadline = ContinuousClock.now + .milliseconds(Int64(max(0, seconds) * 1_000))
        drainDeadline.withLock { $0 = $0 ?? deadline }
        drainRequested.fire()
        wakeUp.yield()
    }

    /// Whether nothing is waiting to be sent.
    public var isEmpty: Bool { backlog.isEmpty }

    /// Waits before a retry: the policy's delay; during a drain, no longer than leaves time for
    /// one more attempt before the deadline (a collector asking for ten minutes still gets one
    /// last try). A drain asked for during the wait ends it, so the grace period is spent
    /// retrying, not sleeping.
    private func pause(_ delay: Double) async {
        let sleep = self.sleep
        if let deadline = drainDeadline.withLock({ $0 }) {
            let left = (deadline - ContinuousClock.now).inSeconds
            let wait = min(delay, left - min(configuration.requestTimeout, left / 2))
            if wait > 0 { try? await sleep(wait) }
            return
        }
        let drainRequested = self.drainRequested
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await sleep(delay) }
            group.addTask { await drainRequested.wait() }
            await group.next()
            group.cancelAll()
        }
    }

    /// A request's time limit: the configured one, or what is left of a drain (at least half a second).
    private func requestTimeout(before deadline: ContinuousClock.Instant?) -> Double {
        guard let deadline else { return configuration.requestTimeout }
        return min(configuration.requestTimeout, max(0.5, (deadline - ContinuousClock.now).inSeconds))
    }

    private static let cancelled = "cancelled"

    /// Posts the oldest batch once and acts on the result.
    @discardableResult
    private func sendFirst(timeout: Double) async -> RetryPolicy.Decision {
        guard let batch = backlog.first else { return .acknowledged }
        let attempt = backlog.attemptFirst(at: ContinuousClock.now)
        let started = ContinuousClock.now
        guard let reply = await post(batch, timeout: timeout) else {
            // Cancelled mid-request is not a failed upload: the batch stays first in the queue
            // (and spool) for the next start, and nothing is counted or logged.
            return .retry(delay: 0, reason: Self.cancelled)
        }
        var decision = configuration.retry.decide(
            reply.outcome, attempt: attempt.number, failingFor: attempt.failingFor, random: &random)
        defer { observe(currentStats) }
        if case .split = decision {
            decision = split(batch)
            if case .retry = decision { return decision }
        }
        switch decision {
        case .acknowledged:
            record(backlog.finish(batch))
            stats.batchesSent += 1
            stats.bytesSent += batch.body.count
            stats.recentUploadSeconds.append((ContinuousClock.now - started).inSeconds)
            if stats.recentUploadSeconds.count > 64 { stats.recentUploadSeconds.removeFirst() }
            let retries = outage.end()
            if retries > 0 { logger.info("Collector reachable again", metadata: ["retries": "\(retries)"]) }
            _ = rejections.end()
            _ = redirect.record(nil)
        case .drop(let reason):
            record(backlog.finish(batch))
            stats.dropped[reason, default: 0] += 1
            if rejections.occurred() {
                logger.error(
                    "Collector rejected a batch; dropped",
                    metadata: [
                        "batch.key": "\(batch.idempotencyKey)", "http.status": "\(reply.outcome)",
                        "reason": "\(reason)", "collector.message": "\(reply.message.prefix(500))",
                        "rejected.in_a_row": "\(rejections.length)",
                    ])
            }
        case .retry(var delay, let reason):
            stats.retries[reason, default: 0] += 1
            if reason == "unauthorized" || reason == "forbidden", let token, token.refused(reply.token) {
                // The file holds another token than the one refused: try it now.
                delay = 0
                decision = .retry(delay: 0, reason: reason)
            }
            // Once per place it points to: the retries are counted.
            if reason == "redirect", redirect.record(reply.location) != nil {
                logger.error(
                    "Collector redirects; the agent follows no redirect and keeps the batch",
                    metadata: [
                        "collector.location": "\(reply.location ?? "(none)")", "http.status": "\(reply.outcome)",
                        "report.endpoint": "\(configuration.endpoint)",
                        "hint": "set report.endpoint to where it redirects, if that is the collector",
                    ])
            }
            if outage.occurred() {
                logger.warning(
                    "Upload failed; retrying",
                    metadata: [
                        "reason": "\(reason)", "retry.in": "\(Int(delay.rounded(.up)))s",
                        "queue.batches": "\(backlog.batchCount)", "failures": "\(outage.length)",
                        "error": "\(reply.message.prefix(300))",
                    ])
            }
        case .split:
            break
        }
        return decision
    }

    /// Replaces `batch` (first in the queue) by its two parts, in the queue and in the spool, and
    /// returns a retry without delay; a batch that cannot be split is dropped as `too_large`.
    private func split(_ batch: EncodedBatch) -> RetryPolicy.Decision {
        let parts: (EncodedBatch, EncodedBatch)
        do {
            parts = try BatchSplitter.split(batch)
        } catch {
            return .drop(reason: "too_large")
        }
        guard backlog.first?.idempotencyKey == batch.idempotencyKey else { return .retry(delay: 0, reason: "split") }
        record(backlog.replaceFirst(batch, with: parts))
        stats.batchesSplit += 1
        if splitLogged.record(true) != nil {
            logger.warning(
                "Collector refused a batch as too large (413); it is sent in two parts",
                metadata: ["batch.key": "\(batch.idempotencyKey)", "batch.bytes": "\(batch.body.count)"])
        }
        return .retry(delay: 0, reason: "split")
    }

    /// What one POST came back with.
    private struct Reply {
        var outcome: RetryPolicy.Outcome
        /// The start of the answer's body, or the transport error.
        var message: String
        /// A redirect's `Location`, as it may be shown (no query or credentials).
        var location: String?
        /// The token the request carried.
        var token: String?
    }

    /// One POST; nil when the task was cancelled during it.
    private func post(_ batch: EncodedBatch, timeout: Double) async -> Reply? {
        var request = HTTPClientRequest(url: configuration.endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-protobuf")
        request.headers.add(name: "Content-Encoding", value: "gzip")
        request.headers.add(name: "Idempotency-Key", value: batch.idempotencyKey)
        request.headers.add(name: "User-Agent", value: configuration.userAgent)
        let token = token?.token()
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let tls = configuration.tlsConfiguration?() { request.tlsConfiguration = tls }
        request.body = .bytes(ByteBuffer(bytes: batch.body))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .milliseconds(Int64(timeout * 1_000)))
        } catch {
            if error is CancellationError || Task.isCancelled { return nil }
            return Reply(
                outcome: .transportError(reason: TransportFailure(error).rawValue), message: "\(error)", token: token)
        }
        let code = Int(response.status.code)
        let retryAfter = response.headers.first(name: "Retry-After").flatMap {
            RetryAfter.seconds($0, now: Date().timeIntervalSince1970)
        }
        let location =
            (300..<400).contains(code)
            ? RedirectLocation.shown(response.headers.first(name: "Location"), from: configuration.endpoint) : nil
        // The status is the answer: the body is only read for the log, and only its start. A
        // body that fails or never ends does not undo an acknowledgement.
        let message = await Self.prefix(
            of: response.body, upTo: configuration.maxAnswerBytes, within: min(5, configuration.requestTimeout))
        return Reply(
            outcome: .status(code, retryAfter: retryAfter), message: String(decoding: message, as: UTF8.self),
            location: location, token: token)
    }

    /// At most `limit` bytes from the start of a body, read for at most `seconds`; what follows
    /// is left unread (the connection is then closed rather than reused), and a failure ends the
    /// reading. The HTTP client's deadline ends at the response's head, so a body that stalls
    /// is cut off here: the status has answered already.
    static func prefix(of body: HTTPClientResponse.Body, upTo limit: Int, within seconds: Double) async -> [UInt8] {
        await withTaskGroup(of: [UInt8]?.self) { group in
            defer { group.cancelAll() }
            group.addTask {
                var bytes: [UInt8] = []
                do {
                    for try await chunk in body {
                        bytes += chunk.readableBytesView.prefix(limit - bytes.count)
                        if bytes.count >= limit { break }
                    }
                } catch {}
                return bytes
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int64(seconds * 1_000)))
                return nil
            }
            // What the body said, or nothing when it stalled past the time.
            return (await group.next() ?? nil) ?? []
        }
    }

}
