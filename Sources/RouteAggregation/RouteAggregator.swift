import FathomModel

/// Turns the cumulative snapshots of many proxies into per-route windows. Pure: no clock, no IO;
/// the caller passes the time.
///
/// For each raw series it keeps the previous value and adds the increase since then to the
/// route's window, as Prometheus's `increase` does:
/// - a value lower than the previous one means the counter was reset, so the whole new value is
///   the increase, for that series alone, as PromQL has it (one bucket of a buggy exporter a little
///   lower resets that bucket, not its histogram or sum); but a series absent from the proxy's
///   last page that returns lower was dropped and made again (Linkerd drops series idle for 10
///   minutes): its raw histogram started again from zero as a whole, so every series of it counts
///   in full (a bucket with as many hits after as before shows no decrease of its own; PromQL
///   misses those);
/// - a proxy whose `process_start_time_seconds` changed restarted: every value counts in full
///   (Prometheus sees no reset when the first value after a restart is above the last before, and
///   undercounts; the start time tells);
/// - a series absent from some pages keeps its last value and resumes from it, as Prometheus
///   treats a gap without a decrease as continuous; the decoder forgets a series only after its
///   staleness period (longer than Linkerd's 10-minute idle expiry), and a forgotten series that
///   returns started again from zero, so its value counts in full (PromQL misses that first value);
/// - a series' first value counts in full only when the decoder numbered it on that very page (a
///   route that just started); one numbered before without a value (its first sample was NaN) or
///   refused before at the series limit has a history the agent did not see: its first value is
///   a baseline, as PromQL has it;
/// - the first page of a proxy is only a baseline, unless the proxy started after the aggregator
///   did, in which case everything on it happened while we watched and counts.
/// Deltas of many pods are summed per workload route; histograms merge bucket by bucket, with
/// every bound of the family (not only those with hits), as `sum by (le)` does.
///
/// A window's counts cover, per pod, the time from the scrape its first increase was measured
/// from to its last scrape in the window, less the stretch a restarted proxy's old process served
/// after its last scrape (lost with it). Pods come and go inside a window, so a route's rate is
/// the sum of its pods' rates (a pod's responses over the time they cover), each weighted by the
/// share of the window the pod was alive: a pod replaced mid-window is two half pods, not two
/// pods, as `sum(rate())` has it. `RouteWindow.duration` is the time that makes
/// `count / duration` that rate; with every pod alive the whole window it is their mean coverage,
/// which keeps the first window and the last honest too.
public struct RouteAggregator: Sendable {
    /// Limits that keep memory bounded whatever the proxies expose.
    public struct Limits: Sendable {
        /// Distinct routes one workload may have; more are folded into an overflow series.
        public var maxRoutesPerWorkload: Int

        public init(maxRoutesPerWorkload: Int = 1_000) {
            self.maxRoutesPerWorkload = maxRoutesPerWorkload
        }
    }

    /// Running totals for the agent's own metrics.
    public struct Stats: Sendable, Equatable {
        public var snapshotsIngested = 0
        /// Counter resets seen (a series lower than before).
        public var counterResets = 0
        /// Proxy restarts seen (a new process start time).
        public var proxyRestarts = 0
        /// Proxies whose numbering changed so they were baselined again (their counts for one
        /// interval are lost).
        public var rebaselines = 0
        /// Route mappings folded into an overflow series.
        public var foldedRoutes = 0
        /// Decoder renumberings carried over without losing counts.
        public var renumberings = 0
    }

