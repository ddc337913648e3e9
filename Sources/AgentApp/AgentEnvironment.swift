import Foundation
import KubernetesAPI
import KubernetesModels
import ReportWindows
import Reporting

/// What the agent runs against, besides its configuration: where the Kubernetes API is, the
/// clock, the configuration file to watch, timings the configuration does not expose, and who
/// hears about each queued batch. `fathom-agent run` fills it from the process; the demo, the
/// benchmark and the tests fill it for their stand-ins. Everything else is the configuration.
public struct AgentEnvironment: Sendable {
    public var connection: ClusterConnection
    /// Page size and backoff of every reflector; the watch times come from the configuration
    /// (`kubernetes.minWatchTimeout`), whatever this holds.
    public var reflectorSettings: ReflectorSettings
    public var now: @Sendable () -> Double
    /// Random per process start; with the sequence number it names every batch.
    public var instanceID: String
    /// Seconds between publications of the scrape targets (changes are coalesced).
    public var targetPublishInterval: Double
    /// Upload retry timing; the defaults suit a real collector.
    public var retry = RetryPolicy()
    /// The mounted configuration file, watched for changes (a ConfigMap update swaps a symlink);
    /// nil when the configuration does not come from a file.
    public var configurationFile: String?
    /// Seconds between checks of the configuration file.
    public var configurationCheckInterval: Double = 1
    /// Environment variables that override configuration keys, applied on reload too.
    public var variables: [String: String] = ProcessInfo.processInfo.environment
    /// The log level every handler reads; reloads change it.
    public var logLevel: LogLevelControl?
    /// Leader election in daemonset mode (when `kubernetes.nodeName` is set): only the leader
    /// reports the inventory and rollouts, every agent reports its node's routes. Nil picks
    /// client-go's timings, the Lease `<agent.id>-leader` in the pod's namespace, and the pod name
    /// (`POD_NAME`, else `HOSTNAME`) as identity.
    public var leaderElection: LeaderElectionSettings?
    /// Whether SIGTERM and SIGINT start the graceful shutdown (the executable); tests and the demo
    /// call `Agent.shutdown()` instead.
    public var handlesTerminationSignals = false
    /// When windows close: every `report.interval` (the agent); a test may close them itself.
    public var windowSchedule = WindowSchedule.everyReportInterval
    /// Called with every batch as it is queued (the demo prints from it; tests and the benchmark count).
    public var onBatch: @Sendable (QueuedBatch) -> Void = { _ in }

    public init(
        connection: ClusterConnection, reflectorSettings: ReflectorSettings = ReflectorSettings(),
        now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
        instanceID: String = String(UInt64.random(in: 0...UInt64.max), radix: 16), targetPublishInterval: Double = 1
    ) {
        self.connection = connection
        self.reflectorSettings = reflectorSettings
        self.now = now
        self.instanceID = instanceID
        self.targetPublishInterval = targetPublishInterval
    }
}
