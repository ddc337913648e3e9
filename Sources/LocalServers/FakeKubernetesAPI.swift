import Foundation
import HTTPServing
import KubernetesAPI
import KubernetesModels
import NIOHTTP1
import Synchronization

/// An in-process Kubernetes API server on 127.0.0.1 (port 0) that behaves like the real one for
/// the calls the agent makes: a global, increasing resourceVersion; LIST with `limit`/`continue`
/// pages taken from one snapshot; WATCH as a chunked stream of newline-delimited JSON events from a
/// given version, with bookmarks, selectors (objects entering or leaving a selector are ADDED or
/// DELETED, as the real server does), `timeoutSeconds`, and 410 Gone (as an ERROR event, or as the
/// HTTP status) for versions older than the retained event history; 401 for a wrong token, 403 for
/// a forbidden resource, 404 for a resource that is not installed (a CRD).
///
/// Tests and the demo change objects through `apply` and `delete` while watches run, and break
/// things through `dropWatches`, `compact` and `failNext`.
public final class FakeKubernetesAPI: Sendable {
    /// How the fake behaves; change it at any time with `configure`.
    public struct Behaviour: Sendable {
        /// The bearer token requests must carry; nil accepts any request.
        public var token: String?
        /// Plural names answered with 403, whatever the verb.
        public var forbidden: Set<String> = []
        /// `"<verb> <plural>"` pairs answered with 403 (`"watch pods"`): a role missing one verb.
        public var denied: Set<String> = []
        /// Resources served; others answer 404 (the default set lacks Argo Rollouts).
        public var installed: Set<ResourceDescriptor> = FakeKubernetesAPI.coreResources
        /// Answer a too-old watch with an HTTP 410 instead of a 200 and an ERROR event.
        public var goneAsHTTPStatus = false
        /// Events kept per resource; watching from before them is 410 Gone.
        public var eventHistory = 10_000

        public init(token: String? = nil) {
            self.token = token
        }

        /// Whether the role lets the caller do `verb` on `resource`.
        func allows(_ verb: String, _ resource: String) -> Bool {
            !forbidden.contains(resource) && !denied.contains("\(verb) \(resource)")
        }
    }

    /// The kinds a cluster always serves.
    public static let coreResources: Set<ResourceDescriptor> = [
        Pod.resource, ReplicaSet.resource, Deployment.resource, StatefulSet.resource,
        DaemonSet.resource, ControllerRevision.resource, Job.resource, Lease.resource, ConfigMap.resource,
    ]

    /// Counters for tests: requests by `"<verb> <plural>"`, e.g. `"list pods"`, `"watch pods"`.
    public var requestCounts: [String: Int] { state.withLock { $0.requestCounts } }
    /// Watches currently open.
    public var openWatches: Int { state.withLock { $0.watchers.count } }
    public var resourceVersion: Int { state.withLock { $0.version } }

    private let state = Mutex(State())
    private let server = Mutex<SimpleHTTPServer?>(nil)

    public var port: Int { server.withLock { $0?.port ?? 0 } }
    public var url: String { "\(certificatePEM == nil ? "http" : "https")://127.0.0.1:\(port)" }
    /// The server's certificate when it serves HTTPS: the CA a client must trust.
    public let certificatePEM: [UInt8]?

    /// A connection to this server, with the token it expects (and its certificate as the CA).
    public var connection: ClusterConnection {
        let token = state.withLock { $0.behaviour.token }
        return ClusterConnection(
            server: url, certificateAuthority: certificatePEM.map { .inline($0) },
            credentials: token.map { .bearerToken($0) } ?? .none)
    }

    private init(certificatePEM: [UInt8]?) {
        self.certificatePEM = certificatePEM
    }

    /// Starts the server; with `tls` (a PEM certificate and key), over HTTPS like a real API server.
    public static func start(
        behaviour: Behaviour = Behaviour(), tls: (certificatePEM: [UInt8], keyPEM: [UInt8])? = nil
    ) async throws -> FakeKubernetesAPI {
        let api = FakeKubernetesAPI(certificatePEM: tls?.certificatePEM)
        api.state.withLock { $0.behaviour = behaviour }
        let tlsConfiguration = try tls.map {
            try SimpleHTTPServer.tls(certificatePEM: $0.certificatePEM, keyPEM: $0.keyPEM)
        }
        let server = try await SimpleHTTPServer.start(tls: tlsConfiguration) { [api] request in api.handle(request) }
        api.server.withLock { $0 = server }
        return api
    }

