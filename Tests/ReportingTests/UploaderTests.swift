import AgentTestSupport
import AsyncHTTPClient
import FathomModel
import Foundation
import LocalServers
import Logging
import ReportEncoding
import Reporting
import RouteAggregation
import Synchronization
import Testing

/// Delays the uploader asked to sleep, shared with the test.
final class DelayLog: Sendable {
    let delays = Mutex<[Double]>([])

    init() {}
}

/// The real uploader, over real HTTP on loopback, against the fake collector.
@Suite(.serialized) struct UploaderTests {
    func batches(_ count: Int, instance: String = "inst") throws -> [EncodedBatch] {
        var builder = BatchBuilder(
            identity: AgentIdentity(agentID: "fathom", instanceID: instance, clusterName: "test", agentVersion: "0.1.0")
        )
        return try (0..<count).map { index in
            try builder.encode(
                window: AggregationWindow(start: Double(index) * 10, end: Double(index + 1) * 10, routes: []),
                health: HealthSummary())
        }
    }

    func configuration(_ collector: FakeCollector) -> UploaderConfiguration {
        var configuration = UploaderConfiguration(endpoint: collector.url)
        configuration.retry.initialBackoff = 0.02
        configuration.retry.maxBackoff = 0.1
        configuration.requestTimeout = 2
        return configuration
    }

