import Logging
import Synchronization

/// Log lines kept for a test to read.
public final class LogStore: Sendable {
    public let lines = Mutex<[(message: String, metadata: [String: String])]>([])

    public init() {}

    /// How many lines say `message` with metadata that `matches`.
    public func count(_ message: String, where matches: ([String: String]) -> Bool = { _ in true }) -> Int {
        lines.withLock { $0.filter { $0.message == message && matches($0.metadata) }.count }
    }

    /// A logger at `level` writing into this store.
    public func logger(_ label: String, level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: label) { _ in CapturingLogHandler(store: self) }
        logger.logLevel = level
        return logger
    }
}

/// A LogHandler writing into a `LogStore`.
public struct CapturingLogHandler: LogHandler {
    public let store: LogStore
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info

    public init(store: LogStore) {
        self.store = store
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        store.lines.withLock { $0.append(("\(event.message)", merged.mapValues { "\($0)" })) }
    }
}
