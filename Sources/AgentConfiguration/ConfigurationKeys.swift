/// The kinds of value a configuration key takes, and how each is written.
public enum ConfigurationValueKind: Sendable, Equatable {
    /// `10s`, `1m30s`, `500ms`, or a plain number of seconds.
    case duration(minimum: Double, maximum: Double)
    /// `64Mi`, `1Gi`, `500k`, or a plain number of bytes.
    case bytes(minimum: Int, maximum: Int)
    case integer(minimum: Int, maximum: Int)
    case string
    /// An `http://` or `https://` URL.
    case url
    /// A list of strings.
    case stringList
    case choice([String])
    /// An IPv4 or IPv6 address to listen on.
    case address

    var typeName: String {
        switch self {
        case .duration: return "duration"
        case .bytes: return "bytes"
        case .integer: return "integer"
        case .string: return "string"
        case .url: return "URL"
        case .stringList: return "list of strings"
        case .choice(let options): return options.joined(separator: " / ")
        case .address: return "IP address"
        }
    }
}

/// How a change to a key in the mounted file takes effect.
public enum ReloadRule: Sendable, Equatable {
    /// Only after a restart (the reload logs that it is waiting).
    case restart
    /// At once, in the part of the running agent named.
    case live(LiveSetting)
}

/// The parts of the running agent a live key changes.
public enum LiveSetting: String, Sendable, Hashable, CaseIterable {
    /// The scrape loops, from their next scrape (interval, timeout, page cap).
    case scraping
    /// Discovery, which publishes the scrape targets again (namespace filters).
    case namespaceFilter
    /// The window clock, from the next window.
    case reportInterval
    /// The mesh's checks, from the next window (they read their thresholds at every window).
    case meshChecks
    /// Every logger at once.
    case logLevel
}

/// One configuration key: where it is, what it takes, its default, how a reload applies it and
/// what it means, and the field of `AgentConfiguration` it sets. The table below drives parsing,
/// validation, environment overrides, defaults, reloads and the generated reference, so code
/// and docs cannot drift.
public struct ConfigurationKey: Sendable {
    /// Dotted path in the YAML file, e.g. `scrape.interval`.
    public let path: String
    public let kind: ConfigurationValueKind
    /// The default as written in YAML; nil for a required key.
    public let defaultValue: String?
    public let meaning: String
    public let reload: ReloadRule
    /// Sets the field from the key's value (or default), recording any problem.
    let assign: @Sendable (inout AgentConfiguration, inout ConfigurationValues) -> Void
    /// Whether two configurations differ at this key.
    let differs: @Sendable (AgentConfiguration, AgentConfiguration) -> Bool
    /// Copies this key's value from the first configuration into the second.
    let copy: @Sendable (AgentConfiguration, inout AgentConfiguration) -> Void

    /// Whether a change to the mounted file applies without a restart.
    public var reloadable: Bool { reload != .restart }

    /// `FATHOM_SCRAPE_INTERVAL` for `scrape.interval`, `FATHOM_REPORT_TOKEN_FILE` for `report.tokenFile`.
    public var environmentVariable: String {
        var name = "FATHOM_"
        for character in path {
            if character == "." {
                name.append("_")
            } else if character.isUppercase {
                name.append("_")
                name.append(character)
            } else {
                name.append(Character(character.uppercased()))
            }
        }
        return name
    }

    private init<Value: Equatable & Sendable>(
        _ path: String, _ field: WritableKeyPath<AgentConfiguration, Value> & Sendable, _ kind: ConfigurationValueKind,
        _ defaultValue: String?, _ reload: ReloadRule, _ meaning: String,
        parse: @escaping @Sendable (inout ConfigurationValues, String) -> Value
    ) {
        self.path = path
        self.kind = kind
        self.defaultValue = defaultValue
        self.meaning = meaning
        self.reload = reload
        assign = { configuration, values in configuration[keyPath: field] = parse(&values, path) }
        differs = { $0[keyPath: field] != $1[keyPath: field] }
        copy = { source, target in target[keyPath: field] = source[keyPath: field] }
    }

    /// A duration key, in seconds.
    static func duration(
        _ path: String, _ field: WritableKeyPath<AgentConfiguration, Double> & Sendable,
        _ range: ClosedRange<Double>, default defaultValue: String, _ reload: ReloadRule, _ meaning: String
    ) -> ConfigurationKey {
        ConfigurationKey(
            path, field, .duration(minimum: range.lowerBound, maximum: range.upperBound), defaultValue, reload, meaning
        ) { $0.duration($1) }
    }

