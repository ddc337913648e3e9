import MeshHealth
import ReportProtos

extension Fathom_Agent_V1_MeshCheck {
    /// The subjects a batch carries per check: every batch carries every check, so a check that
    /// names thousands of pods must not make every batch large (`/debug/mesh` has them all).
    static let maxSubjects = 100

    /// A check as the protocol carries it, its texts and subjects capped.
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
        subjects = Array(check.subjects.prefix(Self.maxSubjects))
        subjectsTotal = UInt32(clamping: check.subjects.count)
    }
}
