import AgentTestSupport
import AsyncHTTPClient
import LocalServers
import Logging
import NIOSSL
import ReportEncoding
import Reporting
import RouteAggregation
import Testing

/// The uploader against a collector that serves HTTPS and offers HTTP/2, as the SaaS does.
@Suite struct UploaderTLSTests {
    func client(trusting certificatePEM: [UInt8]?) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let certificatePEM {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(certificatePEM))
        }
        return HTTPClient(
            eventLoopGroupProvider: .singleton, configuration: HTTPClient.Configuration(tlsConfiguration: tls))
    }

    func batches(_ count: Int) throws -> [EncodedBatch] {
        var builder = BatchBuilder(
            identity: AgentIdentity(agentID: "fathom", instanceID: "tls", clusterName: "test", agentVersion: "0.1.0"))
        return try (0..<count).map { index in
            try builder.encode(
                window: AggregationWindow(start: Double(index) * 10, end: Double(index + 1) * 10, routes: []),
                health: HealthSummary())
        }
    }

    @Test func uploadsOverHTTPSAndHTTP2WhenTheServerOffersIt() async throws {
        let material = try TestCertificate.make(commonName: "fathom-test-collector")
        // A 503 on the way: retries go over the same HTTP/2 connection machinery.
        let collector = try await FakeCollector.start(script: [.status(503)], tls: material)
        #expect(collector.url.hasPrefix("https://"))
        let client = try client(trusting: material.certificatePEM)
        var configuration = UploaderConfiguration(endpoint: collector.url)
        configuration.retry.initialBackoff = 0.02
        configuration.retry.maxBackoff = 0.1
        let uploader = try Uploader(configuration: configuration, client: client, logger: Logger(label: "test"))
        let loop = Task { await uploader.run() }
        for batch in try batches(3) { await uploader.enqueue(batch) }
        #expect(await eventually { collector.acceptedBatches.count == 3 })
        #expect(collector.acceptedBatches.map(\.sequence) == [1, 2, 3])
        let requests = collector.requests
        #expect(requests.count == 4)
        #expect(requests.allSatisfy { $0.httpMajorVersion == 2 })
        #expect(requests.allSatisfy { $0.contentEncoding == "gzip" })
        #expect(await uploader.currentStats.retries["http_5xx"] == 1)
        loop.cancel()
        _ = await loop.value
        try await client.shutdown()
        try await collector.shutdown()
    }

    @Test func aCollectorWithAnUntrustedCertificateIsATLSFailureAndNothingIsLost() async throws {
        let material = try TestCertificate.make(commonName: "fathom-test-collector")
        let collector = try await FakeCollector.start(tls: material)
        // The system roots do not know this certificate.
        let client = try client(trusting: nil)
        var configuration = UploaderConfiguration(endpoint: collector.url)
        configuration.retry.initialBackoff = 0.02
        configuration.retry.maxBackoff = 0.1
        configuration.requestTimeout = 2
        let uploader = try Uploader(configuration: configuration, client: client, logger: Logger(label: "test"))
        let loop = Task { await uploader.run() }
        for batch in try batches(1) { await uploader.enqueue(batch) }
        #expect(await eventually { (await uploader.currentStats.retries["tls"] ?? 0) >= 2 })
        let stats = await uploader.currentStats
        #expect(stats.queuedBatches == 1)
        #expect(stats.dropped.isEmpty)
        #expect(collector.acceptedBatches.isEmpty)
        loop.cancel()
        _ = await loop.value
        try await client.shutdown()
        try await collector.shutdown()
    }
}
