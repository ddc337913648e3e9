import AgentTestSupport
import Foundation
import KubernetesAPI
import LocalServers
import Testing

/// The client always verifies the API server's certificate: against the cluster CA it works,
/// against anything else it fails, whatever the token.
@Suite struct TLSTests {
    /// A throwaway self-signed certificate for 127.0.0.1, made with the openssl command.
    static func certificate() throws -> (certificatePEM: [UInt8], keyPEM: [UInt8]) {
        let directory = NSTemporaryDirectory() + "fathom-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try runCommand(
            "openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem", "-days", "1",
                "-subj", "/CN=fathom-test-apiserver", "-addext", "subjectAltName=IP:127.0.0.1",
            ])
        guard run.status == 0,
            let certificate = FileManager.default.contents(atPath: directory + "/cert.pem"),
            let key = FileManager.default.contents(atPath: directory + "/key.pem")
        else { throw KubernetesAPIError.configuration("openssl could not make a test certificate") }
        return (Array(certificate), Array(key))
    }

    @Test func verifiesTheServerAgainstTheClusterCA() async throws {
        let api = try await FakeKubernetesAPI.start(behaviour: .init(token: "t"), tls: try Self.certificate())
        api.apply(
            Pod(
                metadata: ObjectMeta(name: "p", namespace: "default"),
                spec: Pod.Spec(containers: [Pod.Container(name: "c")])))
        #expect(api.url.hasPrefix("https://"))

        let trusted = try KubernetesClient(connection: api.connection)
        #expect(try await trusted.list(Pod.self).items.map(\.metadata.name) == ["p"])
        try await trusted.shutdown()

        // The system roots do not know this server: refused, not silently accepted.
        var untrusted = api.connection
        untrusted.certificateAuthorityPEM = nil
        let client = try KubernetesClient(connection: untrusted)
        await #expect(throws: KubernetesAPIError.self) { _ = try await client.list(Pod.self, timeout: .seconds(2)) }
        try await client.shutdown()

        // Another CA does not vouch for it either.
        var otherCA = api.connection
        otherCA.certificateAuthorityPEM = try Self.certificate().certificatePEM
        let other = try KubernetesClient(connection: otherCA)
        do {
            _ = try await other.list(Pod.self, timeout: .seconds(2))
            Issue.record("a certificate from another CA must be refused")
        } catch let error as KubernetesAPIError {
            #expect(error.reason == "transport")
        }
        try await other.shutdown()
        try await api.shutdown()
    }
}
