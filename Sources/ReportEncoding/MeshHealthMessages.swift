import MeshHealth
import ReportProtos

extension Fathom_Agent_V1_MeshCheck {
    /// A check as the protocol carries it; the texts are capped so a check naming thousands of
    /// pods still fits a batch (the subjects are not: the complete list is the point).
    init(_ check: MeshCheck) {
        self.init()
        id = check.id
        category = check.category
        title = check.title
        status =
            switch check.status {
            case .ok: .ok
            case .warning: .warning
            case .error: .error
            }
        message = String(check.message.prefix(1_000))
        hint = String(check.hint.prefix(1_000))
        subjects = check.subjects
    }
}
