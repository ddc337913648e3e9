import AgentConfiguration
import AsyncSignals
import Foundation
import LogWhenChanged
import Logging
import ServiceLifecycle
import Synchronization

/// Reloads the mounted configuration file when its content changes (an edit in place, or a
/// ConfigMap update swapping the `..data` symlink). A valid file's live keys apply at once, each
/// where `ConfigurationKey.reload` says; keys that need a restart are named in the log; an
/// invalid file is counted and logged with every problem, and the running configuration stays.
struct ConfigurationWatcher: Service {
    let file: String
    let checkInterval: Double
    let variables: [String: String]
    let live: LiveConfiguration
    let metrics: AgentMetrics
    let logger: Logger
    /// Hands a reload's changed settings to the parts of the agent that use them.
    let apply: @Sendable (ConfigurationReload) async -> Void

    func run() async {
        var lastText = LoggedState(try? ConfigurationLoader.text(ofFile: file))
        while await sleepUnlessShuttingDown(seconds: checkInterval) {
            let text: String
            do {
                text = try ConfigurationLoader.text(ofFile: file)
            } catch {
                // Mid-swap, or removed: a problem only if it stays so; logged once per change.
                if lastText.record(nil) != nil {
                    metrics.recordConfigReload("failure")
                    logger.error(
                        "configuration file unreadable; keeping the running configuration",
                        metadata: ["config.file": "\(file)", "error": "\(error)"])
                }
                continue
            }
            guard lastText.record(text) != nil else { continue }
            let loaded: AgentConfiguration
            do {
                loaded = try ConfigurationLoader.load(yaml: text, environment: variables)
            } catch {
                metrics.recordConfigReload("failure")
                logger.error(
                    "configuration reload failed; keeping the running configuration",
                    metadata: [
                        "config.file": "\(file)",
                        "config.problems": "\(error.problems.map(\.description).joined(separator: "; "))",
                    ])
                continue
            }
            let reload = live.current.reloaded(with: loaded)
            live.replace(with: reload.configuration)
            await apply(reload)
            metrics.recordConfigReload("success")
            logger.info(
                "configuration reloaded",
                metadata: ["config.file": "\(file)", "config.applied": "\(reload.applied.joined(separator: ","))"])
            if !reload.needRestart.isEmpty {
                logger.warning(
                    "configuration keys changed that apply only after a restart",
                    metadata: ["config.keys": "\(reload.needRestart.joined(separator: ","))"])
            }
        }
    }
}

/// The configuration in effect: the one the agent started with, plus reloaded live keys.
final class LiveConfiguration: Sendable {
    private let value: Mutex<AgentConfiguration>

    init(_ configuration: AgentConfiguration) {
        value = Mutex(configuration)
    }

    var current: AgentConfiguration { value.withLock { $0 } }

    func replace(with configuration: AgentConfiguration) {
        value.withLock { $0 = configuration }
    }
}
