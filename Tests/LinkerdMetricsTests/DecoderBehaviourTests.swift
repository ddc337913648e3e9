import AgentTestSupport
import FathomModel
import LinkerdMetrics
import PrometheusText
import Testing

/// The decoder's memory across pages: the fast path for known series must agree with a full
/// parse, see changed values, and still catch bad lines.
@Suite struct DecoderBehaviourTests {
    static let page = """
        # HELP response_total Total count of HTTP responses.
        # TYPE response_total counter
        response_total{direction="outbound",authority="cart.shop.svc.cluster.local:80",target_addr="10.0.0.1:80",dst_deployment="cart",dst_namespace="shop",status_code="200",classification="success",grpc_status="",error=""} 100
        response_total{direction="outbound",authority="cart.shop.svc.cluster.local:80",target_addr="10.0.0.2:80",dst_deployment="cart",dst_namespace="shop",status_code="200",classification="success",grpc_status="",error=""} 50
        response_total{direction="outbound",authority="cart.shop.svc.cluster.local:80",target_addr="10.0.0.2:80",dst_deployment="cart",dst_namespace="shop",status_code="500",classification="failure",grpc_status="",error=""} 5
        route_response_total{direction="outbound",dst="cart.shop.svc.cluster.local:80",rt_route="GET /items/{id}",status_code="200",classification="success"} 140
        tcp_open_total{direction="outbound",peer="dst"} 12
        process_start_time_seconds 1700000000

        """

    static let cart = RouteIdentity(
        direction: .outbound, source: .endpoint, target: "cart.shop.svc.cluster.local:80", route: "",
        peer: "shop/deployment/cart")
    static let items = RouteIdentity(
        direction: .outbound, source: .serviceProfileRoute, target: "cart.shop.svc.cluster.local:80",
        route: "GET /items/{id}", peer: "")

    @Test func secondPageUsesKnownSeriesAndSeesNewValues() throws {
        var decoder = ProxyPageDecoder()
        let first = try decoder.decode(Array(Self.page.utf8))
        #expect(first.totals()[Self.cart] == RouteTotals(success: 150, failure: 5))
        #expect(first.stats.samples == 6)
        // The three responses, the ServiceProfile route and the outbound TCP connections.
        #expect(first.stats.routeSamples == 5)

        let changed = Self.page.replacingOccurrences(of: "} 100\n", with: "} 130\n")
            .replacingOccurrences(of: "} 140\n", with: "} 1.5e2\n")
        let second = try decoder.decode(Array(changed.utf8))
        #expect(second.epoch == first.epoch)
        #expect(second.series.count == first.series.count)
        #expect(second.totals()[Self.cart] == RouteTotals(success: 180, failure: 5))
        #expect(second.totals()[Self.items] == RouteTotals(success: 150))
        #expect(second.processStartTime == 1_700_000_000)

        // A fresh decoder reading the changed page fully agrees with the fast path.
        var fresh = ProxyPageDecoder()
        #expect(try fresh.decode(Array(changed.utf8)).totals() == second.totals())
    }

    /// A route string longer than the decoder keeps is refused once, with its reason, and the
    /// series stays out of every later page without being parsed again.
    @Test func aTooLongRouteStringIsRefusedOnceAndStaysOut() throws {
        let long = String(repeating: "x", count: ProxyPageDecoder.maxRouteStringBytes + 1)
        let page =
            Self.page
            + "route_response_total{direction=\"outbound\",dst=\"cart.shop.svc.cluster.local:80\",rt_route=\"GET /\(long)\",status_code=\"200\",classification=\"success\"} 7\n"
        var decoder = ProxyPageDecoder()
        let first = try decoder.decode(Array(page.utf8))
        #expect(first.stats.badLines == 1)
        #expect(first.stats.firstBadLine?.reason == "label_too_long")
        #expect(first.routes.allSatisfy { $0.route.utf8.count <= ProxyPageDecoder.maxRouteStringBytes })
        #expect(first.totals()[Self.items] == RouteTotals(success: 140))
        let second = try decoder.decode(Array(page.utf8))
        #expect(second.stats.badLines == 0)
        #expect(second.routes.count == first.routes.count)
    }

