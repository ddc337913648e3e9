/// Which namespaces the agent covers: include and exclude lists of names, where a trailing `*`
/// matches a prefix (`team-*`). Exclusion wins; an empty include list means all.
public struct NamespaceFilter: Sendable, Equatable {
    public var include: [String]
    public var exclude: [String]

    public init(include: [String] = [], exclude: [String] = []) {
        self.include = include
        self.exclude = exclude
    }

    public static let all = NamespaceFilter()

    public func covers(_ namespace: String) -> Bool {
        if exclude.contains(where: { Self.matches($0, namespace) }) { return false }
        return include.isEmpty || include.contains { Self.matches($0, namespace) }
    }

    static func matches(_ pattern: String, _ name: String) -> Bool {
        pattern.hasSuffix("*") ? name.hasPrefix(pattern.dropLast()) : pattern == name
    }
}
