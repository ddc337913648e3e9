import KubernetesModels
import TransportErrors

/// Why a request to the Kubernetes API failed, with a bounded `reason` for the agent's metrics.
public enum KubernetesAPIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 410 Gone: the resource version is too old (compacted); the caller must list again.
    case gone(message: String)
    /// 401: the token is missing, wrong or expired.
    case unauthorized(message: String)
    /// 403: the service account lacks a permission.
    case forbidden(resource: String, verb: String, message: String)
    /// 404: the resource is not served (a CRD that is not installed).
    case notFound(path: String)
    /// A 3xx: the client follows no redirect (the token would go where the configuration never
    /// said). `location` is where it pointed, without query or credentials.
    case redirect(location: String)
    /// Any other HTTP status.
    case status(code: Int, message: String)
    /// Connection refused, reset, TLS failure, or a timeout: which, and what happened.
    case transport(TransportFailure, String)
    /// The body did not decode as the expected JSON.
    case decoding(String)
    /// A watch line longer than the configured bound.
    case lineTooLong(limit: Int)
    /// A watch the server kept open past its `timeoutSeconds` with nothing on it (a stuck server
    /// or a proxy in front of it): given up at the client's deadline.
    case silentWatch(seconds: Int)
    /// The configuration to reach the API is incomplete or unsupported.
    case configuration(String)

    public var reason: String {
        switch self {
        case .gone: "gone"
        case .unauthorized: "unauthorized"
        case .forbidden: "forbidden"
        case .notFound: "not_found"
        case .redirect: "redirect"
        case .status: "http_status"
        case .transport: "transport"
        case .decoding: "decode"
        case .lineTooLong: "line_too_long"
        case .silentWatch: "silent_watch"
        case .configuration: "configuration"
        }
    }

    public var description: String {
        switch self {
        case .gone(let message): "410 Gone: \(message)"
        case .unauthorized(let message): "401 Unauthorized: \(message)"
        case .forbidden(let resource, let verb, let message): "403 Forbidden (\(verb) \(resource)): \(message)"
        case .notFound(let path): "404 Not Found: \(path)"
        case .redirect(let location):
            "the API server redirects to \(location), which the agent does not follow: set the server to it"
        case .status(let code, let message): "HTTP \(code): \(message)"
        case .transport(let failure, let message): "transport (\(failure.rawValue)): \(message)"
        case .decoding(let message): "decoding: \(message)"
        case .lineTooLong(let limit): "watch event longer than \(limit) bytes"
        case .silentWatch(let seconds): "watch still open and silent after \(seconds) s, past its timeoutSeconds"
        case .configuration(let message): message
        }
    }
}