    private struct ProxyState {
        var workload: WorkloadRef
        var revision: String
        var epoch: UInt64
        var processStartTime: Double?
        /// Previous value per series index; NaN when unknown.
        var previous = PreviousValues()
        /// Aggregate slot per snapshot route index; -1 until resolved.
        var slotOfRoute: [Int32] = []
        /// Responses per snapshot route index in the current window: the pod's own rate.
        var windowResponses: [Double] = []
        /// Per series index, 1 + the bucket's index in its slot; 0 until resolved; `notABucket`
        /// for a series that is no bucket or whose bound found no room. One byte, because there are
        /// as many of these as series (`maxBucketsPerSlot` keeps it in range).
        var bucketOfSeries: [UInt8] = []
        /// Time of the proxy's last scrape ingested.
        var lastScrape: Double?
        /// Series absent from its last page.
        var absent = SeriesBits()
        /// The time the current window's counts of this proxy are measured from; nil until its
        /// first increase in the window was taken.
        var coverageStart: Double?
        /// Time of its last scrape in the current window.
        var coverageEnd = 0.0
        /// Seconds of the current window covered before a restart cut the coverage short.
        var coveredBeforeRestart = 0.0
        /// When its pod is known to have been alive since: the start of a proxy that started
        /// after the aggregator did; otherwise -infinity (alive since before any window).
        var aliveSince = -Double.infinity
        /// Open connections per route on its last page (`tcp_open_connections`, a gauge): what it
        /// adds to its TCP routes when a window closes.
        var openConnections: [Int32: Double] = [:]

        /// Forgets what it counted towards the slots it maps now, once that is added to them
        /// (`addCoverage`): at a window's close, or when its routes move to other keys.
        mutating func restartCoverage() {
            coverageStart = nil
            coveredBeforeRestart = 0
            for route in windowResponses.indices { windowResponses[route] = 0 }
        }
    }

    /// `bucketOfSeries` of a series resolved as no bucket of any slot.
    private static let notABucket = UInt8.max

    /// Distinct bucket bounds one route keeps. Linkerd's histograms have 26; a proxy inventing
    /// more has the extra bounds left out, which coarsens the histogram but keeps it correct, as
    /// its buckets are cumulative.
    static let maxBucketsPerSlot = Int(UInt8.max) - 1

    private struct Slot {
        var key: RouteKey
        var success = 0.0
        var failure = 0.0
        /// Bucket bounds in the order first seen; indices stay stable so proxies can cache them.
        var bounds: [Double] = []
        var buckets: [Double] = []
        var latencySum = 0.0
        /// Responses by outcome in the window; a route has a handful, so a list searched in order
        /// is cheaper than a dictionary.
        var outcomes: [OutcomeCount] = []
        /// A TCP route's connections; nil for the others.
        var tcp: TCPCounts?
        /// An authorization route's decisions; nil for the others.
        var authorization: [AuthorizationDecision: Double]?
        /// An HTTPRoute's or GRPCRoute's retries; nil where its pages have none.
        var retries: [RetryCounter: Double]?
        var foldedRoutes = 0
        /// Seconds of the current window covered by the pods mapping the slot, and the seconds
        /// of it they were alive, each summed over the pods (see `window(of:duration:)`).
        var coveredSeconds = 0.0
        var aliveSeconds = 0.0
        /// Σ over its pods of responses × alive seconds ÷ covered seconds: the route's rate
        /// times the window's length.
        var aliveWeightedResponses = 0.0
        var active = false
        /// Proxies that map a route to this slot.
        var references = 0
        var inUse = true
    }

    public let limits: Limits
    public private(set) var stats = Stats()
    private let startedAt: Double
    private var windowStart: Double
    private var proxies: [ProxyID: ProxyState] = [:]
    private var slots: [Slot] = []
    private var freeSlots: [Int32] = []
    private var slotIndex: [RouteKey: Int32] = [:]
    private var routesPerWorkload: [WorkloadRef: Int] = [:]
    /// Reused by every page for the histograms that reset on it, so a page with resets costs no
    /// allocation once one has been seen.
    private var resetScratch: [Int] = []

    /// - Parameter startedAt: now, in seconds since the epoch; the first window starts here.
    public init(startedAt: Double, limits: Limits = Limits()) {
        self.startedAt = startedAt
        self.windowStart = startedAt
        self.limits = limits
    }

    /// Number of proxies being tracked.
    public var proxyCount: Int { proxies.count }

    /// Number of aggregated series held (routes and overflow series).
    public var seriesCount: Int { slotIndex.count }

    // MARK: Ingest

