import AgentConfiguration
import FathomModel

/// A meshed pod's linkerd-proxy to scrape.
public struct ScrapeTarget: Hashable, Sendable {
    /// The proxy: its pod, as `namespace/name`.
    public var proxy: ProxyID
    public var workload: WorkloadRef
    /// `http://<pod IP>:<admin port>/metrics`.
    public var url: String

    public init(proxy: ProxyID, workload: WorkloadRef, url: String) {
        self.proxy = proxy
        self.workload = workload
        self.url = url
    }

    /// The proxy's admin port, the one its URL names (`http://<pod IP>:<port>/metrics`).
    public var adminPort: Int? { ScrapeConnection.Endpoint(url)?.port }
}

/// Scrape settings (the `scrape.*` configuration keys).
public struct ScrapeSettings: Sendable, Equatable {
    /// Seconds between two scrapes of one proxy.
    public var interval: Double
    /// Seconds one scrape may take; below the interval.
    public var timeout: Double
    /// Largest page accepted, after decompression, in bytes.
    public var maxPageBytes: Int
    /// Scrapes in flight at once across all proxies (restart only: the manager sizes its
    /// permits once).
    public var maxConcurrentScrapes: Int
    /// Bytes the pages in flight may hold together, as received and as inflated (restart only).
    public var maxBytesInFlight: Int
    /// Series one proxy's decoder remembers; new ones past it are counted as over the limit.
    public var maxSeriesPerProxy: Int
    /// Seconds a series may be absent from a proxy's pages before its decoder forgets it; while
    /// remembered it resumes from its last value. Longer than Linkerd's 10-minute idle expiry, so
    /// a series Linkerd still holds is never forgotten.
    public var staleAfterSeconds: Double = 900

    /// The `scrape` keys (and `aggregation.maxSeriesPerProxy`) of a configuration.
    public init(_ configuration: AgentConfiguration) {
        interval = configuration.scrapeInterval
        timeout = configuration.scrapeTimeout
        maxPageBytes = configuration.maxPageBytes
        maxConcurrentScrapes = configuration.maxConcurrentScrapes
        maxBytesInFlight = configuration.maxBytesInFlight
        maxSeriesPerProxy = configuration.maxSeriesPerProxy
    }

    /// The configuration table's defaults.
    public init() { self.init(.defaults) }

    /// `staleAfterSeconds` in pages at the current interval.
    var stalePages: Int { max(1, Int((staleAfterSeconds / max(interval, 0.001)).rounded(.up))) }
}

/// Why a scrape failed: a bounded set, used as the `reason` label of the failures metric.
public enum ScrapeFailure: String, Sendable, CaseIterable, Error {
    case timeout
    case refused
    case reset
    case httpStatus = "http_status"
    /// A 403: the proxy's authorization policy refused the scrape (a default-deny policy, or a
    /// Server on the admin port whose AuthorizationPolicy does not admit the agent).
    case forbidden
    case tooLarge = "too_large"
    /// The answer ended before its body did (short of its `Content-Length`, or a chunked body
    /// without its last chunk).
    case truncated
    case parseError = "parse_error"
    /// The page outgrew what was free of `scrape.maxBytesInFlight` while other pages held the rest;
    /// the target's next scrape waits until its whole page fits.
    case overBudget = "over_budget"
    case other
}

/// The offset of a proxy's scrapes within the interval, the same on every run, so scrapes of many
/// proxies spread evenly instead of all firing at once (as Prometheus does per target).
public enum ScrapeOffset {
    public static func seconds(for proxy: ProxyID, interval: Double) -> Double {
        // FNV-1a: stable across processes, unlike String.hashValue.
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in proxy.rawValue.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        return Double(hash % 1_000_000) / 1_000_000 * interval
    }
}
