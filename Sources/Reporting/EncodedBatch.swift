/// A report batch ready to send: gzip-compressed protobuf plus what identifies it.
public struct EncodedBatch: Sendable, Equatable {
    /// `<instance id>-<sequence>`: the same on every retry, so the collector can de-duplicate.
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
}