    /// Adds the increases in `snapshot`, scraped at `time` (seconds since the epoch), since the
    /// same proxy's previous snapshot, to the routes of `workload`'s `revision` (the pod's).
    public mutating func ingest(
        _ snapshot: ProxySnapshot, from proxy: ProxyID, workload: WorkloadRef, revision: String = "",
        at time: Double
    ) {
        stats.snapshotsIngested += 1
        var state: ProxyState
        var baseline: Bool
        var restarted = false
        var existing = proxies.removeValue(forKey: proxy)
        if let renumbering = snapshot.renumbering, let known = existing, known.workload == workload,
            renumbering.fromEpoch == known.epoch
        {
            apply(renumbering, to: &existing!, epoch: snapshot.epoch)
            stats.renumberings += 1
        }
        if let known = existing, known.epoch == snapshot.epoch, known.workload == workload {
            // Move the state out so its arrays stay uniquely referenced (no copy on write).
            state = known
            existing = nil
            baseline = false
            if let before = state.processStartTime, let now = snapshot.processStartTime, before != now {
                stats.proxyRestarts += 1
                // Everything the restarted proxy reports happened since it started.
                restarted = true
                // What the old process served after its last scrape is lost with it: the counts
                // cover the time up to that scrape and again from the new process's start.
                if let start = state.coverageStart, let last = state.lastScrape {
                    state.coveredBeforeRestart += max(0, last - start)
                }
                let last = state.lastScrape ?? time
                state.coverageStart = min(max(now, last), time)
            }
        } else {
            if let stale = existing {
                // New numbering or a new owner: start over from a baseline. What it counted
                // stays in the window, with the time it covered.
                addCoverage(of: stale, aliveUntil: stale.coverageEnd)
                release(stale)
                stats.rebaselines += 1
                existing = nil
            }
            state = ProxyState(workload: workload, revision: revision, epoch: snapshot.epoch, processStartTime: nil)
            // A proxy that started after we did has nothing on its page we have not watched.
            // Start times on pages are whole seconds, hence the rounding.
            let startedSince = snapshot.processStartTime.map { $0 >= startedAt.rounded(.down) } ?? false
            baseline = !startedSince
            // Its counts then cover the time since it started, and its pod was alive no longer.
            if startedSince {
                let started = min(time, snapshot.processStartTime ?? time)
                state.lastScrape = started
                state.aliveSince = started
            }
        }
        if let startTime = snapshot.processStartTime { state.processStartTime = startTime }
        if state.revision != revision { move(&state, to: revision, at: time) }
        if !baseline {
            if state.coverageStart == nil { state.coverageStart = state.lastScrape ?? time }
            state.coverageEnd = time
        }
        state.lastScrape = time

        let values = snapshot.values
        let seriesCount = min(snapshot.series.count, values.count)
        if state.bucketOfSeries.count < seriesCount {
            state.bucketOfSeries.append(contentsOf: repeatElement(0, count: seriesCount - state.bucketOfSeries.count))
        }
        if state.slotOfRoute.count < snapshot.routes.count {
            state.slotOfRoute.append(
                contentsOf: repeatElement(-1, count: snapshot.routes.count - state.slotOfRoute.count))
            state.windowResponses.append(
                contentsOf: repeatElement(0, count: snapshot.routes.count - state.windowResponses.count))
        }
        let previousValues = state.previous
        var nextValues = PreviousValues()
        nextValues.reserveCapacity(seriesCount)
        // Set when a route of this proxy got its slot on this page: its bucket series seen
        // earlier on the page then still need their bounds registered.
        var mappedRoutes = false
        // Runs of series of one raw histogram (see `SeriesDescriptor.continuesHistogram`) with a
        // series lower than before, by their first index; almost always none.
        var resetHistograms: [Int] = []
        swap(&resetHistograms, &resetScratch)  // uniquely referenced: no copy when it grows
        resetHistograms.removeAll(keepingCapacity: true)

        let admittedLate = snapshot.admittedAfterRefusal
        // The open-connections gauge is read as it is, not differenced: its role, if the page has it.
        let gaugeRole = snapshot.roles.firstIndex(of: .openConnections).map(UInt8.init)
        if !state.openConnections.isEmpty { state.openConnections.removeAll(keepingCapacity: true) }
        for index in 0..<seriesCount {
            let value = values[index]
            let previous = restarted || index >= previousValues.count ? .nan : previousValues[index]
            let wasAbsent = state.absent[index]
            if value.isNaN {
                // Absent from this page: the last value stays (a gap is no reset); after a
                // restart, the series starts again from zero whenever it comes back.
                if restarted {
                    nextValues.appendFresh()
                } else {
                    nextValues.append(keeping: index, of: previousValues)
                }
                state.absent[index] = true
                continue
            }
            if wasAbsent { state.absent[index] = false }
            nextValues.append(value)
            if let gaugeRole, snapshot.series[index].role == gaugeRole {
                let route = snapshot.series[index].route
                if state.slotOfRoute[Int(route)] < 0 {
                    _ = resolveSlot(&state, route: route, routes: snapshot.routes)
                    mappedRoutes = true
                }
                state.openConnections[route, default: 0] += value
                continue
            }
            if baseline { continue }
            if state.bucketOfSeries[index] == 0 {
                // A bound of the family counts even without hits: the histogram's layout is the
                // family's, and a quantile interpolates in the wrong bucket without it.
                registerBound(&state, series: index, snapshot: snapshot)
            }
            let increase: Double
            if previous.isNaN {
                // A first value: all new only for a series that just started (see above).
                let started = restarted || (previousValues.isFresh(index) && !admittedLate.contains(Int32(index)))
                guard started else { continue }
                increase = value
            } else if value < previous {
                stats.counterResets += 1
                increase = value
                if wasAbsent { noteHistogramReset(at: index, snapshot, seriesCount, &resetHistograms) }
            } else {
                increase = value - previous
            }
            guard increase > 0 else { continue }
            add(increase, series: index, &state, snapshot, &mappedRoutes)
        }
        // A raw histogram with any series lower than before started again from zero (the proxy
        // dropped it and created it again): each of its series counts in full, also a bucket with
        // as many hits as before, which was counted above as an increase: add what it had before.
        for start in resetHistograms {
            var index = start
            repeat {
                let value = values[index]
                let previous = index < previousValues.count ? previousValues[index] : .nan
                if !value.isNaN && value >= previous && previous > 0 {
                    add(previous, series: index, &state, snapshot, &mappedRoutes)
                }
                index += 1
            } while index < seriesCount && snapshot.series[index].continuesHistogram
        }
        resetScratch = resetHistograms
        if mappedRoutes {
            for index in 0..<seriesCount where state.bucketOfSeries[index] == 0 && !values[index].isNaN {
                registerBound(&state, series: index, snapshot: snapshot)
            }
        }
        state.previous = nextValues
        proxies[proxy] = state
    }

