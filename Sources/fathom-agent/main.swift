// The fathom-agent executable: command-line entry points only; the work lives in AgentApp.
import AgentApp
import AgentConfiguration
import ArgumentParser
import AsyncHTTPClient
import Foundation
import KubernetesAPI
import Logging

@main
struct FathomAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fathom-agent",
        abstract: "In-cluster metrics agent for Linkerd-meshed Kubernetes clusters.",
        subcommands: [
            RunCommand.self, DemoCommand.self, RoutesCommand.self, CheckCommand.self, ConfigReferenceCommand.self,
            VersionCommand.self,
        ])
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the agent: watch the cluster, scrape every meshed pod, report to the SaaS until SIGTERM.")

    @Option(help: "The configuration file (mounted from the chart's ConfigMap).")
    var config = "/etc/fathom/config.yaml"

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration: AgentConfiguration
        do {
            let text = FileManager.default.contents(atPath: config).map { String(decoding: $0, as: UTF8.self) }
            configuration = try ConfigurationLoader.load(yaml: text ?? "", environment: environment)
        } catch {
            FileHandle.standardError.write(Data("fathom-agent: invalid configuration in \(config):\n\(error)\n".utf8))
            throw ExitCode(2)
        }
        let level = LogLevelControl(Logger.Level(rawValue: configuration.logLevel) ?? .info)
        let format = StructuredLogHandler.Format(rawValue: configuration.logFormat) ?? .json
        LoggingSystem.bootstrap { label in StructuredLogHandler(label: label, format: format, control: level) }
        let logger = Logger(label: "fathom.agent")
        let connection: ClusterConnection
        do {
            connection = try ClusterConnection.forAgent(kubeconfig: configuration.kubeconfig, environment: environment)
        } catch {
            logger.critical("cannot reach the Kubernetes API", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        let agent = Agent(
            configuration: configuration, environment: AgentEnvironment(connection: connection), logger: logger)
        agent.shutdown.fireOnTerminationSignals()
        try await agent.run()
    }
}

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract:
            "Run the real agent against a built-in simulated cluster and proxies; print a live per-route table.")

    @Option(help: "Seconds to run; 0 runs until interrupted.")
    var duration: Double = 60

    @Option(help: "Seconds between scrapes of each simulated proxy.")
    var scrapeInterval: Double = 2

    @Option(help: "Seconds per aggregation window (one table per window).")
    var window: Double = 10

    @Option(help: "Seed of the simulated traffic.")
    var seed: UInt64 = 42

    @Option(help: "Port of the admin endpoints (/metrics, /healthz, /readyz, /debug/routes) on 127.0.0.1; 0 picks one.")
    var adminPort = 0

    func validate() throws {
        guard scrapeInterval > 0 else { throw ValidationError("--scrape-interval must be positive") }
        guard window >= scrapeInterval else { throw ValidationError("--window must be at least --scrape-interval") }
    }

    func run() async throws {
        var options = DemoOptions()
        options.duration = duration
        options.scrapeInterval = scrapeInterval
        options.windowLength = window
        options.seed = seed
        options.adminPort = adminPort
        let demo = Demo(options: options, output: { line in print(line) })
        try await demo.run()
    }
}

struct RoutesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routes",
        abstract: "Print a running agent's per-route table (success rate, RPS, latency quantiles) from /debug/routes.")

    @Option(help: "The agent's admin address.")
    var agent = "http://127.0.0.1:9990"

    func run() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let routes = try await RoutesClient.fetch(agent: agent, client: client)
            print(
                routes.isEmpty
                    ? "no route traffic in the last window" : RouteTable.render(rows: RouteTable.rows(routes)))
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            print("error: \(error)")
            throw ExitCode(1)
        }
    }
}

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract:
            "Check the configuration, the Kubernetes API permissions and the collector; print a checklist with a hint per failure."
    )

    @Option(help: "The configuration file (mounted from the chart's ConfigMap).")
    var config = "/etc/fathom/config.yaml"

    @Flag(help: "Check only the configuration file, without reaching the Kubernetes API or the collector.")
    var offline = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var items = ConfigurationCheck.run(path: config, environment: environment)
        let text = FileManager.default.contents(atPath: config).map { String(decoding: $0, as: UTF8.self) }
        if !offline, let text, let configuration = try? ConfigurationLoader.load(yaml: text, environment: environment) {
            let connection = Result { () throws(KubernetesAPIError) in
                try ClusterConnection.forAgent(kubeconfig: configuration.kubeconfig, environment: environment)
            }
            items += await ConnectivityCheck.run(configuration: configuration, connection: connection)
        }
        print(ConfigurationCheck.render(items))
        if items.contains(where: { !$0.passed }) { throw ExitCode(1) }
    }
}

struct ConfigReferenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config-reference", abstract: "Print every configuration key as a Markdown table.")

    func run() {
        print(ConfigurationKey.reference, terminator: "")
    }
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the agent's version.")

    func run() {
        print("fathom-agent \(AgentVersion.current)")
    }
}
