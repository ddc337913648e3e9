/// What to do after an upload attempt: pure, so every rule is a table test.
///
/// - 2xx acknowledges the batch.
/// - 408, 429, every 5xx and transport errors (refused, reset, timeout, TLS) are transient: retry
///   with jittered exponential backoff, waiting at least what `Retry-After` asks (capped).
/// - 3xx is a redirect, which the agent never follows (the batch would go where the configuration
///   never said): retried with backoff at the configured endpoint, as `redirect`.
/// - 401 and 403 say the credentials are wrong, which a rotated Secret mends (the token file is
///   read again after such an answer): retried like the transient ones for
///   `credentialsGracePeriod` from the batch's first attempt, so nothing is lost while it
///   rotates, then dropped.
/// - 413 says the batch is too large for the collector: split it in two and send the parts.
/// - Any other status is permanent: the batch is dropped, counted, and the server's message logged.
public struct RetryPolicy: Sendable, Equatable {
    /// The first retry waits about this long, in seconds.
    public var initialBackoff: Double = 1
    /// Backoff stops growing here.
    public var maxBackoff: Double = 60
    public var multiplier: Double = 2
    /// A server asking for more than this (seconds) is capped, so a bad header cannot stall reporting.
    public var maxRetryAfter: Double = 600
    /// How long (seconds) a batch answered 401 or 403 is retried before it is dropped.
    public var credentialsGracePeriod: Double = 3_600

    public init() {}

    /// Every reason a retry is counted under: the statuses' and the transport errors' (bounded).
    public static let retryReasons = [
        "throttled", "http_4xx", "http_5xx", "redirect", "unauthorized", "forbidden", "refused", "reset", "timeout",
        "tls", "dns", "other",
    ]

    /// Every reason a batch is dropped under, by the policy or by the uploader's bounds.
    public static let dropReasons = [
        "rejected", "too_large", "unauthorized", "forbidden", "queue_full", "spool_full", "spool_unreadable",
        "spool_damaged",
    ]

    /// How one attempt ended.
    public enum Outcome: Sendable, Equatable {
        case status(Int, retryAfter: Double?)
        /// The request did not get a response; `reason` is a bounded label (refused, reset, timeout, tls, dns,
        /// other).
        case transportError(reason: String)
    }

    public enum Decision: Sendable, Equatable {
        case acknowledged
        /// Try again after `delay` seconds; `reason` is a bounded label for the retries metric.
        case retry(delay: Double, reason: String)
        /// Give up on this batch; `reason` is a bounded label for the dropped metric.
        case drop(reason: String)
        /// Send the batch as two parts instead (`BatchSplitter`); a batch that cannot be split is
        /// dropped as `too_large`.
        case split
    }

    /// The decision after attempt number `attempt` (1 for the first try) ended with `outcome`,
    /// `failingFor` seconds after the batch's first attempt. `random` gives the jitter: the delay
    /// is uniformly between half and all of the backoff.
    public func decide(
        _ outcome: Outcome, attempt: Int, failingFor: Double = 0, random: inout some RandomNumberGenerator
    ) -> Decision {
        let reason: String
        var serverDelay = 0.0
        switch outcome {
        case .status(let code, let retryAfter):
            switch code {
            case 200..<300:
                return .acknowledged
            case 413:
                return .split
            case 300..<400:
                reason = "redirect"
            case 408, 429, 500..<600:
                reason = code == 429 ? "throttled" : "http_\(code / 100)xx"
                serverDelay = min(maxRetryAfter, max(0, retryAfter ?? 0))
            case 401, 403:
                reason = code == 401 ? "unauthorized" : "forbidden"
                guard failingFor < credentialsGracePeriod else { return .drop(reason: reason) }
            default:
                return .drop(reason: "rejected")
            }
        case .transportError(let transportReason):
            reason = transportReason
        }
        let exponent = Double(max(0, attempt - 1))
        let backoff = min(maxBackoff, initialBackoff * pow(multiplier, exponent))
        let jittered = backoff / 2 + Double.random(in: 0...(backoff / 2), using: &random)
        return .retry(delay: max(serverDelay, jittered), reason: reason)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
