import AgentConfiguration
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
                    passed: false, title: "configuration file \(path) is readable",
                    hint: error.problems.map(\.message).joined(separator: "; "))
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
                    hint: error.problems.map(\.description).joined(separator: "; ")
                        + " (run `fathom-agent config-reference` for every key)"))
            return items
        }
        let token = FileManager.default.contents(atPath: configuration.tokenFile)
        let tokenPresent =
            token.map { !String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
            ?? false
        items.append(
            Item(
                passed: tokenPresent, title: "API token file \(configuration.tokenFile) holds a token",
                hint: tokenPresent
                    ? nil : "mount the Secret with the API token there, or set report.tokenFile to where it is mounted")
        )
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

    /// The checklist as printed.
    public static func render(_ items: [Item]) -> String {
        items.map { item in
            (item.passed ? "√ " : "× ") + item.title + (item.hint.map { "\n    see: \($0)" } ?? "")
        }
        .joined(separator: "\n")
    }
}
