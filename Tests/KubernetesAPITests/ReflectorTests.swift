import AgentTestSupport
import KubernetesAPI
import KubernetesModels
import LocalServers
import Logging
import ProxySimulation
import Synchronization
import Testing

/// What a consumer of a reflector has been told, checked against the fake server's objects.
final class ConsumerView<Object: KubernetesObject>: Sendable {
    struct State {
        var objects: [ObjectKey: Object] = [:]
        /// Every (uid, resourceVersion) delivered as an upsert: a second delivery is a duplicate.
        var delivered: Set<String> = []
        var duplicates: [String] = []
        var deletedUIDs: Set<String> = []
        /// A deletion of an object the consumer did not have (a phantom).
        var phantomDeletes = 0
        var syncs = 0
    }

    let state = Mutex(State())

    func deliver(_ deltas: [ReflectorDelta<Object>], _ synced: Bool) {
        state.withLock { state in
            for delta in deltas {
                switch delta {
                case .upserted(let object):
                    let id = "\(object.metadata.uid)@\(object.metadata.resourceVersion ?? "")"
                    if !state.delivered.insert(id).inserted { state.duplicates.append(id) }
                    state.objects[object.metadata.key] = object
                case .deleted(let key, let uid, _):
                    if state.objects[key]?.metadata.uid == uid {
                        state.objects[key] = nil
                    } else {
                        state.phantomDeletes += 1
                    }
                    state.deletedUIDs.insert(uid)
                }
            }
            if synced { state.syncs += 1 }
        }
    }

    /// Key → (uid, resourceVersion), the comparison that matters.
    var versions: [ObjectKey: String] {
        state.withLock { $0.objects.mapValues { "\($0.metadata.uid)@\($0.metadata.resourceVersion ?? "")" } }
    }
}

func serverVersions<Object: KubernetesObject>(_ api: FakeKubernetesAPI, _ type: Object.Type) -> [ObjectKey: String] {
    Dictionary(
        uniqueKeysWithValues: api.objects(type).map {
            ($0.metadata.key, "\($0.metadata.uid)@\($0.metadata.resourceVersion ?? "")")
        })
}

func pod(
    _ name: String, namespace: String = "default", node: String? = "node-1", labels: [String: String] = [:],
    image: String = "web:1"
)
    -> Pod
{
    Pod(
        metadata: ObjectMeta(name: name, namespace: namespace, labels: labels),
        spec: Pod.Spec(nodeName: node, containers: [Pod.Container(name: "app", image: image)]),
        status: Pod.Status(phase: "Running", podIP: "10.0.0.1"))
}

/// Runs a reflector against `api` while `body` runs, then stops it.
func withReflector<Object: KubernetesObject>(
    _ type: Object.Type, api: FakeKubernetesAPI, settings: ReflectorSettings = fastSettings(),
    connection: ClusterConnection? = nil, hooks: ReflectorHooks = ReflectorHooks(),
    _ body: (ConsumerView<Object>) async throws -> Void
) async throws {
    let client = try KubernetesClient(connection: connection ?? api.connection)
    let view = ConsumerView<Object>()
    let reflector = Reflector(
        Object.self, client: client, settings: settings, logger: Logger(label: "test"), hooks: hooks)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try? await reflector.run { deltas, synced in view.deliver(deltas, synced) } }
        defer { group.cancelAll() }
        try await body(view)
    }
    try await client.shutdown()
}

func fastSettings(selectors: Selectors = .none, pageSize: Int = 500) -> ReflectorSettings {
    ReflectorSettings(
        selectors: selectors, pageSize: pageSize, watchTimeoutSeconds: 1...2, initialBackoffSeconds: 0.02,
        maxBackoffSeconds: 0.2)
}

