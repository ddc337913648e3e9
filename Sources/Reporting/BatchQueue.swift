import ReportEncoding

/// Batches waiting for upload, oldest first, bounded in bytes.
///
/// When a new batch does not fit, the oldest batches are dropped to make room (newer data is
/// worth more to a user looking at a dashboard) and returned so the caller counts them. A batch
/// larger than the whole bound is dropped itself.
public struct BatchQueue: Sendable {
    public let maxBytes: Int
    public private(set) var bytes = 0
    /// Sent or dropped batches before `head` are nil, so their bodies are freed at once.
    private var batches: [EncodedBatch?] = []
    private var head = 0

    public init(maxBytes: Int) {
        self.maxBytes = maxBytes
    }

    public var count: Int { batches.count - head }
    public var isEmpty: Bool { count == 0 }

    /// Adds a batch; returns the batches dropped to make room (possibly the new one itself).
    public mutating func enqueue(_ batch: EncodedBatch) -> [EncodedBatch] {
        guard batch.body.count <= maxBytes else { return [batch] }
        var dropped: [EncodedBatch] = []
        while bytes + batch.body.count > maxBytes, let oldest = popFirst() {
            dropped.append(oldest)
        }
        batches.append(batch)
        bytes += batch.body.count
        return dropped
    }

    /// The oldest batch, which is the next to send.
    public var first: EncodedBatch? { head < batches.count ? batches[head] : nil }

    /// Removes and returns the oldest batch.
    @discardableResult
    public mutating func popFirst() -> EncodedBatch? {
        guard head < batches.count, let batch = batches[head] else { return nil }
        batches[head] = nil
        head += 1
        bytes -= batch.body.count
        // Reclaim the consumed prefix (empty slots by now) once it is half the storage.
        if head > 32 && head * 2 > batches.count {
            batches.removeFirst(head)
            head = 0
        }
        return batch
    }

    /// Puts `batches` in the place of the oldest batch (its parts, after a split), oldest first.
    /// The bound is not applied: the parts hold what the batch held.
    public mutating func replaceFirst(with replacements: [EncodedBatch]) {
        guard popFirst() != nil else { return }
        batches.insert(contentsOf: replacements.map(Optional.some), at: head)
        bytes += replacements.reduce(0) { $0 + $1.body.count }
    }

    /// Removes the batch with `key`, wherever it is; nil when it is not queued.
    @discardableResult
    public mutating func remove(key: String) -> EncodedBatch? {
        guard let index = batches[head...].firstIndex(where: { $0?.idempotencyKey == key }),
            let batch = batches[index]
        else { return nil }
        if index == head { return popFirst() }
        batches.remove(at: index)
        bytes -= batch.body.count
        return batch
    }

    /// Every queued batch, oldest first.
    public var all: [EncodedBatch] { batches[head...].compactMap { $0 } }
}
