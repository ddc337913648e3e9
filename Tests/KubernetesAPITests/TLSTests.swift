import AgentTestSupport
import Foundation
import KubernetesAPI
import KubernetesModels
import LocalServers
import Testing
import TransportErrors

/// The client always verifies the API server's certificate: against the cluster CA it works,
/// against anything else it fails, whatever the token.
@Suite struct TLSTests {
    static func certificate() throws -> (certificatePEM: [UInt8], keyPEM: [UInt8]) {
        try TestCertificate.make(commonName: "fathom-test-apiserver")
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
        untrusted.certificateAuthority = nil
        let client = try KubernetesClient(connection: untrusted)
        await #expect(throws: KubernetesAPIError.self) { _ = try await client.list(Pod.self, timeout: .seconds(2)) }
        try await client.shutdown()

        // Another CA does not vouch for it either.
        var otherCA = api.connection
        otherCA.certificateAuthority = .inline(try Self.certificate().certificatePEM)
        let other = try KubernetesClient(connection: otherCA)
        do {
            _ = try await other.list(Pod.self, timeout: .seconds(2))
            Issue.record("a certificate from another CA must be refused")
        } catch let error as KubernetesAPIError {
            #expect(error.reason == "transport")
            if case .transport(let failure, _) = error { #expect(failure == .tls, "\(error)") }
        }
        try await other.shutdown()
        try await api.shutdown()
    }
}
