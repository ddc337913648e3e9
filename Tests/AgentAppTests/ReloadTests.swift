import AgentApp
import AgentConfiguration
import AgentTestSupport
import Foundation
import KubernetesAPI
import KubernetesModels
import LocalServers
import Logging
import ProxySimulation
import Testing

/// Configuration reload as a ConfigMap update does it: the mounted `config.yaml` is a symlink
/// through `..data`, which the kubelet swaps atomically to a new directory.
@Suite struct ReloadTests {
    static func yaml(interval: String, level: String, exclude: [String], concurrent: Int, collector: String) -> String {
        """
        cluster: {name: reload-test}
        report: {endpoint: "\(collector)", interval: \(interval), tokenFile: ""}
        scrape: {interval: 1s, timeout: 500ms, maxConcurrent: \(concurrent), namespaces: {exclude: [\(exclude.joined(separator: ", "))]}}
        logging: {level: \(level)}
        admin: {address: 127.0.0.1, port: 0}
        """
    }

    @Test func liveKeysApplyInvalidFilesAreCountedAndRestartKeysWait() async throws {
        let demo = try await ServedDemoCluster.start()
        let (proxies, api) = (demo.proxies, demo.api)
        let collector = try await FakeCollector.start()
        let mount = try MountedVolume(named: "configmap", file: "config.yaml")
        try mount.publish(
            Self.yaml(interval: "30s", level: "info", exclude: [], concurrent: 32, collector: collector.url))
        let configuration = try ConfigurationLoader.load(yaml: String(contentsOfFile: mount.file, encoding: .utf8))
        var environment = AgentEnvironment(connection: api.connection, targetPublishInterval: 0.1)
        environment.configurationFile = mount.file
        environment.configurationCheckInterval = 0.1
        environment.variables = [:]
        let level = LogLevelControl(.info)
        environment.logLevel = level
        let agent = try Agent(configuration: configuration, environment: environment, logger: Logger(label: "reload"))

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await agent.run() }
            #expect(await eventually { agent.isReady && agent.discoveredTargets.count == SimulatedMesh.demoPodCount })

            // A valid change: live keys apply, the concurrency cap (restart only) does not.
            try mount.publish(
                Self.yaml(
                    interval: "7s", level: "debug", exclude: ["emojivoto"], concurrent: 8,
                    collector: collector.url))
            #expect(await eventually { agent.currentConfiguration.reportInterval == 7 })
            #expect(agent.currentConfiguration.excludeNamespaces == ["emojivoto"])
            #expect(agent.currentConfiguration.maxConcurrentScrapes == 32)
            #expect(level.level == .debug)
            #expect(await eventually { agent.discoveredTargets.allSatisfy { !$0.hasPrefix("emojivoto/") } })
            #expect(Set(agent.discoveredTargets) == ["booksapp/db-7f6e5d4c3-k9p2x", "booksapp/webapp-9d7c6b5a4-wq8zr"])
            let exposition = String(decoding: agent.metrics.exposition(), as: UTF8.self)
            #expect(exposition.contains(#"fathom_config_reloads_total{result="success"} 1"#))

            // An invalid file: counted, logged, and the running configuration stays.
            try mount.publish("cluster: {name: x}\nreport: {endpoint: nowhere}\nscrape: {interval: soon}\n")
            #expect(
                await eventually {
                    String(decoding: agent.metrics.exposition(), as: UTF8.self)
                        .contains(#"fathom_config_reloads_total{result="failure"} 1"#)
                })
            #expect(agent.currentConfiguration.reportInterval == 7)
            #expect(agent.currentConfiguration.clusterName == "reload-test")

            await agent.shutdown()
            try await group.waitForAll()
        }
        try await api.shutdown()
        try await proxies.shutdown()
        try await collector.shutdown()
    }
}
