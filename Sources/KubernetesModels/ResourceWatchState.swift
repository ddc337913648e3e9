/// Whether the agent sees a watched resource: each resource's reflector says, and the agent
/// reports it (batches, `/metrics`, `/readyz`, the log) and uses what synced.
public enum ResourceWatchState: String, Sendable, Equatable, CaseIterable {
    /// The first list is not complete yet.
    case starting
    /// Listed, and watched.
    case synced
    /// The agent's RBAC lacks a verb on it (403).
    case forbidden
    /// The API server refuses the agent's credentials (401).
    case unauthorized
    /// A custom resource whose CRD is not installed.
    case notInstalled = "not_installed"
    /// Lists or watches fail otherwise; retried with backoff.
    case failing

    /// The state a failed request of the reflector puts it in, from the error's bounded reason.
    public init(failureReason reason: String) {
        switch reason {
        case "forbidden": self = .forbidden
        case "unauthorized": self = .unauthorized
        case "not_found": self = .notInstalled
        default: self = .failing
        }
    }

    /// Whether the agent knows where it stands with the resource (synced, or known unavailable),
    /// as opposed to still waiting for its first answer, or retrying.
    public var isSettled: Bool { self != .starting && self != .failing }
}
