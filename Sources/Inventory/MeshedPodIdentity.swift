import KubernetesModels

/// A fingerprint of a PEM bundle with the whitespace around it trimmed, as `linkerd check --proxy`
/// compares a pod's inlined trust anchors with the mesh's bundle (`strings.TrimSpace`): equal
/// bundles have equal fingerprints within one process.
public enum TrustAnchorsFingerprint {
    public static func of(_ pem: String) -> Int {
        // Over the UTF-8 bytes, not Characters: a bundle is ASCII, and every pod's is hashed on
        // each list and watch event (grapheme by grapheme, 10,000 pods' anchors cost a list
        // most of its time).
        var pem = pem
        return pem.withUTF8 { bytes in
            var start = bytes.startIndex
            var end = bytes.endIndex
            while start < end, isSpace(bytes[start]) { start += 1 }
            while end > start, isSpace(bytes[end - 1]) { end -= 1 }
            var hasher = Hasher()
            hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start..<end])))
            return hasher.finalize()
        }
    }

    /// What Go's `strings.TrimSpace` trims of ASCII: space, \t, \n, \v, \f, \r.
    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
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
