import AgentTestSupport
import Foundation
import HTTPServing
import KubernetesAPI
import KubernetesModels
import LocalServers
import Synchronization
import Testing

/// Changes of credential files the client was told of, in order.
final class CredentialChanges: Sendable {
    let changes = Mutex<[CredentialChange]>([])
    var record: @Sendable (CredentialChange) -> Void { { [self] change in changes.withLock { $0.append(change) } } }
    var all: [CredentialChange] { changes.withLock { $0 } }
}

/// The client's credentials rotate under it the way a kubelet rotates them (the Secret volume's
/// `..data` swapped): the next request carries the new token or trusts the new CA, without a
/// restart, and the change is told once.
@Suite struct CredentialRotationTests {
    static func pod() -> Pod {
        Pod(
            metadata: ObjectMeta(name: "p", namespace: "default"),
            spec: Pod.Spec(containers: [Pod.Container(name: "c")]))
    }

    /// A projected ServiceAccount token rotated by a `..data` swap, with the old one refused from
    /// then on: the next LIST carries the new one (before, the agent kept the old token for ever).
    @Test func aTokenRotatedByADataSwapIsSentByTheNextRequest() async throws {
        let api = try await FakeKubernetesAPI.start(behaviour: .init(token: "token-a"))
        api.apply(Self.pod())
        let volume = try MountedVolume(named: "serviceaccount", file: "token")
        try volume.publish("token-a\n")
        let changes = CredentialChanges()
        let client = try KubernetesClient(
            connection: ClusterConnection(server: api.url, credentials: .tokenFile(volume.file)),
            credentialMaxAge: 3_600, onCredentialChange: changes.record)
        #expect(try await client.list(Pod.self).items.count == 1)

        try volume.publish("token-b\n")
        api.configure { $0.token = "token-b" }
        #expect(try await client.list(Pod.self).items.count == 1)
        #expect(changes.all == [CredentialChange(credential: "kubernetes_token", path: volume.file, usable: true)])
        try await client.shutdown()
        try await api.shutdown()
    }

