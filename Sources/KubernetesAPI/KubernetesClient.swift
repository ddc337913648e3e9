import AsyncHTTPClient
import CredentialFiles
import Foundation
import KubernetesModels
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import TransportErrors

/// A credential file of the connection that changed: the new content is used from the next
/// request on, or, when `usable` is false, could not be used and the last good one stays.
public struct CredentialChange: Sendable, Hashable {
    /// `kubernetes_token`, `kubernetes_ca`, `kubernetes_client_certificate` or
    /// `kubernetes_client_key`: a bounded label.
    public var credential: String
    public var path: String
    public var usable: Bool

    public init(credential: String, path: String, usable: Bool) {
        self.credential = credential
        self.path = path
        self.usable = usable
    }
}

/// A minimal Kubernetes API client on AsyncHTTPClient: paginated LIST and streaming WATCH of the
/// kinds in this module, API discovery (is a CRD served?), and GET/POST/PUT for the one object the
/// agent writes, its leader-election Lease.
public final class KubernetesClient: Sendable {
    public let connection: ClusterConnection
    private let http: HTTPClient
    private let credentials: ClusterCredentials
    /// Bodies of non-watch responses larger than this are refused (a LIST page of 500 pods is a few MB).
    public let maxResponseBytes: Int

    /// - Parameters:
    ///   - credentialMaxAge: seconds after which credential files are read again whatever `stat`
    ///     says (client-go: a minute).
    ///   - onCredentialChange: told when a credential file (token, CA, client certificate or key)
    ///     changed and is used from the next request on (or could not be used): for the agent's
    ///     log and metrics. Never given the content.
    public init(
        connection: ClusterConnection, maxResponseBytes: Int = 64 << 20, credentialMaxAge: Double = 60,
        onCredentialChange: @escaping @Sendable (CredentialChange) -> Void = { _ in }
    ) throws(KubernetesAPIError) {
        self.connection = connection
        self.maxResponseBytes = maxResponseBytes
        credentials = try ClusterCredentials(connection: connection, maxAge: credentialMaxAge) { change in
            onCredentialChange(
                CredentialChange(credential: change.credential, path: change.path, usable: change.usable))
        }
        var configuration = HTTPClient.Configuration()
        // A watch is quiet for minutes between events; the request deadline bounds it instead.
        configuration.timeout = .init(connect: .seconds(10), read: nil)
        configuration.decompression = .disabled
        // A redirect is an answer to report, never a place to send the token: client-go does not
        // follow one to another host either.
        configuration.redirectConfiguration = .disallow
        if let tls = credentials.tlsConfiguration() { configuration.tlsConfiguration = tls }
        // Over HTTP/1.1 each open watch holds a connection for minutes: room for every watch
        // (each watched resource and the trust bundle's ConfigMap) and as many requests beside
        // them (lists, the Lease's renewals). AsyncHTTPClient's default of 8 left the Lease's
        // renewals queued behind the watches, and the leader lost its Lease.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = Self.maxConnections
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Connections to the API server at most: the long-lived watches, and as many besides.
    public static let maxConnections = 2 * (WatchedResource.all.count + 1)

    public func shutdown() async throws {
        try await http.shutdown()
    }

    /// For a client that never ran a request (an agent whose construction failed later on).
    public func syncShutdown() throws {
        try http.syncShutdown()
    }

    /// One page of a LIST. `continueToken` comes from the previous page.
    public func list<Object: KubernetesObject>(
        _ type: Object.Type, namespace: String? = nil, selectors: Selectors = .none, limit: Int? = 500,
        continueToken: String? = nil, timeout: TimeAmount = .seconds(60)
    ) async throws -> ObjectList<Object> {
        var query: [(String, String)] = []
        if let limit { query.append(("limit", String(limit))) }
        if let continueToken { query.append(("continue", continueToken)) }
        if let label = selectors.label { query.append(("labelSelector", label)) }
        if let field = selectors.field { query.append(("fieldSelector", field)) }
        let path = Object.resource.collectionPath(namespace: namespace)
        let response = try await send(
            path: path, query: query, timeout: timeout, verb: "list", resource: Object.resource)
        let body = try await collect(response.body, within: timeout)
        do {
            return try JSONDecoder().decode(ObjectList<Object>.self, from: Data(body))
        } catch {
            throw KubernetesAPIError.decoding("\(Object.resource.kind) list: \(error)")
        }
    }

    /// A WATCH from `resourceVersion`, handing each event to `onEvent` as its line arrives. Returns
    /// when the server ends the stream (its `timeoutSeconds` ran out); throws on errors.
    /// `onConnected` runs once the server has accepted the watch (its 200 arrived), before any event.
    public func watch<Object: KubernetesObject>(
        _ type: Object.Type, namespace: String? = nil, selectors: Selectors = .none, resourceVersion: String,
        timeoutSeconds: Int, maxLineBytes: Int = 16 << 20, onConnected: () -> Void = {},
        onEvent: (WatchEvent<Object>) async throws -> Void
    ) async throws {
        var query: [(String, String)] = [
            ("watch", "1"), ("allowWatchBookmarks", "true"), ("resourceVersion", resourceVersion),
            ("timeoutSeconds", String(timeoutSeconds)),
        ]
        if let label = selectors.label { query.append(("labelSelector", label)) }
        if let field = selectors.field { query.append(("fieldSelector", field)) }
        let path = Object.resource.collectionPath(namespace: namespace)
        // The server closes the stream after timeoutSeconds; the deadline only catches a server
        // that does not. The HTTP client's deadline ends at the response head, so the body is
        // read by a child task and handed over, and the deadline ends the handoff.
        let seconds = timeoutSeconds + 30
        let deadline = ContinuousClock.now + .seconds(seconds)
        let response = try await send(
            path: path, query: query, timeout: .seconds(Int64(seconds)), verb: "watch", resource: Object.resource)
        onConnected()
        var splitter = WatchLineSplitter(maxLineBytes: maxLineBytes)
        let decoder = JSONDecoder()
        let chunks = WatchChunkHandoff()
        let plural = Object.resource.plural
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer {
                chunks.end(CancellationError())
                group.cancelAll()
            }
            group.addTask {
                do {
                    for try await chunk in response.body { try await chunks.put(chunk) }
                    chunks.end(nil)
                } catch is CancellationError {
                    chunks.end(CancellationError())
                } catch {
                    chunks.end(
                        KubernetesAPIError.transport(TransportFailure(error), "\(plural) watch stream: \(error)"))
                }
            }
            group.addTask {
                try await Task.sleep(until: deadline, clock: .continuous)
                chunks.end(KubernetesAPIError.silentWatch(seconds: seconds))
            }
            // Only reading the stream is a transport failure; what `onEvent` throws passes through.
            while let chunk = try await chunks.take() {
                try splitter.append(chunk.readableBytesView)
                while let line = try splitter.nextLine() {
                    let event: WatchEvent<Object>
                    do {
                        event = try decoder.decode(WatchEvent<Object>.self, from: Data(line))
                    } catch {
                        throw KubernetesAPIError.decoding("\(Object.resource.kind) watch event: \(error)")
                    }
                    try await onEvent(event)
                }
            }
        }
        if splitter.unfinishedBytes > 0 {
            throw KubernetesAPIError.transport(.reset, "\(Object.resource.plural) watch stream ended inside an event")
        }
    }

