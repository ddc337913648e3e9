import ReportEncoding

/// The batches waiting for upload and where each is kept: the bounded queue in memory, the spool
/// on disk, and, during a long outage, batches on disk only until the queue has room; with how
/// often the first has been tried. The uploader sends; this decides what is kept, what is read
/// back and what goes. Each change returns what happened to batches on the way (`Event`) for the
/// uploader to count and log, so every rule here is tested without a collector.
struct UploadBacklog {
    /// What a change did besides the change itself.
    enum Event: Equatable {
        /// A batch given up, by bounded reason: `queue_full`, `spool_full`, `spool_unreadable`,
        /// `spool_damaged`.
        case dropped(key: String, reason: String)
        /// A batch could not be written to the spool: it is kept in memory only.
        case spoolWriteFailed(key: String, error: String)
        /// A batch was written to the spool.
        case spoolWritten(key: String)
    }

    private(set) var queue: BatchQueue
    private(set) var spool: BatchSpool?
    /// Spooled batches newer than everything in `queue`, waiting on disk for room in it, oldest
    /// first.
    private var onDiskOnly: [BatchSpool.Entry] = []
    /// Per batch still queued: attempts made, and when the first was.
    private var attempts: [String: (count: Int, first: ContinuousClock.Instant)] = [:]
    /// Batches an earlier run left in the spool, found at the start.
    private(set) var resumed = 0

    /// A backlog holding what `spool` holds from an earlier run (what fits in memory is read
    /// now, the rest as the queue empties); `loaded` says what could not be read back.
    init(queueMaxBytes: Int, spool: BatchSpool?, loaded: inout [Event]) {
        queue = BatchQueue(maxBytes: queueMaxBytes)
        self.spool = spool
        onDiskOnly = spool?.entries ?? []
        loaded = refill()
        resumed = batchCount
    }

    /// The next batch to send.
    var first: EncodedBatch? { queue.first }
    var isEmpty: Bool { queue.isEmpty && onDiskOnly.isEmpty }
    /// Batches waiting, in memory or on disk only.
    var batchCount: Int { queue.count + onDiskOnly.count }
    /// Bytes of the batches waiting in memory.
    var queuedBytes: Int { queue.bytes }
    /// Bytes in the spool, those also in memory included.
    var spooledBytes: Int { spool?.bytes ?? 0 }

    /// Queues a batch and writes it to the spool; the oldest go when a bound is hit. Without room
    /// in memory a spooled batch waits on disk, behind the older ones.
    mutating func enqueue(_ batch: EncodedBatch) -> [Event] {
        var events: [Event] = []
        let spooled = spool != nil && store(batch, &events)
        if spooled, !onDiskOnly.isEmpty || queue.bytes + batch.body.count > queue.maxBytes,
            let entry = spool?.entries.last(where: { $0.idempotencyKey == batch.idempotencyKey })
        {
            onDiskOnly.append(entry)
        } else {
            for dropped in queue.enqueue(batch) { events.append(forget(dropped.idempotencyKey, as: "queue_full")) }
        }
        return events + refill()
    }

    /// Counts an attempt at the first batch: its number, and for how long the batch has been
    /// tried (0 at the first).
    mutating func attemptFirst(at now: ContinuousClock.Instant) -> (number: Int, failingFor: Double) {
        guard let key = queue.first?.idempotencyKey else { return (1, 0) }
        let count = (attempts[key]?.count ?? 0) + 1
        let first = attempts[key]?.first ?? now
        attempts[key] = (count, first)
        return (count, (now - first).inSeconds)
    }

    /// The batch is done with (acknowledged, or dropped for good): out of memory and off the
    /// disk; batches waiting on disk move up.
    mutating func finish(_ batch: EncodedBatch) -> [Event] {
        // The queue may have dropped the batch meanwhile; only pop it if it is still first.
        if queue.first?.idempotencyKey == batch.idempotencyKey { queue.popFirst() }
        attempts[batch.idempotencyKey] = nil
        spool?.remove(key: batch.idempotencyKey)
        return refill()
    }

    /// Puts the first batch's two parts in its place, in memory and on disk (a 413). The batch
    /// leaves the disk only once both parts are on it: a crash in between resends the batch,
    /// which splits into the same parts (the same keys) again.
    mutating func replaceFirst(_ batch: EncodedBatch, with parts: (EncodedBatch, EncodedBatch)) -> [Event] {
        guard queue.first?.idempotencyKey == batch.idempotencyKey else { return [] }
        queue.replaceFirst(with: [parts.0, parts.1])
        attempts[batch.idempotencyKey] = nil
        var events: [Event] = []
        if spool?.contains(key: batch.idempotencyKey) == true {
            let stored = [parts.0, parts.1].map { store($0, &events) }
            if stored.allSatisfy({ $0 }) { spool?.remove(key: batch.idempotencyKey) }
        }
        return events
    }

    /// Writes a batch to the spool; whether it is there. The spool's oldest batches go when it
    /// is full.
    private mutating func store(_ batch: EncodedBatch, _ events: inout [Event]) -> Bool {
        do {
            for dropped in try spool!.store(batch) {
                events.append(forget(dropped.idempotencyKey, as: "spool_full"))
            }
            events.append(.spoolWritten(key: batch.idempotencyKey))
            return spool!.contains(key: batch.idempotencyKey)
        } catch {
            events.append(.spoolWriteFailed(key: batch.idempotencyKey, error: "\(error)"))
            return false
        }
    }

    /// Takes a dropped batch out of memory, the disk and the attempts.
    private mutating func forget(_ key: String, as reason: String) -> Event {
        _ = queue.remove(key: key)
        onDiskOnly.removeAll { $0.idempotencyKey == key }
        spool?.remove(key: key)
        attempts[key] = nil
        return .dropped(key: key, reason: reason)
    }

    /// Reads batches waiting on disk into the queue while it has room (or is empty), oldest
    /// first; those that cannot be read back (or are damaged) go.
    private mutating func refill() -> [Event] {
        guard spool != nil else { return [] }
        var events: [Event] = []
        while let next = onDiskOnly.first, queue.isEmpty || queue.bytes + next.bytes <= queue.maxBytes {
            onDiskOnly.removeFirst()
            let read = spool!.read(next)
            guard case .batch(let batch) = read else {
                spool!.remove(key: next.idempotencyKey)
                events.append(
                    .dropped(key: next.idempotencyKey, reason: read == .damaged ? "spool_damaged" : "spool_unreadable"))
                continue
            }
            for gone in queue.enqueue(batch) { events.append(forget(gone.idempotencyKey, as: "queue_full")) }
        }
        return events
    }
}
