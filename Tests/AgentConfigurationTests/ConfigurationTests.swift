import AgentConfiguration
import Foundation
import Inventory
import Testing

@Suite struct ConfigurationTests {
    static let minimal = """
        cluster:
          name: prod-eu
        report:
          endpoint: https://ingest.example.com/v1/reports
        """

    @Test func minimalFileGetsDefaults() throws {
        let configuration = try ConfigurationLoader.load(yaml: Self.minimal)
        var expected = AgentConfiguration()
        expected.clusterName = "prod-eu"
        expected.agentID = "fathom-agent"
        expected.reportEndpoint = "https://ingest.example.com/v1/reports"
        expected.tokenFile = "/var/run/secrets/fathom/token"
        #expect(configuration == expected)
        #expect(configuration.spoolDirectory == nil)
    }

    @Test func everyKeyIsRead() throws {
        let yaml = """
            cluster: {name: c1}
            agent: {id: fathom-prod}
            scrape:
              interval: 15s
              timeout: 2500ms
              maxPageBytes: 8Mi
              maxConcurrent: 8
              namespaces:
                include: [shop, payments]
                exclude: [kube-system]
            report:
              endpoint: http://collector.fathom.svc:8080/v1/reports
              tokenFile: /etc/fathom/token
              interval: 1m
              requestTimeout: 20s
              queueMaxBytes: 128Mi
              spool: {directory: /var/spool/fathom, maxBytes: 1Gi}
            aggregation: {maxRoutesPerWorkload: 200, maxSeriesPerProxy: 5000}
            admin: {port: 9100}
            logging: {level: debug, format: logfmt}
            """
        let configuration = try ConfigurationLoader.load(yaml: yaml)
        #expect(configuration.scrapeInterval == 15)
        #expect(configuration.scrapeTimeout == 2.5)
        #expect(configuration.maxPageBytes == 8 << 20)
        #expect(configuration.maxConcurrentScrapes == 8)
        #expect(configuration.includeNamespaces == ["shop", "payments"])
        #expect(configuration.excludeNamespaces == ["kube-system"])
        #expect(configuration.reportInterval == 60)
        #expect(configuration.requestTimeout == 20)
        #expect(configuration.queueMaxBytes == 128 << 20)
        #expect(configuration.spoolDirectory == "/var/spool/fathom")
        #expect(configuration.spoolMaxBytes == 1 << 30)
        #expect(configuration.maxRoutesPerWorkload == 200)
        #expect(configuration.maxSeriesPerProxy == 5_000)
        #expect(configuration.adminPort == 9_100)
        #expect(configuration.logLevel == "debug")
        #expect(configuration.logFormat == "logfmt")
        #expect(configuration.agentID == "fathom-prod")
        let filter = NamespaceFilter(include: configuration.includeNamespaces, exclude: configuration.excludeNamespaces)
        #expect(filter.covers("shop"))
        #expect(!filter.covers("kube-system"))
        #expect(!filter.covers("other"))
    }