    /// One object by name; nil when it does not exist.
    public func get<Object: KubernetesObject>(
        _ type: Object.Type, namespace: String?, name: String, timeout: TimeAmount = .seconds(10)
    ) async throws -> Object? {
        let path = Object.resource.collectionPath(namespace: namespace) + "/" + name
        do {
            let response = try await send(
                path: path, query: [], timeout: timeout, verb: "get", resource: Object.resource)
            return try decode(Object.self, try await collect(response.body, within: timeout))
        } catch KubernetesAPIError.notFound {
            return nil
        }
    }

    /// Creates an object (POST). A 409 means it exists already (`KubernetesAPIError.status(409)`).
    /// The agent writes only its leader-election Lease.
    public func create<Object: KubernetesObject>(
        _ object: Object, namespace: String?, timeout: TimeAmount = .seconds(10)
    ) async throws -> Object {
        let path = Object.resource.collectionPath(namespace: namespace)
        let response = try await send(
            path: path, query: [], timeout: timeout, verb: "create", resource: Object.resource, method: .POST,
            body: try JSONEncoder().encode(object))
        return try decode(Object.self, try await collect(response.body, within: timeout))
    }

    /// Replaces an object (PUT). Its `metadata.resourceVersion` is the precondition: a 409 means
    /// someone else changed it first.
    public func replace<Object: KubernetesObject>(
        _ object: Object, namespace: String?, timeout: TimeAmount = .seconds(10)
    ) async throws -> Object {
        let path = Object.resource.collectionPath(namespace: namespace) + "/" + object.metadata.name
        let response = try await send(
            path: path, query: [], timeout: timeout, verb: "update", resource: Object.resource, method: .PUT,
            body: try JSONEncoder().encode(object))
        return try decode(Object.self, try await collect(response.body, within: timeout))
    }

    private func decode<Object: KubernetesObject>(_ type: Object.Type, _ body: [UInt8]) throws -> Object {
        do {
            return try JSONDecoder().decode(Object.self, from: Data(body))
        } catch {
            throw KubernetesAPIError.decoding("\(Object.resource.kind): \(error)")
        }
    }

