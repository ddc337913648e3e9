import AgentConfiguration
import AsyncHTTPClient
import CredentialFiles
import Foundation
import KubernetesAPI
import KubernetesModels
import NIOCore
import NIOPosix
import Scraping
import TransportErrors

/// The part of `fathom-agent check` that talks to the outside: the Kubernetes API (reached, and
/// every permission the agent needs on each row of `WatchedResource.all`, tried the way the agent
/// uses it: a LIST, then a short WATCH from the list's version; in daemonset mode the Lease of
/// leader election, read, and its writes asked of the authorizer) and the collector (reached,
/// and the token accepted). Read-only: nothing is created anywhere.
public enum ConnectivityCheck {
    public static func run(
        configuration: AgentConfiguration, connection: Result<ClusterConnection, KubernetesAPIError>
    ) async -> [ConfigurationCheck.Item] {
        var items: [ConfigurationCheck.Item] = []
        switch connection {
        case .failure(let error):
            items.append(
                .init(
                    passed: false, title: "Kubernetes API configuration is usable",
                    hint: "\(error) (in a pod the service account is used; outside, set kubernetes.kubeconfig)"))
        case .success(let connection):
            items += await kubernetes(connection, configuration: configuration)
        }
        items += await collector(configuration)
        return items
    }

    static func kubernetes(
        _ connection: ClusterConnection, configuration: AgentConfiguration = AgentConfiguration()
    ) async -> [ConfigurationCheck.Item] {
        if let why = await unreachable(connection.server) {
            return [
                .init(
                    passed: false, title: "Kubernetes API at \(connection.server) answers",
                    hint: "the API server at \(connection.server) cannot be reached: \(why)")
            ]
        }
        let client: KubernetesClient
        do {
            client = try KubernetesClient(connection: connection)
        } catch {
            return [.init(passed: false, title: "Kubernetes API TLS material loads", hint: "\(error)")]
        }
        var items = await permissions(client, connection)
        let reached = !items.contains(where: { !$0.passed && $0.hint?.contains("reached") == true })
        if reached && !configuration.controlPlaneNamespace.isEmpty {
            items.append(await trustRootsPermission(client, namespace: configuration.controlPlaneNamespace))
        }
        if !configuration.nodeName.isEmpty, reached {
            items += await leasePermissions(client, connection, configuration)
        }
        try? await client.shutdown()
        return items
    }

    /// Daemonset mode: the agents elect a leader through a Lease in their namespace, which they
    /// read, create and renew. The read is tried; the writes are asked of the authorizer, as
    /// `kubectl auth can-i` does, so `check` writes nothing.
    private static func leasePermissions(
        _ client: KubernetesClient, _ connection: ClusterConnection, _ configuration: AgentConfiguration
    ) async -> [ConfigurationCheck.Item] {
        let namespace = connection.namespace ?? "default"
        let lease = LeaderElectionPermissions.resource
        let title =
            "can \(LeaderElectionPermissions.verbs.joined(separator: ", ")) leases in \(namespace) (leader election)"
        var missing: [String] = []
        var detail = ""
        for verb in LeaderElectionPermissions.verbs {
            do {
                if verb == "get" {
                    _ = try await client.get(Lease.self, namespace: namespace, name: "\(configuration.agentID)-leader")
                } else if try await !client.isAllowed(verb, lease, namespace: namespace) {
                    missing.append(verb)
                }
            } catch KubernetesAPIError.forbidden(_, _, let message) {
                missing.append(verb)
                detail = message
            } catch {
                missing.append(verb)
                detail = "\(error)"
            }
        }
        guard !missing.isEmpty else { return [.init(passed: true, title: title, hint: nil)] }
        return [
            .init(
                passed: false, title: title,
                hint: "grant \(missing.joined(separator: ", ")) on leases (API group \"\(lease.group)\") in namespace "
                    + "\(namespace) to the agent's service account (the chart's Role does in daemonset mode)"
                    + (detail.isEmpty ? "" : ": \(detail)"))
        ]
    }

    /// The trust anchors' ConfigMap, read as the agent reads it: a get by name, then a list and
    /// a one-second watch narrowed to it by a field selector (what a Role with `resourceNames`
    /// allows). Without it the agent runs, and its trust-anchor check says it cannot read them.
    static func trustRootsPermission(_ client: KubernetesClient, namespace: String) async
        -> ConfigurationCheck.Item
    {
        let name = TrustRootsPermissions.name
        let title =
            "can \(TrustRootsPermissions.verbs.joined(separator: ", ")) configmap \(namespace)/\(name) (trust anchors)"
        var verb = "get"
        do {
            let found = try await client.get(ConfigMap.self, namespace: namespace, name: name)
            let selectors = Selectors(field: TrustRootsPermissions.fieldSelector)
            verb = "list"
            let page = try await client.list(ConfigMap.self, namespace: namespace, selectors: selectors, limit: 1)
            verb = "watch"
            try await client.watch(
                ConfigMap.self, namespace: namespace, selectors: selectors, resourceVersion: page.resourceVersion,
                timeoutSeconds: 1
            ) { _ in }
            guard found != nil else {
                return .init(
                    passed: true,
                    title: title + "; it does not exist (Linkerd before 2.12 or an external CA): the check says so",
                    hint: nil)
            }
            return .init(passed: true, title: title, hint: nil)
        } catch {
            return .init(
                passed: false, title: title,
                hint: "grant \(verb) on the configmap \(name) in namespace \(namespace) to the agent's service account "
                    + "(the chart's trust-roots Role does; rbac.trustRoots); the agent runs without it, but cannot "
                    + "check the mesh's trust anchors: \(error)")
        }
    }

