import MeshHealth

/// What `/debug/mesh` serves: the mesh's health checks as the last window closed.
public struct DebugMesh: Codable, Sendable, Equatable {
    public var checks: [MeshCheck]

    public init(checks: [MeshCheck]) {
        self.checks = checks
    }
}

/// `fathom-agent mesh`: a running agent's checks, printed as `linkerd check` prints its own
/// (one block per category, √ passed, ‼ warning, × error, then what was found and the hint).
public enum MeshReport {
    /// How many of a check's subjects are printed before "and N more" (all are in `/debug/mesh`).
    public static let subjectsShown = 20

    /// The report and the worst status among the checks; nil status when there are none yet.
    public static func render(_ checks: [MeshCheck]) -> (text: String, worst: CheckStatus?) {
        guard !checks.isEmpty else {
            return ("no checks yet: the agent makes them as its first window closes", nil)
        }
        var lines: [String] = []
        var categories: [String] = []
        for check in checks where !categories.contains(check.category) { categories.append(check.category) }
        for category in categories {
            if !lines.isEmpty { lines.append("") }
            lines.append(category)
            lines.append(String(repeating: "-", count: category.count))
            for check in checks where check.category == category {
                lines.append("\(symbol(check.status)) \(check.title)")
                guard check.status != .ok else { continue }
                if !check.message.isEmpty { lines.append("    \(check.message)") }
                for subject in check.subjects.prefix(subjectsShown) { lines.append("        * \(subject)") }
                if check.subjects.count > subjectsShown {
                    lines.append("        and \(check.subjects.count - subjectsShown) more (all in /debug/mesh)")
                }
                if !check.hint.isEmpty { lines.append("    hint: \(check.hint)") }
            }
        }
        let worst = checks.map(\.status).max() ?? .ok
        lines.append("")
        lines.append("Status check results are \(symbol(worst))")
        return (lines.joined(separator: "\n"), worst)
    }

    static func symbol(_ status: CheckStatus) -> String {
        switch status {
        case .ok: "√"
        case .warning: "‼"
        case .error: "×"
        }
    }

    /// Reads the agent at `agent`.
    public static func fetch(agent: String, timeout: Double = 5) async throws -> [MeshCheck] {
        try await AdminClient.withClient { client in
            try await AdminClient.fetch(
                DebugMesh.self, path: "debug/mesh", agent: agent, client: client, timeout: timeout
            )
            .checks
        }
    }
}