    /// Whether the caller may do `verb` on `resource` (in `namespace`), as the API server's
    /// authorizer says (a SelfSubjectAccessReview, `kubectl auth can-i`): how `check` tries a
    /// write it must not make.
    public func isAllowed(
        _ verb: String, _ resource: ResourceDescriptor, namespace: String?, timeout: TimeAmount = .seconds(10)
    ) async throws -> Bool {
        struct Attributes: Encodable {
            var verb: String
            var group: String
            var resource: String
            var namespace: String?
        }
        struct Review: Encodable {
            struct Spec: Encodable { var resourceAttributes: Attributes }
            var apiVersion = "authorization.k8s.io/v1"
            var kind = "SelfSubjectAccessReview"
            var spec: Spec
        }
        struct Answer: Decodable {
            struct Status: Decodable { var allowed: Bool }
            var status: Status
        }
        let review = Review(
            spec: .init(
                resourceAttributes: Attributes(
                    verb: verb, group: resource.group, resource: resource.plural, namespace: namespace)))
        let target = ResourceDescriptor(
            group: "authorization.k8s.io", version: "v1", plural: "selfsubjectaccessreviews",
            kind: "SelfSubjectAccessReview", namespaced: false)
        let response = try await send(
            path: target.collectionPath(), query: [], timeout: timeout, verb: "create", resource: target, method: .POST,
            body: try JSONEncoder().encode(review))
        do {
            let body = try await collect(response.body, within: timeout)
            return try JSONDecoder().decode(Answer.self, from: Data(body)).status.allowed
        } catch let error as KubernetesAPIError {
            throw error
        } catch {
            throw KubernetesAPIError.decoding("SelfSubjectAccessReview: \(error)")
        }
    }

    /// Whether the API serves `resource` (a CRD may not be installed): a 404 is an answer, not an error.
    public func serves(_ resource: ResourceDescriptor) async throws -> Bool {
        struct ResourceList: Decodable {
            struct Entry: Decodable { var name: String }
            var resources: [Entry]
        }
        do {
            let response = try await send(
                path: resource.groupPath, query: [], timeout: .seconds(30), verb: "get", resource: resource)
            let body = try await collect(response.body, within: .seconds(30))
            let list = try JSONDecoder().decode(ResourceList.self, from: Data(body))
            return list.resources.contains { $0.name == resource.plural }
        } catch KubernetesAPIError.notFound {
            return false
        } catch let error as DecodingError {
            throw KubernetesAPIError.decoding("API discovery \(resource.groupPath): \(error)")
        }
    }

    private func send(
        path: String, query: [(String, String)], timeout: TimeAmount, verb: String, resource: ResourceDescriptor,
        method: HTTPMethod = .GET, body: Data? = nil
    ) async throws -> HTTPClientResponse {
        var url = connection.server + path
        if !query.isEmpty {
            url += "?" + query.map { "\($0)=\(Self.percentEncoded($1))" }.joined(separator: "&")
        }
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "fathom-agent")
        // Read for each request: a rotated file is used by the next one.
        request.tlsConfiguration = credentials.tlsConfiguration()
        var authorization = credentials.authorization()
        if let authorization { request.headers.replaceOrAdd(name: "Authorization", value: authorization) }
        var response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: timeout)
            // A refused token is read again at once; if the file holds a new one, the request goes
            // again with it now rather than after the caller's backoff.
            if response.status.code == 401, credentials.refused(sent: authorization) {
                authorization = credentials.authorization()
                request.headers.remove(name: "Authorization")
                if let authorization { request.headers.add(name: "Authorization", value: authorization) }
                request.tlsConfiguration = credentials.tlsConfiguration()
                response = try await http.execute(request, timeout: timeout)
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw KubernetesAPIError.transport(TransportFailure(error), "\(verb) \(resource.plural): \(error)")
        }
        guard response.status.code >= 300 else { return response }
        let body = (try? await collect(response.body, within: .seconds(10), upTo: 64 << 10)) ?? []
        let status = try? JSONDecoder().decode(APIStatus.self, from: Data(body))
        let message = status?.message ?? String(decoding: body.prefix(512), as: UTF8.self)
        switch response.status.code {
        case 300..<400:
            throw KubernetesAPIError.redirect(
                location: RedirectLocation.shown(response.headers.first(name: "Location"), from: url))
        case 401: throw KubernetesAPIError.unauthorized(message: message)
        case 403: throw KubernetesAPIError.forbidden(resource: resource.plural, verb: verb, message: message)
        case 404: throw KubernetesAPIError.notFound(path: path)
        case 410: throw KubernetesAPIError.gone(message: message)
        default: throw KubernetesAPIError.status(code: Int(response.status.code), message: message)
        }
    }

    /// A response's body, at most `limit` bytes (`maxResponseBytes` by default) and within
    /// `timeout`: the HTTP client's deadline ends at the response's head, and a body that stalls
    /// must not hold a reflector for ever.
    private func collect(_ body: HTTPClientResponse.Body, within timeout: TimeAmount, upTo limit: Int? = nil)
        async throws -> [UInt8]
    {
        let limit = limit ?? maxResponseBytes
        do {
            return try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
                defer { group.cancelAll() }
                group.addTask { Array(try await body.collect(upTo: limit).readableBytesView) }
                group.addTask {
                    try await Task.sleep(for: .nanoseconds(timeout.nanoseconds))
                    return nil
                }
                guard let first = try await group.next(), let bytes = first else {
                    throw KubernetesAPIError.transport(
                        .timeout, "the response's body was not complete within \(timeout)")
                }
                return bytes
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as KubernetesAPIError {
            throw error
        } catch {
            throw KubernetesAPIError.transport(TransportFailure(error), "reading the response: \(error)")
        }
    }

    /// Query values carry `=`, `,` and `!` (selectors); everything but unreserved characters is encoded.
    static func percentEncoded(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
