import AgentTestSupport
import FathomModel
import LinkerdMetrics
import Testing

/// A proxy's own identity certificate, read from the page the agent already scrapes, under all
/// three spellings its versions use (LINKERD-FACTS 1.1 (a)).
@Suite struct ProxyCertificateTests {
    static func certificate(_ page: String, maxSeries: Int = 100_000) throws -> ProxyCertificate? {
        var decoder = ProxyPageDecoder(maxSeries: maxSeries)
        let snapshot = try decoder.decode(Array(page.utf8))
        #expect(snapshot.stats.badLines == 0)
        return snapshot.certificate
    }

    @Test func linkerd214SpellingOnARealPage() throws {
        // identity_cert_expiration_timestamp_seconds 1651053543, identity_cert_refresh_count 1.
        var decoder = ProxyPageDecoder()
        let snapshot = try decoder.decode(try Fixtures.bytes("linkerd2_prommatch_sampleMetrics.txt"))
        #expect(snapshot.certificate == ProxyCertificate(expiresAt: 1_651_053_543, refreshesSucceeded: 1))
    }

    @Test func linkerd215Spelling() throws {
        let page = """
            # HELP identity_cert_expiration_timestamp_seconds Time when the this proxy's current mTLS identity certificate will expire (in seconds since the UNIX epoch).
            # TYPE identity_cert_expiration_timestamp_seconds gauge
            identity_cert_expiration_timestamp_seconds 1765000000
            # TYPE identity_cert_refresh_timestamp_seconds gauge
            identity_cert_refresh_timestamp_seconds 1764940000.5
            # TYPE identity_cert_refreshes counter
            identity_cert_refreshes_total{result="ok"} 12
            identity_cert_refreshes_total{result="error"} 2
            # EOF

            """
        #expect(
            try Self.certificate(page)
                == ProxyCertificate(
                    expiresAt: 1_765_000_000, refreshedAt: 1_764_940_000.5, refreshesSucceeded: 12, refreshesFailed: 2))
    }

    @Test func linkerd216AndLaterSpellingPageAfterPage() throws {
        func page(expiresAt: Int, ok: Int, error: Int) -> String {
            """
            # TYPE control_identity_cert_expiration_timestamp_seconds gauge
            control_identity_cert_expiration_timestamp_seconds \(expiresAt)
            # TYPE control_identity_cert_refresh_timestamp_seconds gauge
            control_identity_cert_refresh_timestamp_seconds \(expiresAt - 86_400)
            # TYPE control_identity_cert_refreshes counter
            control_identity_cert_refreshes_total{result="ok"} \(ok)
            control_identity_cert_refreshes_total{result="error"} \(error)
            control_identity_cert_refreshes_total{result="something new"} 99
            # EOF

            """
        }
        // The same decoder reads the values anew on every page (the fast path of known series).
        var decoder = ProxyPageDecoder()
        let first = try decoder.decode(Array(page(expiresAt: 1_800_000_000, ok: 3, error: 0).utf8))
        let second = try decoder.decode(Array(page(expiresAt: 1_800_060_000, ok: 4, error: 1).utf8))
        #expect(
            first.certificate
                == ProxyCertificate(
                    expiresAt: 1_800_000_000, refreshedAt: 1_799_913_600, refreshesSucceeded: 3, refreshesFailed: 0))
        #expect(
            second.certificate
                == ProxyCertificate(
                    expiresAt: 1_800_060_000, refreshedAt: 1_799_973_600, refreshesSucceeded: 4, refreshesFailed: 1))
        // And a page without them says nothing of the certificate.
        let none = try decoder.decode(Array("process_start_time_seconds 1700000000\n".utf8))
        #expect(none.certificate == nil)
    }

    @Test func readPastTheSeriesLimitAndNotRoutes() throws {
        let page = """
            response_total{direction="inbound",target_addr="0.0.0.0:8080",status_code="200",classification="success"} 5
            response_total{direction="inbound",target_addr="0.0.0.0:8080",status_code="500",classification="failure"} 1
            control_identity_cert_expiration_timestamp_seconds 1800000000
            control_identity_cert_refreshes_total{result="ok"} 7

            """
        // With room for two series only, the certificate is still read, as the start time is.
        #expect(
            try Self.certificate(page, maxSeries: 2)
                == ProxyCertificate(expiresAt: 1_800_000_000, refreshesSucceeded: 7))
        var decoder = ProxyPageDecoder()
        let snapshot = try decoder.decode(Array(page.utf8))
        #expect(snapshot.routes.count == 1, "the certificate's series are no route")
    }
}
