import AgentConfiguration
import Testing

/// `report.endpoint` is parsed strictly when the file is loaded, so a URL that can never work is
/// an error at start and in `check`, not a retry loop counted as `other`.
@Suite struct EndpointTests {
    static func load(_ endpoint: String) throws -> AgentConfiguration {
        try ConfigurationLoader.load(yaml: "cluster: {name: prod}\nreport: {endpoint: '\(endpoint)'}")
    }

    @Test(arguments: [
        "https://ingest.example.com/v1/reports", "http://collector.observability.svc:8080/v1?tenant=a",
        "https://[::1]:8443/v1", "https://10.0.0.7", "HTTPS://Ingest.Example.com:443",
    ])
    func usableURLsAreAccepted(endpoint: String) throws {
        #expect(try Self.load(endpoint).reportEndpoint == endpoint)
    }

    @Test(arguments: [
        ("https://[::1/x", "closing ]"), ("https://[fe80::zz]/v1", "no IPv6 address"),
        ("https://example.com:99999/v1", "port \"99999\""), ("https://example.com:0", "port \"0\""),
        ("https://example.com:x/v1", "port \"x\""), ("https:///v1", "no valid host name"),
        ("https://exa mple.com", "spaces"), ("https://example.com/v1#part", "fragment"),
        ("ftp://example.com", "http:// or https://"), ("https://ex_ample.com", "no valid host name"),
    ])
    func unusableURLsAreNamed(endpoint: String, reason: String) throws {
        do {
            _ = try Self.load(endpoint)
            Issue.record("\(endpoint) was accepted")
        } catch let error as ConfigurationError {
            let message = error.problems.first { $0.key == "report.endpoint" }?.message ?? ""
            #expect(message.contains(reason), "\(endpoint): \(message)")
        }
    }

    /// A password in the URL would be logged with it: refused, and the message does not repeat it.
    @Test func credentialsInTheURLAreRefusedWithoutRepeatingThem() throws {
        do {
            _ = try Self.load("https://fathom:s3cret-pass@ingest.example.com/v1")
            Issue.record("a URL with credentials was accepted")
        } catch let error as ConfigurationError {
            let description = error.problems.map(\.description).joined(separator: "; ")
            #expect(description.contains("must not carry credentials"))
            #expect(!description.contains("s3cret-pass"))
        }
    }
}

/// YAML aliases are allowed, but a file that expands past `maxExpandedValues` through them (a
/// "billion laughs" of a few hundred bytes, which fits in a ConfigMap) is refused before its
/// values are built.
@Suite struct AliasExpansionTests {
    @Test func anAliasBombIsRefusedAndNamed() throws {
        var yaml =
            "cluster: {name: prod}\nreport: {endpoint: 'https://ingest.example.com'}\na0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        for level in 1...8 {
            let previous = Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ")
            yaml += "a\(level): &a\(level) [\(previous)]\n"
        }
        #expect(yaml.utf8.count < 1_000)
        do throws(ConfigurationError) {
            _ = try ConfigurationLoader.load(yaml: yaml)
            Issue.record("an alias bomb was accepted")
        } catch {
            #expect(error.problems.map(\.message).contains { $0.contains("through YAML aliases") })
        }
    }

    @Test func ordinaryAliasesStillWork() throws {
        let yaml = """
            cluster: {name: prod}
            report: {endpoint: 'https://ingest.example.com'}
            scrape:
              namespaces:
                exclude: &system [kube-system, linkerd]
            """
        let configuration = try ConfigurationLoader.load(yaml: yaml)
        #expect(configuration.clusterName == "prod")
    }
}
