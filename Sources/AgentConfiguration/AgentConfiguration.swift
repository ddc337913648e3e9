/// The agent's configuration, typed and validated (see `ConfigurationKey.all` for every key).
public struct AgentConfiguration: Sendable, Equatable {
    public var clusterName = ""
    public var agentID = ""
    public var scrapeInterval = 10.0
    public var scrapeTimeout = 5.0
    public var maxPageBytes = 16 << 20
    public var maxConcurrentScrapes = 32
    public var includeNamespaces: [String] = []
    public var excludeNamespaces: [String] = []
    public var controlPlaneNamespace = "linkerd"
    /// Non-empty in daemonset mode: only this node's pods are watched and scraped.
    public var nodeName = ""
    public var kubeconfig = ""
    public var inventorySnapshotEvery = 10
    public var reportEndpoint = ""
    public var tokenFile = ""
    public var reportInterval = 30.0
    public var requestTimeout = 10.0
    public var queueMaxBytes = 64 << 20
    /// Nil when the spool is disabled.
    public var spoolDirectory: String?
    public var spoolMaxBytes = 256 << 20
    public var maxRoutesPerWorkload = 1_000
    public var maxSeriesPerProxy = 100_000
    public var adminPort = 9_990
    public var logLevel = "info"
    public var logFormat = "json"

    public init() {}

    /// The key paths whose values differ between `other` and this configuration.
    public func changedKeys(from other: AgentConfiguration) -> [String] {
        let fields: [(String, (AgentConfiguration) -> AnyHashable)] = [
            ("cluster.name", { $0.clusterName }), ("agent.id", { $0.agentID }),
            ("scrape.interval", { $0.scrapeInterval }), ("scrape.timeout", { $0.scrapeTimeout }),
            ("scrape.maxPageBytes", { $0.maxPageBytes }), ("scrape.maxConcurrent", { $0.maxConcurrentScrapes }),
            ("scrape.namespaces.include", { $0.includeNamespaces }),
            ("scrape.namespaces.exclude", { $0.excludeNamespaces }),
            ("linkerd.controlPlaneNamespace", { $0.controlPlaneNamespace }), ("kubernetes.nodeName", { $0.nodeName }),
            ("kubernetes.kubeconfig", { $0.kubeconfig }),
            ("report.inventorySnapshotEvery", { $0.inventorySnapshotEvery }),
            ("report.endpoint", { $0.reportEndpoint }), ("report.tokenFile", { $0.tokenFile }),
            ("report.interval", { $0.reportInterval }), ("report.requestTimeout", { $0.requestTimeout }),
            ("report.queueMaxBytes", { $0.queueMaxBytes }), ("report.spool.directory", { $0.spoolDirectory }),
            ("report.spool.maxBytes", { $0.spoolMaxBytes }),
            ("aggregation.maxRoutesPerWorkload", { $0.maxRoutesPerWorkload }),
            ("aggregation.maxSeriesPerProxy", { $0.maxSeriesPerProxy }), ("admin.port", { $0.adminPort }),
            ("logging.level", { $0.logLevel }), ("logging.format", { $0.logFormat }),
        ]
        return fields.filter { $0.1(self) != $0.1(other) }.map(\.0)
    }
}

/// One problem with the configuration, at a key.
public struct ConfigurationProblem: Sendable, Equatable, CustomStringConvertible {
    /// The dotted key path, or the environment variable that set it.
    public var key: String
    public var message: String

    public init(key: String, message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { "\(key): \(message)" }
}

/// Every problem found, so a user fixes them all in one round.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var problems: [ConfigurationProblem]

    public init(problems: [ConfigurationProblem]) {
        self.problems = problems
    }

    public var description: String {
        "invalid configuration (\(problems.count) problem\(problems.count == 1 ? "" : "s")):\n"
            + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}
