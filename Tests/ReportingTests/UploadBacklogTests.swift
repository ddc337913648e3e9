import Foundation
import ReportEncoding
import Testing

@testable import Reporting

/// What the uploader keeps, where, and what goes, as a value: no collector, no clock but the one
/// passed in.
@Suite struct UploadBacklogTests {
    func spoolDirectory() -> String {
        NSTemporaryDirectory() + "fathom-backlog-" + String(UInt64.random(in: 0...UInt64.max))
    }

    func backlog(queue: Int, spool: BatchSpool? = nil) -> (UploadBacklog, [UploadBacklog.Event]) {
        var loaded: [UploadBacklog.Event] = []
        let backlog = UploadBacklog(queueMaxBytes: queue, spool: spool, loaded: &loaded)
        return (backlog, loaded)
    }

    @Test func withoutASpoolTheOldestGoWhenTheQueueIsFull() {
        var (backlog, loaded) = backlog(queue: 100)
        #expect(loaded.isEmpty && backlog.resumed == 0)
        #expect(backlog.enqueue(batch(1, bytes: 60)).isEmpty)
        #expect(backlog.enqueue(batch(2, bytes: 60)) == [.dropped(key: "i1-1", reason: "queue_full")])
        #expect(backlog.first?.sequence == 2)
        #expect(backlog.batchCount == 1 && backlog.queuedBytes == 60 && backlog.spooledBytes == 0)
    }

    @Test func withASpoolWhatHasNoRoomInMemoryWaitsOnDiskAndMovesUpInOrder() throws {
        let path = spoolDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var (backlog, _) = backlog(queue: 100, spool: try BatchSpool(directory: path, maxBytes: 10_000))
        for sequence in 1...4 {
            #expect(backlog.enqueue(batch(UInt64(sequence), bytes: 60)) == [.spoolWritten(key: "i1-\(sequence)")])
        }
        // Nothing dropped: one in memory, three on disk only.
        #expect(backlog.batchCount == 4 && backlog.queuedBytes == 60 && backlog.spooledBytes == 240)
        var sent: [UInt64] = []
        while let first = backlog.first {
            sent.append(first.sequence)
            #expect(first == batch(first.sequence, bytes: 60), "read back whole from disk")
            #expect(backlog.finish(first).isEmpty)
        }
        #expect(sent == [1, 2, 3, 4])
        #expect(backlog.isEmpty && backlog.spooledBytes == 0)
    }

    @Test func aBatchDamagedOnDiskIsDroppedWhenItsTurnComesNeverSent() throws {
        let path = spoolDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var (backlog, _) = backlog(queue: 100, spool: try BatchSpool(directory: path, maxBytes: 10_000))
        for sequence in 1...3 { _ = backlog.enqueue(batch(UInt64(sequence), bytes: 60)) }
        // Batch 2 waits on disk; its file is damaged there.
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: path).first { $0.contains("i1-2") })
        var bytes = try #require(FileManager.default.contents(atPath: path + "/" + file))
        bytes[bytes.count - 1] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path + "/" + file))
        let first = try #require(backlog.first)
        #expect(backlog.finish(first) == [.dropped(key: "i1-2", reason: "spool_damaged")])
        #expect(backlog.first?.sequence == 3)
        #expect(backlog.batchCount == 1)
    }

    @Test func aFullSpoolDropsItsOldestFromMemoryAndDiskAlike() throws {
        let path = spoolDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var (backlog, _) = backlog(queue: 1_000, spool: try BatchSpool(directory: path, maxBytes: 150))
        _ = backlog.enqueue(batch(1, bytes: 60))
        _ = backlog.enqueue(batch(2, bytes: 60))
        let events = backlog.enqueue(batch(3, bytes: 60))
        #expect(events == [.dropped(key: "i1-1", reason: "spool_full"), .spoolWritten(key: "i1-3")])
        #expect(backlog.first?.sequence == 2, "the dropped batch left memory too")
        #expect(backlog.batchCount == 2)
    }

    @Test func attemptsAreCountedPerBatchFromTheFirst() {
        var (backlog, _) = backlog(queue: 1_000)
        _ = backlog.enqueue(batch(1, bytes: 10))
        _ = backlog.enqueue(batch(2, bytes: 10))
        let start = ContinuousClock.now
        #expect(backlog.attemptFirst(at: start) == (1, 0))
        let second = backlog.attemptFirst(at: start + .seconds(30))
        #expect(second.number == 2 && second.failingFor == 30)
        _ = backlog.finish(backlog.first!)
        #expect(backlog.attemptFirst(at: start + .seconds(40)) == (1, 0), "the next batch starts afresh")
    }

    @Test func splitPartsTakeTheBatchsPlaceInMemoryAndOnDisk() throws {
        let path = spoolDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var (backlog, _) = backlog(queue: 1_000, spool: try BatchSpool(directory: path, maxBytes: 10_000))
        _ = backlog.enqueue(batch(1, bytes: 100))
        _ = backlog.enqueue(batch(2, bytes: 10))
        let whole = try #require(backlog.first)
        let parts = (
            EncodedBatch(idempotencyKey: "i1-1.0", sequence: 1, windowEndUnixMilliseconds: 0, body: [1]),
            EncodedBatch(idempotencyKey: "i1-1.1", sequence: 1, windowEndUnixMilliseconds: 0, body: [2])
        )
        #expect(
            backlog.replaceFirst(whole, with: parts) == [.spoolWritten(key: "i1-1.0"), .spoolWritten(key: "i1-1.1")])
        #expect(backlog.first?.idempotencyKey == "i1-1.0")
        #expect(backlog.batchCount == 3)
        let onDisk = try BatchSpool(directory: path, maxBytes: 10_000).entries.map(\.idempotencyKey)
        #expect(
            Set(onDisk) == ["i1-1.0", "i1-1.1", "i1-2"], "the whole batch left the disk once both parts were on it")
    }

    @Test func aRestartResumesWhatTheSpoolHolds() throws {
        let path = spoolDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var (first, _) = backlog(queue: 100, spool: try BatchSpool(directory: path, maxBytes: 10_000))
        for sequence in 1...3 { _ = first.enqueue(batch(UInt64(sequence), bytes: 60)) }
        var (resumed, loaded) = backlog(queue: 100, spool: try BatchSpool(directory: path, maxBytes: 10_000))
        #expect(loaded.isEmpty)
        #expect(resumed.resumed == 3 && resumed.batchCount == 3 && resumed.queuedBytes == 60)
        #expect(resumed.first?.sequence == 1)
        _ = resumed.finish(resumed.first!)
        #expect(resumed.first?.sequence == 2)
    }
}
