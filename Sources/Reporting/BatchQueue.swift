/// Batches waiting for upload, oldest first, bounded in bytes.
///
/// When a new batch does not fit, the oldest batches are dropped to make room (newer data is
/// worth more to a user looking at a dashboard) and returned so the caller counts them. A batch
/// larger than the whole bound is dropped itself.
public struct BatchQueue: Sendable {
    public let maxBytes: Int
    public private(set) var bytes = 0
    private var batches: [EncodedBatch] = []
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
        guard head < batches.count else { return nil }
        let batch = batches[head]
        head += 1
        bytes -= batch.body.count
        // Reclaim the consumed prefix once it is half the storage.
        if head > 32 && head * 2 > batches.count {
            batches.removeFirst(head)
            head = 0
        }
        return batch
    }

    /// Every queued batch, oldest first.
    public var all: ArraySlice<EncodedBatch> { batches[head...] }
}
