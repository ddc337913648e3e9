import Foundation
import LocalServers
import Testing

@testable import MeshHealth

/// The trust bundle as Linkerd keeps it, from certificates made in the test with
/// swift-certificates (real ECDSA P-256 keys and signatures, as `step certificate create` makes
/// Linkerd's).
@Suite struct TrustBundleTests {
    static let day = 86_400.0

    /// A self-signed certificate named `name`, valid from `from` to `until` (days from now).
    static func certificate(_ name: String, from: Double = -1, until: Double, ca: Bool = true) throws -> String {
        try SelfSignedAuthority.pem(commonName: name, fromDays: from, untilDays: until, isCA: ca)
    }

    static var now: Double { Date().timeIntervalSince1970 }

    static func checks(_ bundle: String) -> [MeshCheck] {
        MeshChecks.trustAnchors(
            .parsing(bundle, from: "linkerd/linkerd-identity-trust-roots"), now: now,
            warningSeconds: MeshChecks.defaultExpiryWarningSeconds)
    }

    @Test func aValidAnchorWithATrailingNewlinePassesBothChecks() throws {
        let bundle = try Self.certificate("root.linkerd.cluster.local", until: 365) + "\n"
        let anchors = try TrustBundle.parse(bundle).get()
        #expect(anchors.map(\.subject) == ["CN=root.linkerd.cluster.local"])
        #expect(abs(anchors[0].notAfter - (Self.now + 365 * Self.day)) < 60)
        #expect(Self.checks(bundle).map(\.status) == [.ok, .ok])
    }

    @Test func aRotationsTwoAnchorsAreBothReadAndTheExpiringOneWarns() throws {
        let bundle =
            try Self.certificate("old.root", from: -300, until: 20) + "\n\n"
            + Self.certificate("new.root", until: 3_650) + "\n"
        let anchors = try TrustBundle.parse(bundle).get()
        #expect(anchors.map(\.subject) == ["CN=old.root", "CN=new.root"])
        let checks = Self.checks(bundle)
        #expect(checks.map(\.id) == ["trust-anchors-valid", "trust-anchors-expiring"])
        #expect(checks[0].status == .ok)
        #expect(checks[1].status == .warning)
        #expect(checks[1].subjects == ["CN=old.root"])
        #expect(checks[1].message == "1 trust anchor expires within 60 days, the first in 20 days")
    }

    @Test func anExpiredOrNotYetValidAnchorIsAnError() throws {
        let expired = try Self.certificate("expired.root", from: -400, until: -2)
        let future = try Self.certificate("future.root", from: 3, until: 400)
        let checks = Self.checks(expired + "\n" + future)
        #expect(checks[0].status == .error)
        #expect(checks[0].subjects == ["CN=expired.root", "CN=future.root"])
        #expect(
            checks[0].message == "2 trust anchors are expired or not yet valid in linkerd/linkerd-identity-trust-roots")
        // An expired anchor does not also count as expiring.
        #expect(checks[1].status == .ok)
    }

    @Test func unusableBundlesSayWhy() throws {
        let valid = try Self.certificate("root", until: 365)
        func reason(_ bundle: String) -> TrustBundleError.Reason? {
            guard case .failure(let error) = TrustBundle.parse(bundle) else { return nil }
            return error.reason
        }
        #expect(reason("") == .empty)
        #expect(reason("\n  \n") == .empty)
        #expect(reason(valid + "\nlinkerd-identity-issuer\n") == .trailingData)
        #expect(reason("# anchors\n" + valid) == .trailingData)
        // A character of the body changed to one base64 does not have.
        let lines = valid.split(separator: "\n")
        let broken = ([lines[0], "!" + lines[1].dropFirst()] + lines.dropFirst(2)).joined(separator: "\n")
        #expect(reason(broken) == .badEncoding)
        #expect(reason(valid.replacingOccurrences(of: "-----END CERTIFICATE-----", with: "")) == .badEncoding)
        // Base64 of something that is not a certificate.
        let notCertificate =
            "-----BEGIN CERTIFICATE-----\n\(Data("not a certificate".utf8).base64EncodedString())\n"
            + "-----END CERTIFICATE-----\n"
        #expect(reason(notCertificate) == .notACertificate)
        #expect(reason(try Self.certificate("leaf", until: 1, ca: false)) == .notACA)

        let checks = Self.checks(valid + "\ngarbage")
        #expect(checks.count == 1)
        #expect(checks[0].status == .error)
        #expect(checks[0].message.contains("text outside the certificate blocks: \"garbage\""))
    }

    @Test func anUnreadableBundleWarnsAndNamesTheRole() {
        let checks = MeshChecks.trustAnchors(
            .unavailable("forbidden to read ConfigMap linkerd/linkerd-identity-trust-roots"), now: Self.now,
            warningSeconds: MeshChecks.defaultExpiryWarningSeconds)
        #expect(checks.map(\.status) == [.warning])
        #expect(checks[0].hint.contains("linkerd-identity-trust-roots"))
        #expect(MeshChecks.trustAnchors(.unknown, now: Self.now, warningSeconds: 1).isEmpty)
    }
}