    /// Adds an increase of series `index` to its route's slot.
    @inline(__always)
    private mutating func add(
        _ increase: Double, series index: Int, _ state: inout ProxyState, _ snapshot: ProxySnapshot,
        _ mappedRoutes: inout Bool
    ) {
        let descriptor = snapshot.series[index]
        if state.slotOfRoute[Int(descriptor.route)] < 0 { mappedRoutes = true }
        let slot = resolveSlot(&state, route: descriptor.route, routes: snapshot.routes)
        switch snapshot.role(of: descriptor) {
        case .responses(let success, let outcome):
            state.windowResponses[Int(descriptor.route)] += increase
            if success {
                slots[Int(slot)].success += increase
            } else {
                slots[Int(slot)].failure += increase
            }
            if let known = slots[Int(slot)].outcomes.firstIndex(where: {
                $0.outcome == outcome && $0.success == success
            }) {
                slots[Int(slot)].outcomes[known].count += increase
            } else {
                slots[Int(slot)].outcomes.append(OutcomeCount(outcome: outcome, success: success, count: increase))
            }
        case .latencyBucket:
            if state.bucketOfSeries[index] == 0 { registerBound(&state, series: index, snapshot: snapshot) }
            let bucket = state.bucketOfSeries[index]
            // A bound beyond the slot's limit is left out.
            if bucket == Self.notABucket { return }
            slots[Int(slot)].buckets[Int(bucket) - 1] += increase
        case .latencySum(let unitsPerSecond):
            slots[Int(slot)].latencySum += increase / unitsPerSecond
        case .tcp(let counter):
            // Connections are a TCP route's events: its pods' rates are weighted by them.
            if case .opened = counter { state.windowResponses[Int(descriptor.route)] += increase }
            slots[Int(slot)].tcp = slots[Int(slot)].tcp ?? TCPCounts()
            slots[Int(slot)].tcp!.add(counter, increase)
        case .authorization(let decision):
            state.windowResponses[Int(descriptor.route)] += increase
            slots[Int(slot)].authorization = slots[Int(slot)].authorization ?? [:]
            slots[Int(slot)].authorization![decision, default: 0] += increase
        case .retries(let counter):
            slots[Int(slot)].retries = slots[Int(slot)].retries ?? [:]
            slots[Int(slot)].retries![counter, default: 0] += increase
        case .openConnections:
            return  // a gauge: read in `ingest`, never differenced
        }
        slots[Int(slot)].active = true
    }

