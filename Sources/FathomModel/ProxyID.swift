/// Identifies one proxy (one pod's linkerd-proxy) to the scraper and the aggregator: the agent uses
/// `namespace/pod`.
public struct ProxyID: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String

    public init(_ rawValue: String) { self.rawValue = rawValue }

    public var description: String { rawValue }
}
