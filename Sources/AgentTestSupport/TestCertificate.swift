import Foundation

/// Throwaway self-signed certificates for servers on 127.0.0.1, made with the openssl command
/// (the TLS tests of the Kubernetes client and of the uploader).
public enum TestCertificate {
    /// Why no certificate could be made.
    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    /// A P-256 certificate valid for a day for IP 127.0.0.1 and `dnsNames`, and its key, both PEM.
    /// Self-signed, it is also the CA a client must trust for it.
    public static func make(commonName: String, dnsNames: [String] = []) throws -> (
        certificatePEM: [UInt8], keyPEM: [UInt8]
    ) {
        let directory = NSTemporaryDirectory() + "fathom-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try runCommand(
            "openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem", "-days", "1",
                "-subj", "/CN=\(commonName)", "-addext",
                "subjectAltName=" + (["IP:127.0.0.1"] + dnsNames.map { "DNS:" + $0 }).joined(separator: ","),
            ])
        guard run.status == 0,
            let certificate = FileManager.default.contents(atPath: directory + "/cert.pem"),
            let key = FileManager.default.contents(atPath: directory + "/key.pem")
        else { throw Unavailable(description: "openssl could not make a test certificate") }
        return (Array(certificate), Array(key))
    }
}