    public func shutdown() async throws {
        dropWatches()
        try await server.withLock { $0 }?.shutdown()
    }

    public func configure(_ change: (inout Behaviour) -> Void) {
        state.withLock { change(&$0.behaviour) }
    }

    // MARK: - Test API

    /// Creates or replaces an object, as `kubectl apply` would: the server sets uid (on create),
    /// resourceVersion, creationTimestamp, and bumps generation when the spec changed.
    @discardableResult
    public func apply<Object: KubernetesObject>(_ object: Object) -> Object {
        state.withLock { state in
            state.version += 1
            var object = object
            let key = Self.key(of: object)
            let previous = state.collections[Object.resource]?.objects[key]
            object.metadata.resourceVersion = String(state.version)
            object.metadata.namespace = Object.resource.namespaced ? (object.metadata.namespace ?? "default") : nil
            // Metadata is not part of the spec, so it is the same before and after the generation is set.
            let spec = Self.spec(of: object)
            if let previous {
                object.metadata.uid = previous.uid
                object.metadata.creationTimestamp = previous.creationTimestamp
                object.metadata.generation = (previous.generation ?? 1) + (spec != previous.spec ? 1 : 0)
            } else {
                if object.metadata.uid.isEmpty { object.metadata.uid = Self.newUID(state.version) }
                object.metadata.creationTimestamp = object.metadata.creationTimestamp ?? Self.timestamp()
                object.metadata.generation = object.metadata.generation ?? 1
            }
            state.record(Object.resource, key: key, before: previous, after: Stored(object, spec: spec))
            return object
        }
    }

    /// Deletes an object; watchers get DELETED with its last state. Returns false when absent.
    @discardableResult
    public func delete<Object: KubernetesObject>(_ type: Object.Type, namespace: String?, name: String) -> Bool {
        state.withLock { state in
            let key = ObjectKey(namespace: Object.resource.namespaced ? (namespace ?? "default") : "", name: name)
            guard let previous = state.collections[Object.resource]?.objects[key] else { return false }
            state.version += 1
            state.record(Object.resource, key: key, before: previous, after: nil)
            return true
        }
    }

    /// The objects of a kind as the server has them now.
    public func objects<Object: KubernetesObject>(_ type: Object.Type) -> [Object] {
        let stored = state.withLock { state in
            (state.collections[Object.resource]?.objects.values).map(Array.init) ?? []
        }
        return stored.compactMap { $0.object as? Object }.sorted { $0.metadata.key < $1.metadata.key }
    }

    /// Forgets the event history (etcd compaction): resuming a watch from any version seen so far,
    /// or continuing a paginated list, now answers 410 Gone.
    public func compact() {
        state.withLock { state in
            for resource in state.collections.keys {
                state.collections[resource]?.log.removeAll()
                state.collections[resource]?.compactedThrough = state.version
            }
            state.continuations.removeAll()
        }
    }

    /// Cuts every open watch connection mid-stream.
    public func dropWatches() {
        let streams = state.withLock { state in
            let streams = state.watchers.values.map(\.stream)
            state.watchers.removeAll()
            return streams
        }
        for stream in streams { stream.abort() }
    }

    /// Makes every open watch silent, as a stuck server or a proxy in front of it might: the
    /// connections stay open, nothing more is sent on them, and their `timeoutSeconds` is not
    /// kept. Later watches behave. With a `resource`, only its watches go silent. Returns how
    /// many went silent.
    @discardableResult
    public func silenceWatches(of resource: ResourceDescriptor? = nil) -> Int {
        state.withLock { state in
            let silenced = state.watchers.filter { resource == nil || $0.value.resource == resource }
            for (id, watcher) in silenced {
                state.silenced.append(watcher.stream)
                state.watchers[id] = nil
            }
            return silenced.count
        }
    }

    /// Sends a BOOKMARK at the current version on every watch that asked for bookmarks.
    public func sendBookmarks() {
        state.withLock { state in
            for watcher in state.watchers.values where watcher.bookmarks {
                let line =
                    #"{"type":"BOOKMARK","object":{"kind":"\#(watcher.resource.kind)","apiVersion":"\#(watcher.resource.apiVersion)","metadata":{"resourceVersion":"\#(state.version)"}}}"#
                watcher.stream.write(Array((line + "\n").utf8))
            }
        }
    }

