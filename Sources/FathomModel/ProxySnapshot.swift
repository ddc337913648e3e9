/// The cumulative route counters of one proxy at one scrape.
///
/// Raw series keep their identity (a dense index stable across the scrapes of one decoder) so the
/// aggregator can take deltas per series, as Prometheus's `rate` does, before summing them.
/// `routes` and `series` only grow between scrapes and are shared copy-on-write with the decoder,
/// so handing a snapshot over costs no copy in steady state; `values` is the page's own.
public struct ProxySnapshot: Sendable {
    /// Identifies the decoder's series numbering; a new epoch means indices were reassigned and
    /// the proxy must be baselined again.
    public var epoch: UInt64
    /// Route identities, referenced by `SeriesDescriptor.route`.
    public var routes: [RouteIdentity]
    /// Every series the decoder has numbered, by index.
    public var series: [SeriesDescriptor]
    /// Roles, referenced by `SeriesDescriptor.role`.
    public var roles: [SeriesRole]
    /// The value of each series on this page (same count as `series`); NaN where the series was
    /// absent from the page or is not a route series. A new array each page: the decoder does not
    /// keep values, the aggregator keeps its own compact copy, so they are held once.
    public var values: [Double]
    /// `process_start_time_seconds`: changes when the proxy restarts.
    public var processStartTime: Double?
    /// `proxy_build_info`, when the page has it.
    public var build: ProxyBuildInfo?
    /// The proxy's own identity certificate, when the page has any of its series.
    public var certificate: ProxyCertificate?
    /// What reading the page found besides the series.
    public var stats: PageStats
    /// Set on the page where the decoder dropped long-unseen series and renumbered the rest: how
    /// to carry state kept under the previous epoch over to this one.
    public var renumbering: SeriesRenumbering?
    /// Series numbered on this page that the decoder had refused before, at its series limit:
    /// they have a history the agent did not see, so their first value is a baseline. Almost
    /// always empty.
    public var admittedAfterRefusal: [Int32] = []

    public init(
        epoch: UInt64, routes: [RouteIdentity] = [], series: [SeriesDescriptor] = [], roles: [SeriesRole] = [],
        values: [Double] = [], processStartTime: Double? = nil, build: ProxyBuildInfo? = nil,
        stats: PageStats = PageStats()
    ) {
        self.epoch = epoch
        self.routes = routes
        self.series = series
        self.roles = roles
        self.values = values
        self.processStartTime = processStartTime
        self.build = build
        self.stats = stats
    }
}

extension ProxySnapshot {
    /// A snapshot from series given with their roles, which are interned here (for tests and
    /// tools that build snapshots by hand).
    public init(
        epoch: UInt64, routes: [RouteIdentity], seriesRoles: [(route: Int32, role: SeriesRole)], values: [Double],
        processStartTime: Double? = nil, stats: PageStats = PageStats()
    ) {
        var roles: [SeriesRole] = []
        let series = seriesRoles.map { entry -> SeriesDescriptor in
            if let known = roles.firstIndex(of: entry.role) {
                return SeriesDescriptor(route: entry.route, role: UInt8(known))
            }
            roles.append(entry.role)
            return SeriesDescriptor(route: entry.route, role: UInt8(roles.count - 1))
        }
        self.init(
            epoch: epoch, routes: routes, series: series, roles: roles, values: values,
            processStartTime: processStartTime, stats: stats)
    }

    /// The role of a series.
    @inline(__always)
    public func role(of descriptor: SeriesDescriptor) -> SeriesRole { roles[Int(descriptor.role)] }
}

/// How a decoder renumbered its series and routes when it dropped the ones a proxy no longer
/// reports (pods churn, so label values like `dst_pod` come and go).
public struct SeriesRenumbering: Sendable, Equatable {
    /// The epoch the maps translate from.
    public var fromEpoch: UInt64
    /// New index of each old series index, or -1 for a dropped series.
    public var series: [Int32]
    /// New index of each old route index, or -1 for a dropped route.
    public var routes: [Int32]

    public init(fromEpoch: UInt64, series: [Int32], routes: [Int32]) {
        self.fromEpoch = fromEpoch
        self.series = series
        self.routes = routes
    }
}

/// The proxy's version, from `proxy_build_info`.
public struct ProxyBuildInfo: Sendable, Hashable {
    /// `version` (current proxies) or `git_version` (2020–2022 proxies).
    public var version: String
    public var gitSHA: String
    public var vendor: String

    public init(version: String, gitSHA: String, vendor: String) {
        self.version = version
        self.gitSHA = gitSHA
        self.vendor = vendor
    }
}

/// Counts from reading one page.
public struct PageStats: Sendable, Equatable {
    public var bytes = 0
    public var lines = 0
    public var samples = 0
    /// Samples of the families the agent aggregates.
    public var routeSamples = 0
    /// Lines that did not parse and were skipped.
    public var badLines = 0
    /// The same lines by their bounded reason (a `ParseError.Reason` raw value); empty, and
    /// costing nothing, on a clean page.
    public var badLinesByReason: [String: Int] = [:]
    /// The first bad line, for the log.
    public var firstBadLine: PageProblem?
    /// New series not numbered because the decoder reached its series limit; their counts are lost.
    public var seriesOverLimit = 0

    public init() {}
}

/// A problem found on a page, with a bounded `reason` suitable as a metric label.
public struct PageProblem: Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public var line: Int
    public var column: Int

    public init(reason: String, line: Int, column: Int) {
        self.reason = reason
        self.line = line
        self.column = column
    }

    public var description: String { "\(reason) at line \(line), column \(column)" }
}