    /// Runs `body` with a started uploader whose run loop is cancelled afterwards.
    func withUploader(
        _ configuration: UploaderConfiguration, delays: DelayLog? = nil, _ body: (Uploader) async throws -> Void
    ) async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: UploaderConfiguration.httpClient)
        let uploader = try Uploader(
            configuration: configuration, client: client, logger: Logger(label: "test"),
            sleep: { delay in
                delays?.delays.withLock { $0.append(delay) }
                // Retry-After asks for seconds; the test honours the decision but shortens the wait.
                try await Task.sleep(for: .milliseconds(Int(min(delay, 0.05) * 1_000)))
            })
        let loop = Task { await uploader.run() }
        do {
            try await body(uploader)
        } catch {
            loop.cancel()
            try await client.shutdown()
            throw error
        }
        loop.cancel()
        _ = await loop.value
        try await client.shutdown()
    }

    @Test func sendsInOrderWithHeadersAndToken() async throws {
        let collector = try await FakeCollector.start()
        let tokenPath = NSTemporaryDirectory() + "fathom-token-\(UInt64.random(in: 0...UInt64.max))"
        try "s3cret\n".write(toFile: tokenPath, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: tokenPath) }
        var settings = configuration(collector)
        settings.tokenFile = tokenPath
        try await withUploader(settings) { uploader in
            for batch in try batches(3) { await uploader.enqueue(batch) }
            #expect(await eventually { collector.acceptedBatches.count == 3 })
            // A rotated Secret is picked up without a restart.
            try "rotated".write(toFile: tokenPath, atomically: true, encoding: .utf8)
            for batch in try batches(1, instance: "next") { await uploader.enqueue(batch) }
            #expect(await eventually { collector.acceptedBatches.count == 4 })
            // The collector records a batch before the uploader has read the answer.
            #expect(await eventually { await uploader.currentStats.batchesSent == 4 })
            let stats = await uploader.currentStats
            #expect(stats.queuedBatches == 0)
        }
        #expect(collector.acceptedBatches.map(\.sequence) == [1, 2, 3, 1])
        let requests = collector.requests
        #expect(requests.map(\.idempotencyKey) == ["inst-1", "inst-2", "inst-3", "next-1"])
        #expect(requests.prefix(3).allSatisfy { $0.authorization == "Bearer s3cret" })
        #expect(requests.last?.authorization == "Bearer rotated")
        #expect(requests.allSatisfy { $0.contentEncoding == "gzip" && $0.contentType == "application/x-protobuf" })
        try await collector.shutdown()
    }

    @Test func outageIsRetriedAndNothingIsLostOrDoubled() async throws {
        let collector = try await FakeCollector.start(script: [
            .status(503), .status(429, retryAfter: "7"), .dropConnection, .status(502), .accept, .status(500),
        ])
        let delays = DelayLog()
        try await withUploader(configuration(collector), delays: delays) { uploader in
            for batch in try batches(4) { await uploader.enqueue(batch) }
            // Roomy: six exchanges, one of them a dropped connection, on a machine that may be busy.
            #expect(await eventually(within: 60) { collector.acceptedBatches.count == 4 })
            let stats = await uploader.currentStats
            #expect(stats.retries == ["http_5xx": 3, "throttled": 1, "reset": 1])
            #expect(stats.dropped.isEmpty)
        }
        #expect(collector.acceptedBatches.map(\.sequence) == [1, 2, 3, 4])
        // Retries repeat the same key: the first batch was tried five times.
        #expect(collector.requests.filter { $0.idempotencyKey == "inst-1" }.count == 5)
        // The 429's Retry-After was honoured.
        #expect(delays.delays.withLock { $0.contains(7) })
        try await collector.shutdown()
    }

    @Test func rejectedBatchIsDroppedAndCounted() async throws {
        let collector = try await FakeCollector.start(script: [.status(400, message: "unknown cluster")])
        try await withUploader(configuration(collector)) { uploader in
            for batch in try batches(2) { await uploader.enqueue(batch) }
            #expect(await eventually { collector.acceptedBatches.count == 1 })
            #expect(await uploader.currentStats.dropped == ["rejected": 1])
        }
        #expect(collector.acceptedBatches.map(\.sequence) == [2])
        try await collector.shutdown()
    }

    /// A 401 is kept and retried while the Secret rotates: the batch goes with the new token.
    @Test func unauthorizedBatchIsRetriedWithTheRotatedToken() async throws {
        let collector = try await FakeCollector.start()
        collector.requireToken("new-token")
        let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)")
        try "old-token".write(to: tokenFile, atomically: true, encoding: .utf8)
        var settings = configuration(collector)
        settings.tokenFile = tokenFile.path
        try await withUploader(settings) { uploader in
            for batch in try batches(1) { await uploader.enqueue(batch) }
            #expect(await eventually { collector.requests.count >= 2 })
            // The Secret is rotated (a new file, as the kubelet swaps it in).
            try "new-token".write(to: tokenFile, atomically: true, encoding: .utf8)
            #expect(await eventually { collector.acceptedBatches.count == 1 })
            #expect(await uploader.currentStats.dropped.isEmpty)
            #expect((await uploader.currentStats.retries["unauthorized"] ?? 0) >= 2)
        }
        #expect(collector.requests.first?.authorization == "Bearer old-token")
        #expect(collector.requests.last?.authorization == "Bearer new-token")
        #expect(collector.acceptedBatches.map(\.sequence) == [1])
        try? FileManager.default.removeItem(at: tokenFile)
        try await collector.shutdown()
    }

    @Test func slowCollectorTimesOutThenDeduplicates() async throws {
        let collector = try await FakeCollector.start(script: [.slow(seconds: 1.5, then: .accept)])
        var settings = configuration(collector)
        settings.requestTimeout = 0.3
        try await withUploader(settings) { uploader in
            for batch in try batches(1) { await uploader.enqueue(batch) }
            #expect(
                await eventually {
                    let sent = await uploader.currentStats.batchesSent
                    return collector.requests.count >= 2 && sent == 1
                })
            #expect(await uploader.currentStats.retries == ["timeout": 1])
        }
        // The collector processed the slow request too, but kept the batch once.
        #expect(collector.acceptedBatches.count == 1)
        try await collector.shutdown()
    }

    /// A spool that cannot be written (here its directory replaced by a file) keeps batches in
    /// memory, counts each failure and logs once, and once more when it works again.
    @Test func aSpoolWriteFailureIsCountedAndLoggedOncePerOutage() async throws {
        let spool = NSTemporaryDirectory() + "fathom-spool-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: spool) }
        let collector = try await FakeCollector.start()
        collector.setOutage(503)
        var settings = configuration(collector)
        settings.spoolDirectory = spool
        let logs = LogStore()
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: UploaderConfiguration.httpClient)
        let uploader = try Uploader(configuration: settings, client: client, logger: logs.logger("test"))
        try FileManager.default.removeItem(atPath: spool)
        _ = FileManager.default.createFile(atPath: spool, contents: Data("not a directory".utf8))
        for batch in try batches(3) { await uploader.enqueue(batch) }
        #expect(await uploader.currentStats.spoolWriteFailures == 3)
        #expect(await uploader.currentStats.queuedBatches == 3)
        try FileManager.default.removeItem(atPath: spool)
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        for batch in try batches(1, instance: "later") { await uploader.enqueue(batch) }
        #expect(await uploader.currentStats.spoolWriteFailures == 3)
        #expect(
            logs.count("Cannot write the spool; batches are kept in memory only until it works again") == 1)
        #expect(logs.count("Spool writable again") == 1)
        // Nothing was lost: every batch reaches the collector once it is back.
        collector.setOutage(nil)
        let loop = Task { await uploader.run() }
        #expect(await eventually { collector.acceptedBatches.count == 4 })
        loop.cancel()
        await loop.value
        try await client.shutdown()
        try await collector.shutdown()
    }

    /// The spool is bounded by its own size, not the queue's: an outage keeps on disk what the
    /// queue has no room for, drops nothing while the spool has room, and delivers everything in
    /// order once the collector is back; past the spool's bound its oldest go, counted.
    @Test func anOutageIsBoundedByTheSpoolNotTheQueue() async throws {
        for (spoolBatches, expectedDropped) in [(20, 0), (10, 5)] {
            let spool = NSTemporaryDirectory() + "fathom-spool-\(UInt64.random(in: 0...UInt64.max))"
            defer { try? FileManager.default.removeItem(atPath: spool) }
            let all = try batches(15)
            let largest = all.map(\.body.count).max() ?? 0
            let collector = try await FakeCollector.start()
            collector.setOutage(503)
            var settings = configuration(collector)
            settings.spoolDirectory = spool
            settings.queueMaxBytes = 3 * largest
            settings.spoolMaxBytes = spoolBatches * largest
            try await withUploader(settings) { uploader in
                for batch in all { await uploader.enqueue(batch) }
                let stats = await uploader.currentStats
                #expect(stats.dropped["queue_full"] == nil)
                #expect(stats.dropped["spool_full", default: 0] == expectedDropped)
                #expect(stats.queuedBatches == 15 - expectedDropped)
                #expect(stats.queuedBytes <= 3 * largest)
                let files = (try? FileManager.default.contentsOfDirectory(atPath: spool))?.count
                #expect(files == 15 - expectedDropped)
                collector.setOutage(nil)
                #expect(await eventually { collector.acceptedBatches.count == 15 - expectedDropped })
            }
            #expect(collector.acceptedBatches.map(\.sequence) == Array(UInt64(expectedDropped + 1)...15))
            try await collector.shutdown()
        }
    }

    @Test func spoolCarriesBatchesAcrossARestart() async throws {
        let spool = NSTemporaryDirectory() + "fathom-spool-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: spool) }
        // First run: the collector is unreachable (nothing listens on the port any more).
        let gone = try await FakeCollector.start()
        var settings = configuration(gone)
        try await gone.shutdown()
        settings.spoolDirectory = spool
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: UploaderConfiguration.httpClient)
        let first = try Uploader(configuration: settings, client: client, logger: Logger(label: "test"))
        for batch in try batches(3) { await first.enqueue(batch) }
        first.drain(within: 0.5)
        await first.run()
        #expect(await first.isEmpty == false)
        #expect(await first.currentStats.retries["refused", default: 0] >= 1)
        #expect(await first.currentStats.resumedBatches == 0)
        try await client.shutdown()

        // Second run, a new process: the spooled batches go first, then new ones.
        let collector = try await FakeCollector.start()
        settings.endpoint = collector.url
        try await withUploader(settings) { uploader in
            #expect(await uploader.currentStats.queuedBatches == 3)
            #expect(await uploader.currentStats.resumedBatches == 3)
            for batch in try batches(1, instance: "second") { await uploader.enqueue(batch) }
            #expect(await eventually { collector.acceptedBatches.count == 4 })
            // The spool file goes once the uploader has read the answer, just after the collector kept it.
            #expect(await eventually { await uploader.currentStats.batchesSent == 4 })
        }
        #expect(collector.requests.map(\.idempotencyKey) == ["inst-1", "inst-2", "inst-3", "second-1"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: spool).isEmpty)
        try await collector.shutdown()
    }

    /// A 15-minute outage with batches the size a 1,000-pod mesh produces (about 2,000 routes per
    /// window, as `fathom-bench --fleet 1000` measures): 30 windows of 30 s wait in the default
    /// queue and all arrive, in order, once the collector is back; nothing is dropped.
    @Test func fifteenMinuteOutageAtFleetSizeLosesNothing() async throws {
        let collector = try await FakeCollector.start()
        collector.setOutage(503)
        var builder = BatchBuilder(
            identity: AgentIdentity(agentID: "fathom", instanceID: "fleet", clusterName: "test", agentVersion: "0.1.0"))
        let bounds: [Double] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, .infinity]
        func route(_ number: Int, window index: Int) -> RouteWindow {
            let workload = WorkloadRef(kind: "Deployment", namespace: "ns-\(number % 20)", name: "app-\(number / 40)")
            let identity = RouteIdentity(
                direction: number % 2 == 0 ? .inbound : .outbound, source: .httpRoute,
                target: "Service/ns-\(number % 20)/svc-\(number % 37):8080", route: "HTTPRoute/r-\(number)", peer: "")
            let counts: [Double] = bounds.indices.map { Double($0 * number + index) }
            return RouteWindow(
                key: RouteKey(workload: workload, identity: identity), successCount: Double(number * 7 + index),
                failureCount: Double(number % 5),
                latency: LatencyHistogram(upperBounds: bounds, cumulativeCounts: counts, sum: Double(number) * 0.01),
                foldedRoutes: 0, duration: 30)
        }
        let windows: [AggregationWindow] = (0..<30).map { index in
            let start = Double(index) * 30
            return AggregationWindow(
                start: start, end: start + 30, routes: (0..<2_000).map { route($0, window: index) })
        }
        let all = try windows.map { try builder.encode(window: $0, health: HealthSummary()) }
        let settings = configuration(collector)
        #expect(all.reduce(0) { $0 + $1.body.count } < settings.queueMaxBytes / 10, "well within the default bound")
        try await withUploader(settings) { uploader in
            for batch in all { await uploader.enqueue(batch) }
            // The outage goes on while retries fail; then the collector comes back.
            #expect(await eventually { collector.requests.count >= 5 })
            #expect(await uploader.currentStats.queuedBatches == 30)
            collector.setOutage(nil)
            #expect(await eventually(within: 30) { collector.acceptedBatches.count == 30 })
            #expect(await uploader.currentStats.dropped.isEmpty)
        }
        #expect(collector.acceptedBatches.map(\.sequence) == Array(1...30))
        #expect(collector.acceptedBatches.allSatisfy { $0.routeMetrics.count == 2_000 })
        try await collector.shutdown()
    }

    @Test func fullQueueDropsOldestAndCountsIt() async throws {
        let collector = try await FakeCollector.start(script: Array(repeating: .status(503), count: 3))
        let all = try batches(6)
        var settings = configuration(collector)
        // Room for exactly three batches (later windows encode a few bytes larger).
        settings.queueMaxBytes = all.map(\.body.count).max()! * 3
        try await withUploader(settings) { uploader in
            for batch in all { await uploader.enqueue(batch) }
            #expect(await eventually { collector.acceptedBatches.count == 3 })
            #expect(await uploader.currentStats.dropped == ["queue_full": 3])
        }
        #expect(collector.acceptedBatches.map(\.sequence) == [4, 5, 6])
        try await collector.shutdown()
    }
}