    @Test func everyProblemIsReportedAtOnce() {
        let yaml = """
            cluster: {}
            scrape:
              intervall: 10s
              timeout: soon
              maxConcurrent: 0
              maxPageBytes: 12 apples
            report:
              endpoint: ftp://example.com
            logging: {level: loud}
            extra: 1
            """
        #expect(
            throws: ConfigurationError(problems: [
                ConfigurationProblem(key: "extra", message: "unknown key"),
                ConfigurationProblem(key: "scrape.intervall", message: "unknown key (did you mean scrape.interval?)"),
                ConfigurationProblem(key: "cluster.name", message: "required"),
                ConfigurationProblem(
                    key: "scrape.timeout", message: "must be a duration such as 10s, 1m30s or 500ms, got \"soon\""),
                ConfigurationProblem(
                    key: "scrape.maxPageBytes", message: "must be a size such as 64Mi, 1Gi or 500000, got \"12 apples\""
                ),
                ConfigurationProblem(key: "scrape.maxConcurrent", message: "must be between 1 and 1024, got 0"),
                ConfigurationProblem(
                    key: "report.endpoint", message: "must be an http:// or https:// URL, got \"ftp://example.com\""),
                ConfigurationProblem(
                    key: "logging.level",
                    message: "must be one of trace, debug, info, notice, warning, error, got \"loud\""),
            ])
        ) {
            try ConfigurationLoader.load(yaml: yaml)
        }
    }

    /// Durations take days, as Prometheus writes them; the trust anchors' threshold is one.
    @Test func theTrustAnchorThresholdTakesDays() throws {
        #expect(try ConfigurationLoader.load(yaml: Self.minimal).trustAnchorExpiryWarning == 60 * 86_400)
        let set = try ConfigurationLoader.load(yaml: Self.minimal + "\nlinkerd: {trustAnchorExpiryWarning: 1d12h}")
        #expect(set.trustAnchorExpiryWarning == 36 * 3_600)
        let refused = #expect(throws: ConfigurationError.self, "a threshold under an hour is refused") {
            try ConfigurationLoader.load(yaml: Self.minimal + "\nlinkerd: {trustAnchorExpiryWarning: 30m}")
        }
        #expect(refused?.problems.first?.key == "linkerd.trustAnchorExpiryWarning")
    }

    @Test func environmentOverridesTheFile() throws {
        let configuration = try ConfigurationLoader.load(
            yaml: Self.minimal + "\nscrape: {interval: 10s}",
            environment: [
                "FATHOM_SCRAPE_INTERVAL": "30s", "FATHOM_SCRAPE_NAMESPACES_EXCLUDE": "kube-system, linkerd",
                "FATHOM_CLUSTER_NAME": "from-env", "UNRELATED": "x",
            ])
        #expect(configuration.scrapeInterval == 30)
        #expect(configuration.excludeNamespaces == ["kube-system", "linkerd"])
        #expect(configuration.clusterName == "from-env")
    }

    @Test func badEnvironmentValueNamesTheVariable() {
        #expect(
            throws: ConfigurationError(problems: [
                ConfigurationProblem(
                    key: "FATHOM_ADMIN_PORT (admin.port)", message: "must be a whole number, got \"ninety\"")
            ])
        ) {
            try ConfigurationLoader.load(yaml: Self.minimal, environment: ["FATHOM_ADMIN_PORT": "ninety"])
        }
    }

    @Test func timeoutMustBeBelowInterval() {
        #expect(
            throws: ConfigurationError(problems: [
                ConfigurationProblem(key: "scrape.timeout", message: "must be below scrape.interval (10.0s)")
            ])
        ) {
            try ConfigurationLoader.load(yaml: Self.minimal + "\nscrape: {timeout: 10s}")
        }
    }

    /// A gzip page of the largest size is held twice while inflated: a budget below that could
    /// never fetch it.
    @Test func thePageBudgetHoldsTheLargestPageTwice() throws {
        #expect(
            throws: ConfigurationError(problems: [
                ConfigurationProblem(
                    key: "scrape.maxBytesInFlight",
                    message: "must be at least twice scrape.maxPageBytes (16777216 bytes)")
            ])
        ) {
            try ConfigurationLoader.load(yaml: Self.minimal + "\nscrape: {maxBytesInFlight: 31Mi}")
        }
        let configuration = try ConfigurationLoader.load(
            yaml: Self.minimal + "\nscrape: {maxBytesInFlight: 32Mi}")
        #expect(configuration.maxBytesInFlight == 32 << 20)
    }

    @Test func invalidYAMLAndWrongShapes() {
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.load(yaml: "cluster: [unclosed") }
        #expect(
            throws: ConfigurationError(problems: [
                ConfigurationProblem(key: "(file)", message: "must be a mapping of keys to values"),
                ConfigurationProblem(key: "cluster.name", message: "required"),
                ConfigurationProblem(key: "report.endpoint", message: "required"),
            ])
        ) {
            try ConfigurationLoader.load(yaml: "- just\n- a list")
        }
        #expect(
            throws: ConfigurationError(problems: [ConfigurationProblem(key: "scrape", message: "must be a mapping")])
        ) {
            try ConfigurationLoader.load(yaml: Self.minimal + "\nscrape: 5")
        }
    }

    @Test func emptySectionsAreFine() throws {
        #expect(try ConfigurationLoader.load(yaml: Self.minimal + "\nscrape:\naggregation:").scrapeInterval == 10)
    }

    @Test func referenceListsEveryKeyWithItsVariable() {
        let reference = ConfigurationKey.reference
        for key in ConfigurationKey.all {
            #expect(reference.contains("`\(key.path)`"))
            #expect(reference.contains("`\(key.environmentVariable)`"))
        }
        let token = ConfigurationKey.all.first { $0.path == "report.tokenFile" }
        #expect(token?.environmentVariable == "FATHOM_REPORT_TOKEN_FILE")
        #expect(reference.contains("| `cluster.name` | `FATHOM_CLUSTER_NAME` | string | required |"))
    }

    @Test func errorDescriptionListsProblems() {
        let error = ConfigurationError(problems: [
            ConfigurationProblem(key: "a", message: "x"), ConfigurationProblem(key: "b", message: "y"),
        ])
        #expect(error.description == "invalid configuration (2 problems):\n  - a: x\n  - b: y")
    }
}

@Suite struct ConfigurationChangeTests {
    @Test func changedKeysNameEveryDifferenceAndOnlyThose() throws {
        let base = try ConfigurationLoader.load(
            yaml: "cluster: {name: a}\nreport: {endpoint: 'https://x.example/v1'}")
        var changed = base
        changed.scrapeInterval = 20
        changed.excludeNamespaces = ["kube-system"]
        changed.adminPort = 9100
        #expect(changed.changedKeys(from: base) == ["scrape.interval", "scrape.namespaces.exclude", "admin.port"])
        #expect(base.changedKeys(from: base).isEmpty)
    }