    @Test func badValueOnKnownSeriesIsCaughtAndOnlyThatLineIsLost() throws {
        var decoder = ProxyPageDecoder()
        _ = try decoder.decode(Array(Self.page.utf8))
        let broken = Self.page.replacingOccurrences(of: "} 100\n", with: "} 1O0\n")
        let snapshot = try decoder.decode(Array(broken.utf8))
        #expect(snapshot.stats.badLines == 1)
        #expect(snapshot.stats.firstBadLine == PageProblem(reason: "invalid_value", line: 3, column: 217))
        #expect(snapshot.totals()[Self.cart] == RouteTotals(success: 50, failure: 5))
        #expect(snapshot.totals()[Self.items] == RouteTotals(success: 140))
    }

    /// Each skipped line is counted under its own reason, for the agent's `reason` label.
    @Test func badLinesAreCountedByReason() throws {
        let twice = "response_total{direction=\"inbound\",classification=\"success\",authority=\"y\"} 1\n"
        let page =
            Self.page + "garbage\n" + twice + twice
            + "response_total{direction=\"inbound\",classification=\"success\",authority=\"x\"} NaN\n"
            + "also garbage\n"
        var decoder = ProxyPageDecoder()
        let snapshot = try decoder.decode(Array(page.utf8))
        #expect(
            snapshot.stats.badLinesByReason == [
                "missing_value": 1, "invalid_value": 1, "duplicate_series": 1, "non_finite_value": 1,
            ])
        #expect(snapshot.stats.badLines == 4)
        let clean = try decoder.decode(Array(Self.page.utf8))
        #expect(clean.stats.badLinesByReason.isEmpty)
    }

    @Test func rejectPolicyThrows() throws {
        var decoder = ProxyPageDecoder(badLinePolicy: .rejectPage)
        let truncated = String(Self.page.dropLast(3))
        #expect(throws: ParseError.self) { try decoder.decode(Array(truncated.utf8)) }
    }

    @Test func truncatedPageCountsABadLine() throws {
        var decoder = ProxyPageDecoder()
        _ = try decoder.decode(Array(Self.page.utf8))
        // Cut inside the value of the last line: the known series must not be read as 17.
        let cut = Self.page.replacingOccurrences(of: "1700000000\n", with: "17")
        let snapshot = try decoder.decode(Array(cut.utf8))
        #expect(snapshot.stats.badLines == 1)
        #expect(snapshot.stats.firstBadLine?.reason == "truncated")
        #expect(snapshot.processStartTime == nil)
    }

    @Test func seriesLimitCountsWhatItDrops() throws {
        var decoder = ProxyPageDecoder(maxSeries: 3)
        let snapshot = try decoder.decode(Array(Self.page.utf8))
        // Three series fit; of the other three the ServiceProfile route and the TCP connections
        // are route series, and the start time is read all the same.
        #expect(snapshot.series.count == 3)
        #expect(snapshot.stats.seriesOverLimit == 2)
        #expect(snapshot.processStartTime == 1_700_000_000)
    }

    @Test(arguments: [false, true])
    func aDuplicatedSeriesKeepsItsFirstValueAndTheCopyIsABadLine(seenBefore: Bool) throws {
        var decoder = ProxyPageDecoder()
        // Whether the series is new (the full parse) or known (the fast path) must not matter.
        if seenBefore { _ = try decoder.decode(Array(Self.page.utf8)) }
        let lines = Self.page.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let copy = lines[2].replacingOccurrences(of: "} 100", with: "} 300")
        let doubled = (lines.prefix(3) + [copy] + lines.dropFirst(3)).joined(separator: "\n")
        let snapshot = try decoder.decode(Array(doubled.utf8))
        // As Prometheus does: the first sample of a series in a scrape is kept, the others refused.
        #expect(snapshot.totals()[Self.cart] == RouteTotals(success: 150, failure: 5))
        #expect(snapshot.stats.badLines == 1)
        #expect(snapshot.stats.firstBadLine == PageProblem(reason: "duplicate_series", line: 4, column: 1))
    }

    @Test(arguments: ["NaN", "+Inf", "-Inf"])
    func aNonFiniteCounterIsABadLineNeverAValue(value: String) throws {
        var decoder = ProxyPageDecoder()
        _ = try decoder.decode(Array(Self.page.utf8))
        let broken = Self.page.replacingOccurrences(of: "} 100\n", with: "} \(value)\n")
        let snapshot = try decoder.decode(Array(broken.utf8))
        #expect(snapshot.values.allSatisfy { $0.isNaN || $0.isFinite })
        #expect(snapshot.values[0].isNaN, "the series is absent from this page, so it keeps its last value")
        #expect(snapshot.totals()[Self.cart] == RouteTotals(success: 50, failure: 5))
        #expect(snapshot.stats.badLines == 1)
        #expect(snapshot.stats.firstBadLine?.reason == "non_finite_value")
    }

    @Test func absentSeriesAreNaN() throws {
        var decoder = ProxyPageDecoder()
        _ = try decoder.decode(Array(Self.page.utf8))
        let lines = Self.page.split(separator: "\n", omittingEmptySubsequences: false)
        let without = lines.filter { !$0.contains("10.0.0.1:80") }.joined(separator: "\n")
        let snapshot = try decoder.decode(Array(without.utf8))
        #expect(snapshot.values[0].isNaN)
        #expect(snapshot.totals()[Self.cart] == RouteTotals(success: 50, failure: 5))
    }

    @Test func escapedLabelValuesAreUnescapedInIdentities() throws {
        let page =
            #"route_response_total{direction="inbound",dst="a:80",rt_route="GET /say/\"hi\"",classification="success"} 3"#
            + "\n"
        var decoder = ProxyPageDecoder()
        let snapshot = try decoder.decode(Array(page.utf8))
        #expect(snapshot.routes.map(\.route) == [#"GET /say/"hi""#])
    }
}

