/// The agent's configuration, typed and validated. Every field is one row of
/// `ConfigurationKey.all`, which holds its path, type, default, reload rule and meaning; the
/// defaults below are filled from that table, not written here a second time.
public struct AgentConfiguration: Sendable, Equatable {
    public var clusterName: String
    public var agentID: String
    public var scrapeInterval: Double
    public var scrapeTimeout: Double
    public var maxPageBytes: Int
    public var maxConcurrentScrapes: Int
    public var maxBytesInFlight: Int
    public var includeNamespaces: [String]
    public var excludeNamespaces: [String]
    public var controlPlaneNamespace: String
    /// Non-empty in daemonset mode: only this node's pods are watched and scraped.
    public var nodeName: String
    public var kubeconfig: String
    /// Seconds; each watch asks to be ended after a random time between this and twice it.
    public var minWatchTimeout: Double
    public var inventorySnapshotEvery: Int
    public var reportEndpoint: String
    public var tokenFile: String
    public var reportInterval: Double
    /// Seconds before a trust anchor's expiry that `trust-anchors-expiring` warns.
    public var trustAnchorExpiryWarning: Double
    public var requestTimeout: Double
    public var queueMaxBytes: Int
    /// Nil when the spool is disabled.
    public var spoolDirectory: String?
    public var spoolMaxBytes: Int
    /// CA certificates trusted for the collector besides the system's; nil for none.
    public var collectorCAFile: String?
    /// The HTTP proxy uploads go through; nil to take it from the environment.
    public var collectorProxy: String?
    /// Hosts reached without the proxy; empty to take them from the environment.
    public var noProxy: [String]
    public var maxRoutesPerWorkload: Int
    public var maxSeriesPerProxy: Int
    public var adminAddress: String
    public var adminPort: Int
    public var shutdownGracePeriod: Double
    public var logLevel: String
    public var logFormat: String

    /// Every key at its default (required keys empty), as the table gives it; the settings of
    /// each part of the agent take their defaults from here.
    public static let defaults = AgentConfiguration()

    /// Every key at its default (required keys empty).
    public init() {
        self.init(unset: ())
        var defaults = ConfigurationValues(raw: [:])
        for key in ConfigurationKey.all { key.assign(&self, &defaults) }
    }

    /// Zero values, before the table's defaults or a file's values are assigned.
    init(unset: Void) {
        clusterName = ""
        agentID = ""
        scrapeInterval = 0
        scrapeTimeout = 0
        maxPageBytes = 0
        maxConcurrentScrapes = 0
        maxBytesInFlight = 0
        includeNamespaces = []
        excludeNamespaces = []
        controlPlaneNamespace = ""
        nodeName = ""
        kubeconfig = ""
        minWatchTimeout = 0
        inventorySnapshotEvery = 0
        reportEndpoint = ""
        tokenFile = ""
        reportInterval = 0
        trustAnchorExpiryWarning = 0
        requestTimeout = 0
        queueMaxBytes = 0
        spoolDirectory = nil
        spoolMaxBytes = 0
        collectorCAFile = nil
        collectorProxy = nil
        noProxy = []
        maxRoutesPerWorkload = 0
        maxSeriesPerProxy = 0
        adminAddress = ""
        adminPort = 0
        shutdownGracePeriod = 0
        logLevel = ""
        logFormat = ""
    }

    /// The key paths whose values differ between `other` and this configuration, in table order.
    public func changedKeys(from other: AgentConfiguration) -> [String] {
        ConfigurationKey.all.filter { $0.differs(self, other) }.map(\.path)
    }

    /// What a reload of `loaded` over this running configuration does: the live keys that
    /// changed take their new values, the others keep theirs until a restart.
    public func reloaded(with loaded: AgentConfiguration) -> ConfigurationReload {
        var reload = ConfigurationReload(configuration: self)
        for key in ConfigurationKey.all where key.differs(loaded, self) {
            switch key.reload {
            case .live(let setting):
                key.copy(loaded, &reload.configuration)
                reload.applied.append(key.path)
                reload.settings.insert(setting)
            case .restart:
                reload.needRestart.append(key.path)
            }
        }
        return reload
    }
}

/// The outcome of reloading the configuration file over the running configuration.
public struct ConfigurationReload: Sendable, Equatable {
    /// The running configuration with the changed live keys applied.
    public var configuration: AgentConfiguration
    /// Live keys that changed and now apply.
    public var applied: [String] = []
    /// Keys that changed but apply only after a restart.
    public var needRestart: [String] = []
    /// The parts of the running agent that must pick the change up.
    public var settings: Set<LiveSetting> = []

    /// A reload that changes nothing yet.
    public init(configuration: AgentConfiguration) {
        self.configuration = configuration
    }
}

/// One problem with the configuration, at a key.
public struct ConfigurationProblem: Sendable, Equatable, CustomStringConvertible {
    /// The dotted key path, the environment variable that set it, or `(file)`.
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
