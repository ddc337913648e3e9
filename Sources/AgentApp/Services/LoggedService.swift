import Logging
import ServiceLifecycle

/// A service of the agent's group under its name: a failure is logged once, with the service and
/// the error, before it ends the group (the agent then exits non-zero).
struct LoggedService: Service, CustomStringConvertible {
    let name: String
    let base: any Service
    let logger: Logger

    var description: String { name }

    func run() async throws {
        do {
            try await base.run()
        } catch let error where !(error is CancellationError) {
            logger.error("service failed; stopping the agent", metadata: ["service": "\(name)", "error": "\(error)"])
            throw AgentFailure.service(name: name, error: "\(error)")
        }
    }
}

/// Why the agent stopped before it was asked to.
public enum AgentFailure: Error, Sendable, CustomStringConvertible {
    /// A service of the group failed; its log line says more.
    case service(name: String, error: String)
    /// The admin server could not listen.
    case adminUnavailable(address: String, port: Int, error: String)

    public var description: String {
        switch self {
        case .service(let name, let error): "the \(name) service failed: \(error)"
        case .adminUnavailable(let address, let port, let error):
            "cannot listen on \(address):\(port) for the admin endpoints (\(error)); another process holds the port: "
                + "set admin.port (or admin.address) to a free one"
        }
    }
}
