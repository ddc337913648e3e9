/// What `/readyz` answers.
public enum Readiness: Sendable, Equatable {
    /// Ready; `unwatched` names the resources the agent may not read (`daemonsets (forbidden)`),
    /// whose data the batches lack.
    case ready(unwatched: [String])
    case notReady(String)

    /// The status and body of the `/readyz` answer.
    public var answer: (status: Int, body: String) {
        switch self {
        case .ready(let unwatched) where unwatched.isEmpty: (200, "ready\n")
        case .ready(let unwatched): (200, "ready; not watched: \(unwatched.joined(separator: ", "))\n")
        case .notReady(let reason): (503, "not ready: \(reason)\n")
        }
    }
}