@Suite("Reflector against the fake API server")
struct ReflectorTests {
    @Test("lists, then follows creates, updates and deletes; resumes after a dropped watch without listing again")
    func followsChanges() async throws {
        let api = try await FakeKubernetesAPI.start(behaviour: .init(token: "secret"))
        for index in 0..<3 { api.apply(pod("web-\(index)")) }
        try await withReflector(Pod.self, api: api) { view in
            #expect(await eventually { view.versions == serverVersions(api, Pod.self) })
            #expect(view.state.withLock { $0.syncs } == 1)
            api.apply(pod("web-1", image: "web:2"))
            api.delete(Pod.self, namespace: "default", name: "web-0")
            api.apply(pod("web-3"))
            #expect(await eventually { view.versions == serverVersions(api, Pod.self) })
            #expect(await eventually { api.openWatches == 1 })
            api.dropWatches()
            api.apply(pod("web-4"))
            api.delete(Pod.self, namespace: "default", name: "web-3")
            #expect(await eventually { view.versions == serverVersions(api, Pod.self) })
            #expect(
                view.state.withLock {
                    $0.objects[ObjectKey(namespace: "default", name: "web-1")]?.spec.containers[0].image
                } == "web:2")
        }
        #expect(api.requestCounts["list pods"] == 1, "a dropped watch resumes from its version, it does not re-list")
        #expect((api.requestCounts["watch pods"] ?? 0) >= 2)
        try await api.shutdown()
    }

    @Test(
        "a silent watch (open, nothing sent, its timeoutSeconds not kept) is given up at timeoutSeconds + 30 s, and what changed meanwhile arrives"
    )
    func aSilentWatchIsGivenUp() async throws {
        let api = try await FakeKubernetesAPI.start(behaviour: .init(token: "secret"))
        api.apply(pod("web-0"))
        let restarts = Mutex<[String]>([])
        var hooks = ReflectorHooks()
        hooks.restart = { reason in restarts.withLock { $0.append(reason) } }
        var settings = fastSettings()
        settings.watchTimeoutSeconds = 1...1
        try await withReflector(Pod.self, api: api, settings: settings, hooks: hooks) { view in
            #expect(await eventually { view.versions == serverVersions(api, Pod.self) && api.openWatches == 1 })
            let clock = ContinuousClock()
            let silenced = clock.now
            #expect(api.silenceWatches() == 1)
            api.apply(pod("web-1"))
            #expect(await eventually(within: 90) { view.versions == serverVersions(api, Pod.self) })
            // Not before the client's deadline: the change came on a new watch, not the silent one.
            #expect(clock.now - silenced >= .seconds(30))
        }
        #expect(restarts.withLock { $0 }.filter { $0 == "silent_watch" }.count == 1, "\(restarts.withLock { $0 })")
        try await api.shutdown()
    }

    @Test("a paginated list is read to the end, from one snapshot")
    func paginates() async throws {
        let api = try await FakeKubernetesAPI.start()
        for index in 0..<7 { api.apply(pod("p-\(index)")) }
        try await withReflector(Pod.self, api: api, settings: fastSettings(pageSize: 2)) { view in
            #expect(await eventually { view.versions.count == 7 })
            #expect(view.versions == serverVersions(api, Pod.self))
        }
        #expect(api.requestCounts["list pods"] == 4)
        try await api.shutdown()
    }

    @Test(
        "410 Gone, as an event or as the status, makes it list again and report deletions it missed",
        arguments: [false, true])
    func relistsAfterGone(asStatus: Bool) async throws {
        let api = try await FakeKubernetesAPI.start()
        api.configure { $0.goneAsHTTPStatus = asStatus }
        for index in 0..<4 { api.apply(pod("p-\(index)")) }
        let restarts = Mutex<[String]>([])
        let hooks = ReflectorHooks(restart: { reason in restarts.withLock { $0.append(reason) } })
        try await withReflector(Pod.self, api: api, hooks: hooks) { view in
            #expect(await eventually { view.versions == serverVersions(api, Pod.self) && api.openWatches == 1 })
            // Changes the reflector cannot see: the watch is cut, then history is compacted.
            api.dropWatches()
            api.delete(Pod.self, namespace: "default", name: "p-0")
            api.delete(Pod.self, namespace: "default", name: "p-1")
            api.apply(pod("p-1", image: "new"))  // same name, new uid
            api.compact()
            #expect(await eventually { view.versions == serverVersions(api, Pod.self) })
            let seen = view.state.withLock { $0 }
            #expect(seen.phantomDeletes == 0)
            #expect(seen.duplicates.isEmpty)
            #expect(seen.syncs == 2)
        }
        #expect(api.requestCounts["list pods"] == 2)
        #expect(restarts.withLock { $0.contains("relist") })
        try await api.shutdown()
    }

    @Test(
        "converges under random interleavings of changes, dropped watches, compactions, errors and bookmarks",
        arguments: [1, 2, 3])
    func convergesUnderChaos(seed: UInt64) async throws {
        let api = try await FakeKubernetesAPI.start()
        var random = SeededRandom(seed: seed)
        api.configure { $0.eventHistory = 40 }
        var allUIDs: Set<String> = []
        for index in 0..<10 { allUIDs.insert(api.apply(pod("p-\(index)", labels: ["app": "a"])).metadata.uid) }
        try await withReflector(Pod.self, api: api) { view in
            for step in 0..<300 {
                let name = "p-\(Int.random(in: 0..<25, using: &random))"
                switch Int.random(in: 0..<20, using: &random) {
                case 0..<9: allUIDs.insert(api.apply(pod(name, image: "img:\(step)")).metadata.uid)
                case 9..<14: api.delete(Pod.self, namespace: "default", name: name)
                case 14: api.dropWatches()
                case 15: api.compact()
                case 16: api.configure { $0.goneAsHTTPStatus.toggle() }
                case 17: api.failNext(1, status: 500)
                case 18: api.sendBookmarks()
                default: try await Task.sleep(for: .milliseconds(Int.random(in: 0..<30, using: &random)))
                }
                if step % 10 == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
            #expect(await eventually(within: 20) { view.versions == serverVersions(api, Pod.self) })
            let seen = view.state.withLock { $0 }
            #expect(seen.duplicates.isEmpty, "an upsert delivered twice: \(seen.duplicates.prefix(3))")
            #expect(seen.phantomDeletes == 0)
            // Every object that existed and is gone now was reported deleted.
            let live = Set(api.objects(Pod.self).map(\.metadata.uid))
            let delivered = Set(seen.delivered.map { String($0.split(separator: "@")[0]) })
            #expect(delivered.subtracting(live).isSubset(of: seen.deletedUIDs))
        }
        try await api.shutdown()
    }

    @Test("a field selector watches one node's pods: a pod scheduled there is added, a pod that leaves is deleted")
    func fieldSelector() async throws {
        let api = try await FakeKubernetesAPI.start()
        api.apply(pod("here", node: "node-a"))
        api.apply(pod("there", node: "node-b"))
        api.apply(pod("pending", node: nil))
        try await withReflector(
            Pod.self, api: api, settings: fastSettings(selectors: Selectors(field: "spec.nodeName=node-a"))
        ) { view in
            #expect(await eventually { Set(view.versions.keys.map(\.name)) == ["here"] })
            api.apply(pod("pending", node: "node-a"))
            #expect(await eventually { Set(view.versions.keys.map(\.name)) == ["here", "pending"] })
            api.delete(Pod.self, namespace: "default", name: "here")
            #expect(await eventually { Set(view.versions.keys.map(\.name)) == ["pending"] })
        }
        try await api.shutdown()
    }

    @Test("a wrong token is retried with backoff and counted as unauthorized; the right one then syncs")
    func unauthorized() async throws {
        let api = try await FakeKubernetesAPI.start(behaviour: .init(token: "right"))
        api.apply(pod("a"))
        let restarts = Mutex<[String]>([])
        let hooks = ReflectorHooks(restart: { reason in restarts.withLock { $0.append(reason) } })
        let wrong = ClusterConnection(server: api.url, credentials: .bearerToken("wrong"))
        try await withReflector(Pod.self, api: api, connection: wrong, hooks: hooks) { view in
            #expect(await eventually { restarts.withLock { $0.filter { $0 == "unauthorized" }.count >= 2 } })
            #expect(view.state.withLock { $0.syncs } == 0)
        }
        try await api.shutdown()
    }

    @Test("a resource the server forbids surfaces as 403 with the verb and resource")
    func forbidden() async throws {
        let api = try await FakeKubernetesAPI.start()
        api.configure { $0.forbidden = ["pods"] }
        let client = try KubernetesClient(connection: api.connection)
        await #expect(throws: KubernetesAPIError.self) { _ = try await client.list(Pod.self) }
        do {
            _ = try await client.list(Pod.self)
        } catch let error as KubernetesAPIError {
            #expect(error.reason == "forbidden")
            #expect("\(error)".contains("list pods"))
        }
        try await client.shutdown()
        try await api.shutdown()
    }

    @Test("API discovery: Argo Rollouts are watched only where the CRD is served; a 404 is an answer")
    func discovery() async throws {
        let api = try await FakeKubernetesAPI.start()
        let client = try KubernetesClient(connection: api.connection)
        #expect(try await client.serves(Deployment.resource))
        #expect(try await client.serves(ArgoRollout.resource) == false)
        api.configure { $0.installed.insert(ArgoRollout.resource) }
        #expect(try await client.serves(ArgoRollout.resource))
        try await client.shutdown()
        try await api.shutdown()
    }
}