/// Series ages are kept in 16 bits; a series absent for longer than 65,536 pages must still count
/// as stale, not come back to life when the page number wraps around.
@Suite struct SeriesAgingTests {
    static func page(skipping skipped: Set<Int>) -> [UInt8] {
        let lines = (0..<8).filter { !skipped.contains($0) }.map {
            "route_response_total{direction=\"outbound\",dst=\"cart.shop.svc.cluster.local:80\",rt_route=\"r\($0)\","
                + "status_code=\"200\",classification=\"success\"} 10\n"
        }
        return Array(lines.joined().utf8)
    }

    @Test func seriesAbsentForMoreThanTwoToTheSixteenPagesIsStillForgotten() async throws {
        var decoder = ProxyPageDecoder()
        #expect(decoder.staleAfterPages == 90 && decoder.compactionCheckInterval == 30)
        let full = Self.page(skipping: [])
        let withoutA = Self.page(skipping: [0])
        let withoutBoth = Self.page(skipping: [0, 1])
        var renumberedAt: [Int] = []
        var seriesAfter = 0
        // Series A leaves at page 10: one stale series of 8 is not worth compacting. B leaves at
        // 65,486, so both are stale at the check of page 65,580, where A's last page number,
        // taken modulo 2^16, would look only 34 pages old.
        for number in 1...65_610 {
            let bytes = number < 10 ? full : number < 65_486 ? withoutA : withoutBoth
            let snapshot = try decoder.decode(bytes)
            // A long synchronous loop would hold one of the few cooperative threads the other
            // tests' network code needs.
            if number % 500 == 0 { await Task.yield() }
            if snapshot.renumbering != nil {
                renumberedAt.append(number)
                seriesAfter = snapshot.series.count
            }
        }
        #expect(renumberedAt == [65_580])
        #expect(seriesAfter == 6)
    }
}

/// Decoders of different proxies share one copy of each route string.
@Suite struct SharedRouteStringTests {
    static func storage(_ string: String) -> UnsafeRawPointer? {
        string.utf8.withContiguousStorageIfAvailable { UnsafeRawPointer($0.baseAddress) } ?? nil
    }

