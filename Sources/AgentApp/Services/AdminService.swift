import ClusterDiscovery
import HTTPServing
import Logging
import ReportWindows
import ServiceLifecycle
import Synchronization

/// The admin endpoints as a service: it listens first and stops last, so probes and `/metrics`
/// answer while the rest of the agent shuts down.
final class AdminService: Service, Sendable {
    private let address: String
    private let port: Int
    private let metrics: AgentMetrics
    private let readiness: @Sendable () -> Readiness
    private let lastWindow: LastWindow
    private let logger: Logger
    private let bound = Mutex(0)
    private let refusalsLogged = Mutex(Set<SimpleHTTPServer.Refusal>())

    init(
        address: String, port: Int, metrics: AgentMetrics, readiness: @escaping @Sendable () -> Readiness,
        lastWindow: LastWindow, logger: Logger
    ) {
        self.address = address
        self.port = port
        self.metrics = metrics
        self.readiness = readiness
        self.lastWindow = lastWindow
        self.logger = logger
    }

    /// The port it listens on once it does (useful with port 0), else 0.
    var boundPort: Int { bound.withLock { $0 } }

    func run() async throws {
        let server: AdminServer
        do {
            server = try await AdminServer.start(
                host: address, port: port, metrics: metrics, readiness: readiness,
                lastWindow: { [lastWindow] in lastWindow.window.withLock { $0 } },
                checks: { [lastWindow] in lastWindow.checks.withLock { $0 } },
                encodeFailed: { [logger] error in
                    logger.error("cannot encode an admin answer", metadata: ["error": "\(error)"])
                },
                refused: { [logger, self] reason in
                    // Once per reason: an attack must not flood the log; the counter has the rest.
                    guard self.refusalsLogged.withLock({ $0.insert(reason).inserted }) else { return }
                    logger.warning(
                        "admin server cut a client off; later ones are counted in fathom_admin_requests_refused_total",
                        metadata: ["reason": "\(reason.rawValue)"])
                })
        } catch {
            throw AgentFailure.adminUnavailable(address: address, port: port, error: "\(error)")
        }
        bound.withLock { $0 = server.port }
        logger.info(
            "admin server listening", metadata: ["admin.address": "\(address)", "admin.port": "\(server.port)"])
        try? await gracefulShutdown()
        try? await server.shutdown()
    }
}