    /// The server refuses the token the request carried, and by then the file holds a new one
    /// (rotated between the read and the answer): the request goes again at once with it, so the
    /// caller sees no failure and waits no backoff.
    @Test func aRefusedRequestIsSentAgainAtOnceWhenTheFileHoldsANewToken() async throws {
        let volume = try MountedVolume(named: "serviceaccount", file: "token")
        try volume.publish("old\n")
        let path = volume.file
        let seen = Mutex<[String]>([])
        let rotations = Mutex(1)
        let server = try await SimpleHTTPServer.start { request in
            let authorization = request.head.headers.first(name: "Authorization") ?? ""
            seen.withLock { $0.append(authorization) }
            guard authorization == "Bearer new" else {
                // Rotated once, as the answer goes out.
                if rotations.withLock({ left in
                    defer { left = 0 }
                    return left > 0
                }) {
                    try? volume.publish("new\n")
                }
                return .reply(status: 401, body: Array(#"{"kind":"Status","message":"token expired"}"#.utf8))
            }
            return .reply(
                status: 200, headers: [("Content-Type", "application/json")],
                body: Array(#"{"kind":"PodList","metadata":{"resourceVersion":"7"},"items":[]}"#.utf8))
        }
        let client = try KubernetesClient(
            connection: ClusterConnection(server: "http://127.0.0.1:\(server.port)", credentials: .tokenFile(path)),
            credentialMaxAge: 3_600)
        #expect(try await client.list(Pod.self).resourceVersion == "7")
        #expect(seen.withLock { $0 } == ["Bearer old", "Bearer new"])

        // A token the file still holds is refused as such: no second request, a 401 to the caller.
        seen.withLock { $0 = [] }
        try volume.publish("stale\n")
        await #expect(throws: KubernetesAPIError.unauthorized(message: "token expired")) {
            _ = try await client.list(Pod.self)
        }
        #expect(seen.withLock { $0 } == ["Bearer stale"])
        try await client.shutdown()
        try await server.shutdown()
    }

    /// The cluster CA (`ca.crt`, replaced by the kubelet like any projected file) is read again
    /// when it changes: a client that trusted the wrong bundle trusts the server once it is fixed.
    @Test func aRotatedCABundleIsTrustedByTheNextRequest() async throws {
        let serving = try TestCertificate.make(commonName: "fathom-test-apiserver")
        let other = try TestCertificate.make(commonName: "some-other-ca")
        let api = try await FakeKubernetesAPI.start(behaviour: .init(token: "t"), tls: serving)
        api.apply(Self.pod())
        let volume = try MountedVolume(named: "serviceaccount", file: "ca.crt")
        try volume.publish(String(decoding: other.certificatePEM, as: UTF8.self))
        let changes = CredentialChanges()
        let client = try KubernetesClient(
            connection: ClusterConnection(
                server: api.url, certificateAuthority: .file(volume.file), credentials: .bearerToken("t")),
            onCredentialChange: changes.record)
        await #expect(throws: KubernetesAPIError.self) { _ = try await client.list(Pod.self, timeout: .seconds(5)) }

        try volume.publish(String(decoding: serving.certificatePEM, as: UTF8.self))
        #expect(try await client.list(Pod.self, timeout: .seconds(5)).items.count == 1)
        // A bundle that is no PEM keeps the last good one, and says so.
        try volume.publish("not a certificate\n")
        #expect(try await client.list(Pod.self, timeout: .seconds(5)).items.count == 1)
        #expect(
            changes.all == [
                CredentialChange(credential: "kubernetes_ca", path: volume.file, usable: true),
                CredentialChange(credential: "kubernetes_ca", path: volume.file, usable: true),
                CredentialChange(credential: "kubernetes_ca", path: volume.file, usable: false),
            ])
        try await client.shutdown()
        try await api.shutdown()
    }

    /// A client certificate and key mounted from a Secret (a kubeconfig's `client-certificate`
    /// and `client-key` files) are read again when the Secret changes; a key that does not parse
    /// keeps the last good pair, and says so.
    @Test func aRotatedClientCertificateIsUsedByTheNextRequest() async throws {
        let serving = try TestCertificate.make(commonName: "fathom-test-apiserver")
        let api = try await FakeKubernetesAPI.start(behaviour: .init(), tls: serving)
        api.apply(Self.pod())
        let first = try TestCertificate.make(commonName: "fathom-agent-1")
        let second = try TestCertificate.make(commonName: "fathom-agent-2")
        let secret = try MountedVolume(named: "client-tls", file: "tls.crt")
        func publish(_ pair: (certificatePEM: [UInt8], keyPEM: [UInt8])) throws {
            try secret.publish(files: [
                "tls.crt": String(decoding: pair.certificatePEM, as: UTF8.self),
                "tls.key": String(decoding: pair.keyPEM, as: UTF8.self),
            ])
        }
        try publish(first)
        let changes = CredentialChanges()
        let client = try KubernetesClient(
            connection: ClusterConnection(
                server: api.url, certificateAuthority: .inline(serving.certificatePEM),
                credentials: .clientCertificate(certificate: .file(secret.file), key: .file(secret.path("tls.key")))),
            onCredentialChange: changes.record)
        #expect(try await client.list(Pod.self).items.count == 1)
        try publish(second)
        #expect(try await client.list(Pod.self).items.count == 1)
        #expect(
            Set(changes.all) == [
                CredentialChange(credential: "kubernetes_client_certificate", path: secret.file, usable: true),
                CredentialChange(credential: "kubernetes_client_key", path: secret.path("tls.key"), usable: true),
            ])
        try secret.publish(files: [
            "tls.crt": String(decoding: second.certificatePEM, as: UTF8.self), "tls.key": "not a key\n",
        ])
        #expect(try await client.list(Pod.self).items.count == 1)
        #expect(
            changes.all.last
                == CredentialChange(
                    credential: "kubernetes_client_key", path: secret.path("tls.key"), usable: false))
        try await client.shutdown()
        try await api.shutdown()
    }

    /// A redirect is not followed (the token would go to another host): the caller gets
    /// `redirect` with where it pointed, without the query.
    @Test func aRedirectIsAnErrorNamingWhereItPoints() async throws {
        let elsewhere = Mutex(0)
        let target = try await SimpleHTTPServer.start(host: "127.0.0.2") { _ in
            elsewhere.withLock { $0 += 1 }
            return .reply(status: 200, body: Array(#"{"kind":"PodList","metadata":{},"items":[]}"#.utf8))
        }
        let server = try await SimpleHTTPServer.start { _ in
            .reply(
                status: 307, headers: [("Location", "http://127.0.0.2:\(target.port)/api/v1/pods?sig=secret")])
        }
        let client = try KubernetesClient(
            connection: ClusterConnection(server: "http://127.0.0.1:\(server.port)", credentials: .bearerToken("t")))
        do {
            _ = try await client.list(Pod.self)
            Issue.record("a redirect must be an error")
        } catch let error as KubernetesAPIError {
            #expect(error == .redirect(location: "http://127.0.0.2:\(target.port)/api/v1/pods"))
            #expect(error.reason == "redirect")
        }
        #expect(elsewhere.withLock { $0 } == 0)
        try await client.shutdown()
        try await server.shutdown()
        try await target.shutdown()
    }
}