    /// Writes raw bytes on every open watch of `resource`, as a broken server or a proxy in front
    /// of it might: garbage JSON, a line far longer than any object. Returns how many watches.
    @discardableResult
    public func injectIntoWatches(of resource: ResourceDescriptor, _ bytes: [UInt8]) -> Int {
        let streams = state.withLock { state in state.watchers.values.filter { $0.resource == resource }.map(\.stream) }
        for stream in streams { stream.write(bytes) }
        return streams.count
    }

    /// Answers the next `count` requests with `status` (a 500 from an overloaded server, a 429).
    /// With a `resource`, only requests for that resource (its lists, watches and objects) are
    /// failed, so a test knows whose reflector sees every failure.
    public func failNext(_ count: Int, status: Int, of resource: ResourceDescriptor? = nil) {
        state.withLock { $0.failures = Failures(status: status, remaining: count, resource: resource) }
    }

    /// Requests still to be failed by `failNext`.
    public var pendingFailures: Int { state.withLock { $0.failures.remaining } }

    // MARK: - Storage

    /// What `failNext` asked for: how many more requests to answer with `status`, and whose.
    struct Failures: Sendable {
        var status: Int
        var remaining: Int
        var resource: ResourceDescriptor?

        func matches(_ path: String, _ installed: Set<ResourceDescriptor>) -> Bool {
            guard remaining > 0 else { return false }
            guard let resource else { return true }
            // An object's path is its collection's path and a name.
            let collection = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? path
            return FakeKubernetesAPI.route(path, installed)?.0 == resource
                || FakeKubernetesAPI.route(collection, installed)?.0 == resource
        }
    }

    struct Selectable: Sendable {
        var labels: [String: String]
        var fields: [String: String]
    }

    struct Stored: Sendable {
        var object: any KubernetesObject
        var json: [UInt8]
        var uid: String
        var generation: Int64?
        var creationTimestamp: String?
        var spec: String?
        var selectable: Selectable

        /// From an object whose type is known only at run time (a decoded request body).
        init(erased object: any KubernetesObject) {
            func open<Object: KubernetesObject>(_ object: Object) -> Stored { Stored(object) }
            self = open(object)
        }

        /// `spec` when the caller has it already; otherwise it is derived from the stored JSON.
        init<Object: KubernetesObject>(_ object: Object, spec: String?? = nil) {
            self.object = object
            self.json = (try? Array(FakeKubernetesAPI.encoder.encode(object))) ?? []
            self.uid = object.metadata.uid
            self.generation = object.metadata.generation
            self.creationTimestamp = object.metadata.creationTimestamp
            self.spec = spec ?? FakeKubernetesAPI.spec(ofJSON: json)
            self.selectable = Selectable(labels: object.metadata.labels ?? [:], fields: object.selectableFields)
        }
    }

    struct LogEntry: Sendable {
        var version: Int
        var before: Stored?
        var after: Stored?
    }

    struct Collection: Sendable {
        var objects: [ObjectKey: Stored] = [:]
        var log: [LogEntry] = []
        /// Versions up to this one are no longer in `log`.
        var compactedThrough = 0
    }

    struct Watcher: Sendable {
        var resource: ResourceDescriptor
        var namespace: String?
        var selectors: Selectors
        var bookmarks: Bool
        var stream: ResponseStream
    }

    struct Continuation: Sendable {
        var version: Int
        var remaining: [Stored]
    }

    struct State: Sendable {
        var behaviour = Behaviour()
        var version = 1000
        var collections: [ResourceDescriptor: Collection] = [:]
        var watchers: [Int: Watcher] = [:]
        /// Watches made silent: kept open, never written to again.
        var silenced: [ResponseStream] = []
        var nextWatcher = 0
        var continuations: [String: Continuation] = [:]
        var requestCounts: [String: Int] = [:]
        var failures = Failures(status: 500, remaining: 0, resource: nil)

