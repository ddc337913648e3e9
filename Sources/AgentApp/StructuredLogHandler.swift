import Foundation
import Logging
import Synchronization

/// The agent's log backend: one line per event on standard error, as JSON (for log pipelines) or
/// logfmt (for people), with the message constant and the data in fields, as swift-log intends.
public struct StructuredLogHandler: LogHandler {
    public enum Format: String, Sendable {
        case json
        case logfmt
    }

    public var metadata: Logger.Metadata = [:]
    /// Read from the shared control on every event, so a configuration reload changes the level
    /// of every logger at once.
    public var logLevel: Logger.Level {
        get { control.level }
        set { control.level = newValue }
    }
    private let label: String
    private let format: Format
    private let control: LogLevelControl
    private static let output = Mutex(())

    public init(label: String, format: Format, control: LogLevelControl) {
        self.label = label
        self.format = format
        self.control = control
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("time", Date().ISO8601Format(.iso8601.time(includingFractionalSeconds: true).year().month().day())),
            ("level", event.level.rawValue), ("message", "\(event.message)"), ("logger", label),
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for key in merged.keys.sorted() { fields.append((key, "\(merged[key]!)")) }
        let line: String
        switch format {
        case .json:
            line = "{" + fields.map { "\(Self.jsonString($0)):\(Self.jsonString($1))" }.joined(separator: ",") + "}"
        case .logfmt:
            line = fields.map { "\($0)=\(Self.logfmtValue($1))" }.joined(separator: " ")
        }
        Self.output.withLock { _ in FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func logfmtValue(_ text: String) -> String {
        let needsQuotes = text.isEmpty || text.contains { $0 == " " || $0 == "=" || $0 == "\"" || $0.isNewline }
        return needsQuotes ? jsonString(text) : text
    }
}

/// The process-wide log level, shared by every `StructuredLogHandler` and changed by reloads.
public final class LogLevelControl: Sendable {
    private let current: Mutex<Logger.Level>

    public init(_ level: Logger.Level) {
        current = Mutex(level)
    }

    public var level: Logger.Level {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
}