    /// Records the run of the raw histogram that series `index` (lower than before) belongs to,
    /// unless it is a series of its own or the run is recorded already.
    private func noteHistogramReset(
        at index: Int, _ snapshot: ProxySnapshot, _ seriesCount: Int, _ runs: inout [Int]
    ) {
        let continues = snapshot.series[index].continuesHistogram
        let continued = index + 1 < seriesCount && snapshot.series[index + 1].continuesHistogram
        guard continues || continued else { return }
        var start = index
        while start > 0 && snapshot.series[start].continuesHistogram { start -= 1 }
        if runs.last != start { runs.append(start) }
    }

    /// Resolves a series' place in its route's histogram once its route has a slot: a bucket
    /// series gets its bound added to the slot (whatever its count), anything else is marked as
    /// no bucket. Until the route has a slot (no traffic yet) the series stays unresolved.
    private mutating func registerBound(_ state: inout ProxyState, series index: Int, snapshot: ProxySnapshot) {
        let descriptor = snapshot.series[index]
        guard case .latencyBucket(let bound) = snapshot.role(of: descriptor) else {
            state.bucketOfSeries[index] = Self.notABucket
            return
        }
        let slot = state.slotOfRoute[Int(descriptor.route)]
        guard slot >= 0 else { return }
        let bucket = bucketNumber(slot, bound)
        state.bucketOfSeries[index] = bucket == 0 ? Self.notABucket : bucket
    }

    /// Stops tracking a proxy: its pod went away at `time` (seconds since the epoch). What it
    /// counted stays in the window, with the time it covered and the part of the window its pod
    /// was alive.
    public mutating func forgetProxy(_ proxy: ProxyID, at time: Double) {
        guard let state = proxies.removeValue(forKey: proxy) else { return }
        addCoverage(of: state, aliveUntil: max(time, state.coverageEnd))
        release(state)
    }

    /// Adds the time a proxy's counts of the current window cover, and the time its pod was alive
    /// in the window up to `aliveUntil`, to every slot it maps.
    private mutating func addCoverage(of state: ProxyState, aliveUntil: Double) {
        guard let start = state.coverageStart else { return }
        let covered = state.coveredBeforeRestart + max(0, state.coverageEnd - start)
        // A pod alive the whole window counts the whole window, also when its coverage began
        // in the previous one (at its last scrape there): then each such pod weighs one.
        let alive = max(0, aliveUntil - max(windowStart, state.aliveSince))
        for (route, slot) in state.slotOfRoute.enumerated() where slot >= 0 {
            slots[Int(slot)].coveredSeconds += covered
            slots[Int(slot)].aliveSeconds += alive
            let responses = state.windowResponses[route]
            // Responses measured over no time at all (a proxy scraped the moment it started)
            // are taken as its rate over the time it was alive.
            slots[Int(slot)].aliveWeightedResponses += covered > 0 ? responses * alive / covered : responses
        }
    }

