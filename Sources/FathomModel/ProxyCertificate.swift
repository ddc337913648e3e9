/// What a proxy's page says of its own mTLS identity certificate (the leaf the identity service
/// issued it), under whichever of the three spellings its version uses: `identity_cert_*` with
/// `identity_cert_refresh_count` (Linkerd 2.14 and before), `identity_cert_*` with
/// `identity_cert_refreshes_total{result}` (2.15), `control_identity_cert_*` (2.16 and later).
public struct ProxyCertificate: Sendable, Equatable {
    /// Which of the page's values a series holds.
    public enum Field: Sendable, Hashable, CaseIterable {
        /// `..._cert_expiration_timestamp_seconds`: the leaf's NotAfter, Unix seconds.
        case expiresAt
        /// `..._cert_refresh_timestamp_seconds` (2.15+): when the proxy last installed a new leaf.
        case refreshedAt
        /// `..._cert_refreshes_total{result="ok"}`, or `identity_cert_refresh_count` before 2.15.
        case refreshesSucceeded
        /// `..._cert_refreshes_total{result="error"}` (2.15+).
        case refreshesFailed
    }

    /// The leaf's NotAfter (Unix seconds); nil when the page does not say.
    public var expiresAt: Double?
    /// When the proxy last installed a new leaf (Unix seconds); nil before 2.15 and until the
    /// first refresh.
    public var refreshedAt: Double?
    /// Refreshes that succeeded, and that failed, since the proxy started; nil where the page
    /// has no such series (no failures are counted before 2.15).
    public var refreshesSucceeded: Double?
    public var refreshesFailed: Double?

    public init(
        expiresAt: Double? = nil, refreshedAt: Double? = nil, refreshesSucceeded: Double? = nil,
        refreshesFailed: Double? = nil
    ) {
        self.expiresAt = expiresAt
        self.refreshedAt = refreshedAt
        self.refreshesSucceeded = refreshesSucceeded
        self.refreshesFailed = refreshesFailed
    }

    /// Sets `field` to `value`; a repeated series keeps its first value, as the route series do.
    public mutating func record(_ field: Field, _ value: Double) {
        guard value.isFinite else { return }
        switch field {
        case .expiresAt: expiresAt = expiresAt ?? value
        case .refreshedAt: refreshedAt = refreshedAt ?? value
        case .refreshesSucceeded: refreshesSucceeded = refreshesSucceeded ?? value
        case .refreshesFailed: refreshesFailed = refreshesFailed ?? value
        }
    }
}
