import AgentTestSupport
import AsyncHTTPClient
import FathomModel
import Foundation
import GzipCodec
import HTTPServing
import LocalServers
import Logging
import ReportEncoding
import ReportProtos
import Reporting
import RouteAggregation
import Synchronization
import Testing

/// The uploader at the collector's edges: a token rotated in a Secret volume, redirects, a 2xx
/// with a large body, a 413, a spool file damaged on disk. Each case loses nothing the collector
/// did not refuse, and sends nothing anywhere the configuration did not name.
@Suite(.serialized) struct UploaderEdgeTests {
    let base = UploaderTests()

    /// Batches of `routes` routes each, numbered from 1.
    static func batches(_ count: Int, routes: Int, instance: String = "inst") throws -> [EncodedBatch] {
        var builder = BatchBuilder(
            identity: AgentIdentity(agentID: "fathom", instanceID: instance, clusterName: "test", agentVersion: "0.1.0")
        )
        return try (0..<count).map { index in
            let window = AggregationWindow(
                start: Double(index) * 10, end: Double(index + 1) * 10,
                routes: (0..<routes).map { route($0, window: index) })
            return try builder.encode(window: window, health: HealthSummary())
        }
    }

    /// A route with a name that does not compress away (so a batch's size grows with its routes).
    static func route(_ number: Int, window: Int) -> RouteWindow {
        var state = UInt64(number + 1) &* 0x9E37_79B9_7F4A_7C15
        let noise = (0..<5).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return String(state >> 16, radix: 36)
        }.joined()
        return RouteWindow(
            key: RouteKey(
                workload: WorkloadRef(kind: "Deployment", namespace: "shop", name: "web"),
                identity: RouteIdentity(
                    direction: .inbound, source: .httpRoute, target: "Service/shop/web:80",
                    route: "HTTPRoute/shop/r-\(number)-\(noise)", peer: "")),
            successCount: Double(number + window), failureCount: 0,
            latency: LatencyHistogram(upperBounds: [0.1, .infinity], cumulativeCounts: [1, 2], sum: 0.3),
            foldedRoutes: 0, duration: 10)
    }

    /// The token rotated the way the kubelet rotates a Secret (`..data` swapped) while the
    /// collector already refuses the old one: the next attempt carries the new token at once,
    /// and every batch kept during the 401s arrives once.
    @Test func aTokenRotatedInASecretVolumeIsSentWithoutWaitingABackoff() async throws {
        let collector = try await FakeCollector.start()
        let volume = try MountedVolume(named: "secret", file: "token")
        try volume.publish("old-token\n")
        let changed = Mutex<[String]>([])
        var settings = base.configuration(collector)
        settings.tokenFile = volume.file
        settings.tokenChanged = { path in changed.withLock { $0.append(path) } }
        // A long backoff: an attempt with the new token must not wait for it.
        settings.retry.initialBackoff = 3_600
        settings.retry.maxBackoff = 3_600
        let delays = DelayLog()
        try await base.withUploader(settings, delays: delays) { uploader in
            for batch in try base.batches(2) { await uploader.enqueue(batch) }
            #expect(await eventually { collector.acceptedBatches.count == 2 })
            collector.requireToken("new-token")
            try volume.publish("new-token\n")
            for batch in try base.batches(3, instance: "later") { await uploader.enqueue(batch) }
            #expect(await eventually { collector.acceptedBatches.count == 5 })
        }
        #expect(collector.requests.filter { $0.authorization == "Bearer old-token" }.count == 2)
        #expect(collector.requests.dropFirst(2).allSatisfy { $0.authorization == "Bearer new-token" })
        #expect(delays.delays.withLock { $0 }.allSatisfy { $0 < 1 }, "no backoff waited")
        #expect(changed.withLock { $0 } == [volume.file])
        try await collector.shutdown()
    }

    /// A collector that redirects to another host (127.0.0.2 here) gets its batch retried at the
    /// configured endpoint; the other host sees nothing, not a GET and not the batch.
    @Test(arguments: [301, 302, 307, 308])
    func aRedirectIsRetriedHereAndNothingGoesElsewhere(status: Int) async throws {
        // What reached the other host. Tests beside this one also listen on 127.0.0.2 and may
        // probe a port this server took over from them, so what counts is a request for the
        // redirect's path: the batch, or a GET without it.
        let elsewhere = Mutex<[String]>([])
        let other = try await SimpleHTTPServer.start(host: "127.0.0.2") { request in
            elsewhere.withLock { $0.append("\(request.head.method) \(request.head.uri)") }
            return .reply(status: 200)
        }
        let location = "http://user:pw@127.0.0.2:\(other.port)/v1/reports?signature=secret"
        let collector = try await FakeCollector.start(
            script: Array(
                repeating: .redirect(status: status, location: location), count: 3))
        try await base.withUploader(base.configuration(collector)) { uploader in
            for batch in try base.batches(2) { await uploader.enqueue(batch) }
            #expect(await eventually { collector.acceptedBatches.count == 2 })
            #expect(await eventually { await uploader.currentStats.batchesSent == 2 })
            let stats = await uploader.currentStats
            #expect(stats.retries == ["redirect": 3])
            #expect(stats.dropped.isEmpty)
        }
        let received = elsewhere.withLock { $0 }
        #expect(!received.contains { $0.contains("/v1/reports") }, "the redirect's target received \(received)")
        #expect(collector.acceptedBatches.map(\.sequence) == [1, 2])
        try await collector.shutdown()
        try await other.shutdown()
    }

    /// A 2xx acknowledges whatever its body: a 1 MiB one is not read through, and the batch is
    /// not sent again (it was, 7 times in 7, when the body's size failed the read).
    @Test func aLargeAcknowledgementIsStillAnAcknowledgement() async throws {
        let collector = try await FakeCollector.start(
            script: Array(repeating: .acceptWithBody(bytes: 1 << 20), count: 4))
        try await base.withUploader(base.configuration(collector)) { uploader in
            for batch in try base.batches(4) { await uploader.enqueue(batch) }
            #expect(await eventually { await uploader.currentStats.batchesSent == 4 })
            #expect(await uploader.currentStats.retries.isEmpty)
        }
        #expect(collector.requests.map(\.idempotencyKey) == ["inst-1", "inst-2", "inst-3", "inst-4"])
        try await collector.shutdown()
    }

    /// A 2xx whose body stalls after its head: acknowledged, and the uploader goes on to the next
    /// batch after a bounded wait (the HTTP client's deadline ends at the head).
    @Test func anAcknowledgementWhoseBodyStallsDoesNotStallUploads() async throws {
        let collector = try await FakeCollector.start(script: [.acceptWithStalledBody])
        var settings = base.configuration(collector)
        settings.requestTimeout = 1
        try await base.withUploader(settings) { uploader in
            for batch in try base.batches(3) { await uploader.enqueue(batch) }
            #expect(await eventually { await uploader.currentStats.batchesSent == 3 })
            #expect(await uploader.currentStats.retries.isEmpty)
        }
        #expect(collector.requests.map(\.idempotencyKey) == ["inst-1", "inst-2", "inst-3"])
        try await collector.shutdown()
    }

    /// A collector refusing bodies over a limit (413): each batch is split until its parts fit,
    /// the parts arrive in order with their own keys, and together they hold every route once.
    /// A single route that does not fit alone is dropped, counted as `too_large`.
    @Test func aBatchTooLargeIsSplitUntilItsPartsFit() async throws {
        let collector = try await FakeCollector.start()
        let batches = try Self.batches(3, routes: 40)
        let largest = batches.map(\.body.count).max()!
        collector.limitBodies(to: largest / 3)
        let spool = NSTemporaryDirectory() + "fathom-spool-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: spool) }
        var settings = base.configuration(collector)
        settings.spoolDirectory = spool
        try await base.withUploader(settings) { uploader in
            for batch in batches { await uploader.enqueue(batch) }
            #expect(await eventually { await uploader.currentStats.queuedBatches == 0 })
            let stats = await uploader.currentStats
            #expect(stats.batchesSplit >= 6, "each batch split at least twice")
            #expect(stats.dropped.isEmpty)
        }
        let accepted = collector.acceptedBatches
        #expect(accepted.allSatisfy { $0.hasPart })
        // In order: batch by batch, and each batch's parts in the order of their items.
        #expect(accepted.map(\.sequence) == accepted.map(\.sequence).sorted())
        for sequence in UInt64(1)...3 {
            let parts = accepted.filter { $0.sequence == sequence }
            let coverage = parts.reduce(0.0) { $0 + pow(2, -Double($1.part.path.count)) }
            #expect(coverage == 1, "batch \(sequence): parts \(parts.map(\.part.path))")
            #expect(
                parts.flatMap(\.routeMetrics).map(\.route)
                    == (0..<40).map { Self.route($0, window: 0).key.identity.route })
            #expect(parts.filter(\.hasHealth).count == 1, "health once, in the first part")
            let keys = collector.requests.filter { $0.answeredStatus == 200 }.compactMap(\.idempotencyKey)
            #expect(Set(keys).count == keys.count)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: spool).isEmpty, "parts spooled, then removed")

        // One route larger than the limit alone: dropped as too large, the next batch goes on.
        collector.limitBodies(to: 10)
        try await base.withUploader(base.configuration(collector)) { uploader in
            for batch in try Self.batches(1, routes: 1, instance: "alone") { await uploader.enqueue(batch) }
            #expect(await eventually { await uploader.currentStats.dropped == ["too_large": 1] })
        }
        try await collector.shutdown()
    }

    /// A spool file damaged on disk (a flipped byte, a cut end) is recognised when it is read
    /// back: dropped and counted as `spool_damaged`, never sent; the intact ones are sent.
    @Test func aDamagedSpoolFileIsDroppedNotSent() async throws {
        let spool = NSTemporaryDirectory() + "fathom-spool-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: spool) }
        var disk = try BatchSpool(directory: spool, maxBytes: 1 << 20)
        for batch in try Self.batches(4, routes: 3) { _ = try disk.store(batch) }
        let files = try FileManager.default.contentsOfDirectory(atPath: spool).sorted()
        #expect(files.count == 4)
        // A byte flipped in the middle of the second, the fourth cut short.
        var second = [UInt8](FileManager.default.contents(atPath: spool + "/" + files[1])!)
        second[second.count / 2] ^= 0x40
        try Data(second).write(to: URL(fileURLWithPath: spool + "/" + files[1]))
        let fourth = [UInt8](FileManager.default.contents(atPath: spool + "/" + files[3])!)
        try Data(fourth.dropLast(9)).write(to: URL(fileURLWithPath: spool + "/" + files[3]))

        let collector = try await FakeCollector.start()
        var settings = base.configuration(collector)
        settings.spoolDirectory = spool
        try await base.withUploader(settings) { uploader in
            #expect(await uploader.currentStats.dropped == ["spool_damaged": 2])
            #expect(await eventually { collector.acceptedBatches.count == 2 })
            // Each file is removed once its batch is acknowledged, which the collector records
            // a moment before the uploader reads the answer: wait for it before stopping.
            #expect(await eventually { (try? FileManager.default.contentsOfDirectory(atPath: spool))?.isEmpty == true })
        }
        #expect(collector.requests.map(\.idempotencyKey) == ["inst-1", "inst-3"])
        try await collector.shutdown()
    }
}
