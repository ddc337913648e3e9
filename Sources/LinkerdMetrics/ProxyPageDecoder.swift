import FathomModel
import PrometheusText

/// Reads the pages of one linkerd-proxy into `ProxySnapshot`s, one decoder per scrape target.
///
/// The first time a series (metric name plus label set, exactly as written) appears, its line is
/// parsed and validated completely and the series is classified: a route counter, a histogram
/// bucket or sum, the start time, the build info, or ignored. The decoder then remembers only a
/// 64-bit fingerprint of the series text. On later pages a line whose series text has a known
/// fingerprint costs a hash and the parse of its value: no label parsing, no allocation. Lines
/// that do not parse are skipped and counted, or reject the page, as `badLinePolicy` says.
public struct ProxyPageDecoder: Sendable {
    /// How many series (route series and ignored ones) one proxy may have numbered. A page with
    /// more new series than this has the excess counted in `PageStats.seriesOverLimit`.
    public var maxSeries: Int
    public var badLinePolicy: BadLinePolicy
    /// A series missing from this many consecutive pages is forgotten, and the remaining series
    /// renumbered (see `SeriesRenumbering`). Linkerd itself drops idle series after 10 minutes;
    /// at a 10 s scrape interval the default is 15 minutes.
    public var staleAfterPages: Int = 90
    /// How often, in pages, to look for forgotten series.
    public var compactionCheckInterval: Int = 30

    private var table = SeriesTable()
    private var routes: [RouteIdentity] = []
    private var routeIndex: [RouteIdentity: Int32] = [:]
    private var series: [SeriesDescriptor] = []
    private var roles: [SeriesRole] = []
    private var roleIndex: [SeriesRole: UInt16] = [:]
    private var values: [Double] = []
    private var build: ProxyBuildInfo?
    private var epoch: UInt64
    private var pageNumber: UInt32 = 0

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
        pageNumber &+= 1
        let page = pageNumber
        for index in values.indices { values[index] = .nan }

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
                if let target = table.find(fingerprint, page: page),
                    let (value, _) = try? parser.parseValue(of: line, after: keyEnd)
                {
                    stats.samples += 1
                    record(target, value, &stats, &processStartTime, &sawBuild)
                    continue
                }
            }

            // Slow path: validate the whole line, then classify the series if it is new.
            let entry: Entry?
            do throws(ParseError) {
                entry = try parser.parse(line)
            } catch {
                stats.badLines += 1
                if stats.firstBadLine == nil {
                    stats.firstBadLine = PageProblem(
                        reason: error.reason.rawValue, line: error.line, column: error.column)
                }
                if badLinePolicy == .rejectPage { throw error }
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
                    switch SeriesClassifier.classify(view, sample) {
                    case .route: stats.seriesOverLimit += 1
                    case .processStartTime: processStartTime = sample.value
                    case .buildInfo(let info):
                        build = info
                        sawBuild = true
                    case .ignored: break
                    }
                    continue
                }
                target = register(SeriesClassifier.classify(view, sample))
                table.insert(fingerprint, target: target, page: page)
            }
            record(target, sample.value, &stats, &processStartTime, &sawBuild)
        }
        stats.lines = parser.lineNumber
        let renumbering = page % UInt32(max(1, compactionCheckInterval)) == 0 ? compactIfStale() : nil
        var snapshot = ProxySnapshot(
            epoch: epoch, routes: routes, series: series, roles: roles, values: values,
            processStartTime: processStartTime, build: sawBuild ? build : nil, stats: stats)
        snapshot.renumbering = renumbering
        return snapshot
    }

    /// Drops the series not seen for `staleAfterPages` pages once they make up a quarter of the
    /// table (or the table is full), and renumbers the rest.
    private mutating func compactIfStale() -> SeriesRenumbering? {
        guard pageNumber > UInt32(staleAfterPages) else { return nil }
        let since = pageNumber - UInt32(staleAfterPages)
        let stale = table.staleCount(before: since)
        guard stale > 0, stale * 4 >= table.count || table.count >= maxSeries else { return nil }

        let live = table.liveSeries(since: since, seriesCount: series.count)
        var seriesMap = [Int32](repeating: -1, count: series.count)
        var routeMap = [Int32](repeating: -1, count: routes.count)
        var keptSeries: [SeriesDescriptor] = []
        var keptValues: [Double] = []
        var keptRoutes: [RouteIdentity] = []
        var keptRouteIndex: [RouteIdentity: Int32] = [:]
        for index in series.indices where live[index] {
            let route = Int(series[index].route)
            if routeMap[route] < 0 {
                routeMap[route] = Int32(keptRoutes.count)
                keptRoutes.append(routes[route])
                keptRouteIndex[routes[route]] = routeMap[route]
            }
            seriesMap[index] = Int32(keptSeries.count)
            keptSeries.append(SeriesDescriptor(route: routeMap[route], role: series[index].role))
            keptValues.append(values[index])
        }
        table = table.compacted(keepingSince: since, remap: seriesMap)
        let previousEpoch = epoch
        epoch = UInt64.random(in: 1...UInt64.max)
        series = keptSeries
        values = keptValues
        routes = keptRoutes
        routeIndex = keptRouteIndex
        return SeriesRenumbering(fromEpoch: previousEpoch, series: seriesMap, routes: routeMap)
    }

    @inline(__always)
    private mutating func record(
        _ target: Int32, _ value: Double, _ stats: inout PageStats, _ processStartTime: inout Double?,
        _ sawBuild: inout Bool
    ) {
        if target >= 0 {
            values[Int(target)] = value
            stats.routeSamples += 1
        } else if target == SeriesTable.processStartTime {
            processStartTime = value
        } else if target == SeriesTable.buildInfo {
            sawBuild = true
        }
    }

    /// Numbers a newly seen series and returns its table target.
    private mutating func register(_ kind: SeriesClass) -> Int32 {
        switch kind {
        case .ignored:
            return SeriesTable.ignored
        case .processStartTime:
            return SeriesTable.processStartTime
        case .buildInfo(let info):
            build = info
            return SeriesTable.buildInfo
        case .route(let identity, let role):
            let roleNumber: UInt16
            if let known = roleIndex[role] {
                roleNumber = known
            } else {
                // Distinct roles are few (two outcomes, a sum, a few dozen bucket bounds); a page
                // inventing tens of thousands of `le` values gets the rest ignored.
                guard roles.count < Int(UInt16.max) else { return SeriesTable.ignored }
                roleNumber = UInt16(roles.count)
                roles.append(role)
                roleIndex[role] = roleNumber
            }
            let route: Int32
            if let known = routeIndex[identity] {
                route = known
            } else {
                route = Int32(routes.count)
                routes.append(identity)
                routeIndex[identity] = route
            }
            series.append(SeriesDescriptor(route: route, role: roleNumber))
            values.append(.nan)
            return Int32(series.count - 1)
        }
    }
}
