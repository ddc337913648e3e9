import AgentApp
import AgentConfiguration
import Foundation
import LocalServers
import Logging
import ReportWindows
import Reporting

/// The real `Agent` as the oracle suites run it: against the fake Kubernetes API and a local
/// collector, scraping every `scrapeInterval` seconds, its windows closed by the test through
/// `trigger` (each once the scrapes it needs have been taken, however busy the machine).
enum OracleAgent {
    static func make(
        name: String, api: FakeKubernetesAPI, collector: FakeCollector, scrapeInterval: Double,
        trigger: WindowTrigger, onBatch: @escaping @Sendable (QueuedBatch) -> Void = { _ in }
    ) throws -> Agent {
        var configuration = AgentConfiguration()
        configuration.clusterName = name
        configuration.agentID = "fathom-\(name)"
        configuration.reportEndpoint = collector.url
        configuration.tokenFile = ""
        configuration.scrapeInterval = scrapeInterval
        configuration.scrapeTimeout = 2
        configuration.adminAddress = "127.0.0.1"
        configuration.adminPort = 0
        var logger = Logger(label: name)
        logger.logLevel = .error
        var environment = AgentEnvironment(connection: api.connection, targetPublishInterval: 0.1)
        environment.windowSchedule = .onTrigger(trigger)
        environment.onBatch = onBatch
        return try Agent(configuration: configuration, environment: environment, logger: logger)
    }
}
