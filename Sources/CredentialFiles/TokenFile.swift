/// A bearer token read from a file: the collector's API token mounted from a Secret, or a
/// ServiceAccount token (projected, rotated about every hour).
///
/// The file is a `WatchedFile`: a token rotated however the file was replaced is used by the next
/// request. The token is never logged or printed.
public final class TokenFile: Sendable {
    public let file: WatchedFile
    public var path: String { file.path }

    /// - Parameter onChange: called with the path when the token changed (not for the first read).
    public init(
        path: String, maxAge: Double = 60, now: @escaping @Sendable () -> Double = WatchedFile.monotonicSeconds,
        onChange: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        file = WatchedFile(path: path, maxAge: maxAge, now: now, onChange: onChange)
    }

    /// The current token (surrounding whitespace trimmed), or nil when the file is missing or empty.
    public func token() -> String? {
        guard let bytes = file.content()?.bytes else { return nil }
        let token = Self.trimmed(bytes)
        return token.isEmpty ? nil : token
    }

    /// Makes the next `token()` read the file: the server refused the token last sent (401).
    public func invalidate() { file.invalidate() }

    /// The server refused `sent`: reads the file again now, and says whether it holds another
    /// token (so the refused request may go again at once).
    public func refused(_ sent: String?) -> Bool {
        invalidate()
        return token() != sent
    }

    static func trimmed(_ bytes: [UInt8]) -> String {
        let isSpace = { (byte: UInt8) in byte == 0x20 || (0x09...0x0D).contains(byte) }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}
