import AgentApp
import AgentTestSupport
import Foundation
import Testing

/// The built `fathom-agent` executable: it starts, it links no FoundationNetworking or libcurl
/// (the agent's HTTP is AsyncHTTPClient on SwiftNIO), so the container image needs no curl, and it
/// holds none of the stand-ins the demo and the tests use.
@Suite struct BinaryTests {
    static var executable: URL? { BuiltProducts.executable(named: "fathom-agent") }

    @Test func startsAndLinksNoNetworkingFoundation() throws {
        let binary = try #require(Self.executable, "fathom-agent is built with the tests")
        #expect(try runCommand(binary.path, ["version"]).text == "fathom-agent \(AgentVersion.current)\n")
        let libraries = try runCommand("ldd", [binary.path]).text
        #expect(libraries.contains("libFoundationEssentials"), "ldd output looks wrong: \(libraries)")
        #expect(!libraries.contains("FoundationNetworking"))
        #expect(!libraries.contains("libcurl"))
        #expect(!libraries.contains("libxml2"))
    }

    @Test func containsNoStandInSimulationOrDemoCode() throws {
        let binary = try #require(Self.executable, "fathom-agent is built with the tests")
        let symbols = try runCommand("nm", [binary.path]).text
        #expect(symbols.contains("AgentApp"), "nm must show the agent's own symbols for this check to mean anything")
        for module in ["LocalServers", "ProxySimulation", "FathomDemo", "AgentTestSupport", "FakeKubernetesAPI"] {
            #expect(!symbols.contains(module), "fathom-agent contains \(module) code")
        }
    }
}
