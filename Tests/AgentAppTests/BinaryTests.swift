import AgentApp
import AgentTestSupport
import Foundation
import Testing

/// The built `fathom-agent` executable: it starts, and it links no FoundationNetworking or
/// libcurl (the agent's HTTP is AsyncHTTPClient on SwiftNIO), so the container image needs no curl.
@Suite struct BinaryTests {
    /// The executable next to the test bundle, in the same build folder.
    static var executable: URL? {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("fathom-agent")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        return nil
    }

    @Test func startsAndLinksNoNetworkingFoundation() throws {
        let binary = try #require(Self.executable, "fathom-agent is built with the tests")
        #expect(try runCommand(binary.path, ["version"]).text == "fathom-agent \(AgentVersion.current)\n")
        let libraries = try runCommand("ldd", [binary.path]).text
        #expect(libraries.contains("libFoundationEssentials"), "ldd output looks wrong: \(libraries)")
        #expect(!libraries.contains("FoundationNetworking"))
        #expect(!libraries.contains("libcurl"))
        #expect(!libraries.contains("libxml2"))
    }
}
