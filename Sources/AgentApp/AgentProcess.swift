import AgentConfiguration
import KubernetesAPI
import Logging

/// `fathom-agent run` once its configuration is loaded and logging is set up: the connection
/// from the configuration or the pod, an environment from the process (the file to watch, the
/// log level to change, SIGTERM and SIGINT), and the agent's service graph run to its end.
public enum AgentProcess {
    /// Why the agent could not start.
    public struct StartupError: Error, CustomStringConvertible {
        public var description: String
    }

    public static func run(
        configuration: AgentConfiguration, configurationFile: String, logLevel: LogLevelControl,
        variables: [String: String], logger: Logger
    ) async throws {
        let connection: ClusterConnection
        do {
            connection = try ClusterConnection.forAgent(kubeconfig: configuration.kubeconfig, environment: variables)
        } catch {
            logger.critical("cannot reach the Kubernetes API", metadata: ["error": "\(error)"])
            throw StartupError(description: "cannot reach the Kubernetes API: \(error)")
        }
        var environment = AgentEnvironment(connection: connection)
        environment.configurationFile = configurationFile
        environment.variables = variables
        environment.logLevel = logLevel
        environment.handlesTerminationSignals = true
        let agent = try Agent(configuration: configuration, environment: environment, logger: logger)
        try await agent.run()
    }
}
