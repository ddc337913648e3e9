/// Whether an edge's traffic was mutually authenticated, from the proxy's `tls` and
/// `no_tls_reason` labels (LINKERD-FACTS §2.1): what `linkerd viz edges` shows as secured, and
/// why not when it is not. Bounded: an unknown label value is `otherPlaintext`.
public enum EdgeSecurity: String, Sendable, Hashable, CaseIterable {
    /// The family has no TLS labels (the route families, the error families).
    case unreported
    /// `tls="true"`: meshed mTLS, the peer's identity known.
    case mutualTLS = "mtls"
    /// `tls="opaque"`: the application's own TLS, passed through (inbound, with an SNI).
    case passthroughTLS = "tls-passthrough"
    /// `tls="disabled"`: the proxy runs without identity.
    case disabled
    /// `no_tls_reason="loopback"`: the pod talking to itself through its proxy.
    case loopback
    /// `no_tls_reason="port_skipped"`: a port the proxy was told not to secure.
    case portSkipped = "port-skipped"
    /// `no_tls_reason="no_tls_from_remote"` (`not_provided_by_remote` on Linkerd 2.3-era proxies): an
    /// unmeshed client.
    case noTLSFromRemote = "no-tls-from-remote"
    /// `no_tls_reason="not_provided_by_service_discovery"` (`no_authority_in_http_request` on
    /// Linkerd 2.3-era proxies): a destination without a known identity, such as one outside the mesh.
    case notProvidedByServiceDiscovery = "not-provided-by-service-discovery"
    /// `no_tls_reason="ingress_without_override"`: an ingress-mode proxy without an override header.
    case ingressWithoutOverride = "ingress-without-override"
    /// Any other plaintext reason.
    case otherPlaintext = "plaintext"

    /// From a series' `tls` and `no_tls_reason` labels; nil labels mean the family has none.
    public init(tls: String?, noTLSReason: String?) {
        switch tls {
        case nil: self = .unreported
        case "true": self = .mutualTLS
        case "opaque": self = .passthroughTLS
        case "disabled": self = .disabled
        default:
            switch noTLSReason {
            case "loopback": self = .loopback
            case "port_skipped": self = .portSkipped
            // Linkerd 2.3-era proxies name the same reasons differently.
            case "no_tls_from_remote", "not_provided_by_remote": self = .noTLSFromRemote
            case "not_provided_by_service_discovery", "no_authority_in_http_request":
                self = .notProvidedByServiceDiscovery
            case "ingress_without_override": self = .ingressWithoutOverride
            default: self = .otherPlaintext
            }
        }
    }

    /// Whether the edge is secured by the mesh (`viz edges`' SECURED column).
    public var isMutualTLS: Bool { self == .mutualTLS }
}
