import Foundation
import ReportEncoding
import Reporting
import Testing

func batch(_ sequence: UInt64, bytes: Int, instance: String = "i1") -> EncodedBatch {
    EncodedBatch(
        idempotencyKey: "\(instance)-\(sequence)", sequence: sequence,
        windowEndUnixMilliseconds: 1_700_000_000_000 + Int64(sequence) * 10_000,
        body: [UInt8](repeating: UInt8(sequence & 0xFF), count: bytes))
}

@Suite struct BatchQueueTests {
    @Test func keepsOrderAndDropsOldestWhenFull() {
        var queue = BatchQueue(maxBytes: 100)
        #expect(queue.enqueue(batch(1, bytes: 40)).isEmpty)
        #expect(queue.enqueue(batch(2, bytes: 40)).isEmpty)
        #expect(queue.enqueue(batch(3, bytes: 40)).map(\.sequence) == [1])
        #expect(queue.bytes == 80)
        #expect(queue.all.map(\.sequence) == [2, 3])
        #expect(queue.enqueue(batch(4, bytes: 100)).map(\.sequence) == [2, 3])
        #expect(queue.enqueue(batch(5, bytes: 101)).map(\.sequence) == [5])
        #expect(queue.first?.sequence == 4)
        #expect(queue.popFirst()?.sequence == 4)
        #expect(queue.isEmpty && queue.bytes == 0)
    }

    /// A batch taken off the queue is held by its taker alone: the queue keeps no copy of its
    /// body (which would stay allocated until later batches piled up). Writing to a body held
    /// elsewhere too would copy it to a new address first.
    @Test func aPoppedBatchIsNoLongerHeldByTheQueue() {
        var queue = BatchQueue(maxBytes: 1 << 20)
        for sequence in 1...3 { _ = queue.enqueue(batch(UInt64(sequence), bytes: 1_000)) }
        guard var popped = queue.popFirst() else {
            Issue.record("the queue was empty")
            return
        }
        let before = popped.body.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        popped.body[0] = 0xFF
        let after = popped.body.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        #expect(before == after)
        #expect(queue.all.map(\.sequence) == [2, 3])
    }

    @Test func longRunsStayBounded() {
        var queue = BatchQueue(maxBytes: 1_000)
        var dropped = 0
        for sequence in 1...10_000 {
            dropped += queue.enqueue(batch(UInt64(sequence), bytes: 10)).count
            if sequence % 3 == 0 { queue.popFirst() }
        }
        #expect(queue.bytes <= 1_000)
        #expect(queue.count == 100)
        #expect(dropped + queue.count + 10_000 / 3 == 10_000)
    }
}

@Suite struct BatchSpoolTests {
    func directory() -> String {
        NSTemporaryDirectory() + "fathom-spool-" + String(UInt64.random(in: 0...UInt64.max))
    }

    @Test func survivesAReopenInOrder() throws {
        let path = directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var spool = try BatchSpool(directory: path, maxBytes: 1_000)
        for sequence in [3, 1, 2] as [UInt64] { _ = try spool.store(batch(sequence, bytes: 50)) }
        spool.remove(key: "i1-2")
        // A crash mid-write leaves a temporary file behind; it must not come back as a batch.
        #expect(FileManager.default.createFile(atPath: path + "/.incoming-x.batch", contents: Data([1, 2])))
        let reopened = try BatchSpool(directory: path, maxBytes: 1_000)
        #expect(reopened.bytes == 100)
        let loaded = reopened.load()
        #expect(loaded.map(\.sequence) == [1, 3])
        #expect(loaded.map(\.idempotencyKey) == ["i1-1", "i1-3"])
        #expect(loaded[0] == batch(1, bytes: 50))
        #expect(try FileManager.default.contentsOfDirectory(atPath: path).count == 2)
    }

    @Test func dropsOldestPastItsBound() throws {
        let path = directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var spool = try BatchSpool(directory: path, maxBytes: 120)
        #expect(try spool.store(batch(1, bytes: 50)).isEmpty)
        #expect(try spool.store(batch(2, bytes: 50)).isEmpty)
        #expect(try spool.store(batch(3, bytes: 50)).map(\.sequence) == [1])
        #expect(spool.load().map(\.sequence) == [2, 3])
        #expect(spool.bytes == 100)
    }

    @Test func ordersAcrossAgentInstancesByWindow() throws {
        let path = directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var spool = try BatchSpool(directory: path, maxBytes: 10_000)
        // Instance "b" restarted with sequence 1 after instance "a" reached 9.
        _ = try spool.store(batch(1, bytes: 10, instance: "zz"))
        var later = batch(1, bytes: 10, instance: "b")
        later.windowEndUnixMilliseconds += 1_000_000
        _ = try spool.store(later)
        _ = try spool.store(batch(9, bytes: 10, instance: "a"))
        #expect(spool.load().map(\.idempotencyKey) == ["zz-1", "a-9", "b-1"])
    }
}
