import Crypto
import Foundation
import X509

/// Throwaway certificates for the demo and the tests, made in process with swift-certificates:
/// a self-signed ECDSA P-256 certificate, as `step certificate create --profile root-ca` makes
/// Linkerd's trust anchor.
public enum SelfSignedAuthority {
    /// A PEM certificate for `commonName`, valid from `notBefore` to `notAfter`; a CA (the basic
    /// constraint a trust anchor has) unless `isCA` is false.
    public static func pem(commonName: String, notBefore: Date, notAfter: Date, isCA: Bool = true) throws -> String {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(commonName) }
        let extensions = try Certificate.Extensions {
            Critical(isCA ? BasicConstraints.isCertificateAuthority(maxPathLength: 1) : .notCertificateAuthority)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: notBefore, notValidAfter: notAfter, issuer: subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions, issuerPrivateKey: .init(key))
        return try certificate.serializeAsPEM().pemString
    }

    /// The same, valid from `from` to `until` days from now.
    public static func pem(commonName: String, fromDays from: Double = -1, untilDays until: Double, isCA: Bool = true)
        throws -> String
    {
        try pem(
            commonName: commonName, notBefore: Date(timeIntervalSinceNow: from * 86_400),
            notAfter: Date(timeIntervalSinceNow: until * 86_400), isCA: isCA)
    }
}