    /// A size key, in bytes.
    static func bytes(
        _ path: String, _ field: WritableKeyPath<AgentConfiguration, Int> & Sendable, _ range: ClosedRange<Int>,
        default defaultValue: String, _ reload: ReloadRule, _ meaning: String
    ) -> ConfigurationKey {
        ConfigurationKey(
            path, field, .bytes(minimum: range.lowerBound, maximum: range.upperBound), defaultValue, reload, meaning
        ) { $0.bytes($1) }
    }

    static func integer(
        _ path: String, _ field: WritableKeyPath<AgentConfiguration, Int> & Sendable, _ range: ClosedRange<Int>,
        default defaultValue: String, _ reload: ReloadRule, _ meaning: String
    ) -> ConfigurationKey {
        ConfigurationKey(
            path, field, .integer(minimum: range.lowerBound, maximum: range.upperBound), defaultValue, reload, meaning
        ) { $0.integer($1) }
    }

    /// A string key of `kind` (string, URL, choice or address); nil `defaultValue` makes it required.
    static func text(
        _ path: String, _ field: WritableKeyPath<AgentConfiguration, String> & Sendable,
        _ kind: ConfigurationValueKind = .string, default defaultValue: String?, _ reload: ReloadRule,
        _ meaning: String
    ) -> ConfigurationKey {
        ConfigurationKey(path, field, kind, defaultValue, reload, meaning) { $0.string($1) }
    }

    /// A string key where the empty string means "off" (nil).
    static func optionalText(
        _ path: String, _ field: WritableKeyPath<AgentConfiguration, String?> & Sendable, _ reload: ReloadRule,
        _ meaning: String
    ) -> ConfigurationKey {
        ConfigurationKey(path, field, .string, "", reload, meaning) { values, path in
            let text = values.string(path)
            return text.isEmpty ? nil : text
        }
    }

    static func list(
        _ path: String, _ field: WritableKeyPath<AgentConfiguration, [String]> & Sendable, _ reload: ReloadRule,
        _ meaning: String
    ) -> ConfigurationKey {
        ConfigurationKey(path, field, .stringList, "[]", reload, meaning) { $0.list($1) }
    }
}

