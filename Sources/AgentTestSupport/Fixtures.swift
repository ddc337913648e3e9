import Foundation

/// The real linkerd-proxy pages in `../shared/fixtures/linkerd/` (see SOURCES.md there).
///
/// The folder sits beside the repository in development and CI; `FATHOM_FIXTURES` overrides it.
public enum Fixtures {
    /// Absolute path of the fixture folder.
    public static var directory: String {
        if let override = ProcessInfo.processInfo.environment["FATHOM_FIXTURES"], !override.isEmpty {
            return override
        }
        // This file is <repo>/Sources/AgentTestSupport/Fixtures.swift.
        let repository = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return repository.deletingLastPathComponent().appendingPathComponent("shared/fixtures/linkerd").path
    }

    /// Names of every page in the folder (`*.txt`), sorted.
    public static func pageNames() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasSuffix(".txt") }
            .sorted()
    }

    /// The bytes of one page.
    public static func bytes(_ name: String) throws -> [UInt8] {
        let path = directory + "/" + name
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FixtureError(path: path)
        }
        return [UInt8](data)
    }
}

/// A fixture that could not be read.
public struct FixtureError: Error, CustomStringConvertible {
    public var path: String
    public var description: String { "cannot read fixture \(path)" }
}
