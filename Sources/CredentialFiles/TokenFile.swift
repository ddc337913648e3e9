import Foundation

/// The collector API token, read from a file mounted from a Kubernetes Secret.
///
/// The file is read again whenever its modification time changes, so a rotated Secret takes effect
/// without a restart. The token is never logged or printed.
public final class TokenFile: @unchecked Sendable {
    public let path: String
    private let lock = NSLock()
    private var cached: (token: String, modified: Date?)?

    public init(path: String) {
        self.path = path
    }

    /// The current token, or nil when the file is missing or empty.
    public func token() -> String? {
        let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
        lock.lock()
        defer { lock.unlock() }
        if let cached, cached.modified == modified, modified != nil { return cached.token }
        guard let data = FileManager.default.contents(atPath: path) else {
            cached = nil
            return nil
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { return nil }
        cached = (token, modified)
        return token
    }
}