    private static func permissions(_ client: KubernetesClient, _ connection: ClusterConnection) async
        -> [ConfigurationCheck.Item]
    {
        // Each resource's LIST and one-second WATCH, all at once (a second, not one per resource).
        await withTaskGroup(of: (Int, ConfigurationCheck.Item).self) { group in
            for (index, row) in WatchedResource.all.enumerated() {
                group.addTask { (index, await Self.permission(row, client, connection)) }
            }
            var items: [(Int, ConfigurationCheck.Item)] = []
            for await item in group { items.append(item) }
            return items.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// One resource's verbs, tried as the agent uses them.
    private static func permission(_ row: WatchedResource, _ client: KubernetesClient, _ connection: ClusterConnection)
        async -> ConfigurationCheck.Item
    {
        let resource = row.resource
        let title = "can \(row.verbs.joined(separator: " and ")) \(resource.plural) (\(resource.apiVersion))"
        var verb = "list"
        do {
            if row.requirement == .whereInstalled, try await !client.serves(resource) {
                return .init(passed: true, title: "\(resource.kind) CRD is not installed; not watched", hint: nil)
            }
            try await tryVerbs(row.model, client) { verb = $0 }
            return .init(passed: true, title: title, hint: nil)
        } catch let error as KubernetesAPIError {
            let hint: String =
                switch error {
                case .forbidden:
                    "grant \(verb) on \(resource.plural) in API group \"\(resource.group)\" to the agent's service "
                        + "account (the chart's ClusterRole grants \(row.verbs.joined(separator: " and "))): \(error)"
                case .unauthorized:
                    "the API server rejected the credentials (an expired or wrong token): \(error)"
                case .transport:
                    "the API server at \(connection.server) cannot be reached: \(error)"
                default: "\(error)"
                }
            return .init(passed: false, title: title, hint: hint)
        } catch {
            return .init(passed: false, title: title, hint: "\(error)")
        }
    }

    /// A LIST of one object, then a WATCH of one second from its version, as the agent's
    /// reflector does; `trying` hears which verb is being tried.
    private static func tryVerbs<Object: KubernetesObject>(
        _ type: Object.Type, _ client: KubernetesClient, trying: (String) -> Void
    ) async throws {
        trying("list")
        let page = try await client.list(type, limit: 1)
        trying("watch")
        try await client.watch(type, resourceVersion: page.resourceVersion, timeoutSeconds: 1) { _ in }
    }

    /// A GET to the collector URL: any HTTP answer means it is reachable; 401 or 403 means the
    /// token was refused.
    static func collector(_ configuration: AgentConfiguration) async -> [ConfigurationCheck.Item] {
        let title = "collector \(configuration.reportEndpoint) answers"
        let environment = ProcessInfo.processInfo.environment
        let proxy: CollectorClient.Proxy?
        let http: HTTPClient
        do {
            proxy = try CollectorClient.proxy(for: configuration, environment: environment)
            http = try CollectorClient.make(configuration, environment: environment)
        } catch {
            return [.init(passed: false, title: title, hint: "\(error)")]
        }
        // Through a proxy, the proxy is what must be reachable.
        if let why = await unreachable(proxy.map { "http://\($0.host):\($0.port)" } ?? configuration.reportEndpoint) {
            try? await http.shutdown()
            return [
                .init(
                    passed: false, title: title,
                    hint: proxy.map { "\(why): the proxy from \($0.source) at \($0.host):\($0.port) cannot be reached" }
                        ?? "\(why): check report.endpoint, DNS, and egress (a NetworkPolicy must allow HTTPS)")
            ]
        }
        let items = await probe(configuration, http)
        try? await http.shutdown()
        return items
    }

    private static func probe(_ configuration: AgentConfiguration, _ http: HTTPClient) async
        -> [ConfigurationCheck.Item]
    {
        var request = HTTPClientRequest(url: configuration.reportEndpoint)
        if let token = TokenFile(path: configuration.tokenFile).token() {
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        let title = "collector \(configuration.reportEndpoint) answers"
        do {
            let response = try await http.execute(request, timeout: .seconds(10))
            switch response.status.code {
            case 300..<400:
                // Uploads follow no redirect, so a collector that answers one receives nothing.
                let location = RedirectLocation.shown(
                    response.headers.first(name: "Location"), from: configuration.reportEndpoint)
                return [
                    .init(
                        passed: false, title: title,
                        hint: "the endpoint redirects (HTTP \(response.status.code)) to \(location): "
                            + "set report.endpoint to it; the agent follows no redirect")
                ]
            case 401, 403:
                return [
                    .init(passed: true, title: title, hint: nil),
                    .init(
                        passed: false, title: "collector accepts the API token",
                        hint: "HTTP \(response.status.code): check the token in the Secret mounted at "
                            + configuration.tokenFile),
                ]
            default:
                return [.init(passed: true, title: title, hint: nil)]
            }
        } catch {
            return [
                .init(
                    passed: false, title: title,
                    hint: "\(error): check report.endpoint, DNS, and egress (a NetworkPolicy must allow HTTPS)")
            ]
        }
    }

    /// Why a TCP connection to the URL's host and port cannot be opened, or nil when it can. The
    /// HTTP client retries a refused connection until its timeout; this answers at once.
    static func unreachable(_ url: String) async -> String? {
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
            return nil
        }
        let port = components.port ?? (components.scheme == "https" ? 443 : 80)
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(5))
                .connect(host: host, port: port).get()
            try? await channel.close()
            return nil
        } catch {
            switch TransportFailure(error) {
            case .refused: return "connection refused at \(host):\(port)"
            case .timeout: return "no answer from \(host):\(port) within 5 s"
            default: return "\(error)"
            }
        }
    }
}