        /// Stores the change and logs it, keeping at least `history` events (a large history is
        /// trimmed in steps, so a long run of changes does not move the whole log each time).
        private static func append(
            _ entry: LogEntry, key: ObjectKey, to collection: inout Collection, keeping history: Int
        ) {
            collection.objects[key] = entry.after
            collection.log.append(entry)
            // Small histories (tests of 410 Gone) are kept exactly; large ones trimmed in steps.
            if collection.log.count > history + (history >= 1_000 ? history / 4 : 0) {
                let dropped = collection.log.count - history
                collection.compactedThrough = collection.log[dropped - 1].version
                collection.log.removeFirst(dropped)
            }
        }

        mutating func record(_ resource: ResourceDescriptor, key: ObjectKey, before: Stored?, after: Stored?) {
            let entry = LogEntry(version: version, before: before, after: after)
            // Changed in place: a copy of the collection per change made 50,000 objects take minutes.
            let history = behaviour.eventHistory
            Self.append(entry, key: key, to: &collections[resource, default: Collection()], keeping: history)
            for watcher in watchers.values where watcher.resource == resource {
                if let line = FakeKubernetesAPI.eventLine(entry, for: watcher) { watcher.stream.write(line) }
            }
        }
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    static func key<Object: KubernetesObject>(of object: Object) -> ObjectKey {
        ObjectKey(
            namespace: Object.resource.namespaced ? (object.metadata.namespace ?? "default") : "",
            name: object.metadata.name)
    }

    /// The object's JSON without metadata and status: what decides a generation bump.
    static func spec<Object: KubernetesObject>(of object: Object) -> String? {
        (try? encoder.encode(object)).flatMap { spec(ofJSON: Array($0)) }
    }

    /// The same from an object's JSON, so an object encoded for storage is not encoded again.
    static func spec(ofJSON json: [UInt8]) -> String? {
        guard var dictionary = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any]
        else { return nil }
        dictionary["metadata"] = nil
        dictionary["status"] = nil
        guard let specData = try? JSONSerialization.data(withJSONObject: dictionary, options: [.sortedKeys]) else {
            return nil
        }
        return String(decoding: specData, as: UTF8.self)
    }

    static func newUID(_ seed: Int) -> String {
        let hex = String(UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9_7F4A_7C15, radix: 16)
        let padded = String(repeating: "0", count: max(0, 16 - hex.count)) + hex
        return "\(padded.prefix(8))-\(padded.dropFirst(8).prefix(4))-4000-8000-\(padded.suffix(4))00000000"
    }

    /// Now as RFC 3339 in UTC, to the second. (The format style is Swift's own; the older
    /// `ISO8601DateFormatter` goes through ICU, which crashed when tens of thousands were made
    /// while other threads worked.)
    static func timestamp() -> String {
        Date().ISO8601Format()
    }

