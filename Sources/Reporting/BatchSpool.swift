import Foundation
import GzipCodec
import ReportEncoding

/// Keeps queued batches on disk (an emptyDir in the cluster) so they survive an agent restart
/// during a collector outage. Write-through: a batch is stored when queued and deleted when
/// acknowledged or dropped, so even a crash loses nothing that was queued.
///
/// Files are named `<window end, 20 digits>_<idempotency key>.batch`, so a directory listing in
/// name order is oldest first across agent instances. Writes go to a temporary name and are then
/// renamed, so a half-written file is never read back as a batch. Each file starts with a
/// header that carries the body's length and CRC-32 (`SpoolFileFormat`): a file damaged on disk
/// is recognised when it is read back, and dropped (counted by the caller), never sent.
///
/// The spool is bounded by its own `maxBytes`, not by the in-memory queue: during a long outage
/// it holds batches the queue has no room for, and the uploader reads them back in order as the
/// queue empties. It keeps an index of its files (name, size) so that neither a store nor a
/// start reads every body.
public struct BatchSpool: Sendable {
    public let directory: String
    public let maxBytes: Int

    /// A spooled batch, without its body; `bytes` is the body's size (as the queue counts it).
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
                let fileSize = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int
            else { continue }
            // Bodies are counted, as the queue counts them; a damaged file is found when read.
            let size = SpoolFileFormat.hasHeader(path) ? max(0, fileSize - SpoolFileFormat.headerBytes) : fileSize
            let key = String(name[name.index(after: separator)..<name.index(name.endIndex, offsetBy: -6)])
            let sequence = EncodedBatch.sequence(ofKey: key) ?? 0
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
        let contents = SpoolFileFormat.header(for: batch.body) + batch.body
        guard FileManager.default.createFile(atPath: temporary, contents: Data(contents)) else {
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

    /// What reading a spooled batch back found.
    public enum ReadResult: Sendable, Equatable {
        case batch(EncodedBatch)
        /// The file is gone or cannot be read.
        case unreadable
        /// The file's bytes are not what was written (length or checksum differ).
        case damaged
    }

    /// A spooled batch with its body, read from its file and checked against its header.
    public func read(_ entry: Entry) -> ReadResult {
        guard let data = FileManager.default.contents(atPath: directory + "/" + entry.fileName) else {
            return .unreadable
        }
        guard let body = SpoolFileFormat.body(of: [UInt8](data)) else { return .damaged }
        return .batch(
            EncodedBatch(
                idempotencyKey: entry.idempotencyKey, sequence: entry.sequence,
                windowEndUnixMilliseconds: entry.windowEndUnixMilliseconds, body: body))
    }

    /// Every stored batch that reads back intact, oldest first.
    public func load() -> [EncodedBatch] {
        entries.compactMap {
            guard case .batch(let batch) = read($0) else { return nil }
            return batch
        }
    }
}

/// A spool file: a 16-byte header, then the batch's body (gzip). The header is the magic
/// `FSB1`, the body's CRC-32 and its length (big-endian, 4 and 8 bytes).
enum SpoolFileFormat {
    static let magic: [UInt8] = Array("FSB1".utf8)
    static let headerBytes = 16

    /// Whether the file at `path` starts with the header (a file of this version).
    static func hasHeader(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: magic.count)).map { [UInt8]($0) == magic } ?? false
    }

    static func header(for body: [UInt8]) -> [UInt8] {
        let crc = Gzip.crc32(body)
        let length = UInt64(body.count)
        return magic + (0..<4).map { UInt8(truncatingIfNeeded: crc >> (24 - 8 * $0)) }
            + (0..<8).map { UInt8(truncatingIfNeeded: length >> (56 - 8 * $0)) }
    }

    /// The body of a file when its length and checksum hold; nil when it is damaged. A file of
    /// an earlier version (a bare gzip body, no header) is taken when it inflates whole: gzip's
    /// own trailer carries a CRC-32 and a length.
    static func body(of file: [UInt8]) -> [UInt8]? {
        guard file.starts(with: magic) else {
            guard file.starts(with: [0x1F, 0x8B]), (try? Gzip.decompress(file, limit: 1 << 30)) != nil else {
                return nil
            }
            return file
        }
        guard file.count >= headerBytes else { return nil }
        let crc = file[4..<8].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let length = file[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let body = Array(file[headerBytes...])
        guard UInt64(body.count) == length, Gzip.crc32(body) == crc else { return nil }
        return body
    }
}

/// A batch file that could not be written.
public struct SpoolError: Error, CustomStringConvertible {
    public var path: String
    public var description: String { "cannot write spool file \(path)" }
}
