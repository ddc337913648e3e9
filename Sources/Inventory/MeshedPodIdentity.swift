import KubernetesModels

/// A fingerprint of a PEM bundle with the whitespace around it trimmed, as `linkerd check --proxy`
/// compares a pod's inlined trust anchors with the mesh's bundle (`strings.TrimSpace`): equal
/// bundles have equal fingerprints within one process.
public enum TrustAnchorsFingerprint {
    public static func of(_ pem: String) -> Int {
        var hasher = Hasher()
        let trimmed = pem.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }
        hasher.combine(String(trimmed.reversed()))
        return hasher.finalize()
    }
}

/// What the mesh's checks read of a running meshed pod's proxy: the trust anchors it was given
/// and its default inbound policy.
public struct MeshedPodIdentity: Sendable, Equatable {
    public var pod: ObjectKey
    /// Nil when the proxy's environment does not inline them.
    public var trustAnchorsFingerprint: Int?
    public var inboundDefaultPolicy: String?
}

extension ClusterInventory {
    /// Every running meshed pod outside the control-plane namespace (whose proxies read the
    /// bundle themselves), sorted by pod.
    public func meshedPodIdentities() -> [MeshedPodIdentity] {
        pods.values.filter { $0.meshed && $0.phase == "Running" && $0.key.namespace != settings.controlPlaneNamespace }
            .map {
                MeshedPodIdentity(
                    pod: $0.key, trustAnchorsFingerprint: $0.trustAnchorsFingerprint,
                    inboundDefaultPolicy: $0.inboundDefaultPolicy)
            }
            .sorted { $0.pod < $1.pod }
    }
}