    @Test func twoDecodersOfTheSamePageShareTheirRouteStrings() throws {
        let page = Array(DecoderBehaviourTests.page.utf8)
        var first = ProxyPageDecoder()
        var second = ProxyPageDecoder()
        let one = try first.decode(page)
        let other = try second.decode(page)
        #expect(one.routes == other.routes)
        let long = one.routes.indices.filter { one.routes[$0].target.utf8.count > 15 }
        #expect(!long.isEmpty)
        for index in long {
            let mine = try #require(Self.storage(one.routes[index].target))
            let theirs = try #require(Self.storage(other.routes[index].target))
            #expect(mine == theirs, "\(one.routes[index].target)")
        }
    }
}

/// How the decoder marks the series of one raw histogram (`SeriesDescriptor.continuesHistogram`).
@Suite struct HistogramRunTests {
    static let twoHistograms = """
        response_latency_ms_bucket{direction="outbound",authority="cart.shop.svc.cluster.local:80",dst_deployment="cart",dst_namespace="shop",status_code="200",le="10"} 1
        response_latency_ms_bucket{direction="outbound",authority="cart.shop.svc.cluster.local:80",dst_deployment="cart",dst_namespace="shop",status_code="200",le="+Inf"} 2
        response_latency_ms_sum{direction="outbound",authority="cart.shop.svc.cluster.local:80",dst_deployment="cart",dst_namespace="shop",status_code="200"} 30
        response_latency_ms_count{direction="outbound",authority="cart.shop.svc.cluster.local:80",dst_deployment="cart",dst_namespace="shop",status_code="200"} 2
        response_latency_ms_bucket{direction="outbound",authority="cart.shop.svc.cluster.local:80",dst_deployment="cart",dst_namespace="shop",status_code="500",le="10"} 0
        response_latency_ms_bucket{direction="outbound",authority="cart.shop.svc.cluster.local:80",dst_deployment="cart",dst_namespace="shop",status_code="500",le="+Inf"} 1
        response_latency_ms_bucket{le="10",direction="outbound",authority="cart.shop.svc.cluster.local:80",dst_deployment="cart",dst_namespace="shop",status_code="503"} 0
        response_latency_ms_bucket{direction="outbound",authority="cart.shop.svc.cluster.local:80",dst_deployment="cart",dst_namespace="shop",status_code="503",le="+Inf"} 1

        """

    /// The series of one raw histogram are marked as one run; another label set, or a series of
    /// another family between, starts a new one; the labels' order does not matter.
    @Test func seriesOfOneRawHistogramAreMarkedAsOneRun() throws {
        var decoder = ProxyPageDecoder()
        let snapshot = try decoder.decode(Array(Self.twoHistograms.utf8))
        #expect(snapshot.series.count == 8)
        #expect(
            snapshot.series.map(\.continuesHistogram) == [false, true, true, false, false, true, false, true])
    }

    /// A run whose first series the decoder forgot does not continue the series before it.
    @Test func aRunWhoseFirstSeriesWasForgottenStartsAfresh() throws {
        var decoder = ProxyPageDecoder()
        decoder.staleAfterPages = 1
        decoder.compactionCheckInterval = 1
        _ = try decoder.decode(Array(Self.twoHistograms.utf8))
        // The 500 histogram loses its le="10" bucket, so its +Inf bucket is then the first of its
        // run; the 503 histogram goes away.
        let lines = Self.twoHistograms.split(separator: "\n").filter {
            !($0.contains("status_code=\"500\"") && $0.contains("le=\"10\"")) && !$0.contains("\"503\"")
        }
        let page = lines.joined(separator: "\n") + "\n"
        var renumbered: ProxySnapshot?
        for _ in 0..<4 where renumbered == nil {
            let next = try decoder.decode(Array(page.utf8))
            if next.renumbering != nil { renumbered = next }
        }
        let snapshot = try #require(renumbered)
        #expect(snapshot.series.count == 5)
        #expect(snapshot.series.map(\.continuesHistogram) == [false, true, true, false, false])
    }
}
