import AgentConfiguration
import AsyncHTTPClient
import CredentialFiles
import Foundation
import NIOSSL
import Reporting
import Synchronization

/// The HTTP client uploads and `check` reach the collector with: the system's trust roots plus
/// `report.caFile`, and an egress proxy from `report.proxy`, else from `HTTPS_PROXY` (or
/// `HTTP_PROXY` for an `http://` collector), with `report.noProxy`, else `NO_PROXY`, naming hosts
/// reached directly, as curl reads them (a loopback collector never goes through the proxy).
/// AsyncHTTPClient tunnels through the proxy with CONNECT. Redirects are not followed: a batch
/// goes to the configured endpoint or nowhere.
public enum CollectorClient {
    /// A setting that cannot be used, named with what to do.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// An HTTP proxy: where it listens, and its credentials if the URL had them.
    public struct Proxy: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var username: String?
        public var password: String?
        /// Where the proxy setting came from (the key or variable), for messages.
        public var source: String

        public init(host: String, port: Int, username: String?, password: String?, source: String) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.source = source
        }
    }

    /// Throws what `make` would refuse (an unreadable `report.caFile`, a proxy setting that is not
    /// an `http://host:port` URL) without building a client: `check --offline` asks it.
    public static func validate(_ configuration: AgentConfiguration, environment: [String: String]) throws {
        if let caFile = configuration.collectorCAFile {
            do {
                _ = try NIOSSLCertificate.fromPEMFile(caFile)
            } catch {
                throw Failure(description: "report.caFile: cannot read PEM certificates from \(caFile): \(error)")
            }
        }
        _ = try proxy(for: configuration, environment: environment)
    }

    /// The client for `configuration`, with `environment` for the proxy variables.
    public static func make(_ configuration: AgentConfiguration, environment: [String: String]) throws -> HTTPClient {
        try validate(configuration, environment: environment)
        var settings = UploaderConfiguration.httpClient
        if let caFile = configuration.collectorCAFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.file(caFile)]
            settings.tlsConfiguration = tls
        }
        if let proxy = try proxy(for: configuration, environment: environment) {
            settings.proxy = .server(
                host: proxy.host, port: proxy.port,
                authorization: proxy.username.map { .basic(username: $0, password: proxy.password ?? "") })
        }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: settings)
    }

    /// The TLS configuration with `report.caFile`'s certificates, built again when the file
    /// changes (a rotated CA in a mounted Secret): each upload sets it on its request, so the next
    /// connection trusts the new bundle and uploads in flight finish with the old one.
    public final class RotatingTLS: Sendable {
        private let file: WatchedFile
        private let built = Mutex<(generation: Int, configuration: TLSConfiguration)?>(nil)
        private let changed: @Sendable (_ path: String, _ usable: Bool) -> Void

        /// Nil without `report.caFile`; throws when the file holds no certificate.
        public init?(
            _ configuration: AgentConfiguration,
            changed: @escaping @Sendable (_ path: String, _ usable: Bool) -> Void
        ) throws {
            guard let caFile = configuration.collectorCAFile else { return nil }
            file = WatchedFile(path: caFile, onChange: { path in changed(path, true) })
            self.changed = changed
            guard let content = file.content(), let tls = Self.configuration(content.bytes) else {
                throw Failure(description: "report.caFile: cannot read PEM certificates from \(caFile)")
            }
            built.withLock { $0 = (content.generation, tls) }
        }

        /// The configuration for the next upload: the last good one while the file is missing
        /// or holds no certificate (said once per content).
        public func configuration() -> TLSConfiguration? {
            let last = built.withLock { $0 }
            guard let content = file.content(), content.generation != last?.generation else {
                return last?.configuration
            }
            guard let tls = Self.configuration(content.bytes) else {
                built.withLock { $0 = last.map { (content.generation, $0.configuration) } }
                changed(file.path, false)
                return last?.configuration
            }
            built.withLock { $0 = (content.generation, tls) }
            return tls
        }

        static func configuration(_ pem: [UInt8]) -> TLSConfiguration? {
            guard let certificates = try? NIOSSLCertificate.fromPEMBytes(pem), !certificates.isEmpty else {
                return nil
            }
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.certificates(certificates)]
            return tls
        }
    }

    /// The proxy uploads to `configuration.reportEndpoint` go through, or nil for none.
    public static func proxy(for configuration: AgentConfiguration, environment: [String: String]) throws -> Proxy? {
        let endpoint = URLComponents(string: configuration.reportEndpoint)
        let secure = endpoint?.scheme?.lowercased() == "https"
        let variable = secure ? "HTTPS_PROXY" : "HTTP_PROXY"
        let chosen: (text: String, source: String)? =
            configuration.collectorProxy.map { ($0, "report.proxy") }
            ?? [variable, variable.lowercased()].lazy.compactMap { name in
                environment[name].flatMap { $0.isEmpty ? nil : ($0, name) }
            }.first
        guard let chosen else { return nil }
        let bypass =
            configuration.noProxy.isEmpty
            ? (environment["NO_PROXY"] ?? environment["no_proxy"] ?? "").split(separator: ",").map(String.init)
            : configuration.noProxy
        if let host = endpoint?.host, isLoopback(host) || bypasses(host: host, noProxy: bypass) { return nil }
        // A proxy given as host:port, as curl accepts it.
        let text = chosen.text.contains("://") ? chosen.text : "http://" + chosen.text
        guard let url = URLComponents(string: text), url.scheme?.lowercased() == "http", let host = url.host,
            !host.isEmpty
        else {
            // Never the text itself: it may hold a password.
            throw Failure(description: "\(chosen.source) must be an http://host:port proxy URL")
        }
        let port = url.port ?? 80
        guard (1...65_535).contains(port) else { throw Failure(description: "\(chosen.source) has port \(port)") }
        return Proxy(
            host: host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host, port: port,
            username: url.user?.removingPercentEncoding, password: url.password?.removingPercentEncoding,
            source: chosen.source)
    }

    /// A collector on this host (a sidecar) is never reached through a proxy, as Go's net/http
    /// decides too.
    static func isLoopback(_ host: String) -> Bool {
        let host = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Whether `host` is reached without the proxy: an entry equal to it, a domain it is in
    /// (`example.com` and `.example.com` both cover `ingest.example.com`), or `*`. Ports in
    /// entries are ignored.
    public static func bypasses(host: String, noProxy: [String]) -> Bool {
        let host = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        for raw in noProxy {
            var entry = raw.trimmingCharacters(in: .whitespaces).lowercased()
            if entry == "*" { return true }
            if entry.hasPrefix("["), let close = entry.firstIndex(of: "]") {
                entry = String(entry[entry.index(after: entry.startIndex)..<close])
            } else if entry.filter({ $0 == ":" }).count == 1, let colon = entry.firstIndex(of: ":") {
                entry = String(entry[..<colon])
            }
            if entry.hasPrefix(".") { entry.removeFirst() }
            guard !entry.isEmpty else { continue }
            if host == entry || host.hasSuffix("." + entry) { return true }
        }
        return false
    }
}
