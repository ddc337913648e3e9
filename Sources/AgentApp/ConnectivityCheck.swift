import AgentConfiguration
import AsyncHTTPClient
import CredentialFiles
import Foundation
import KubernetesAPI
import KubernetesModels
import NIOCore
import NIOPosix
import Scraping

/// The part of `fathom-agent check` that talks to the outside: the Kubernetes API (reached, and
/// every permission the agent needs on each row of `WatchedResource.all`, tried the way the agent
/// uses it: a LIST of one item) and the collector (reached, and the token accepted). Read-only:
/// nothing is created anywhere.
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
            items += await kubernetes(connection)
        }
        items += await collector(configuration)
        return items
    }

    static func kubernetes(_ connection: ClusterConnection) async -> [ConfigurationCheck.Item] {
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
        let items = await permissions(client, connection)
        try? await client.shutdown()
        return items
    }

    private static func permissions(_ client: KubernetesClient, _ connection: ClusterConnection) async
        -> [ConfigurationCheck.Item]
    {
        var items: [ConfigurationCheck.Item] = []
        for row in WatchedResource.all {
            let resource = row.resource
            let title = "can list and watch \(resource.plural) (\(resource.apiVersion))"
            do {
                if row.requirement == .whereInstalled, try await !client.serves(resource) {
                    items.append(
                        .init(passed: true, title: "\(resource.kind) CRD is not installed; not watched", hint: nil))
                    continue
                }
                try await listOne(row.model, client)
                items.append(.init(passed: true, title: title, hint: nil))
            } catch let error as KubernetesAPIError {
                let hint: String =
                    switch error {
                    case .forbidden:
                        "grant \(row.verbs.joined(separator: " and ")) on \(resource.plural) in API group "
                            + "\"\(resource.group)\" to the "
                            + "agent's service account (the chart's ClusterRole does): \(error)"
                    case .unauthorized:
                        "the API server rejected the credentials (an expired or wrong token): \(error)"
                    case .transport:
                        "the API server at \(connection.server) cannot be reached: \(error)"
                    default: "\(error)"
                    }
                items.append(.init(passed: false, title: title, hint: hint))
                // Without a connection, the other resources would fail the same way.
                if case .transport = error { break }
            } catch {
                items.append(.init(passed: false, title: title, hint: "\(error)"))
            }
        }
        return items
    }

    /// A LIST of one object of the type, as the agent's first list starts.
    private static func listOne<Object: KubernetesObject>(_ type: Object.Type, _ client: KubernetesClient) async throws
    {
        _ = try await client.list(type, limit: 1)
    }

    /// A GET to the collector URL: any HTTP answer means it is reachable; 401 or 403 means the
    /// token was refused.
    static func collector(_ configuration: AgentConfiguration) async -> [ConfigurationCheck.Item] {
        if let why = await unreachable(configuration.reportEndpoint) {
            return [
                .init(
                    passed: false, title: "collector \(configuration.reportEndpoint) answers",
                    hint: "\(why): check report.endpoint, DNS, and egress (a NetworkPolicy must allow HTTPS)")
            ]
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
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
            switch ScrapeFailure(transportError: error) {
            case .refused: return "connection refused at \(host):\(port)"
            case .timeout: return "no answer from \(host):\(port) within 5 s"
            default: return "\(error)"
            }
        }
    }
}
