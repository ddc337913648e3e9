import Foundation

/// Keeps queued batches on disk (an emptyDir in the cluster) so they survive an agent restart
/// during a collector outage. Write-through: a batch is stored when queued and deleted when
/// acknowledged or dropped, so even a crash loses nothing that was queued.
///
/// Files are named `<window end, 20 digits>_<idempotency key>.batch`, so a directory listing in
/// name order is oldest first across agent instances. Writes go to a temporary name and are then
/// renamed, so a half-written file is never read back as a batch.
///
/// The spool is bounded by its own `maxBytes`, not by the in-memory queue: during a long outage
/// it holds batches the queue has no room for, and the uploader reads them back in order as the
/// queue empties. It keeps an index of its files (name, size) so that neither a store nor a
/// start reads every body.
public struct BatchSpool: Sendable {
    public let directory: String
    public let maxBytes: Int

    /// A spooled batch, without its body.
    public struct Entry: Sendable, Equatable {
        public var idempotencyKey: String
        public var sequence: UInt64
        public var windowEndUnixMilliseconds: Int64
        public var bytes: Int
        var fileName: String
    }

    /// Oldest first (file names sort by window end).
    public private(set) var entries: [Entry] = []
    public private(set) var bytes = 0

    /// Creates the directory if needed and indexes what an earlier run left there (leftover
    /// temporary files are deleted).
    public init(directory: String, maxBytes: Int) throws {
        self.directory = directory
        self.maxBytes = maxBytes
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: directory).sorted() {
            let path = directory + "/" + name
            if name.hasPrefix(".incoming-") {
                try? FileManager.default.removeItem(atPath: path)
                continue
            }
            guard name.hasSuffix(".batch"), let separator = name.firstIndex(of: "_"),
                let windowEnd = Int64(name[..<separator]),
                let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int
            else { continue }
            let key = String(name[name.index(after: separator)..<name.index(name.endIndex, offsetBy: -6)])
            let sequence = key.split(separator: "-").last.flatMap { UInt64($0) } ?? 0
            entries.append(
                Entry(
                    idempotencyKey: key, sequence: sequence, windowEndUnixMilliseconds: windowEnd, bytes: size,
                    fileName: name))
            bytes += size
        }
    }

    private static func fileName(_ windowEnd: Int64, _ key: String) -> String {
        let stamp = String(windowEnd)
        return String(repeating: "0", count: max(0, 20 - stamp.count)) + stamp + "_" + key + ".batch"
    }

    /// Stores a batch; returns the entries removed (oldest first) to stay within `maxBytes`.
    public mutating func store(_ batch: EncodedBatch) throws -> [Entry] {
        let name = Self.fileName(batch.windowEndUnixMilliseconds, batch.idempotencyKey)
        let path = directory + "/" + name
        let temporary = directory + "/.incoming-" + name
        guard FileManager.default.createFile(atPath: temporary, contents: Data(batch.body)) else {
            throw SpoolError(path: temporary)
        }
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
        remove(key: batch.idempotencyKey)
        let entry = Entry(
            idempotencyKey: batch.idempotencyKey, sequence: batch.sequence,
            windowEndUnixMilliseconds: batch.windowEndUnixMilliseconds, bytes: batch.body.count, fileName: name)
        let position = entries.lastIndex { $0.fileName <= name }.map { $0 + 1 } ?? 0
        entries.insert(entry, at: position)
        bytes += entry.bytes
        var removed: [Entry] = []
        while bytes > maxBytes, let oldest = entries.first {
            remove(key: oldest.idempotencyKey)
            removed.append(oldest)
        }
        return removed
    }

    /// Deletes a batch (acknowledged or dropped). Missing files are fine.
    public mutating func remove(key: String) {
        guard let index = entries.firstIndex(where: { $0.idempotencyKey == key }) else { return }
        let entry = entries.remove(at: index)
        bytes -= entry.bytes
        try? FileManager.default.removeItem(atPath: directory + "/" + entry.fileName)
    }

    /// Whether the batch is spooled.
    public func contains(key: String) -> Bool { entries.contains { $0.idempotencyKey == key } }

    /// A spooled batch with its body, read from its file; nil if the file is gone or unreadable.
    public func read(_ entry: Entry) -> EncodedBatch? {
        guard let data = FileManager.default.contents(atPath: directory + "/" + entry.fileName) else { return nil }
        return EncodedBatch(
            idempotencyKey: entry.idempotencyKey, sequence: entry.sequence,
            windowEndUnixMilliseconds: entry.windowEndUnixMilliseconds, body: [UInt8](data))
    }

    /// Every stored batch with its body, oldest first.
    public func load() -> [EncodedBatch] { entries.compactMap(read) }
}

/// A batch file that could not be written.
public struct SpoolError: Error, CustomStringConvertible {
    public var path: String
    public var description: String { "cannot write spool file \(path)" }
}