    /// The line a watcher gets for a change, honouring its namespace and selectors; nil for none.
    static func eventLine(_ entry: LogEntry, for watcher: Watcher) -> [UInt8]? {
        func matches(_ stored: Stored?) -> Bool {
            guard let stored else { return false }
            if let namespace = watcher.namespace, stored.selectable.fields["metadata.namespace"] != namespace {
                return false
            }
            return SelectorMatching.matches(watcher.selectors, stored.selectable)
        }
        let wasIn = matches(entry.before)
        let isIn = matches(entry.after)
        let type: String
        let json: [UInt8]
        switch (wasIn, isIn) {
        case (false, true): (type, json) = ("ADDED", entry.after!.json)
        case (true, true): (type, json) = ("MODIFIED", entry.after!.json)
        case (true, false):
            // Deleted, or no longer selected: the last state, at the deletion's version.
            type = "DELETED"
            json = entry.after?.json ?? withVersion(entry.before!.object, entry.version)
        case (false, false): return nil
        }
        return Array(#"{"type":"\#(type)","object":"#.utf8) + json + Array("}\n".utf8)
    }

    static func withVersion(_ object: any KubernetesObject, _ version: Int) -> [UInt8] {
        func encode<Object: KubernetesObject>(_ object: Object) -> [UInt8] {
            var object = object
            object.metadata.resourceVersion = String(version)
            return (try? Array(encoder.encode(object))) ?? []
        }
        return encode(object)
    }

    // MARK: - HTTP

    private func handle(_ request: SimpleHTTPServer.Request) -> SimpleHTTPServer.Response {
        let (path, query) = Self.split(request.head.uri)
        return state.withLock { state -> SimpleHTTPServer.Response in
            if let token = state.behaviour.token,
                request.head.headers.first(name: "Authorization") != "Bearer \(token)"
            {
                return Self.status(401, reason: "Unauthorized", message: "Unauthorized")
            }
            if state.failures.matches(path, state.behaviour.installed) {
                state.failures.remaining -= 1
                let code = state.failures.status
                return Self.status(code, reason: "InternalError", message: "injected failure \(code)")
            }
            if let group = state.behaviour.installed.first(where: { $0.groupPath == path }) {
                return discovery(group, state.behaviour.installed)
            }
            if request.head.method == .POST, path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" {
                return accessReview(state.behaviour, request.body)
            }
            if let slash = path.lastIndex(of: "/"),
                let (resource, namespace) = Self.route(String(path[..<slash]), state.behaviour.installed)
            {
                let name = String(path[path.index(after: slash)...])
                return object(&state, resource, namespace, name, request)
            }
            if request.head.method == .POST, let (resource, namespace) = Self.route(path, state.behaviour.installed) {
                return object(&state, resource, namespace, nil, request)
            }
            guard let (resource, namespace) = Self.route(path, state.behaviour.installed) else {
                return Self.status(404, reason: "NotFound", message: "the server could not find the requested resource")
            }
            let watching = query["watch"] == "1" || query["watch"] == "true"
            let verb = watching ? "watch" : "list"
            state.requestCounts["\(verb) \(resource.plural)", default: 0] += 1
            if !state.behaviour.allows(verb, resource.plural) {
                return Self.status(
                    403, reason: "Forbidden",
                    message: "\(resource.plural) is forbidden: User cannot \(verb) resource \"\(resource.plural)\"")
            }
            let selectors = Selectors(label: query["labelSelector"], field: query["fieldSelector"])
            if watching {
                return watch(&state, resource, namespace, selectors, query)
            }
            return list(&state, resource, namespace, selectors, query)
        }
    }

    /// A SelfSubjectAccessReview: may the caller do this verb on this resource? (What `kubectl auth
    /// can-i` asks; every authenticated user may ask it.)
    private func accessReview(_ behaviour: Behaviour, _ body: [UInt8]) -> SimpleHTTPServer.Response {
        struct Review: Codable {
            struct Spec: Codable {
                struct Attributes: Codable {
                    var verb: String
                    var resource: String
                    var namespace: String?
                    var group: String?
                }
                var resourceAttributes: Attributes
            }
            var spec: Spec
        }
        guard let review = try? JSONDecoder().decode(Review.self, from: Data(body)) else {
            return Self.status(400, reason: "BadRequest", message: "cannot decode the SelfSubjectAccessReview")
        }
        let attributes = review.spec.resourceAttributes
        let allowed = behaviour.allows(attributes.verb, attributes.resource)
        let json =
            #"{"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1","status":{"allowed":\#(allowed)}}"#
        return .reply(status: 201, headers: [("Content-Type", "application/json")], body: Array(json.utf8))
    }

    /// Types whose objects can be written through the API (the agent writes only Leases).
    static let writable: [ResourceDescriptor: @Sendable ([UInt8]) -> (any KubernetesObject)?] = [
        Lease.resource: { try? JSONDecoder().decode(Lease.self, from: Data($0)) }
    ]

