import AgentApp
import AgentConfiguration
import Testing

/// Which proxy an upload goes through, as `run` and `check` decide it.
@Suite struct CollectorClientTests {
    func configuration(_ endpoint: String, proxy: String? = nil, noProxy: [String] = []) -> AgentConfiguration {
        var configuration = AgentConfiguration()
        configuration.reportEndpoint = endpoint
        configuration.collectorProxy = proxy
        configuration.noProxy = noProxy
        return configuration
    }

    @Test func theSchemeChoosesTheVariableAndTheKeyWins() throws {
        let environment = ["HTTPS_PROXY": "http://secure:3128", "http_proxy": "plain:8080"]
        let secure = try CollectorClient.proxy(
            for: configuration("https://ingest.example.com/v1"), environment: environment)
        #expect(secure == .init(host: "secure", port: 3128, username: nil, password: nil, source: "HTTPS_PROXY"))
        let plain = try CollectorClient.proxy(
            for: configuration("http://ingest.example.com/v1"), environment: environment)
        #expect(plain?.host == "plain" && plain?.port == 8080 && plain?.source == "http_proxy")
        let keyed = try CollectorClient.proxy(
            for: configuration("https://ingest.example.com/v1", proxy: "http://u:p%40ss@gateway:3129"),
            environment: environment)
        #expect(keyed == .init(host: "gateway", port: 3129, username: "u", password: "p@ss", source: "report.proxy"))
        #expect(try CollectorClient.proxy(for: configuration("https://ingest.example.com"), environment: [:]) == nil)
    }

    @Test(arguments: [
        ("ingest.example.com", "example.com", true), ("ingest.example.com", ".example.com", true),
        ("example.com", "example.com", true), ("badexample.com", "example.com", false),
        ("ingest.example.com", "other.com, *", true), ("ingest.example.com", "ingest.example.com:443", true),
        ("10.1.2.3", "10.1.2.3", true), ("[fd00::1]", "[fd00::1]", true), ("ingest.example.com", "", false),
    ])
    func noProxyMatchesHostsAndDomains(host: String, noProxy: String, bypassed: Bool) {
        let entries = noProxy.split(separator: ",").map(String.init)
        #expect(CollectorClient.bypasses(host: host, noProxy: entries) == bypassed)
    }

    @Test func noProxyAndLoopbackGoDirect() throws {
        let environment = ["HTTPS_PROXY": "http://secure:3128", "NO_PROXY": "internal.example.com"]
        #expect(
            try CollectorClient.proxy(for: configuration("https://a.internal.example.com"), environment: environment)
                == nil)
        #expect(
            try CollectorClient.proxy(for: configuration("https://127.0.0.1:8443"), environment: environment) == nil)
        #expect(try CollectorClient.proxy(for: configuration("https://[::1]:8443"), environment: environment) == nil)
        // The key replaces NO_PROXY.
        let keyed = configuration("https://a.internal.example.com", noProxy: ["other.example.com"])
        #expect(try CollectorClient.proxy(for: keyed, environment: environment)?.host == "secure")
    }

    @Test func anUnusableProxyIsNamedWithoutItsPassword() {
        do {
            _ = try CollectorClient.proxy(
                for: configuration("https://ingest.example.com", proxy: "socks5://u:hunter2@gateway:1080"),
                environment: [:])
            Issue.record("a SOCKS proxy URL was accepted")
        } catch {
            #expect("\(error)".contains("report.proxy must be an http://host:port proxy URL"))
            #expect(!"\(error)".contains("hunter2"))
        }
    }
}
