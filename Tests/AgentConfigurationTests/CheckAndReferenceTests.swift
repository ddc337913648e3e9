import AgentApp
import AgentConfiguration
import Foundation
import Testing

@Suite struct CheckAndReferenceTests {
    func temporary(_ name: String) -> String {
        NSTemporaryDirectory() + "fathom-\(name)-\(UInt64.random(in: 0...UInt64.max))"
    }

    @Test func checklistPassesAndFailsWithHints() throws {
        let config = temporary("config")
        let token = temporary("token")
        defer {
            try? FileManager.default.removeItem(atPath: config)
            try? FileManager.default.removeItem(atPath: token)
        }
        try """
        cluster: {name: c}
        report: {endpoint: "https://ingest.example.com/v1/reports", tokenFile: "\(token)"}
        """.write(toFile: config, atomically: true, encoding: .utf8)

        var items = ConfigurationCheck.run(path: config, environment: [:])
        #expect(items.map(\.passed) == [true, true, true, false])
        #expect(items[3].hint?.contains("mount the Secret") == true)

        // What `run` would refuse at start though the file is valid: the collector client's
        // settings, checked offline too.
        items = ConfigurationCheck.run(path: config, environment: ["HTTPS_PROXY": "https://proxy.example.com:3128"])
        #expect(items.map(\.passed) == [true, true, false, false])
        #expect(items[2].details == ["HTTPS_PROXY must be an http://host:port proxy URL"], "\(items[2])")
        items = ConfigurationCheck.run(path: config, environment: ["FATHOM_REPORT_CA_FILE": config + "-no-ca.pem"])
        #expect(items[2].passed == false)
        #expect(items[2].details.first?.hasPrefix("report.caFile: cannot read PEM certificates from ") == true)

        try "t0ken\n".write(toFile: token, atomically: true, encoding: .utf8)
        items = ConfigurationCheck.run(path: config, environment: [:])
        #expect(items.allSatisfy { $0.passed })
        #expect(ConfigurationCheck.render(items).hasPrefix("√ configuration file"))

        items = ConfigurationCheck.run(path: config, environment: ["FATHOM_SCRAPE_INTERVAL": "forever"])
        #expect(items.map(\.passed) == [true, false])
        #expect(items[1].details.first?.contains("FATHOM_SCRAPE_INTERVAL (scrape.interval)") == true)

        items = ConfigurationCheck.run(path: config + "-missing", environment: [:])
        #expect(items.map(\.passed) == [false])
        #expect(ConfigurationCheck.render(items).contains("× configuration file"))
    }

    /// The README's configuration table is the code's, so docs and code cannot drift.
    @Test func readmeCarriesTheReference() throws {
        // This file is <repo>/Tests/AgentConfigurationTests/CheckAndReferenceTests.swift.
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        #expect(text.contains(ConfigurationKey.reference), "regenerate with: swift run fathom-agent config-reference")
    }
}
