import CredentialFiles
import NIOSSL
import Synchronization

/// What a request to the API server carries: the bearer token and the TLS configuration (the CA
/// to verify the server with, the client certificate), each read again from its file when the
/// file changes, so a rotated ServiceAccount token, `ca.crt` or client certificate is used by the
/// next request without a restart. Requests in flight keep what they started with.
final class ClusterCredentials: Sendable {
    /// One credential file, named for the agent's metrics (a bounded label) and logs.
    struct Change: Sendable, Equatable {
        /// `kubernetes_token`, `kubernetes_ca`, `kubernetes_client_certificate` or `kubernetes_client_key`.
        var credential: String
        var path: String
        /// False when the new content cannot be used (not PEM, say): the last good one stays.
        var usable: Bool
    }

    private let connection: ClusterConnection
    private let token: TokenFile?
    private let authority: Source?
    private let certificate: Source?
    private let key: Source?
    private let built = Mutex<(generations: [Int], configuration: TLSConfiguration)?>(nil)
    private let onChange: @Sendable (Change) -> Void

    /// Where PEM bytes come from: given, or a watched file.
    private enum Source: Sendable {
        case inline([UInt8])
        case file(WatchedFile, credential: String)

        var current: (bytes: [UInt8], generation: Int)? {
            switch self {
            case .inline(let bytes): (bytes, 0)
            case .file(let file, _): file.content().map { ($0.bytes, $0.generation) }
            }
        }
    }

    /// Reads every file once and builds the TLS configuration, so bad material fails the start.
    init(
        connection: ClusterConnection, maxAge: Double = 60, onChange: @escaping @Sendable (Change) -> Void
    ) throws(KubernetesAPIError) {
        self.connection = connection
        self.onChange = onChange
        func source(_ material: ClusterConnection.PEMMaterial?, _ credential: String) -> Source? {
            switch material {
            case .inline(let bytes): .inline(bytes)
            case .file(let path):
                .file(
                    WatchedFile(
                        path: path, maxAge: maxAge,
                        onChange: { path in onChange(Change(credential: credential, path: path, usable: true)) }),
                    credential: credential)
            case nil: nil
            }
        }
        authority = source(connection.certificateAuthority, "kubernetes_ca")
        if case .clientCertificate(let certificate, let key) = connection.credentials {
            self.certificate = source(certificate, "kubernetes_client_certificate")
            self.key = source(key, "kubernetes_client_key")
        } else {
            certificate = nil
            key = nil
        }
        if case .tokenFile(let path) = connection.credentials {
            token = TokenFile(
                path: path, maxAge: maxAge,
                onChange: { path in onChange(Change(credential: "kubernetes_token", path: path, usable: true)) })
        } else {
            token = nil
        }
        if connection.server.hasPrefix("https://") {
            let (generations, material) = try current()
            do {
                let configuration = try Self.configuration(material)
                built.withLock { $0 = (generations, configuration) }
            } catch {
                throw .configuration("cannot load the cluster's TLS material: \(error)")
            }
        }
    }

    /// The `Authorization` header's value, or nil for none.
    func authorization() -> String? {
        switch connection.credentials {
        case .bearerToken(let token): "Bearer \(token)"
        case .tokenFile: token?.token().map { "Bearer \($0)" }
        case .none, .clientCertificate: nil
        }
    }

    /// The server refused the credentials (401): every file is read again by the next request.
    /// Returns whether the token now differs from `sent`, so the refused request may be sent again.
    func refused(sent: String?) -> Bool {
        for source in [authority, certificate, key] {
            if case .file(let file, _) = source { file.invalidate() }
        }
        guard let token else { return false }
        return token.refused(sent.map { String($0.dropFirst("Bearer ".count)) })
    }

    /// The TLS configuration for the next request; nil for plain HTTP. Built again when a file it
    /// comes from changed; a change that cannot be used keeps the last good one (and says so once).
    func tlsConfiguration() -> TLSConfiguration? {
        guard connection.server.hasPrefix("https://") else { return nil }
        guard let (generations, material) = try? current() else { return built.withLock { $0?.configuration } }
        if let last = built.withLock({ $0 }), last.generations == generations { return last.configuration }
        do {
            let configuration = try Self.configuration(material)
            built.withLock { $0 = (generations, configuration) }
            return configuration
        } catch {
            let last = built.withLock { state -> (generations: [Int], configuration: TLSConfiguration)? in
                // Remembered as built, so the failure is reported once per content.
                defer { if let last = state { state = (generations, last.configuration) } }
                return state
            }
            // The sources present, in the order `current()` reads them.
            let files = [authority, certificate, key].compactMap { $0 }
            for (index, source) in files.enumerated() where last?.generations[index] != generations[index] {
                if case .file(let file, let credential) = source {
                    onChange(Change(credential: credential, path: file.path, usable: false))
                }
            }
            return last?.configuration
        }
    }

    private typealias Material = (authority: [UInt8]?, certificate: [UInt8]?, key: [UInt8]?)

    private func current() throws(KubernetesAPIError) -> ([Int], Material) {
        var generations: [Int] = []
        func read(_ source: Source?) throws(KubernetesAPIError) -> [UInt8]? {
            guard let source else { return nil }
            guard let (bytes, generation) = source.current else {
                if case .file(let file, _) = source { throw .configuration("\(file.path) cannot be read") }
                return nil
            }
            generations.append(generation)
            return bytes
        }
        let material = (try read(authority), try read(certificate), try read(key))
        return (generations, material)
    }

    private struct NoCertificate: Error, CustomStringConvertible {
        var description: String { "the CA bundle holds no PEM certificate" }
    }

    private static func configuration(_ material: Material) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let authority = material.authority {
            let certificates = try NIOSSLCertificate.fromPEMBytes(authority)
            guard !certificates.isEmpty else { throw NoCertificate() }
            tls.trustRoots = .certificates(certificates)
        }
        if let certificate = material.certificate, let key = material.key {
            tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(certificate).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
        }
        return tls
    }
}