extension ConfigurationKey {
    /// Every key the agent reads.
    public static let all: [ConfigurationKey] = [
        .text("cluster.name", \.clusterName, default: nil, .restart, "Name of this cluster as the SaaS shows it."),
        .text(
            "agent.id", \.agentID, default: "fathom-agent", .restart,
            "Stable name of this agent in reports (the chart sets the release name)."),
        .duration(
            "scrape.interval", \.scrapeInterval, 1...600, default: "10s", .live(.scraping),
            "Time between two scrapes of one proxy."),
        .duration(
            "scrape.timeout", \.scrapeTimeout, 0.1...600, default: "5s", .live(.scraping),
            "Time one scrape may take; must be below scrape.interval."),
        .bytes(
            "scrape.maxPageBytes", \.maxPageBytes, (64 << 10)...(1 << 30), default: "16Mi", .live(.scraping),
            "Largest proxy page accepted, after decompression; larger pages count as too_large."),
        .integer(
            "scrape.maxConcurrent", \.maxConcurrentScrapes, 1...1_024, default: "32", .restart,
            "Scrapes in flight at once."),
        .bytes(
            "scrape.maxBytesInFlight", \.maxBytesInFlight, (1 << 20)...(64 << 30), default: "128Mi", .restart,
            "Memory the proxy pages in flight may hold together, as received and inflated; at least twice "
                + "scrape.maxPageBytes. A scrape waits for its share; one whose page outgrows what is free fails "
                + "as over_budget."),
        .list(
            "scrape.namespaces.include", \.includeNamespaces, .live(.namespaceFilter),
            "Only scrape pods in these namespaces (empty: all)."),
        .list(
            "scrape.namespaces.exclude", \.excludeNamespaces, .live(.namespaceFilter),
            "Never scrape pods in these namespaces."),
        .text(
            "linkerd.controlPlaneNamespace", \.controlPlaneNamespace, default: "linkerd", .restart,
            "Namespace of Linkerd's control plane; a meshed pod's linkerd.io/control-plane-ns label names it."),
        .duration(
            "linkerd.trustAnchorExpiryWarning", \.trustAnchorExpiryWarning, 3_600...(3_650 * 86_400), default: "60d",
            .live(.meshChecks),
            "A trust anchor expiring within this warns (trust-anchors-expiring), as linkerd check does at 60 days; "
                + "an expired one is an error whatever this is."),
        .text(
            "kubernetes.nodeName", \.nodeName, default: "", .restart,
            "Watch and scrape only the pods of this node (daemonset mode; the chart sets it from spec.nodeName); "
                + "empty watches every pod."),
        .text(
            "kubernetes.kubeconfig", \.kubeconfig, default: "", .restart,
            "Kubeconfig to use outside a cluster; empty uses the pod's service account."),
        .duration(
            "kubernetes.minWatchTimeout", \.minWatchTimeout, 1...3_600, default: "5m", .restart,
            "Shortest time a watch stays open before it is renewed; each watch asks the API server for a random time "
                + "between this and twice it, as client-go does. A watch still open and silent 30 s past its time is "
                + "given up (silent_watch)."),
        .integer(
            "report.inventorySnapshotEvery", \.inventorySnapshotEvery, 1...10_000, default: "10", .restart,
            "Send the full workload inventory every this many batches; changes only in between."),
        .text(
            "report.endpoint", \.reportEndpoint, .url, default: nil, .restart,
            "The collector URL report batches are POSTed to."),
        .text(
            "report.tokenFile", \.tokenFile, default: "/var/run/secrets/fathom/token", .restart,
            "File holding the API token (mounted from a Secret); re-read when it changes."),
        .duration(
            "report.interval", \.reportInterval, 5...3_600, default: "30s", .live(.reportInterval),
            "Length of an aggregation window; one report batch per window. A paused agent (a stopped VM, a starved node) skips the closes it missed: one window spans the pause."
        ),
        .duration(
            "report.requestTimeout", \.requestTimeout, 1...600, default: "10s", .restart, "Time one upload may take."),
        .bytes(
            "report.queueMaxBytes", \.queueMaxBytes, (1 << 20)...(4 << 30), default: "64Mi", .restart,
            "Compressed batches kept in memory while the collector is unreachable; with a spool the newer wait on disk, without one the oldest go."
        ),
        .optionalText(
            "report.spool.directory", \.spoolDirectory, .restart,
            "Directory (an emptyDir) that keeps queued batches across restarts; empty disables it."),
        .bytes(
            "report.spool.maxBytes", \.spoolMaxBytes, (1 << 20)...(64 << 30), default: "256Mi", .restart,
            "Bound of the spool, which holds what the in-memory queue has no room for during an outage; the oldest batches go first."
        ),
        .optionalText(
            "report.caFile", \.collectorCAFile, .restart,
            "PEM file of CA certificates trusted for the collector besides the system's (a TLS-inspecting proxy's CA)."),
        .optionalText(
            "report.proxy", \.collectorProxy, .restart,
            "HTTP proxy (http://host:port, user:password@ allowed) uploads go through with CONNECT; unset, HTTPS_PROXY or HTTP_PROXY is used."
        ),
        .list(
            "report.noProxy", \.noProxy, .restart,
            "Hosts reached without the proxy (example.com also covers its subdomains, * covers all); unset, NO_PROXY is used."
        ),
        .integer(
            "aggregation.maxRoutesPerWorkload", \.maxRoutesPerWorkload, 1...1_000_000, default: "1000", .restart,
            "Distinct routes per workload; more are folded into one overflow series."),
        .integer(
            "aggregation.maxSeriesPerProxy", \.maxSeriesPerProxy, 100...10_000_000, default: "100000", .restart,
            "Series remembered per proxy; new series past it are counted as over the limit."),
        .text(
            "admin.address", \.adminAddress, .address, default: "0.0.0.0", .restart,
            "Address of the admin server; 0.0.0.0 lets the kubelet's probes and Prometheus reach it, "
                + "127.0.0.1 keeps it inside the pod."),
        .integer(
            "admin.port", \.adminPort, 0...65_535, default: "9990", .restart,
            "Port of /metrics, /healthz, /readyz, /debug/routes and /debug/mesh; 0 picks a free one."),
        .duration(
            "shutdown.gracePeriod", \.shutdownGracePeriod, 1...3_600, default: "20s", .restart,
            "Time to deliver what is queued after SIGTERM; what is left stays in the spool (the chart sets "
                + "terminationGracePeriodSeconds above it)."),
        .text(
            "logging.level", \.logLevel, .choice(["trace", "debug", "info", "notice", "warning", "error"]),
            default: "info", .live(.logLevel), "Least severe level logged."),
        .text(
            "logging.format", \.logFormat, .choice(["json", "logfmt"]), default: "json", .restart, "Log line format."),
    ]

    /// The keys as a Markdown table, for the README and `values.yaml` checks.
    public static var reference: String {
        var text = "| key | environment | type | default | reload | meaning |\n|---|---|---|---|---|---|\n"
        for key in all {
            let defaultText = key.defaultValue.map { $0.isEmpty ? "`\"\"`" : "`\($0)`" } ?? "required"
            text +=
                "| `\(key.path)` | `\(key.environmentVariable)` | \(key.kind.typeName) | \(defaultText) | "
                + "\(key.reloadable ? "live" : "restart") | \(key.meaning) |\n"
        }
        return text
    }
}
