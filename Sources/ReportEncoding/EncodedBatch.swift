/// A report batch ready to send: gzip-compressed protobuf plus what identifies it.
public struct EncodedBatch: Sendable, Equatable {
    /// `<instance id>-<sequence>`, or `<instance id>-<sequence>.<path>` for a part of a split
    /// batch: the same on every retry, so the collector can de-duplicate.
    public var idempotencyKey: String
    public var sequence: UInt64
    /// End of the batch's window, Unix milliseconds; orders batches across agent restarts.
    public var windowEndUnixMilliseconds: Int64
    /// The gzip-compressed `ReportBatch`.
    public var body: [UInt8]

    public init(idempotencyKey: String, sequence: UInt64, windowEndUnixMilliseconds: Int64, body: [UInt8]) {
        self.idempotencyKey = idempotencyKey
        self.sequence = sequence
        self.windowEndUnixMilliseconds = windowEndUnixMilliseconds
        self.body = body
    }

    /// The idempotency key of a batch, or of a part of one when `part` is not empty.
    public static func key(instance: String, sequence: UInt64, part: String = "") -> String {
        part.isEmpty ? "\(instance)-\(sequence)" : "\(instance)-\(sequence).\(part)"
    }

    /// The sequence number a key names (nil when it names none).
    public static func sequence(ofKey key: String) -> UInt64? {
        guard let last = key.split(separator: "-").last else { return nil }
        return UInt64(last.prefix { $0 != "." })
    }
}
