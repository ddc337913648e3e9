import AsyncHTTPClient
import CredentialFiles
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Settings of the uploader.
public struct UploaderConfiguration: Sendable {
    /// The collector's URL, e.g. `https://ingest.example.com/v1/reports`.
    public var endpoint: String
    /// File holding the API token (mounted from a Secret); no `Authorization` header without it.
    public var tokenFile: String?
    /// Seconds one POST may take, connection included.
    public var requestTimeout: Double = 10
    /// Bound of the in-memory queue, in compressed bytes.
    public var queueMaxBytes: Int = 64 << 20
    /// Directory for the disk spool (an emptyDir); nil keeps batches in memory only.
    public var spoolDirectory: String?
    public var spoolMaxBytes: Int = 256 << 20
    public var retry = RetryPolicy()
    /// Sent as `User-Agent`.
    public var userAgent = "fathom-agent"

    public init(endpoint: String) {
        self.endpoint = endpoint
    }
}

/// What the uploader did, for the agent's own metrics.
public struct UploaderStats: Sendable, Equatable {
    public var batchesSent = 0
    public var bytesSent = 0
    /// Retries by bounded reason (throttled, http_5xx, refused, timeout, ...).
    public var retries: [String: Int] = [:]
    /// Batches given up by bounded reason (rejected, queue_full, spool_full).
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
    private var spool: BatchSpool?
    /// Spooled batches newer than everything in `queue`, waiting on disk for room in it, oldest
    /// first.
    private var onDiskOnly: [BatchSpool.Entry] = []
    private let sleep: @Sendable (Double) async throws -> Void
    private let observe: @Sendable (UploaderStats) -> Void
    private var queue: BatchQueue
    private var stats = UploaderStats()
    private var random = SystemRandomNumberGenerator()
    private var failingSince: Int?
    /// Batches the collector rejected since it last acknowledged one (for logging once per run).
    private var rejectedInARow = 0
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
        self.token = configuration.tokenFile.map(TokenFile.init(path:))
        var queue = BatchQueue(maxBytes: configuration.queueMaxBytes)
        (wakeUps, wakeUp) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        if let directory = configuration.spoolDirectory {
            var spool = try BatchSpool(directory: directory, maxBytes: configuration.spoolMaxBytes)
            // What fits in memory is read now; the rest as the queue empties.
            var waiting = spool.entries
            let moved = Self.move(&waiting, into: &queue, from: &spool)
            if !moved.dropped.isEmpty { stats.dropped["queue_full", default: 0] += moved.dropped.count }
            for key in moved.unreadable {
                stats.dropped["spool_unreadable", default: 0] += 1
                logger.error("Cannot read a spooled batch; dropped", metadata: ["batch.key": "\(key)"])
            }
            self.spool = spool
            onDiskOnly = waiting
            self.queue = queue
            let resumed = queue.count + onDiskOnly.count
            stats.resumedBatches = resumed
            if resumed > 0 {
                logger.info(
                    "Resuming batches from the spool",
                    metadata: ["spool.batches": "\(resumed)", "spool.directory": "\(directory)"])
            }
        } else {
            self.spool = nil
            self.queue = queue
        }
        var initial = stats
        initial.queuedBatches = queue.count + onDiskOnly.count
        initial.queuedBytes = queue.bytes
        initial.spooledBytes = spool?.bytes ?? 0
        observe(initial)
    }

    public var currentStats: UploaderStats {
        var current = stats
        current.queuedBatches = queue.count + onDiskOnly.count
        current.queuedBytes = queue.bytes
        current.spooledBytes = spool?.bytes ?? 0
        return current
    }

    /// Queues a batch (and writes it to the spool); the oldest batches go when the bound is hit.
    public func enqueue(_ batch: EncodedBatch) {
        var spooled = false
        if spool != nil {
            do {
                for dropped in try spool!.store(batch) {
                    forget(dropped.idempotencyKey)
                    stats.dropped["spool_full", default: 0] += 1
                    logger.warning(
                        "Spool full: dropped the oldest batch", metadata: ["batch.key": "\(dropped.idempotencyKey)"])
                }
                spooled = spool!.contains(key: batch.idempotencyKey)
                if spoolFailing {
                    spoolFailing = false
                    logger.info("Spool writable again", metadata: ["batch.key": "\(batch.idempotencyKey)"])
                }
            } catch {
                stats.spoolWriteFailures += 1
                // Once per outage of the disk, not per window: the counter has the rest.
                if !spoolFailing {
                    spoolFailing = true
                    logger.error(
                        "Cannot write the spool; batches are kept in memory only until it works again",
                        metadata: ["error": "\(error)", "batch.key": "\(batch.idempotencyKey)"])
                }
            }
        }
        if spooled, !onDiskOnly.isEmpty || queue.bytes + batch.body.count > queue.maxBytes,
            let entry = spool?.entries.last(where: { $0.idempotencyKey == batch.idempotencyKey })
        {
            // No room in memory: it waits on disk, behind the older ones.
            onDiskOnly.append(entry)
        } else {
            queueInMemory(batch)
        }
        refill()
        observe(currentStats)
        wakeUp.yield()
    }

    /// Adds a batch to the in-memory queue; the oldest go when it is full (without a spool, or
    /// with one that cannot be written).
    private func queueInMemory(_ batch: EncodedBatch) {
        for dropped in queue.enqueue(batch) {
            spool?.remove(key: dropped.idempotencyKey)
            attempts[dropped.idempotencyKey] = nil
            stats.dropped["queue_full", default: 0] += 1
            logger.warning("Queue full: dropped the oldest batch", metadata: ["batch.key": "\(dropped.idempotencyKey)"])
        }
    }

    /// Reads batches waiting on disk into the queue while there is room (or it is empty).
    private func refill() {
        guard spool != nil, !onDiskOnly.isEmpty else { return }
        let moved = Self.move(&onDiskOnly, into: &queue, from: &spool!)
        for key in moved.unreadable {
            stats.dropped["spool_unreadable", default: 0] += 1
            logger.error("Cannot read a spooled batch; dropped", metadata: ["batch.key": "\(key)"])
        }
        for dropped in moved.dropped {
            attempts[dropped.idempotencyKey] = nil
            stats.dropped["queue_full", default: 0] += 1
            logger.warning("Queue full: dropped the oldest batch", metadata: ["batch.key": "\(dropped.idempotencyKey)"])
        }
    }

    /// Reads spooled batches from the front of `waiting` into `queue` while it has room (or is
    /// empty), oldest first. Returns, for the caller to count, the keys that could not be read
    /// and the batches the queue dropped; both are removed from the spool.
    private static func move(
        _ waiting: inout [BatchSpool.Entry], into queue: inout BatchQueue, from spool: inout BatchSpool
    ) -> (unreadable: [String], dropped: [EncodedBatch]) {
        var unreadable: [String] = []
        var dropped: [EncodedBatch] = []
        while let next = waiting.first, queue.isEmpty || queue.bytes + next.bytes <= queue.maxBytes {
            waiting.removeFirst()
            guard let batch = spool.read(next) else {
                spool.remove(key: next.idempotencyKey)
                unreadable.append(next.idempotencyKey)
                continue
            }
            for gone in queue.enqueue(batch) {
                spool.remove(key: gone.idempotencyKey)
                dropped.append(gone)
            }
        }
        return (unreadable, dropped)
    }

    /// Takes a batch the spool dropped out of the queue or the disk-only list.
    private func forget(_ key: String) {
        _ = queue.remove(key: key)
        onDiskOnly.removeAll { $0.idempotencyKey == key }
        attempts[key] = nil
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
            let decision = await sendFirst(attempt: nextAttempt(), timeout: requestTimeout(before: deadline))
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
    public var isEmpty: Bool { queue.isEmpty && onDiskOnly.isEmpty }

    /// Waits before a retry: the policy's delay; during a drain, no longer than leaves time for
    /// one more attempt before the deadline (a collector asking for ten minutes still gets one
    /// last try). A drain asked for during the wait ends it, so the grace period is spent
    /// retrying, not sleeping.
    private func pause(_ delay: Double) async {
        let sleep = self.sleep
        if let deadline = drainDeadline.withLock({ $0 }) {
            let left = Self.seconds(deadline - ContinuousClock.now)
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
        return min(configuration.requestTimeout, max(0.5, Self.seconds(deadline - ContinuousClock.now)))
    }

    private static let cancelled = "cancelled"

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    /// Whether the last spool write failed (so the failure is logged once, and the recovery).
    private var spoolFailing = false

    /// Per batch still queued: attempts made, and when the first was.
    private var attempts: [String: (count: Int, first: ContinuousClock.Instant)] = [:]

    private func nextAttempt() -> Int {
        guard let key = queue.first?.idempotencyKey else { return 1 }
        let count = (attempts[key]?.count ?? 0) + 1
        attempts[key] = (count, attempts[key]?.first ?? ContinuousClock.now)
        return count
    }

    /// Posts the oldest batch once and acts on the result.
    @discardableResult
    private func sendFirst(attempt: Int, timeout: Double) async -> RetryPolicy.Decision {
        guard let batch = queue.first else { return .acknowledged }
        let started = ContinuousClock.now
        guard let (outcome, serverMessage) = await post(batch, timeout: timeout) else {
            // Cancelled mid-request is not a failed upload: the batch stays first in the queue
            // (and spool) for the next start, and nothing is counted or logged.
            return .retry(delay: 0, reason: Self.cancelled)
        }
        let failingFor = attempts[batch.idempotencyKey].map { Self.seconds(ContinuousClock.now - $0.first) } ?? 0
        let decision = configuration.retry.decide(
            outcome, attempt: attempt, failingFor: failingFor, random: &random)
        defer { observe(currentStats) }
        switch decision {
        case .acknowledged:
            finish(batch)
            stats.batchesSent += 1
            stats.bytesSent += batch.body.count
            stats.recentUploadSeconds.append(Self.seconds(ContinuousClock.now - started))
            if stats.recentUploadSeconds.count > 64 { stats.recentUploadSeconds.removeFirst() }
            if let since = failingSince {
                logger.info("Collector reachable again", metadata: ["retries": "\(since)"])
                failingSince = nil
            }
            rejectedInARow = 0
        case .drop(let reason):
            finish(batch)
            stats.dropped[reason, default: 0] += 1
            // Logged for the first rejection of a run, then every 20: a collector rejecting every
            // batch (a bad schema, say) must not write a line per window.
            rejectedInARow += 1
            if rejectedInARow == 1 || rejectedInARow % 20 == 0 {
                logger.error(
                    "Collector rejected a batch; dropped",
                    metadata: [
                        "batch.key": "\(batch.idempotencyKey)", "http.status": "\(outcome)",
                        "collector.message": "\(serverMessage.prefix(500))",
                        "rejected.in_a_row": "\(rejectedInARow)",
                    ])
            }
        case .retry(let delay, let reason):
            stats.retries[reason, default: 0] += 1
            // Logged once when an outage starts, then every 20 failures, not on every retry.
            let failures = (failingSince ?? 0) + 1
            failingSince = failures
            if failures == 1 || failures % 20 == 0 {
                logger.warning(
                    "Upload failed; retrying",
                    metadata: [
                        "reason": "\(reason)", "retry.in": "\(Int(delay.rounded(.up)))s",
                        "queue.batches": "\(queue.count)", "failures": "\(failures)",
                        "error": "\(serverMessage.prefix(300))",
                    ])
            }
        }
        return decision
    }

    private func finish(_ batch: EncodedBatch) {
        // The queue may have dropped the batch meanwhile; only pop it if it is still first.
        if queue.first?.idempotencyKey == batch.idempotencyKey { queue.popFirst() }
        attempts[batch.idempotencyKey] = nil
        spool?.remove(key: batch.idempotencyKey)
        refill()
    }

    /// One POST; nil when the task was cancelled during it.
    private func post(_ batch: EncodedBatch, timeout: Double) async -> (RetryPolicy.Outcome, String)? {
        var request = HTTPClientRequest(url: configuration.endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-protobuf")
        request.headers.add(name: "Content-Encoding", value: "gzip")
        request.headers.add(name: "Idempotency-Key", value: batch.idempotencyKey)
        request.headers.add(name: "User-Agent", value: configuration.userAgent)
        if let token = token?.token() {
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        request.body = .bytes(ByteBuffer(bytes: batch.body))
        do {
            let response = try await client.execute(
                request, timeout: .milliseconds(Int64(timeout * 1_000)))
            let body = try await response.body.collect(upTo: 16 * 1024)
            let retryAfter = response.headers.first(name: "Retry-After").flatMap {
                RetryAfter.seconds($0, now: Date().timeIntervalSince1970)
            }
            return (.status(Int(response.status.code), retryAfter: retryAfter), String(buffer: body))
        } catch {
            if error is CancellationError || Task.isCancelled { return nil }
            return (.transportError(reason: Self.transportReason(error)), "\(error)")
        }
    }

    /// A bounded label for a failed request.
    static func transportReason(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .deadlineExceeded, .readTimeout, .writeTimeout, .getConnectionFromPoolTimeout,
                .tlsHandshakeTimeout:
                return "timeout"
            case .remoteConnectionClosed:
                return "reset"
            default:
                break
            }
        }
        let text = String(describing: error).lowercased()
        if text.contains("refused") { return "refused" }
        if text.contains("reset") || text.contains("eof") || text.contains("closed") { return "reset" }
        if text.contains("timeout") || text.contains("timed out") { return "timeout" }
        if text.contains("ssl") || text.contains("tls") || text.contains("certificate") { return "tls" }
        return "other"
    }
}