@Suite struct UploaderShutdownTests {
    @Test func cancellingDuringAnUploadIsNotAFailure() async throws {
        // The slow answer outlasts any scheduling delay of this test: the cancellation comes first.
        let collector = try await FakeCollector.start(script: [.slow(seconds: 60, then: .accept)])
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: UploaderConfiguration.httpClient)
        let uploader = try Uploader(
            configuration: UploaderConfiguration(endpoint: collector.url), client: client, logger: Logger(label: "test")
        )
        let loop = Task { await uploader.run() }
        var builder = BatchBuilder(
            identity: AgentIdentity(agentID: "a", instanceID: "i", clusterName: "c", agentVersion: "v"))
        await uploader.enqueue(
            try builder.encode(window: AggregationWindow(start: 0, end: 1, routes: []), health: HealthSummary()))
        // Cancel while the slow request is in flight.
        #expect(await eventually(within: 30) { !collector.requests.isEmpty })
        loop.cancel()
        await loop.value
        let stats = await uploader.currentStats
        #expect(stats.retries.isEmpty)
        #expect(stats.dropped.isEmpty)
        #expect(stats.queuedBatches == 1)
        // A drain sends it; the collector keeps it once.
        uploader.drain(within: 5)
        await uploader.run()
        #expect(await uploader.isEmpty)
        #expect(collector.acceptedBatches.count == 1)
        try await client.shutdown()
        try await collector.shutdown()
    }
}

