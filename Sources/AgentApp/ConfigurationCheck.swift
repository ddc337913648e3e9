import AgentConfiguration
import CredentialFiles
import Foundation
import KubernetesAPI

/// The local checks of `fathom-agent check` (the file, its keys, the token, the spool), as a
/// checklist with a hint per failure in the spirit of `linkerd check`; `ConnectivityCheck` adds
/// the Kubernetes permissions and the collector.
public enum ConfigurationCheck {
    /// One line of the checklist.
    public struct Item: Sendable, Equatable {
        public var passed: Bool
        public var title: String
        /// What to do about a failure.
        public var hint: String?
        /// What was found, one line each (every problem of an invalid configuration).
        public var details: [String] = []
    }

    /// `fathom-agent check`: the local checks, then (unless `offline`, and only with a valid
    /// configuration) the Kubernetes API and the collector.
    public static func all(path: String, environment: [String: String], offline: Bool) async -> [Item] {
        var items = run(path: path, environment: environment)
        guard !offline, let configuration = try? ConfigurationLoader.load(file: path, environment: environment) else {
            return items
        }
        let connection = Result { () throws(KubernetesAPIError) in
            try ClusterConnection.forAgent(kubeconfig: configuration.kubeconfig, environment: environment)
        }
        items += await ConnectivityCheck.run(configuration: configuration, connection: connection)
        return items
    }

    /// Checks the file at `path` with `environment` overrides.
    public static func run(path: String, environment: [String: String]) -> [Item] {
        let text: String
        do {
            text = try ConfigurationLoader.text(ofFile: path)
        } catch {
            return [
                Item(
                    passed: false, title: "configuration file \(path) is readable", hint: nil,
                    details: error.problems.map(\.message))
            ]
        }
        var items = [Item(passed: true, title: "configuration file \(path) is readable", hint: nil)]
        let configuration: AgentConfiguration
        do {
            configuration = try ConfigurationLoader.load(yaml: text, environment: environment)
            items.append(Item(passed: true, title: "configuration is valid", hint: nil))
        } catch {
            items.append(
                Item(
                    passed: false, title: "configuration is valid",
                    hint: "run `fathom-agent config-reference` for every key",
                    details: error.problems.map(\.description)))
            return items
        }
        // What `run` refuses at start, though the file is valid: the collector client's settings.
        do {
            try CollectorClient.validate(configuration, environment: environment)
            items.append(Item(passed: true, title: "the collector client's settings are usable", hint: nil))
        } catch {
            items.append(
                Item(
                    passed: false, title: "the collector client's settings are usable",
                    hint: "fix report.caFile, report.proxy or the proxy variables", details: ["\(error)"]))
        }
        let problems = CredentialProblems.of(configuration)
        items.append(
            configuration.tokenFile.isEmpty
                ? Item(passed: true, title: "no API token is sent (report.tokenFile is empty)", hint: nil)
                : Item(
                    passed: !problems.contains(.tokenMissing),
                    title: "API token file \(configuration.tokenFile) holds a token",
                    hint: problems.contains(.tokenMissing) ? CredentialProblems.tokenMissing.hint : nil))
        if CredentialProblems.sendsInClear(configuration.reportEndpoint) {
            items.append(
                Item(
                    passed: !problems.contains(.tokenInClear),
                    title: "the API token is not sent in clear (report.endpoint is http://)",
                    hint: problems.contains(.tokenInClear) ? CredentialProblems.tokenInClear.hint : nil))
        }
        if let spool = configuration.spoolDirectory {
            let writable =
                FileManager.default.isWritableFile(atPath: spool)
                || !FileManager.default.fileExists(atPath: spool)
            items.append(
                Item(
                    passed: writable, title: "spool directory \(spool) is writable",
                    hint: writable ? nil : "mount a writable emptyDir there, or set report.spool.directory to \"\""))
        }
        return items
    }

    /// The checklist as printed: each item's findings one per line under it, then its hint.
    public static func render(_ items: [Item]) -> String {
        items.map { item in
            (item.passed ? "√ " : "× ") + item.title + item.details.map { "\n    " + $0 }.joined()
                + (item.hint.map { "\n    see: \($0)" } ?? "")
        }
        .joined(separator: "\n")
    }
}

/// What is wrong with how the agent would authenticate to the collector: `run` warns of each at
/// start, and `check` fails on each.
public enum CredentialProblems: Sendable, Equatable {
    /// `report.tokenFile` names a file that is missing or empty: batches go without
    /// `Authorization`, and a collector that needs it refuses them.
    case tokenMissing
    /// A token is sent to an `http://` endpoint off this host: anyone on the path can read it.
    case tokenInClear

    /// The problems of `configuration` now (the token file is read).
    public static func of(_ configuration: AgentConfiguration) -> [CredentialProblems] {
        var problems: [CredentialProblems] = []
        let tokenFile = configuration.tokenFile
        // An empty report.tokenFile says the collector takes no token.
        guard !tokenFile.isEmpty else { return [] }
        let token = TokenFile(path: tokenFile).token()
        if token == nil { problems.append(.tokenMissing) }
        if token != nil && sendsInClear(configuration.reportEndpoint) { problems.append(.tokenInClear) }
        return problems
    }

    /// Whether `endpoint` is `http://` to another host than this one (a collector on loopback,
    /// such as a sidecar, is not reached over the network).
    static func sendsInClear(_ endpoint: String) -> Bool {
        guard let url = URLComponents(string: endpoint), url.scheme?.lowercased() == "http" else { return false }
        return !CollectorClient.isLoopback(url.host ?? "")
    }

    /// The log line.
    public var message: String {
        switch self {
        case .tokenMissing: return "API token file missing or empty: batches are sent without Authorization"
        case .tokenInClear: return "report.endpoint is http:// to another host: the API token is sent in clear"
        }
    }

    /// What to do about it.
    public var hint: String {
        switch self {
        case .tokenMissing:
            return "mount the Secret with the API token there, or set report.tokenFile to where it is mounted"
        case .tokenInClear: return "use an https:// endpoint"
        }
    }
}
