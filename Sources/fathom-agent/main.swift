// The fathom-agent executable: command-line entry points only; the work lives in AgentApp.
import AgentApp
import AgentConfiguration
import ArgumentParser
import Foundation
import Logging
import MeshHealth

@main
struct FathomAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fathom-agent",
        abstract: "In-cluster metrics agent for Linkerd-meshed Kubernetes clusters.",
        version: "fathom-agent \(AgentVersion.current)",
        subcommands: [
            RunCommand.self, RoutesCommand.self, MeshCommand.self, CheckCommand.self, ConfigReferenceCommand.self,
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
            configuration = try ConfigurationLoader.load(file: config, environment: environment)
        } catch {
            FileHandle.standardError.write(Data("fathom-agent: cannot start: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let level = LogLevelControl(Logger.Level(rawValue: configuration.logLevel) ?? .info)
        let format = StructuredLogHandler.Format(rawValue: configuration.logFormat) ?? .json
        LoggingSystem.bootstrap { label in StructuredLogHandler(label: label, format: format, control: level) }
        do {
            try await AgentProcess.run(
                configuration: configuration, configurationFile: config, logLevel: level, variables: environment,
                logger: Logger(label: "fathom.agent"))
        } catch {
            FileHandle.standardError.write(Data("fathom-agent: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct RoutesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routes",
        abstract: "Print a running agent's per-route table (success rate, RPS, latency quantiles) from /debug/routes.")

    @Option(help: "The agent's admin address (http://host:port, or host:port).")
    var agent = "http://127.0.0.1:9990"

    @Option(
        help: "One row per route, per revision of a workload (a rollout's old and new side by side), or per workload."
    )
    var by = RouteGrouping.route

    @Flag(help: "List every failure reason with its share, not only the commonest.")
    var failures = false

    func run() async throws {
        do {
            print(try await RoutesClient.table(agent: agent, by: by, allFailures: failures))
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }
}

extension RouteGrouping: ExpressibleByArgument {}

struct MeshCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mesh",
        abstract:
            "Print a running agent's mesh health checks as linkerd check does, from /debug/mesh; exits 1 when a check "
            + "errors, 2 when the agent cannot be read.")

    @Option(help: "The agent's admin address (http://host:port, or host:port).")
    var agent = "http://127.0.0.1:9990"

    func run() async throws {
        let checks: [MeshCheck]
        do {
            checks = try await MeshReport.fetch(agent: agent)
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        let report = MeshReport.render(checks)
        print(report.text)
        if report.worst == .error { throw ExitCode(1) }
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
        let items = await ConfigurationCheck.all(
            path: config, environment: ProcessInfo.processInfo.environment, offline: offline)
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

/// Writes a line to standard error: what went wrong stays apart from what a command prints for
/// a pipe.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
