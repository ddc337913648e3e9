import Foundation
import Inventory
import X509

/// One certificate of the mesh's trust bundle: what an operator needs to see of it.
public struct TrustAnchor: Sendable, Equatable, Codable {
    /// The subject as `openssl x509 -subject` prints it (`CN=root.linkerd.cluster.local`).
    public var subject: String
    /// NotBefore and NotAfter, in Unix seconds.
    public var notBefore: Double
    public var notAfter: Double
}

/// Why a trust bundle could not be used: a bounded reason, and the detail for the log and the hint.
public struct TrustBundleError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable, CaseIterable {
        /// No certificate block at all.
        case empty
        /// Text outside the certificate blocks other than whitespace (a trailing newline is fine).
        case trailingData = "trailing_data"
        /// A block whose base64 does not decode.
        case badEncoding = "bad_encoding"
        /// A block that decodes but is not an X.509 certificate.
        case notACertificate = "not_a_certificate"
        /// A certificate that may not sign others (no CA basic constraint): not a trust anchor.
        case notACA = "not_a_ca"
    }

    public var reason: Reason
    public var detail: String

    public init(reason: Reason, detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "\(reason.rawValue): \(detail)" }
}

/// The trust anchors of the mesh, as Linkerd keeps them in the `linkerd-identity-trust-roots`
/// ConfigMap (`ca-bundle.crt`): every PEM block (a rotation keeps the old and the new anchor
/// side by side), each a CA certificate.
public enum TrustBundle {
    static let begin = "-----BEGIN CERTIFICATE-----"
    static let end = "-----END CERTIFICATE-----"

    /// Every anchor of `pem`, or why the bundle is not usable. Whitespace around and between the
    /// blocks is fine (linkerd2#3880: a bundle with a trailing newline is a valid bundle).
    public static func parse(_ pem: String) -> Result<[TrustAnchor], TrustBundleError> {
        var anchors: [TrustAnchor] = []
        var rest = Substring(pem)
        while true {
            guard let start = rest.range(of: begin) else {
                if let residue = outside(rest) { return .failure(residue) }
                break
            }
            if let residue = outside(rest[..<start.lowerBound]) { return .failure(residue) }
            guard let stop = rest.range(of: end, range: start.upperBound..<rest.endIndex) else {
                return .failure(.init(reason: .badEncoding, detail: "block \(anchors.count + 1) has no END line"))
            }
            let block = String(rest[start.lowerBound..<stop.upperBound])
            switch anchor(block, number: anchors.count + 1) {
            case .success(let anchor): anchors.append(anchor)
            case .failure(let error): return .failure(error)
            }
            rest = rest[stop.upperBound...]
        }
        guard !anchors.isEmpty else { return .failure(.init(reason: .empty, detail: "no certificate in the bundle")) }
        return .success(anchors)
    }

    /// Text between blocks that is more than whitespace.
    private static func outside(_ text: Substring) -> TrustBundleError? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return nil }
        return .init(
            reason: .trailingData, detail: "text outside the certificate blocks: \"\(trimmed.prefix(40))\"")
    }

    private static func anchor(_ block: String, number: Int) -> Result<TrustAnchor, TrustBundleError> {
        let base64 = block.dropFirst(begin.count).dropLast(end.count).filter { !$0.isWhitespace }
        guard let der = Data(base64Encoded: String(base64)), !der.isEmpty else {
            return .failure(.init(reason: .badEncoding, detail: "block \(number) is not valid base64"))
        }
        let certificate: Certificate
        do {
            certificate = try Certificate(derEncoded: Array(der))
        } catch {
            return .failure(.init(reason: .notACertificate, detail: "block \(number) is not an X.509 certificate"))
        }
        let constraints = try? certificate.extensions.basicConstraints
        guard case .isCertificateAuthority = constraints else {
            return .failure(
                .init(
                    reason: .notACA,
                    detail: "block \(number) (\(certificate.subject)) is not a CA certificate (no CA basic constraint)")
            )
        }
        return .success(
            TrustAnchor(
                subject: "\(certificate.subject)", notBefore: certificate.notValidBefore.timeIntervalSince1970,
                notAfter: certificate.notValidAfter.timeIntervalSince1970))
    }
}

/// What the agent could read of the trust anchors, for the checks.
public enum TrustAnchorsReading: Sendable, Equatable {
    /// Not read yet (the ConfigMap's first list is under way).
    case unknown
    /// The agent may not read the ConfigMap (its Role is missing), or it does not exist; why.
    case unavailable(String)
    /// The bundle as parsed, from where (`linkerd/linkerd-identity-trust-roots`), with its
    /// `TrustAnchorsFingerprint` to compare the pods' inlined anchors with.
    case read(source: String, fingerprint: Int, Result<[TrustAnchor], TrustBundleError>)

    /// The reading of `bundle`, from `source`.
    public static func parsing(_ bundle: String, from source: String) -> TrustAnchorsReading {
        .read(source: source, fingerprint: TrustAnchorsFingerprint.of(bundle), TrustBundle.parse(bundle))
    }
}
