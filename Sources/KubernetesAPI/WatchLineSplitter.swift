/// Splits a watch stream, which arrives in chunks of any size, into newline-delimited JSON events,
/// refusing any event longer than a bound so a broken server cannot make the agent buffer forever.
public struct WatchLineSplitter: Sendable {
    public let maxLineBytes: Int
    private var pending: [UInt8] = []
    private var start = 0
    /// `pending[start..<scanned]` holds no newline: each byte is searched once, so a long line
    /// arriving in many small chunks costs its length, not its length squared.
    private var scanned = 0

    public init(maxLineBytes: Int) {
        self.maxLineBytes = maxLineBytes
    }

    public mutating func append<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws(KubernetesAPIError) {
        if start > 0 && start == pending.count {
            pending.removeAll(keepingCapacity: true)
            start = 0
            scanned = 0
        }
        pending.append(contentsOf: bytes)
        // Only an unfinished line can exceed the bound; complete lines are checked in nextLine.
        if pending.count - start > maxLineBytes, firstNewline() == nil {
            throw .lineTooLong(limit: maxLineBytes)
        }
    }

    /// The first newline of the unfinished data, searching only bytes not searched before.
    private mutating func firstNewline() -> Int? {
        if let newline = pending[max(scanned, start)...].firstIndex(of: UInt8(ascii: "\n")) {
            scanned = newline
            return newline
        }
        scanned = pending.count
        return nil
    }

    /// The next complete line without its newline, skipping empty lines; nil until one is complete.
    public mutating func nextLine() throws(KubernetesAPIError) -> ArraySlice<UInt8>? {
        while let newline = firstNewline() {
            let line = pending[start..<newline]
            start = newline + 1
            scanned = start
            if line.count > maxLineBytes { throw .lineTooLong(limit: maxLineBytes) }
            if !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { return line }
        }
        if start > 0 {
            pending.removeFirst(start)
            scanned -= start
            start = 0
        }
        return nil
    }

    /// Bytes of an unfinished line (a stream that ended mid-event).
    public var unfinishedBytes: Int { pending.count - start }
}
