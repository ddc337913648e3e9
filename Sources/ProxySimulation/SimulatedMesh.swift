import FathomModel

/// A small meshed cluster of simulated proxies (emojivoto and booksapp, as in Linkerd's demos):
/// legacy and modern metric generations, ServiceProfile routes, HTTPRoutes and GRPCRoutes,
/// inbound policy routes, one route that fails often, and a database that speaks only TCP.
public struct SimulatedMesh: Sendable {
    public var proxies: [SimulatedProxy]

    public init(proxies: [SimulatedProxy]) {
        self.proxies = proxies
    }

    /// Generates every proxy's requests up to `now`.
    public mutating func advance(to now: Double) {
        for index in proxies.indices { proxies[index].advance(to: now) }
    }

    /// What happened since the last call, summed per workload and route.
    public mutating func takeTruth() -> [WorkloadRef: [RouteIdentity: RouteTruth]] {
        var truth: [WorkloadRef: [RouteIdentity: RouteTruth]] = [:]
        for index in proxies.indices {
            let workload = proxies[index].workload
            for (route, routeTruth) in proxies[index].takeTruth() {
                truth[workload, default: [:]][route, default: RouteTruth()].add(routeTruth)
            }
        }
        return truth
    }

    /// How many meshed pods the demo cluster has.
    public static let demoPodCount = 7

    /// The demo cluster; every proxy started at `startedAt`.
    public static func demo(startedAt: Double, seed: UInt64 = 42) -> SimulatedMesh {
        func deployment(_ namespace: String, _ name: String) -> WorkloadRef {
            WorkloadRef(kind: "Deployment", namespace: namespace, name: name)
        }
        func identity(_ namespace: String, _ account: String) -> String {
            "\(account).\(namespace).serviceaccount.identity.linkerd.cluster.local"
        }
        let web = deployment("emojivoto", "web")
        let emoji = deployment("emojivoto", "emoji")
        let voting = deployment("emojivoto", "voting")
        let voteBot = deployment("emojivoto", "vote-bot")
        let webapp = deployment("booksapp", "webapp")
        let books = deployment("booksapp", "books")
        let emojiService = ServiceRef(namespace: "emojivoto", name: "emoji-svc", port: 8080)
        let votingService = ServiceRef(namespace: "emojivoto", name: "voting-svc", port: 8080)
        let webService = ServiceRef(namespace: "emojivoto", name: "web-svc", port: 80)
        let authorsService = ServiceRef(namespace: "booksapp", name: "authors", port: 7001)
        let booksService = ServiceRef(namespace: "booksapp", name: "books", port: 7002)
        let database = deployment("booksapp", "db")
        let databaseService = ServiceRef(namespace: "booksapp", name: "db", port: 5432)
        let databasePod = "db-7f6e5d4c3-k9p2x"

        let webTraffic = [
            TrafficSpec(
                shape: .legacyOutbound(
                    service: emojiService, destination: emoji,
                    destinationPods: ["emoji-7d9f8c6b5-x2kqp", "emoji-7d9f8c6b5-m8trv"],
                    serviceProfileRoutes: [
                        "/emojivoto.v1.EmojiService/ListAll", "/emojivoto.v1.EmojiService/FindByShortcode",
                    ]),
                requestsPerSecond: 12, failureRate: 0.002, medianLatencyMilliseconds: 4),
            TrafficSpec(
                shape: .modernRoute(
                    grpc: false, parent: votingService, routeName: "vote-route", routeNamespace: "emojivoto",
                    backend: votingService),
                requestsPerSecond: 6, failureRate: 0.12, medianLatencyMilliseconds: 9),
            TrafficSpec(
                shape: .legacyInbound(
                    serverName: "web-http", port: 8080, routeName: "default",
                    clientIdentity: identity("emojivoto", "vote-bot")),
                requestsPerSecond: 4, failureRate: 0.08, medianLatencyMilliseconds: 30),
        ]
        let voteBotTraffic = [
            TrafficSpec(
                shape: .modernRoute(
                    grpc: false, parent: webService, routeName: nil, routeNamespace: "", backend: webService),
                requestsPerSecond: 4, failureRate: 0.08, medianLatencyMilliseconds: 32),
            // The legacy endpoint families name a destination inside the mesh by its pods'
            // ReplicaSet, so its revision can be numbered.
            TrafficSpec(
                shape: .legacyOutbound(
                    service: webService, destination: web,
                    destinationPods: ["web-6c8d7f9b4-2jx8k", "web-6c8d7f9b4-9qmzt"], serviceProfileRoutes: []),
                requestsPerSecond: 2, failureRate: 0.05, medianLatencyMilliseconds: 30),
        ]
        let votingTraffic = [
            TrafficSpec(
                shape: .legacyInbound(
                    serverName: "voting-grpc", port: 8080, routeName: "default",
                    clientIdentity: identity("emojivoto", "web")),
                requestsPerSecond: 3, failureRate: 0.12, medianLatencyMilliseconds: 7)
        ]
        let webappTraffic = [
            TrafficSpec(
                shape: .modernRoute(
                    grpc: true, parent: authorsService, routeName: "authors-grpc", routeNamespace: "booksapp",
                    backend: authorsService),
                requestsPerSecond: 8, failureRate: 0.01, medianLatencyMilliseconds: 15),
            TrafficSpec(
                shape: .legacyOutbound(
                    service: booksService, destination: books, destinationPods: ["books-5b6c7d8e9-q4wzn"],
                    serviceProfileRoutes: ["GET /books/{id}.json", "POST /books.json", "DELETE /books/{id}.json"]),
                requestsPerSecond: 10, failureRate: 0.04, medianLatencyMilliseconds: 60),
            // Connections to the database, a few reset by it.
            TrafficSpec(
                shape: .tcpOutbound(
                    service: databaseService, destination: database, destinationPods: [databasePod],
                    bytesPerConnection: 1_500),
                requestsPerSecond: 3, failureRate: 0.03, medianLatencyMilliseconds: 1),
        ]
        // The database speaks only TCP: connections from webapp, some denied by its policy.
        let databaseTraffic = [
            TrafficSpec(
                shape: .tcpInbound(
                    serverName: "db", port: 5432, clientIdentity: identity("booksapp", "webapp"),
                    bytesPerConnection: 1_500),
                requestsPerSecond: 3, failureRate: 0.05, medianLatencyMilliseconds: 1)
        ]
        var seedOffset: UInt64 = 0
        func proxy(_ pod: String, _ ip: String, _ workload: WorkloadRef, _ traffic: [TrafficSpec]) -> SimulatedProxy {
            seedOffset += 1
            return SimulatedProxy(
                podName: pod, podIP: ip, workload: workload, traffic: traffic, startedAt: startedAt,
                seed: seed &+ seedOffset)
        }
        return SimulatedMesh(proxies: [
            proxy("web-6c8d7f9b4-2jx8k", "127.0.0.1", web, webTraffic),
            proxy("web-6c8d7f9b4-9qmzt", "127.0.0.1", web, webTraffic),
            proxy("vote-bot-5f7c9d8b6-lk2pw", "127.0.0.1", voteBot, voteBotTraffic),
            proxy("voting-8b4d6f5c7-r7vnx", "127.0.0.1", voting, votingTraffic),
            proxy("voting-8b4d6f5c7-t3hds", "127.0.0.1", voting, votingTraffic),
            proxy("webapp-9d7c6b5a4-wq8zr", "127.0.0.1", webapp, webappTraffic),
            proxy(databasePod, "127.0.0.1", database, databaseTraffic),
        ])
    }
}