    /// Adds a proxy's open connections, as its last page had them, to its TCP routes' slots.
    private mutating func addOpenConnections(of state: ProxyState) {
        for (route, open) in state.openConnections where open > 0 {
            let slot = Int(route) < state.slotOfRoute.count ? state.slotOfRoute[Int(route)] : -1
            guard slot >= 0 else { continue }
            slots[Int(slot)].tcp = slots[Int(slot)].tcp ?? TCPCounts()
            slots[Int(slot)].tcp!.openConnections += open
            slots[Int(slot)].active = true
        }
    }

    /// The pod's revision was renamed (`rollout undo` renumbers the revision its pods run): its
    /// routes move to the new revision's keys from this scrape on. What it counted so far stays
    /// with the old keys, with the time it covered; its previous values stay, so nothing is lost.
    private mutating func move(_ state: inout ProxyState, to revision: String, at time: Double) {
        addCoverage(of: state, aliveUntil: time)
        release(state)
        state.revision = revision
        state.restartCoverage()
        for route in state.slotOfRoute.indices { state.slotOfRoute[route] = -1 }
        // Bucket places are per slot: found again in the new ones.
        for index in state.bucketOfSeries.indices { state.bucketOfSeries[index] = 0 }
        // Under its new name it is alive from now on in this window.
        state.aliveSince = state.lastScrape ?? time
    }

    /// Carries a proxy's state over to its decoder's new numbering.
    private mutating func apply(_ renumbering: SeriesRenumbering, to state: inout ProxyState, epoch: UInt64) {
        let seriesCount = renumbering.series.reduce(0) { max($0, Int($1) + 1) }
        var previous = PreviousValues(unknownCount: seriesCount)
        var buckets = [UInt8](repeating: 0, count: seriesCount)
        var absent = SeriesBits()
        for (old, new) in renumbering.series.enumerated() where new >= 0 {
            guard old < state.previous.count else {
                // Numbered on this page, before the renumbering.
                previous.setFresh(at: Int(new))
                continue
            }
            previous.set(state.previous[old], at: Int(new))
            buckets[Int(new)] = state.bucketOfSeries[old]
            absent[Int(new)] = state.absent[old]
        }
        let routeCount = renumbering.routes.reduce(0) { max($0, Int($1) + 1) }
        var slots = [Int32](repeating: -1, count: routeCount)
        var responses = [Double](repeating: 0, count: routeCount)
        for (old, new) in renumbering.routes.enumerated() where old < state.slotOfRoute.count {
            let slot = state.slotOfRoute[old]
            if new >= 0 {
                slots[Int(new)] = slot
                responses[Int(new)] = state.windowResponses[old]
            } else if slot >= 0 {
                // The proxy no longer reports this route.
                self.slots[Int(slot)].references -= 1
            }
        }
        state.previous = previous
        state.absent = absent
        state.bucketOfSeries = buckets
        state.slotOfRoute = slots
        state.windowResponses = responses
        state.epoch = epoch
    }

    private mutating func release(_ state: ProxyState) {
        for slot in state.slotOfRoute where slot >= 0 {
            slots[Int(slot)].references -= 1
        }
    }

    private mutating func resolveSlot(_ state: inout ProxyState, route: Int32, routes: [RouteIdentity]) -> Int32 {
        let cached = state.slotOfRoute[Int(route)]
        if cached >= 0 { return cached }
        let identity = routes[Int(route)]
        var key = RouteKey(workload: state.workload, revision: state.revision, identity: identity)
        var slot: Int32
        if let known = slotIndex[key] {
            slot = known
        } else if routesPerWorkload[state.workload, default: 0] < limits.maxRoutesPerWorkload {
            slot = allocateSlot(key)
            routesPerWorkload[state.workload, default: 0] += 1
        } else {
            key = RouteKey(
                workload: state.workload, revision: state.revision,
                identity: RouteIdentity(
                    direction: identity.direction, source: identity.source, target: "", route: "", peer: ""),
                isOverflow: true)
            slot = slotIndex[key] ?? allocateSlot(key)
            slots[Int(slot)].foldedRoutes += 1
            stats.foldedRoutes += 1
        }
        slots[Int(slot)].references += 1
        state.slotOfRoute[Int(route)] = slot
        return slot
    }

