import AgentTestSupport
import Foundation
import KubernetesModels
import LocalServers
import ProxySimulation

/// What a subprocess agent runs against: the fake Kubernetes API (serving the demo cluster) with
/// a kubeconfig for it, the demo's simulated proxies, the collector, and a directory for the config
/// file, the spool and the two tokens, each in a volume laid out as the kubelet mounts a Secret
/// or a projected ServiceAccount token (`token -> ..data/token`), so a test can rotate them as
/// the kubelet does.
struct ProcessScene {
    static let token = "process-test-token"
    static let collectorToken = "collector-token"

    let api: FakeKubernetesAPI
    let collector: FakeCollector
    let proxies: SimulatedProxyServers
    let directory: String
    /// The token the kubeconfig names (`tokenFile`), as a projected ServiceAccount token.
    let serviceAccount: MountedVolume
    /// The collector's API token (`report.tokenFile`), as a mounted Secret.
    let collectorSecret: MountedVolume

    static func start(collector script: [FakeCollector.Answer] = [], forbidden: Set<String> = []) async throws
        -> ProcessScene
    {
        var behaviour = FakeKubernetesAPI.Behaviour(token: token)
        behaviour.forbidden = forbidden
        let demo = try await ServedDemoCluster.start(behaviour: behaviour)
        let (proxies, api) = (demo.proxies, demo.api)
        let collector = try await FakeCollector.start(script: script)
        let directory = NSTemporaryDirectory() + "fathom-process-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let serviceAccount = try MountedVolume(in: directory, named: "serviceaccount", file: "token")
        try serviceAccount.publish(token + "\n")
        let collectorSecret = try MountedVolume(in: directory, named: "fathom-api", file: "token")
        try collectorSecret.publish(collectorToken + "\n")
        let scene = ProcessScene(
            api: api, collector: collector, proxies: proxies, directory: directory, serviceAccount: serviceAccount,
            collectorSecret: collectorSecret)
        try """
        apiVersion: v1
        kind: Config
        clusters: [{name: fake, cluster: {server: "\(api.url)"}}]
        users: [{name: agent, user: {tokenFile: "\(serviceAccount.file)"}}]
        contexts: [{name: fake, context: {cluster: fake, user: agent}}]
        current-context: fake
        """.write(toFile: scene.kubeconfig, atomically: true, encoding: .utf8)
        return scene
    }

    var kubeconfig: String { directory + "/kubeconfig" }
    var tokenFile: String { collectorSecret.file }
    var spool: String { directory + "/spool" }

    /// A configuration for this scene; each argument is one key's value as YAML.
    func configuration(
        reportInterval: String = "5s", grace: String = "5s", level: String = "info", exclude: [String] = [],
        adminAddress: String = "127.0.0.1", adminPort: Int = 0, spool: Bool = false, endpoint: String? = nil,
        node: String? = nil, scrapeInterval: String = "1s", scrapeTimeout: String = "800ms"
    ) -> String {
        """
        cluster: {name: process-test}
        agent: {id: fathom-process}
        kubernetes: {kubeconfig: "\(kubeconfig)"\(node.map { ", nodeName: \($0)" } ?? "")}
        report:
          endpoint: "\(endpoint ?? collector.url)"
          interval: \(reportInterval)
          requestTimeout: 2s
          tokenFile: "\(tokenFile)"
        \(spool ? "  spool: {directory: \"\(self.spool)\"}" : "")
        scrape:
          interval: \(scrapeInterval)
          timeout: \(scrapeTimeout)
          namespaces: {exclude: [\(exclude.joined(separator: ", "))]}
        admin: {address: "\(adminAddress)", port: \(adminPort)}
        shutdown: {gracePeriod: \(grace)}
        logging: {level: \(level), format: json}
        """
    }

    /// Writes a plain config file and returns its path.
    func writeConfiguration(_ yaml: String, name: String = "config.yaml") throws -> String {
        let path = directory + "/" + name
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func shutdown() async throws {
        try await api.shutdown()
        try await proxies.shutdown()
        try await collector.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
