import GzipCodec
import ReportEncoding
import ReportProtos
import Reporting
import Testing

/// A batch split in two (the collector answered 413) holds, over its parts, exactly what it held:
/// each list cut once, in order, everything else in the first part, and parts named by their
/// halvings.
@Suite struct BatchSplitterTests {
    static func batch(routes: Int, upserted: Int, deleted: Int, events: Int) -> Fathom_Agent_V1_ReportBatch {
        var batch = Fathom_Agent_V1_ReportBatch()
        batch.agent = .with {
            $0.instanceID = "inst"
            $0.agentID = "fathom"
        }
        batch.sequence = 7
        batch.windowStartUnixMs = 1_000
        batch.windowEndUnixMs = 11_000
        batch.routeMetrics = (0..<routes).map { index in .with { $0.route = "r\(index)" } }
        batch.inventory = .with {
            $0.kind = .full
            $0.upserted = (0..<upserted).map { index in .with { $0.ref.name = "w\(index)" } }
            $0.deleted = (0..<deleted).map { index in .with { $0.name = "d\(index)" } }
            $0.controlPlane.namespace = "linkerd"
        }
        batch.rolloutEvents = (0..<events).map { index in .with { $0.id = "e\(index)" } }
        batch.health.targets = 6
        return batch
    }

    static func encoded(_ batch: Fathom_Agent_V1_ReportBatch) throws -> EncodedBatch {
        EncodedBatch(
            idempotencyKey: "inst-7", sequence: 7, windowEndUnixMilliseconds: 11_000,
            body: try Gzip.compress(try batch.serializedBytes()))
    }

    static func decoded(_ batch: EncodedBatch) throws -> Fathom_Agent_V1_ReportBatch {
        try Fathom_Agent_V1_ReportBatch(serializedBytes: try Gzip.decompress(batch.body, limit: 1 << 20))
    }

    @Test func theHalvesHoldEveryItemOnceInOrder() throws {
        let whole = Self.batch(routes: 5, upserted: 2, deleted: 1, events: 2)
        let (first, second) = try BatchSplitter.split(try Self.encoded(whole))
        #expect(first.idempotencyKey == "inst-7.0" && second.idempotencyKey == "inst-7.1")
        #expect(first.sequence == 7 && second.sequence == 7)
        let (a, b) = (try Self.decoded(first), try Self.decoded(second))
        // Ten items: routes first, so the first half is the five routes.
        #expect(a.routeMetrics.map(\.route) == ["r0", "r1", "r2", "r3", "r4"])
        #expect(a.inventory.upserted.isEmpty && b.routeMetrics.isEmpty)
        #expect(b.inventory.upserted.map(\.ref.name) == ["w0", "w1"])
        #expect(b.inventory.deleted.map(\.name) == ["d0"])
        #expect(b.rolloutEvents.map(\.id) == ["e0", "e1"])
        // The inventory's kind goes with its items; health and the control plane with the first part.
        #expect(b.inventory.kind == .full)
        #expect(a.health.targets == 6 && !b.hasHealth)
        #expect(a.inventory.controlPlane.namespace == "linkerd" && !b.inventory.hasControlPlane)
        #expect(a.part.path == "0" && b.part.path == "1")
        #expect(a.windowEndUnixMs == 11_000 && b.windowStartUnixMs == 1_000 && b.agent.instanceID == "inst")
    }

    @Test func theChecksAreSplitLikeTheOtherLists() throws {
        var whole = Self.batch(routes: 2, upserted: 0, deleted: 0, events: 0)
        whole.meshHealth.checks = (0..<4).map { index in .with { $0.id = "c\(index)" } }
        let (first, second) = try BatchSplitter.split(try Self.encoded(whole))
        let (a, b) = (try Self.decoded(first), try Self.decoded(second))
        // Six items: the two routes and the first check, then the other three checks.
        #expect(a.routeMetrics.count == 2 && a.meshHealth.checks.map(\.id) == ["c0"])
        #expect(b.routeMetrics.isEmpty && b.meshHealth.checks.map(\.id) == ["c1", "c2", "c3"])
        // A part without checks carries no MeshHealth at all.
        let (_, routesOnly) = try BatchSplitter.split(
            try Self.encoded(Self.batch(routes: 2, upserted: 0, deleted: 0, events: 0)))
        #expect(!(try Self.decoded(routesOnly)).hasMeshHealth)
        let checksOnly = Self.batch(routes: 0, upserted: 0, deleted: 0, events: 0)
        var twoChecks = checksOnly
        twoChecks.meshHealth.checks = [.with { $0.id = "c0" }, .with { $0.id = "c1" }]
        let (c0, c1) = try BatchSplitter.split(try Self.encoded(twoChecks))
        #expect(try Self.decoded(c0).meshHealth.checks.map(\.id) == ["c0"])
        #expect(try Self.decoded(c1).meshHealth.checks.map(\.id) == ["c1"])
        #expect(try Self.decoded(c0).health.targets == 6)
    }

    @Test func aPartSplitsAgainUnderItsOwnPath() throws {
        let (_, second) = try BatchSplitter.split(
            try Self.encoded(Self.batch(routes: 8, upserted: 0, deleted: 0, events: 0)))
        let (third, fourth) = try BatchSplitter.split(second)
        #expect([third.idempotencyKey, fourth.idempotencyKey] == ["inst-7.10", "inst-7.11"])
        #expect(try Self.decoded(third).routeMetrics.map(\.route) == ["r4", "r5"])
        #expect(try Self.decoded(fourth).routeMetrics.map(\.route) == ["r6", "r7"])
        #expect(EncodedBatch.sequence(ofKey: fourth.idempotencyKey) == 7)
    }

    @Test func oneItemCannotBeSplit() throws {
        #expect(throws: BatchSplitter.Failure.singleItem) {
            try BatchSplitter.split(try Self.encoded(Self.batch(routes: 1, upserted: 0, deleted: 0, events: 0)))
        }
        #expect(throws: BatchSplitter.Failure.undecodable) {
            try BatchSplitter.split(
                EncodedBatch(idempotencyKey: "k-1", sequence: 1, windowEndUnixMilliseconds: 0, body: [1, 2]))
        }
    }
}
