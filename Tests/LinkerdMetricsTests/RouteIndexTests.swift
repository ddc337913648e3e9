import FathomModel
import Testing

@testable import LinkerdMetrics

@Suite struct RouteIndexTests {
    static func route(_ number: Int) -> RouteIdentity {
        RouteIdentity(
            direction: number % 2 == 0 ? .inbound : .outbound, source: .endpoint, target: "svc-\(number / 3):80",
            route: number % 3 == 0 ? "" : "GET /r\(number % 3)", peer: "ns/deployment/w\(number % 7)")
    }

    @Test func findsEveryRouteThroughGrowthAndRebuilds() {
        var routes: [RouteIdentity] = []
        var index = RouteIndex()
        for number in 0..<1_000 {
            #expect(index.find(Self.route(number), in: routes) == nil)
            routes.append(Self.route(number))
            index.appended(to: routes)
        }
        for number in 0..<1_000 {
            #expect(index.find(Self.route(number), in: routes) == Int32(number))
        }
        // Rebuilt from a subset, as after a compaction: the numbers follow the new positions.
        let kept = routes.enumerated().filter { $0.offset % 3 == 1 }.map(\.element)
        let rebuilt = RouteIndex(kept)
        for (position, identity) in kept.enumerated() {
            #expect(rebuilt.find(identity, in: kept) == Int32(position))
        }
        #expect(rebuilt.find(Self.route(0), in: kept) == nil)
    }
}