    /// GET, POST (create) and PUT (replace, with the resourceVersion as precondition) of one object.
    private func object(
        _ state: inout State, _ resource: ResourceDescriptor, _ namespace: String?, _ name: String?,
        _ request: SimpleHTTPServer.Request
    ) -> SimpleHTTPServer.Response {
        let method = request.head.method
        let verb = method == .GET ? "get" : method == .POST ? "create" : "update"
        state.requestCounts["\(verb) \(resource.plural)", default: 0] += 1
        if !state.behaviour.allows(verb, resource.plural) {
            return Self.status(403, reason: "Forbidden", message: "\(resource.plural) is forbidden: cannot \(verb)")
        }
        let key = ObjectKey(namespace: resource.namespaced ? (namespace ?? "default") : "", name: name ?? "")
        switch method {
        case .GET:
            guard let stored = state.collections[resource]?.objects[key] else {
                return Self.status(404, reason: "NotFound", message: "\(resource.plural) \"\(key.name)\" not found")
            }
            return .reply(status: 200, headers: [("Content-Type", "application/json")], body: stored.json)
        case .POST, .PUT:
            guard let decode = Self.writable[resource], let incoming = decode(request.body) else {
                return Self.status(400, reason: "BadRequest", message: "cannot decode the \(resource.kind)")
            }
            let target = ObjectKey(
                namespace: resource.namespaced ? (namespace ?? "default") : "", name: incoming.metadata.name)
            let existing = state.collections[resource]?.objects[target]
            if method == .POST, existing != nil {
                return Self.status(
                    409, reason: "AlreadyExists", message: "\(resource.plural) \"\(target.name)\" already exists")
            }
            if method == .PUT {
                guard let existing else {
                    return Self.status(
                        404, reason: "NotFound", message: "\(resource.plural) \"\(target.name)\" not found")
                }
                if incoming.metadata.resourceVersion != existing.object.metadata.resourceVersion {
                    return Self.status(
                        409, reason: "Conflict",
                        message:
                            "Operation cannot be fulfilled on \(resource.plural) \"\(target.name)\": the object has been modified"
                    )
                }
            }
            state.version += 1
            var object = incoming
            object.metadata.namespace = target.namespace.isEmpty ? nil : target.namespace
            object.metadata.resourceVersion = String(state.version)
            object.metadata.uid = existing?.uid ?? Self.newUID(state.version)
            let stored = Stored(erased: object)
            state.record(resource, key: target, before: existing, after: stored)
            return .reply(
                status: method == .POST ? 201 : 200, headers: [("Content-Type", "application/json")], body: stored.json)
        default:
            return Self.status(405, reason: "MethodNotAllowed", message: "\(method) is not supported here")
        }
    }

    private func discovery(_ group: ResourceDescriptor, _ installed: Set<ResourceDescriptor>)
        -> SimpleHTTPServer.Response
    {
        let names = installed.filter { $0.groupPath == group.groupPath }.map {
            #"{"name":"\#($0.plural)","kind":"\#($0.kind)"}"#
        }
        let body =
            #"{"kind":"APIResourceList","groupVersion":"\#(group.apiVersion)","resources":[\#(names.joined(separator: ","))]}"#
        return .reply(status: 200, headers: [("Content-Type", "application/json")], body: Array(body.utf8))
    }

