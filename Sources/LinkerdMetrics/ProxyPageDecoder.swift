import FathomModel
import PrometheusText

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the pages of one linkerd-proxy into `ProxySnapshot`s, one decoder per scrape target.
///
/// The first time a series (metric name plus label set, exactly as written) appears, its line is
/// parsed and validated completely and the series is classified: a route counter, a histogram
/// bucket or sum, the start time, the build info, or ignored. The decoder then remembers only the
/// top 48 bits of a 64-bit fingerprint of the series text and a 4-byte descriptor (`SeriesTable` says why every
/// byte per series counts). On later pages a line whose series text has a known fingerprint costs
/// a hash and the parse of its value: no label parsing. The decoder keeps no values: each page's
/// values are a new array that goes with the snapshot (the one allocation of a steady-state page).
/// Lines that do not parse are skipped and counted, or reject the page, as `badLinePolicy` says.
/// So are two kinds of lines that parse but cannot be counted: a series the page already had (the
/// first copy is used, as Prometheus keeps the first sample of a series in a scrape and rejects
/// the others; a later copy is counted as a bad line) and a route series whose value is NaN or
/// ±Inf (counting it would make every later window NaN or infinite; the series keeps its last
/// value instead).
public struct ProxyPageDecoder: Sendable {
    /// How many series (route series and ignored ones) one proxy may have numbered. A page with
    /// more new series than this has the excess counted in `PageStats.seriesOverLimit`.
    public var maxSeries: Int
    public var badLinePolicy: BadLinePolicy
    /// A series missing from this many consecutive pages is forgotten, and the remaining series
    /// renumbered (see `SeriesRenumbering`). Linkerd itself drops idle series after 10 minutes;
    /// at a 10 s scrape interval the default is 15 minutes.
    public var staleAfterPages: Int = 90
    /// The proxy's admin port (`config.linkerd.io/admin-port`, 4191 by default): inbound series
    /// on it are its own admin traffic (`RouteIdentity.toProxyAdmin`). Set before the first page.
    public var adminPort = 4191 {
        didSet { adminPortLabel = String(adminPort) }
    }
    private var adminPortLabel = "4191"
    /// How often, in pages, to look for forgotten series.
    public var compactionCheckInterval: Int = 30

    private var table = SeriesTable()
    private var routes: [RouteIdentity] = []
    private var routeIndex = RouteIndex()
    /// Descriptor per table entry, route series and the others alike.
    private var series: [SeriesDescriptor] = []
    private var roles: [SeriesRole] = []
    private var roleIndex: [SeriesRole: UInt8] = [:]
    private var build: ProxyBuildInfo?
    private var epoch: UInt64
    private var pageNumber: UInt32 = 0
    /// The histogram key of the series numbered last, if it was a bucket or sum: the next series
    /// continues that histogram when its key is the same.
    private var lastHistogram: Int?
    /// Fingerprints of route series refused at the series limit, so that one numbered later
    /// (once forgotten series made room) is known to have a history: its first value is then a
    /// baseline, not requests. Bounded by `maxRemembered`; past it, every series numbered later
    /// is taken as refused before.
    private var refused: Set<UInt64> = []
    private var refusedBeyondMemory = false
    static let maxRemembered = 4_096

    public init(maxSeries: Int = 100_000, badLinePolicy: BadLinePolicy = .skipLine) {
        self.maxSeries = maxSeries
        self.badLinePolicy = badLinePolicy
        self.epoch = UInt64.random(in: 1...UInt64.max)
    }

