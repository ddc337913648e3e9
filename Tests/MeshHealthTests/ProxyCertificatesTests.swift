import FathomModel
import MeshHealth
import Testing

/// Which proxies' identity certificates are in trouble, from their pages over time.
@Suite struct ProxyCertificatesTests {
    static let day = 86_400.0
    static let web = ProxyID("shop/web-1")

    /// A 2.15+ page: a 24 h leaf renewed at `renewedAt`.
    static func page(renewedAt: Double, ok: Double, failed: Double) -> ProxyCertificate {
        ProxyCertificate(
            expiresAt: renewedAt + day, refreshedAt: renewedAt, refreshesSucceeded: ok, refreshesFailed: failed)
    }

    @Test func aLeafRenewedOnTimeIsValidAndOneNeverRenewedIsFailingBeforeItExpires() {
        var certificates = ProxyCertificates()
        certificates.observe(Self.page(renewedAt: 1_000, ok: 1, failed: 0), of: Self.web)
        // Renewal is due at 70 % of the lifetime; at 80 % it is late but within the slack.
        #expect(certificates.state(of: Self.web, at: 1_000 + 0.8 * Self.day) == .valid)
        // Past 85 % without a renewal: failing, though the counters say nothing.
        #expect(certificates.state(of: Self.web, at: 1_000 + 0.86 * Self.day) == .refreshFailing)
        #expect(certificates.state(of: Self.web, at: 1_000 + Self.day) == .expired)
        #expect(certificates.state(of: ProxyID("shop/other"), at: 1_000) == nil)
    }

    @Test func aRisingFailureCounterMarksFailingUntilARefreshSucceeds() {
        var certificates = ProxyCertificates()
        certificates.observe(Self.page(renewedAt: 1_000, ok: 3, failed: 1), of: Self.web)
        // Failures from before the first page are history, not a state.
        #expect(certificates.state(of: Self.web, at: 2_000) == .valid)
        certificates.observe(Self.page(renewedAt: 1_000, ok: 3, failed: 2), of: Self.web)
        #expect(certificates.state(of: Self.web, at: 2_000) == .refreshFailing)
        // Still failing while nothing succeeds, even with no new failure.
        certificates.observe(Self.page(renewedAt: 1_000, ok: 3, failed: 2), of: Self.web)
        #expect(certificates.state(of: Self.web, at: 2_000) == .refreshFailing)
        // A successful refresh: a new leaf.
        certificates.observe(Self.page(renewedAt: 1_500, ok: 4, failed: 2), of: Self.web)
        #expect(certificates.state(of: Self.web, at: 2_000) == .valid)
        // A restarted proxy counts from zero: lower counters are no failure.
        certificates.observe(Self.page(renewedAt: 1_900, ok: 1, failed: 0), of: Self.web)
        #expect(certificates.state(of: Self.web, at: 2_000) == .valid)
    }

    @Test func beforeLinkerd215OnlyTheExpiryAndSuccessesAreKnown() {
        var certificates = ProxyCertificates()
        // identity_cert_expiration_timestamp_seconds and identity_cert_refresh_count only.
        certificates.observe(ProxyCertificate(expiresAt: 5_000, refreshesSucceeded: 1), of: Self.web)
        #expect(certificates.state(of: Self.web, at: 4_999) == .valid)
        #expect(certificates.state(of: Self.web, at: 5_000) == .expired)
        certificates.observe(nil, of: Self.web)
        #expect(certificates.state(of: Self.web, at: 1_000) == .unreported)
    }

    @Test func theSummaryCountsEveryStateNamesTheTroubledAndTheEarliestExpiry() {
        var certificates = ProxyCertificates()
        let failing = ProxyID("shop/web-2")
        let expired = ProxyID("shop/web-3")
        let silent = ProxyID("shop/db-0")
        certificates.observe(Self.page(renewedAt: 1_000, ok: 1, failed: 0), of: Self.web)
        certificates.observe(Self.page(renewedAt: 1_000, ok: 1, failed: 0), of: failing)
        certificates.observe(Self.page(renewedAt: 1_000, ok: 1, failed: 1), of: failing)
        certificates.observe(ProxyCertificate(expiresAt: 500), of: expired)
        certificates.observe(nil, of: silent)
        let summary = certificates.summary(at: 2_000)
        #expect(summary.proxies == [.valid: 1, .refreshFailing: 1, .expired: 1, .unreported: 1])
        #expect(summary.troubled == [failing: .refreshFailing, expired: .expired])
        #expect(summary.earliestExpiry == 500)
        certificates.forget(expired)
        #expect(certificates.summary(at: 2_000).earliestExpiry == 1_000 + Self.day)
        #expect(certificates.count == 3)
    }
}
