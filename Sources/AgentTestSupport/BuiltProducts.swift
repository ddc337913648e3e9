import Foundation

/// The package's built executables, found beside the running test bundle in the same build folder
/// (`swift test` builds every product first).
public enum BuiltProducts {
    public static func executable(named name: String) -> URL? {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        return nil
    }
}
