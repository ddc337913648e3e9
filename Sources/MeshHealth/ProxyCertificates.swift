import FathomModel

/// Where one proxy's identity certificate stands, from its pages over time.
public enum CertificateState: String, Sendable, CaseIterable {
    /// Not expired, and renewed as the proxy should renew it.
    case valid
    /// Refreshes fail (the failure counter rose, with no success since), or the proxy is past
    /// the point where it should have renewed: the leaf will expire unless that changes.
    case refreshFailing = "refresh_failing"
    /// Past its NotAfter: the proxy cannot make or take mTLS connections.
    case expired
    /// The page has no certificate series (identity disabled, or a proxy that exports none).
    case unreported
}

/// Every scraped proxy's identity certificate, and which of them are in trouble: what `linkerd
/// check --proxy` cannot see between runs, a refresh that keeps failing until the leaf expires.
///
/// A proxy renews its leaf at 70 % of its lifetime (LINKERD-FACTS 1.1 (a)); where the page says
/// when it last renewed (2.15+), one that is past 85 % of the lifetime without renewing is taken
/// for failing. A failure counter that rose since the previous page marks the proxy failing until
/// a refresh succeeds (the success counter rises, or the NotAfter moves on); a counter lower than
/// before is a proxy restart, not a failure.
public struct ProxyCertificates: Sendable {
    /// The share of a leaf's lifetime after its last renewal by which the next must have happened.
    public static let overdueShare = 0.85

    private struct Tracked {
        var certificate: ProxyCertificate?
        var failing = false
    }

    private var proxies: [ProxyID: Tracked] = [:]

    public init() {}

    /// The proxies tracked.
    public var count: Int { proxies.count }

    /// What `proxy`'s last page said of its certificate; nil when it said nothing or is not tracked.
    public func certificate(of proxy: ProxyID) -> ProxyCertificate? {
        proxies[proxy]?.certificate
    }

    /// Takes a proxy's page: its certificate series, or nil when it has none.
    public mutating func observe(_ certificate: ProxyCertificate?, of proxy: ProxyID) {
        var tracked = proxies[proxy] ?? Tracked()
        if let before = tracked.certificate, let now = certificate {
            if Self.rose(before.refreshesFailed, now.refreshesFailed) { tracked.failing = true }
            let renewed =
                Self.rose(before.refreshesSucceeded, now.refreshesSucceeded)
                || (now.expiresAt ?? 0) > (before.expiresAt ?? 0)
            if renewed { tracked.failing = false }
        }
        tracked.certificate = certificate
        proxies[proxy] = tracked
    }

    /// Stops tracking a proxy whose pod went away.
    public mutating func forget(_ proxy: ProxyID) {
        proxies[proxy] = nil
    }

    /// Whether `after` counts more than `before` (both present; a lower value is a restart).
    private static func rose(_ before: Double?, _ after: Double?) -> Bool {
        guard let before, let after else { return false }
        return after > before
    }

    /// The state of `proxy`'s certificate at `now` (Unix seconds); nil for a proxy not tracked.
    public func state(of proxy: ProxyID, at now: Double) -> CertificateState? {
        guard let tracked = proxies[proxy] else { return nil }
        guard let certificate = tracked.certificate, let expiresAt = certificate.expiresAt else {
            return .unreported
        }
        if now >= expiresAt { return .expired }
        if tracked.failing { return .refreshFailing }
        if let refreshedAt = certificate.refreshedAt, expiresAt > refreshedAt,
            now > refreshedAt + Self.overdueShare * (expiresAt - refreshedAt)
        {
            return .refreshFailing
        }
        return .valid
    }

    /// What the proxies' certificates add up to at `now`.
    public struct Summary: Sendable, Equatable {
        /// Proxies per state; every state is present, 0 where none is in it.
        public var proxies: [CertificateState: Int]
        /// The earliest NotAfter among the proxies that report one; nil without.
        public var earliestExpiry: Double?
        /// The proxies whose certificate is failing to refresh or expired, by name.
        public var troubled: [ProxyID: CertificateState]
    }

    public func summary(at now: Double) -> Summary {
        var counts = Dictionary(uniqueKeysWithValues: CertificateState.allCases.map { ($0, 0) })
        var earliest: Double?
        var troubled: [ProxyID: CertificateState] = [:]
        for (proxy, tracked) in proxies {
            guard let state = state(of: proxy, at: now) else { continue }
            counts[state, default: 0] += 1
            if state == .refreshFailing || state == .expired { troubled[proxy] = state }
            if let expiresAt = tracked.certificate?.expiresAt { earliest = min(earliest ?? expiresAt, expiresAt) }
        }
        return Summary(proxies: counts, earliestExpiry: earliest, troubled: troubled)
    }
}