    private func list(
        _ state: inout State, _ resource: ResourceDescriptor, _ namespace: String?, _ selectors: Selectors,
        _ query: [String: String]
    ) -> SimpleHTTPServer.Response {
        let limit = query["limit"].flatMap(Int.init).map { max(1, $0) } ?? Int.max
        var page: [Stored]
        var version: Int
        var remaining: [Stored]
        if let token = query["continue"], !token.isEmpty {
            guard let continuation = state.continuations.removeValue(forKey: token) else {
                return Self.status(
                    410, reason: "Expired",
                    message: "The provided continue parameter is too old to display a consistent list result.")
            }
            version = continuation.version
            remaining = continuation.remaining
        } else {
            version = state.version
            remaining = (state.collections[resource]?.objects ?? [:])
                .filter { key, stored in
                    (namespace == nil || key.namespace == namespace)
                        && SelectorMatching.matches(selectors, stored.selectable)
                }
                .sorted { $0.key < $1.key }.map(\.value)
        }
        page = Array(remaining.prefix(limit))
        remaining.removeFirst(page.count)
        var continueToken = ""
        if !remaining.isEmpty {
            continueToken = "c\(state.version)-\(state.continuations.count)-\(page.count)"
            state.continuations[continueToken] = Continuation(version: version, remaining: remaining)
        }
        var body = Array(
            #"{"kind":"\#(resource.kind)List","apiVersion":"\#(resource.apiVersion)","metadata":{"resourceVersion":"\#(version)","continue":"\#(continueToken)"},"items":["#
                .utf8)
        for (index, stored) in page.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += stored.json
        }
        body += Array("]}".utf8)
        return .reply(status: 200, headers: [("Content-Type", "application/json")], body: body)
    }

    private func watch(
        _ state: inout State, _ resource: ResourceDescriptor, _ namespace: String?, _ selectors: Selectors,
        _ query: [String: String]
    ) -> SimpleHTTPServer.Response {
        let collection = state.collections[resource] ?? Collection()
        let from = query["resourceVersion"] ?? ""
        let timeout = query["timeoutSeconds"].flatMap(Double.init)
        let bookmarks = query["allowWatchBookmarks"] == "true"
        let current = state.version
        // "" and "0": start with the current state as ADDED events, then changes.
        let backlog: [LogEntry]
        if from.isEmpty || from == "0" {
            backlog = collection.objects.values.sorted { $0.json.lexicographicallyPrecedes($1.json) }.map {
                LogEntry(version: current, before: nil, after: $0)
            }
        } else if let version = Int(from), version >= collection.compactedThrough {
            backlog = collection.log.filter { $0.version > version }
        } else {
            let message = "too old resource version: \(from) (\(collection.compactedThrough))"
            if state.behaviour.goneAsHTTPStatus {
                return Self.status(410, reason: "Expired", message: message)
            }
            let line =
                #"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"\#(message)","reason":"Expired","code":410}}"#
            return .stream(status: 200, headers: [("Content-Type", "application/json")]) { stream in
                stream.write(Array((line + "\n").utf8))
                stream.finish()
            }
        }
        let id = state.nextWatcher
        state.nextWatcher += 1
        return .stream(status: 200, headers: [("Content-Type", "application/json")]) { [self] stream in
            let watcher = Watcher(
                resource: resource, namespace: namespace, selectors: selectors, bookmarks: bookmarks, stream: stream)
            self.state.withLock { state in
                // Events recorded between the request and now are in the log too: send from there.
                let recent = (state.collections[resource]?.log ?? []).filter { $0.version > current }
                for entry in backlog + recent {
                    if let line = Self.eventLine(entry, for: watcher) { stream.write(line) }
                }
                state.watchers[id] = watcher
            }
            stream.onClose { [self] in _ = self.state.withLock { $0.watchers.removeValue(forKey: id) } }
            if let timeout {
                stream.schedule(after: timeout) { [self] in
                    if self.state.withLock({ $0.watchers.removeValue(forKey: id) }) != nil { stream.finish() }
                }
            }
        }
    }

    static func status(_ code: Int, reason: String, message: String) -> SimpleHTTPServer.Response {
        let body =
            #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"\#(message)","reason":"\#(reason)","code":\#(code)}"#
        return .reply(status: code, headers: [("Content-Type", "application/json")], body: Array(body.utf8))
    }

    static func split(_ uri: String) -> (String, [String: String]) {
        let parts = uri.split(separator: "?", maxSplits: 1)
        var query: [String: String] = [:]
        if parts.count == 2 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                let name = String(kv[0])
                query[name] = kv.count == 2 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
            }
        }
        return (String(parts.first ?? ""), query)
    }

    /// `/api/v1/pods`, `/api/v1/namespaces/ns/pods`, `/apis/apps/v1/deployments`, ...
    static func route(_ path: String, _ installed: Set<ResourceDescriptor>) -> (ResourceDescriptor, String?)? {
        for resource in installed {
            if path == resource.collectionPath() { return (resource, nil) }
            let prefix = resource.groupPath + "/namespaces/"
            if resource.namespaced, path.hasPrefix(prefix), path.hasSuffix("/" + resource.plural) {
                let namespace = path.dropFirst(prefix.count).dropLast(resource.plural.count + 1)
                if !namespace.contains("/") { return (resource, String(namespace)) }
            }
        }
        return nil
    }
}

/// Label selectors (`a=b`, `a==b`, `a!=b`, `a`, `!a`) and field selectors (`f=v`, `f!=v`), as the
/// API server evaluates them.
enum SelectorMatching {
    static func matches(_ selectors: Selectors, _ object: FakeKubernetesAPI.Selectable) -> Bool {
        if let label = selectors.label, !matches(label, object.labels) { return false }
        if let field = selectors.field, !matches(field, object.fields) { return false }
        return true
    }

    static func matches(_ selector: String, _ values: [String: String]) -> Bool {
        for requirement in selector.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if let range = requirement.range(of: "!=") {
                if values[String(requirement[..<range.lowerBound])] == String(requirement[range.upperBound...]) {
                    return false
                }
            } else if let range = requirement.range(of: "==") ?? requirement.range(of: "=") {
                if values[String(requirement[..<range.lowerBound])] != String(requirement[range.upperBound...]) {
                    return false
                }
            } else if requirement.hasPrefix("!") {
                if values[String(requirement.dropFirst())] != nil { return false }
            } else if !requirement.isEmpty, values[requirement] == nil {
                return false
            }
        }
        return true
    }
}