final class Flag: Sendable {
    let value = Mutex(false)
}

/// The shutdown drain: the run loop itself delivers what is left, so nothing is sent twice at once.
@Suite struct UploaderDrainTests {
    func batches(_ count: Int) throws -> [EncodedBatch] {
        var builder = BatchBuilder(
            identity: AgentIdentity(agentID: "a", instanceID: "drain", clusterName: "c", agentVersion: "v"))
        return try (0..<count).map { index in
            try builder.encode(
                window: AggregationWindow(start: Double(index), end: Double(index + 1), routes: []),
                health: HealthSummary())
        }
    }

    @Test func aDrainRetriesThroughTheGracePeriodAndSendsEachAttemptOnce() async throws {
        let collector = try await FakeCollector.start(script: [.status(503), .status(502), .status(503)])
        var configuration = UploaderConfiguration(endpoint: collector.url)
        configuration.retry.initialBackoff = 0.2
        configuration.retry.maxBackoff = 0.2
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: UploaderConfiguration.httpClient)
        let uploader = try Uploader(configuration: configuration, client: client, logger: Logger(label: "test"))
        for batch in try batches(2) { await uploader.enqueue(batch) }
        // A grace period a loaded machine cannot spend on four attempts (CI's loaded pass once
        // spent 10 s on three); the drain ends as soon as the queue is empty.
        uploader.drain(within: 60)
        await uploader.run()
        #expect(await uploader.isEmpty)
        #expect(collector.acceptedBatches.map(\.sequence) == [1, 2])
        // Three failed attempts of the first batch, then one success each: one request per attempt.
        #expect(collector.requests.map(\.idempotencyKey) == ["drain-1", "drain-1", "drain-1", "drain-1", "drain-2"])
        try await client.shutdown()
        try await collector.shutdown()
    }

    @Test func aDrainCutsALongBackoffShort() async throws {
        let collector = try await FakeCollector.start(script: [.status(429, retryAfter: "600")])
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: UploaderConfiguration.httpClient)
        let uploader = try Uploader(
            configuration: UploaderConfiguration(endpoint: collector.url), client: client, logger: Logger(label: "test")
        )
        for batch in try batches(1) { await uploader.enqueue(batch) }
        let finished = Flag()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await uploader.run()
                finished.value.withLock { $0 = true }
            }
            // The collector asked for ten minutes; the shutdown has seconds. (The retry is counted
            // before the backoff starts, and the count is read while the uploader waits.)
            #expect(await eventually { await uploader.currentStats.retries["throttled"] == 1 })
            uploader.drain(within: 10)
            #expect(await eventually(within: 5) { finished.value.withLock { $0 } })
            group.cancelAll()
            try await group.waitForAll()
        }
        #expect(collector.acceptedBatches.count == 1)
        try await client.shutdown()
        try await collector.shutdown()
    }

    @Test func aDrainEndsAtItsDeadlineWithTheRestQueued() async throws {
        let collector = try await FakeCollector.start()
        collector.setOutage(503)
        var configuration = UploaderConfiguration(endpoint: collector.url)
        configuration.retry.initialBackoff = 0.05
        configuration.retry.maxBackoff = 0.1
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: UploaderConfiguration.httpClient)
        let uploader = try Uploader(configuration: configuration, client: client, logger: Logger(label: "test"))
        for batch in try batches(3) { await uploader.enqueue(batch) }
        let started = ContinuousClock.now
        uploader.drain(within: 2)
        await uploader.run()
        let elapsed = ContinuousClock.now - started
        #expect(elapsed >= .seconds(2))
        #expect(await uploader.currentStats.queuedBatches == 3)
        // It did not give up at the first failure: it kept trying until the deadline.
        #expect(!collector.requests.isEmpty)
        try await client.shutdown()
        try await collector.shutdown()
    }
}
