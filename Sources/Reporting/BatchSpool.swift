import Foundation

/// Keeps queued batches on disk (an emptyDir in the cluster) so they survive an agent restart
/// during a collector outage. Write-through: a batch is stored when queued and deleted when
/// acknowledged or dropped, so even a crash loses nothing that was queued.
///
/// Files are named `<window end, 20 digits>_<idempotency key>.batch`, so a directory listing in
/// name order is oldest first across agent instances. Writes go to a temporary name and are then
/// renamed, so a half-written file is never read back as a batch.
public struct BatchSpool: Sendable {
    public let directory: String
    public let maxBytes: Int

    /// Creates the directory if needed.
    public init(directory: String, maxBytes: Int) throws {
        self.directory = directory
        self.maxBytes = maxBytes
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    private func fileName(_ batch: EncodedBatch) -> String {
        let stamp = String(batch.windowEndUnixMilliseconds)
        return String(repeating: "0", count: max(0, 20 - stamp.count)) + stamp + "_" + batch.idempotencyKey + ".batch"
    }

    /// Stores a batch; returns the batches removed (oldest first) to stay within `maxBytes`.
    public func store(_ batch: EncodedBatch) throws -> [EncodedBatch] {
        let path = directory + "/" + fileName(batch)
        let temporary = directory + "/.incoming-" + fileName(batch)
        guard FileManager.default.createFile(atPath: temporary, contents: Data(batch.body)) else {
            throw SpoolError(path: temporary)
        }
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
        var stored = try load()
        var total = stored.reduce(0) { $0 + $1.body.count }
        var removed: [EncodedBatch] = []
        while total > maxBytes, !stored.isEmpty {
            let oldest = stored.removeFirst()
            remove(oldest)
            total -= oldest.body.count
            removed.append(oldest)
        }
        return removed
    }

    /// Deletes a batch (acknowledged or dropped). Missing files are fine.
    public func remove(_ batch: EncodedBatch) {
        try? FileManager.default.removeItem(atPath: directory + "/" + fileName(batch))
    }

    /// Every stored batch, oldest first. Leftover temporary files are deleted.
    public func load() throws -> [EncodedBatch] {
        var batches: [EncodedBatch] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: directory).sorted() {
            let path = directory + "/" + name
            if name.hasPrefix(".incoming-") {
                try? FileManager.default.removeItem(atPath: path)
                continue
            }
            guard name.hasSuffix(".batch"), let separator = name.firstIndex(of: "_"),
                let windowEnd = Int64(name[..<separator])
            else { continue }
            let key = String(name[name.index(after: separator)..<name.index(name.endIndex, offsetBy: -6)])
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            let sequence = key.split(separator: "-").last.flatMap { UInt64($0) } ?? 0
            batches.append(
                EncodedBatch(
                    idempotencyKey: key, sequence: sequence, windowEndUnixMilliseconds: windowEnd, body: [UInt8](data)))
        }
        return batches
    }
}

/// A batch file that could not be written.
public struct SpoolError: Error, CustomStringConvertible {
    public var path: String
    public var description: String { "cannot write spool file \(path)" }
}