    /// Decodes one page given as bytes.
    public mutating func decode(_ bytes: [UInt8]) throws(ParseError) -> ProxySnapshot {
        let result = bytes.withUnsafeBytes { buffer -> Result<ProxySnapshot, ParseError> in
            do throws(ParseError) {
                return .success(try decode(buffer))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Decodes one page. Throws only under `.rejectPage`; the decoder's numbering is kept either way.
    public mutating func decode(_ bytes: UnsafeRawBufferPointer) throws(ParseError) -> ProxySnapshot {
        var parser = ExpositionParser(bytes)
        let view = parser.page
        var stats = PageStats()
        stats.bytes = bytes.count
        var processStartTime: Double?
        var sawBuild = false
        var certificate: ProxyCertificate?
        pageNumber &+= 1
        let page = UInt16(truncatingIfNeeded: pageNumber)
        let knownBefore = table.count
        var values = [Double](repeating: .nan, count: series.count)
        var admittedAfterRefusal: [Int32] = []
        if knownBefore == 0 {
            // A first page: every line is new, so make room for them all at once.
            let lines = min(Self.lineCount(bytes), maxSeries)
            table.reserve(lines)
            series.reserveCapacity(lines)
            values.reserveCapacity(lines)
        }

        while let line = parser.nextLine() {
            guard line.start < line.end else {
                // A blank line; the final one is empty by construction.
                continue
            }
            let first = view[line.start]
            if first == UInt8(ascii: "#") && line.isTerminated { continue }

            // Fast path: a complete line whose series was seen before.
            if line.isTerminated, first != UInt8(ascii: " "), let keyEnd = parser.seriesEnd(of: line) {
                let length = keyEnd - line.start
                let fingerprint = SeriesFingerprint.hash(view.base + line.start, count: length)
                if let entry = table.find(fingerprint, page: page),
                    let (value, _) = try? parser.parseValue(of: line, after: keyEnd)
                {
                    stats.samples += 1
                    if let problem = record(
                        entry, value, &values, &stats, &processStartTime, &sawBuild, &certificate)
                    {
                        try reject(problem, line: parser.lineNumber, &stats)
                    }
                    continue
                }
            }

            // Slow path: validate the whole line, then classify the series if it is new.
            let entry: Entry?
            do throws(ParseError) {
                entry = try parser.parse(line)
            } catch {
                try reject(error, &stats)
                continue
            }
            guard case .sample(let sample) = entry else { continue }
            stats.samples += 1
            let fingerprint = SeriesFingerprint.hash(view, sample.series)
            let target: Int32
            if let known = table.find(fingerprint, page: page) {
                target = known
            } else {
                guard table.count < maxSeries else {
                    // Past the limit nothing new is remembered, but the proxy's start time and
                    // version are still read: restart detection must not depend on the limit.
                    lastHistogram = nil
                    switch SeriesClassifier.classify(view, sample, adminPort: adminPortLabel) {
                    case .route:
                        stats.seriesOverLimit += 1
                        if refused.count < Self.maxRemembered {
                            refused.insert(fingerprint)
                        } else if !refused.contains(fingerprint) {
                            refusedBeyondMemory = true
                        }
                    case .processStartTime: processStartTime = sample.value
                    case .buildInfo(let info):
                        build = info
                        sawBuild = true
                    case .certificate(let field):
                        certificate = certificate ?? ProxyCertificate()
                        certificate!.record(field, sample.value)
                    case .ignored: break
                    }
                    continue
                }
                var kind = SeriesClassifier.classify(view, sample, adminPort: adminPortLabel)
                if case .route(let identity, _, _) = kind, !Self.fits(identity) {
                    // Numbered as ignored, so later pages do not parse it again; counted once.
                    kind = .ignored
                    try reject(.labelTooLong, line: parser.lineNumber, &stats)
                }
                if !refused.isEmpty || refusedBeyondMemory,
                    refusedBeyondMemory || refused.remove(fingerprint) != nil
                {
                    admittedAfterRefusal.append(Int32(series.count))
                }
                series.append(register(kind))
                values.append(.nan)
                target = table.append(fingerprint, page: page)
            }
            if let problem = record(
                target, sample.value, &values, &stats, &processStartTime, &sawBuild, &certificate)
            {
                try reject(problem, line: parser.lineNumber, &stats)
            }
        }
        stats.lines = parser.lineNumber
        if table.count != knownBefore {
            // Growing one series at a time leaves up to half of each array spare.
            table.trimCapacity()
            if series.capacity > series.count + series.count / 8 { series = series.withoutSpareCapacity() }
            if routes.capacity > routes.count + routes.count / 8 { routes = routes.withoutSpareCapacity() }
        }
        let checkInterval = min(max(1, compactionCheckInterval), SeriesTable.maximumAge)
        let renumbering = pageNumber % UInt32(checkInterval) == 0 ? compactIfStale(&values) : nil
        var snapshot = ProxySnapshot(
            epoch: epoch, routes: routes, series: series, roles: roles, values: values,
            processStartTime: processStartTime, build: sawBuild ? build : nil, stats: stats)
        snapshot.certificate = certificate
        snapshot.renumbering = renumbering
        if let renumbering {
            admittedAfterRefusal = admittedAfterRefusal.map { renumbering.series[Int($0)] }.filter { $0 >= 0 }
        }
        snapshot.admittedAfterRefusal = admittedAfterRefusal
        return snapshot
    }

    /// Route strings longer than this (bytes of the target, route, peer, or the peer's identity or
    /// ReplicaSet) are refused: real ones are names and paths of at most a few hundred bytes, and
    /// each is kept per route and sent in every batch and `/debug/routes`.
    public static let maxRouteStringBytes = 1_024

    static func fits(_ identity: RouteIdentity) -> Bool {
        identity.target.utf8.count <= maxRouteStringBytes && identity.route.utf8.count <= maxRouteStringBytes
            && identity.peer.utf8.count <= maxRouteStringBytes
            && identity.peerIdentity.utf8.count <= maxRouteStringBytes
            && identity.peerReplicaSet.utf8.count <= maxRouteStringBytes
    }

    /// The number of line ends in `bytes`: at least the number of series on the page.
    static func lineCount(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard var position = bytes.baseAddress else { return 0 }
        let end = position + bytes.count
        var count = 0
        while position < end, let found = memchr(position, 0x0A, end - position) {
            count += 1
            position = UnsafeRawPointer(found) + 1
        }
        return count + 1
    }

    /// Drops the series not seen for `staleAfterPages` pages once they make up a quarter of the
    /// table (or the table is full), and renumbers the rest, `values` included.
    private mutating func compactIfStale(_ values: inout [Double]) -> SeriesRenumbering? {
        let limit = min(max(1, staleAfterPages), SeriesTable.maximumAge - 1)
        let page = UInt16(truncatingIfNeeded: pageNumber)
        table.clampAges(to: limit + 1, page: page)
        guard pageNumber > UInt32(limit) else { return nil }
        let live = (0..<table.count).map { table.age(of: $0, page: page) <= limit }
        let stale = live.count { !$0 }
        guard stale > 0, stale * 4 >= table.count || table.count >= maxSeries else { return nil }

        let seriesMap = table.compact { live[$0] }
        var routeMap = [Int32](repeating: -1, count: routes.count)
        var keptSeries: [SeriesDescriptor] = []
        var keptValues: [Double] = []
        var keptRoutes: [RouteIdentity] = []
        keptSeries.reserveCapacity(table.count)
        keptValues.reserveCapacity(table.count)
        for index in series.indices where live[index] {
            var descriptor = series[index]
            if descriptor.isRoute {
                let route = Int(descriptor.route)
                if routeMap[route] < 0 {
                    routeMap[route] = Int32(keptRoutes.count)
                    keptRoutes.append(routes[route])
                }
                descriptor = SeriesDescriptor(
                    route: routeMap[route], role: descriptor.role,
                    // A histogram whose first series was dropped no longer continues it.
                    continuesHistogram: descriptor.continuesHistogram && index > 0 && live[index - 1])
            }
            keptSeries.append(descriptor)
            keptValues.append(values[index])
        }
        let previousEpoch = epoch
        epoch = UInt64.random(in: 1...UInt64.max)
        // The series numbered last may be gone: the next one starts a histogram of its own.
        lastHistogram = nil
        series = keptSeries
        values = keptValues
        routes = keptRoutes
        routeIndex = RouteIndex(keptRoutes)
        return SeriesRenumbering(fromEpoch: previousEpoch, series: seriesMap, routes: routeMap)
    }

    /// Tags of the series that belong to no route (`SeriesDescriptor.untracked`).
    private enum Untracked: Int32 {
        case ignored, processStartTime, buildInfo
        case certificateExpiresAt, certificateRefreshedAt, certificateRefreshesSucceeded, certificateRefreshesFailed

        init(_ field: ProxyCertificate.Field) {
            switch field {
            case .expiresAt: self = .certificateExpiresAt
            case .refreshedAt: self = .certificateRefreshedAt
            case .refreshesSucceeded: self = .certificateRefreshesSucceeded
            case .refreshesFailed: self = .certificateRefreshesFailed
            }
        }

        /// The certificate's field a series with this tag holds; nil for the other tags.
        var certificateField: ProxyCertificate.Field? {
            switch self {
            case .certificateExpiresAt: .expiresAt
            case .certificateRefreshedAt: .refreshedAt
            case .certificateRefreshesSucceeded: .refreshesSucceeded
            case .certificateRefreshesFailed: .refreshesFailed
            case .ignored, .processStartTime, .buildInfo: nil
            }
        }
    }

    /// Records a sample of a numbered series; returns why it cannot be used, if so.
    @inline(__always)
    private func record(
        _ entry: Int32, _ value: Double, _ values: inout [Double], _ stats: inout PageStats,
        _ processStartTime: inout Double?, _ sawBuild: inout Bool, _ certificate: inout ProxyCertificate?
    ) -> ParseError.Reason? {
        let descriptor = series[Int(entry)]
        if descriptor.isRoute {
            // Absent series are NaN on each new page, so a value already there is a second copy.
            guard values[Int(entry)].isNaN else { return .duplicateSeries }
            guard value.isFinite else { return .nonFiniteValue }
            values[Int(entry)] = value
            stats.routeSamples += 1
        } else if descriptor.route == Untracked.processStartTime.rawValue {
            if value.isFinite && processStartTime == nil { processStartTime = value }
        } else if descriptor.route == Untracked.buildInfo.rawValue {
            sawBuild = true
        } else if descriptor.route >= Untracked.certificateExpiresAt.rawValue,
            let field = Untracked(rawValue: descriptor.route)?.certificateField
        {
            certificate = certificate ?? ProxyCertificate()
            certificate!.record(field, value)
        }
        return nil
    }

    /// Counts a bad line, or throws under `.rejectPage`.
    private func reject(_ error: ParseError, _ stats: inout PageStats) throws(ParseError) {
        stats.badLines += 1
        stats.badLinesByReason[error.reason.rawValue, default: 0] += 1
        if stats.firstBadLine == nil {
            stats.firstBadLine = PageProblem(reason: error.reason.rawValue, line: error.line, column: error.column)
        }
        if badLinePolicy == .rejectPage { throw error }
    }

    private func reject(_ reason: ParseError.Reason, line: Int, _ stats: inout PageStats) throws(ParseError) {
        try reject(ParseError(reason, line: line, column: 1), &stats)
    }

    /// The descriptor of a newly seen series.
    private mutating func register(_ kind: SeriesClass) -> SeriesDescriptor {
        // Every numbered series is the one before the next: only a bucket or sum numbered right
        // now leaves a histogram for the next to continue.
        let previousHistogram = lastHistogram
        lastHistogram = nil
        switch kind {
        case .ignored:
            return .untracked(tag: Untracked.ignored.rawValue)
        case .processStartTime:
            return .untracked(tag: Untracked.processStartTime.rawValue)
        case .buildInfo(let info):
            build = info
            return .untracked(tag: Untracked.buildInfo.rawValue)
        case .certificate(let field):
            return .untracked(tag: Untracked(field).rawValue)
        case .route(let identity, var role, let histogram):
            let roleNumber: UInt8
            if roles.count >= SeriesDescriptor.roleLimit, roleIndex[role] == nil,
                case .responses(let success, _) = role
            {
                // Out of roles: the responses still count, without their outcome.
                role = .responses(success: success)
            }
            if let known = roleIndex[role] {
                roleNumber = known
            } else {
                // Distinct roles are few (responses by a few dozen outcomes at most, a sum, a few
                // dozen bucket bounds); a page inventing hundreds of `le` values gets the rest
                // ignored.
                guard roles.count < SeriesDescriptor.roleLimit else {
                    return .untracked(tag: Untracked.ignored.rawValue)
                }
                roleNumber = UInt8(roles.count)
                roles.append(role)
                roleIndex[role] = roleNumber
            }
            let route: Int32
            if let known = routeIndex.find(identity, in: routes) {
                route = known
            } else {
                guard routes.count < SeriesDescriptor.routeLimit else {
                    return .untracked(tag: Untracked.ignored.rawValue)
                }
                route = Int32(routes.count)
                routes.append(SharedRouteStrings.interned(identity))
                routeIndex.appended(to: routes)
            }
            lastHistogram = histogram
            return SeriesDescriptor(
                route: route, role: roleNumber,
                continuesHistogram: histogram != nil && histogram == previousHistogram)
        }
    }
}