    @Test func everyKeyIsCompared() {
        // A key missing from changedKeys would make a reload silently ignore it.
        var probe = AgentConfiguration()
        let blank = AgentConfiguration()
        probe.clusterName = "x"
        probe.agentID = "x"
        probe.scrapeInterval = 1
        probe.scrapeTimeout = 1
        probe.maxPageBytes = 1
        probe.maxConcurrentScrapes = 1
        probe.maxBytesInFlight = 1
        probe.includeNamespaces = ["x"]
        probe.excludeNamespaces = ["x"]
        probe.controlPlaneNamespace = "x"
        probe.nodeName = "x"
        probe.kubeconfig = "x"
        probe.minWatchTimeout = 1
        probe.inventorySnapshotEvery = 1
        probe.reportEndpoint = "x"
        probe.tokenFile = "x"
        probe.reportInterval = 1
        probe.trustAnchorExpiryWarning = 1
        probe.requestTimeout = 1
        probe.queueMaxBytes = 1
        probe.spoolDirectory = "x"
        probe.spoolMaxBytes = 1
        probe.collectorCAFile = "x"
        probe.collectorProxy = "x"
        probe.noProxy = ["x"]
        probe.maxRoutesPerWorkload = 1
        probe.maxSeriesPerProxy = 1
        probe.adminAddress = "x"
        probe.adminPort = 1
        probe.shutdownGracePeriod = 1
        probe.logLevel = "x"
        probe.logFormat = "x"
        #expect(Set(probe.changedKeys(from: blank)) == Set(ConfigurationKey.all.map(\.path)))
        // And every field is a row of the table (a field without one would never be loaded).
        #expect(Mirror(reflecting: blank).children.count == ConfigurationKey.all.count)
    }

    @Test func defaultsComeFromTheTable() throws {
        let defaults = AgentConfiguration()
        #expect(defaults.scrapeInterval == 10 && defaults.reportInterval == 30 && defaults.adminPort == 9_990)
        #expect(defaults.adminAddress == "0.0.0.0" && defaults.shutdownGracePeriod == 20)
        #expect(defaults.spoolDirectory == nil && defaults.maxPageBytes == 16 << 20 && defaults.logLevel == "info")
        // Loading a file that sets only the required keys gives the same defaults.
        var loaded = try ConfigurationLoader.load(
            yaml: "cluster: {name: a}\nreport: {endpoint: 'https://x.example/v1'}")
        loaded.clusterName = ""
        loaded.reportEndpoint = ""
        #expect(loaded == defaults)
    }

    @Test func reloadAppliesLiveKeysWhereTheTableSaysAndHoldsTheRest() throws {
        let running = try ConfigurationLoader.load(
            yaml: "cluster: {name: a}\nreport: {endpoint: 'https://x.example/v1'}")
        let loaded = try ConfigurationLoader.load(
            yaml: """
                cluster: {name: b}
                report: {endpoint: 'https://x.example/v1', interval: 45s}
                scrape: {interval: 20s, maxConcurrent: 8, namespaces: {exclude: [kube-system]}}
                logging: {level: debug}
                admin: {port: 9100}
                """)
        let reload = running.reloaded(with: loaded)
        #expect(reload.applied == ["scrape.interval", "scrape.namespaces.exclude", "report.interval", "logging.level"])
        #expect(reload.needRestart == ["cluster.name", "scrape.maxConcurrent", "admin.port"])
        #expect(reload.settings == [.scraping, .namespaceFilter, .reportInterval, .logLevel])
        #expect(reload.configuration.scrapeInterval == 20 && reload.configuration.reportInterval == 45)
        #expect(reload.configuration.excludeNamespaces == ["kube-system"] && reload.configuration.logLevel == "debug")
        // Restart-only keys keep their running values.
        #expect(reload.configuration.clusterName == "a" && reload.configuration.adminPort == 9_990)
        // The scrape manager relies on it: its permits are sized once, at start.
        #expect(reload.configuration.maxConcurrentScrapes == running.maxConcurrentScrapes)
        #expect(running.reloaded(with: running) == ConfigurationReload(configuration: running))
    }

    @Test func aMissingOrUnreadableFileIsNamedAsSuch() throws {
        let missing = "/nonexistent/fathom-\(UInt64.random(in: 0...UInt64.max)).yaml"
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.load(file: missing) }
        do {
            _ = try ConfigurationLoader.load(file: missing)
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.problems.first?.key == "(file)")
            #expect(error.problems.first?.message.contains("\(missing): no such file") == true)
        }
        do {
            _ = try ConfigurationLoader.load(file: NSTemporaryDirectory())
        } catch {
            #expect(error.problems.first?.message.contains("is a directory") == true)
        }
    }

    @Test func anAdminAddressMustBeAnIPAddress() throws {
        let base = "cluster: {name: a}\nreport: {endpoint: 'https://x.example/v1'}\n"
        #expect(try ConfigurationLoader.load(yaml: base + "admin: {address: '::'}").adminAddress == "::")
        #expect(try ConfigurationLoader.load(yaml: base + "admin: {address: 127.0.0.1}").adminAddress == "127.0.0.1")
        do {
            _ = try ConfigurationLoader.load(yaml: base + "admin: {address: localhost:9990}")
            Issue.record("accepted a host:port as an address")
        } catch {
            #expect(error.problems.map(\.key) == ["admin.address"])
        }
    }
}
