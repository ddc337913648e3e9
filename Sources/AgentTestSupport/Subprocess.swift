import Foundation

/// What a finished command left: its exit status and everything it printed.
public struct CommandResult: Sendable {
    public var status: Int32
    public var output: Data
    public var errors: String

    public var text: String { String(decoding: output, as: UTF8.self) }
}

/// Runs a command to its end (tests use openssl, ldd, python3 and the built agent). A bare name
/// is looked up on the PATH.
public func runCommand(_ executable: String, _ arguments: [String]) throws -> CommandResult {
    let process = Process()
    if executable.hasPrefix("/") {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
    } else {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
    }
    let output = Pipe()
    // Errors go to a file, so a command that writes much to both streams cannot block on either.
    let errorsFile = FileManager.default.temporaryDirectory.appendingPathComponent("fathom-cmd-\(UUID().uuidString)")
    guard FileManager.default.createFile(atPath: errorsFile.path, contents: nil) else {
        throw CocoaError(.fileWriteUnknown)
    }
    let errors = try FileHandle(forWritingTo: errorsFile)
    defer { try? FileManager.default.removeItem(at: errorsFile) }
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try errors.close()
    let errorText = (try? String(contentsOf: errorsFile, encoding: .utf8)) ?? ""
    return CommandResult(status: process.terminationStatus, output: data, errors: errorText)
}
