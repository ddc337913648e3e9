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

    var typeName: String {
        switch self {
        case .duration: return "duration"
        case .bytes: return "bytes"
        case .integer: return "integer"
        case .string: return "string"
        case .url: return "URL"
        case .stringList: return "list of strings"
        case .choice(let options): return options.joined(separator: " | ")
        }
    }
}

/// One configuration key: where it is, what it takes, its default and what it means. The table
/// below drives parsing, validation, environment overrides and the generated reference, so code
/// and docs cannot drift.
public struct ConfigurationKey: Sendable {
    /// Dotted path in the YAML file, e.g. `scrape.interval`.
    public var path: String
    public var kind: ConfigurationValueKind
    /// The default as written in YAML; nil for a required key.
    public var defaultValue: String?
    public var meaning: String
    /// Whether a change to the mounted file applies without a restart.
    public var reloadable: Bool

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
}

extension ConfigurationKey {
    /// Every key the agent reads.
    public static let all: [ConfigurationKey] = [
        ConfigurationKey(
            path: "cluster.name", kind: .string, defaultValue: nil,
            meaning: "Name of this cluster as the SaaS shows it.", reloadable: false),
        ConfigurationKey(
            path: "agent.id", kind: .string, defaultValue: "fathom-agent",
            meaning: "Stable name of this agent in reports (the chart sets the release name).", reloadable: false),
        ConfigurationKey(
            path: "scrape.interval", kind: .duration(minimum: 1, maximum: 600), defaultValue: "10s",
            meaning: "Time between two scrapes of one proxy.", reloadable: true),
        ConfigurationKey(
            path: "scrape.timeout", kind: .duration(minimum: 0.1, maximum: 600), defaultValue: "5s",
            meaning: "Time one scrape may take; must be below scrape.interval.", reloadable: true),
        ConfigurationKey(
            path: "scrape.maxPageBytes", kind: .bytes(minimum: 64 << 10, maximum: 1 << 30), defaultValue: "16Mi",
            meaning: "Largest proxy page accepted, after decompression; larger pages count as too_large.",
            reloadable: true),
        ConfigurationKey(
            path: "scrape.maxConcurrent", kind: .integer(minimum: 1, maximum: 1_024), defaultValue: "32",
            meaning: "Scrapes in flight at once.", reloadable: false),
        ConfigurationKey(
            path: "scrape.namespaces.include", kind: .stringList, defaultValue: "[]",
            meaning: "Only scrape pods in these namespaces (empty: all).", reloadable: true),
        ConfigurationKey(
            path: "scrape.namespaces.exclude", kind: .stringList, defaultValue: "[]",
            meaning: "Never scrape pods in these namespaces.", reloadable: true),
        ConfigurationKey(
            path: "linkerd.controlPlaneNamespace", kind: .string, defaultValue: "linkerd",
            meaning: "Namespace of Linkerd's control plane; a meshed pod's linkerd.io/control-plane-ns label names it.",
            reloadable: false),
        ConfigurationKey(
            path: "kubernetes.nodeName", kind: .string, defaultValue: "",
            meaning:
                "Watch and scrape only the pods of this node (daemonset mode; the chart sets it from spec.nodeName); "
                + "empty watches every pod.",
            reloadable: false),
        ConfigurationKey(
            path: "kubernetes.kubeconfig", kind: .string, defaultValue: "",
            meaning: "Kubeconfig to use outside a cluster; empty uses the pod's service account.", reloadable: false),
        ConfigurationKey(
            path: "report.inventorySnapshotEvery", kind: .integer(minimum: 1, maximum: 10_000), defaultValue: "10",
            meaning: "Send the full workload inventory every this many batches; changes only in between.",
            reloadable: false),
        ConfigurationKey(
            path: "report.endpoint", kind: .url, defaultValue: nil,
            meaning: "The collector URL report batches are POSTed to.", reloadable: false),
        ConfigurationKey(
            path: "report.tokenFile", kind: .string, defaultValue: "/var/run/secrets/fathom/token",
            meaning: "File holding the API token (mounted from a Secret); re-read when it changes.",
            reloadable: false),
        ConfigurationKey(
            path: "report.interval", kind: .duration(minimum: 5, maximum: 3_600), defaultValue: "30s",
            meaning: "Length of an aggregation window; one report batch per window.", reloadable: true),
        ConfigurationKey(
            path: "report.requestTimeout", kind: .duration(minimum: 1, maximum: 600), defaultValue: "10s",
            meaning: "Time one upload may take.", reloadable: false),
        ConfigurationKey(
            path: "report.queueMaxBytes", kind: .bytes(minimum: 1 << 20, maximum: 4 << 30), defaultValue: "64Mi",
            meaning: "Compressed batches kept in memory while the collector is unreachable; the oldest go first.",
            reloadable: false),
        ConfigurationKey(
            path: "report.spool.directory", kind: .string, defaultValue: "",
            meaning: "Directory (an emptyDir) that keeps queued batches across restarts; empty disables it.",
            reloadable: false),
        ConfigurationKey(
            path: "report.spool.maxBytes", kind: .bytes(minimum: 1 << 20, maximum: 64 << 30), defaultValue: "256Mi",
            meaning: "Bound of the spool; the oldest batches go first.", reloadable: false),
        ConfigurationKey(
            path: "aggregation.maxRoutesPerWorkload", kind: .integer(minimum: 1, maximum: 1_000_000),
            defaultValue: "1000",
            meaning: "Distinct routes per workload; more are folded into one overflow series.", reloadable: false),
        ConfigurationKey(
            path: "aggregation.maxSeriesPerProxy", kind: .integer(minimum: 100, maximum: 10_000_000),
            defaultValue: "100000",
            meaning: "Series remembered per proxy; new series past it are counted as over the limit.",
            reloadable: false),
        ConfigurationKey(
            path: "admin.port", kind: .integer(minimum: 1, maximum: 65_535), defaultValue: "9990",
            meaning: "Port of /metrics, /healthz, /readyz and /debug/routes.", reloadable: false),
        ConfigurationKey(
            path: "logging.level", kind: .choice(["trace", "debug", "info", "notice", "warning", "error"]),
            defaultValue: "info", meaning: "Least severe level logged.", reloadable: true),
        ConfigurationKey(
            path: "logging.format", kind: .choice(["json", "logfmt"]), defaultValue: "json",
            meaning: "Log line format.", reloadable: false),
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