    private mutating func allocateSlot(_ key: RouteKey) -> Int32 {
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
            slots[Int(slot)] = Slot(key: key)
        } else {
            slot = Int32(slots.count)
            slots.append(Slot(key: key))
        }
        slotIndex[key] = slot
        return slot
    }

    /// 1 + the index of the slot's bucket for `bound`, or 0 when the slot has no room for it.
    private mutating func bucketNumber(_ slot: Int32, _ bound: Double) -> UInt8 {
        if let known = slots[Int(slot)].bounds.firstIndex(of: bound) { return UInt8(known + 1) }
        guard slots[Int(slot)].bounds.count < Self.maxBucketsPerSlot else { return 0 }
        slots[Int(slot)].bounds.append(bound)
        slots[Int(slot)].buckets.append(0)
        return UInt8(slots[Int(slot)].bounds.count)
    }

    // MARK: Windows

    /// Closes the current window at `now`, returns what it holds, and starts the next one.
    ///
    /// Series no proxy maps any more and without traffic in the window are dropped here, which
    /// is what keeps memory bounded as pods and routes come and go.
    public mutating func closeWindow(at now: Double) -> AggregationWindow {
        let duration = now - windowStart
        for index in proxies.values.indices {
            addCoverage(of: proxies.values[index], aliveUntil: now)
            proxies.values[index].restartCoverage()
            addOpenConnections(of: proxies.values[index])
        }
        var routes: [RouteWindow] = []
        for index in slots.indices where slots[index].inUse {
            if slots[index].active {
                routes.append(window(of: slots[index], duration: duration))
                slots[index].success = 0
                slots[index].failure = 0
                slots[index].latencySum = 0
                slots[index].outcomes.removeAll(keepingCapacity: true)
                slots[index].tcp = nil
                slots[index].authorization = nil
                slots[index].retries = nil
                for bucket in slots[index].buckets.indices { slots[index].buckets[bucket] = 0 }
                slots[index].active = false
            } else if slots[index].references <= 0 {
                let key = slots[index].key
                slotIndex[key] = nil
                if !key.isOverflow {
                    routesPerWorkload[key.workload, default: 1] -= 1
                    if routesPerWorkload[key.workload] == 0 { routesPerWorkload[key.workload] = nil }
                }
                slots[index].inUse = false
                slots[index].bounds = []
                slots[index].buckets = []
                freeSlots.append(Int32(index))
            }
        }
        for index in slots.indices {
            slots[index].coveredSeconds = 0
            slots[index].aliveSeconds = 0
            slots[index].aliveWeightedResponses = 0
        }
        let closed = AggregationWindow(start: windowStart, end: now, routes: routes)
        windowStart = now
        return closed
    }

    private func window(of slot: Slot, duration: Double) -> RouteWindow {
        let order = slot.bounds.indices.sorted { slot.bounds[$0] < slot.bounds[$1] }
        let histogram = LatencyHistogram(
            upperBounds: order.map { slot.bounds[$0] }, cumulativeCounts: order.map { slot.buckets[$0] },
            sum: slot.latencySum)
        // The duration that turns the route's responses (a TCP route's connections, a policy
        // route's decisions) into the sum of its pods' rates, each weighted by its alive share of
        // the window; without them (a histogram alone), the pods' coverage weighted the same way.
        let responses =
            slot.success + slot.failure + (slot.tcp?.opened ?? 0) + (slot.authorization?.values.reduce(0, +) ?? 0)
        let observed: Double
        if responses > 0, slot.aliveWeightedResponses > 0 {
            observed = responses * duration / slot.aliveWeightedResponses
        } else if slot.aliveSeconds > 0 {
            observed = slot.coveredSeconds * duration / slot.aliveSeconds
        } else {
            observed = duration
        }
        var route = RouteWindow(
            key: slot.key, successCount: slot.success, failureCount: slot.failure, latency: histogram,
            foldedRoutes: slot.foldedRoutes, duration: observed)
        route.outcomes = slot.outcomes.sorted { $0.count > $1.count }
        route.tcp = slot.tcp
        route.authorization = slot.authorization
        route.retries = slot.retries
        return route
    }
}
