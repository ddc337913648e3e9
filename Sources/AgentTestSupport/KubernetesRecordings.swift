import Foundation

/// The watch streams recorded from a real kube-apiserver and kube-controller-manager v1.28.7 in
/// `../shared/fixtures/kubernetes/` (see SOURCES.md there): per scenario, each resource's LIST
/// (`<resource>.list.json`), the WATCH from it (`<resource>.jsonl`, one event per line) and when
/// each line arrived (`<resource>.recv.txt`, seconds since the recording started).
public enum KubernetesRecordings {
    /// Absolute path of the recordings folder (`FATHOM_KUBERNETES_FIXTURES` overrides it).
    public static var directory: String {
        if let override = ProcessInfo.processInfo.environment["FATHOM_KUBERNETES_FIXTURES"], !override.isEmpty {
            return override
        }
        let repository = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return repository.deletingLastPathComponent().appendingPathComponent("shared/fixtures/kubernetes").path
    }

    /// One resource of one scenario: its list, and its watch lines with their arrival times.
    public struct Stream: Sendable {
        public var list: Data
        public var events: [(line: Data, seconds: Double)]
    }

    /// The recorded stream of `resource` (a plural: `pods`, `deployments`, ...) in `scenario`.
    public static func stream(_ scenario: String, _ resource: String) throws -> Stream {
        let base = "\(directory)/\(scenario)/\(resource)"
        guard let list = FileManager.default.contents(atPath: base + ".list.json") else {
            throw FixtureError(path: base + ".list.json")
        }
        let lines = (FileManager.default.contents(atPath: base + ".jsonl") ?? Data())
            .split(separator: UInt8(ascii: "\n")).map { Data($0) }
        let times = String(decoding: FileManager.default.contents(atPath: base + ".recv.txt") ?? Data(), as: UTF8.self)
            .split(whereSeparator: \.isNewline).compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard lines.count == times.count else {
            throw FixtureError(path: base + ".recv.txt (\(times.count) times for \(lines.count) lines)")
        }
        return Stream(list: list, events: Array(zip(lines, times)))
    }
}
