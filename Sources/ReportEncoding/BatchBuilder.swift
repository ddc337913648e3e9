import FathomModel
import GzipCodec
import Inventory
import MeshHealth
import ReportProtos
import RouteAggregation
import SwiftProtobuf

/// Who the agent is, as every batch says.
public struct AgentIdentity: Sendable, Equatable {
    public var agentID: String
    /// Random per process start; names batches together with the sequence number.
    public var instanceID: String
    public var clusterName: String
    public var agentVersion: String
    public var nodeName: String

    public init(agentID: String, instanceID: String, clusterName: String, agentVersion: String, nodeName: String = "") {
        self.agentID = agentID
        self.instanceID = instanceID
        self.clusterName = clusterName
        self.agentVersion = agentVersion
        self.nodeName = nodeName
    }
}

/// The agent's own counters over a window, for `AgentHealth`.
public struct HealthSummary: Sendable, Equatable {
    public var targets = 0
    public var scrapesSucceeded = 0
    public var scrapeFailures: [String: Int] = [:]
    public var pageBadLines = 0
    public var seriesOverLimit = 0
    public var foldedRoutes = 0
    public var dropped: [String: Int] = [:]
    public var queuedBatches = 0
    /// Each watched Kubernetes resource's state (`ResourceWatchState` raw values) and last error.
    public var resources: [(resource: String, state: String, message: String?)] = []

    public init() {}

    public static func == (lhs: HealthSummary, rhs: HealthSummary) -> Bool {
        lhs.targets == rhs.targets && lhs.scrapesSucceeded == rhs.scrapesSucceeded
            && lhs.scrapeFailures == rhs.scrapeFailures && lhs.pageBadLines == rhs.pageBadLines
            && lhs.seriesOverLimit == rhs.seriesOverLimit && lhs.foldedRoutes == rhs.foldedRoutes
            && lhs.dropped == rhs.dropped && lhs.queuedBatches == rhs.queuedBatches
            && lhs.resources.map { "\($0.resource) \($0.state) \($0.message ?? "")" }
                == rhs.resources.map { "\($0.resource) \($0.state) \($0.message ?? "")" }
    }
}

/// Turns closed windows into numbered, encoded, gzip-compressed report batches.
public struct BatchBuilder: Sendable {
    public let identity: AgentIdentity
    /// The sequence number the next batch gets; starts at 1.
    public private(set) var nextSequence: UInt64 = 1

    public init(identity: AgentIdentity) {
        self.identity = identity
    }

    /// The protobuf message for a window, with the inventory section and rollout events when given.
    public mutating func message(
        window: AggregationWindow, health: HealthSummary, inventory: Fathom_Agent_V1_Inventory? = nil,
        rolloutEvents: [RolloutEvent] = [], checks: [MeshCheck] = []
    ) -> Fathom_Agent_V1_ReportBatch {
        var batch = Fathom_Agent_V1_ReportBatch()
        batch.agent = .with {
            $0.agentID = identity.agentID
            $0.instanceID = identity.instanceID
            $0.clusterName = identity.clusterName
            $0.agentVersion = identity.agentVersion
            $0.nodeName = identity.nodeName
        }
        batch.sequence = nextSequence
        nextSequence += 1
        batch.windowStartUnixMs = Self.milliseconds(window.start)
        batch.windowEndUnixMs = Self.milliseconds(window.end)
        batch.routeMetrics = window.routes.map(Self.routeMetrics)
        if let inventory { batch.inventory = inventory }
        batch.rolloutEvents = rolloutEvents.map(Fathom_Agent_V1_RolloutEvent.init)
        if !checks.isEmpty { batch.meshHealth = .with { $0.checks = checks.map(Fathom_Agent_V1_MeshCheck.init) } }
        batch.health = .with {
            $0.targets = UInt32(clamping: health.targets)
            $0.scrapesSucceeded = UInt64(clamping: health.scrapesSucceeded)
            $0.scrapeFailures = Self.reasons(health.scrapeFailures)
            $0.pageBadLines = UInt64(clamping: health.pageBadLines)
            $0.seriesOverLimit = UInt64(clamping: health.seriesOverLimit)
            $0.foldedRoutes = UInt64(clamping: health.foldedRoutes)
            $0.dropped = Self.reasons(health.dropped)
            $0.queuedBatches = UInt32(clamping: health.queuedBatches)
            $0.resources = health.resources.map { watch in
                .with {
                    $0.resource = watch.resource
                    $0.state = Self.watchState(watch.state)
                    $0.message = String((watch.message ?? "").prefix(500))
                }
            }
        }
        return batch
    }

    /// Encodes and compresses a window's batch.
    public mutating func encode(
        window: AggregationWindow, health: HealthSummary, inventory: Fathom_Agent_V1_Inventory? = nil,
        rolloutEvents: [RolloutEvent] = [], checks: [MeshCheck] = []
    ) throws -> EncodedBatch {
        let message = message(
            window: window, health: health, inventory: inventory, rolloutEvents: rolloutEvents, checks: checks)
        let body = try Gzip.compress(try message.serializedBytes())
        return EncodedBatch(
            idempotencyKey: EncodedBatch.key(instance: identity.instanceID, sequence: message.sequence),
            sequence: message.sequence,
            windowEndUnixMilliseconds: message.windowEndUnixMs, body: body)
    }

    static func milliseconds(_ seconds: Double) -> Int64 {
        Int64((seconds * 1_000).rounded())
    }

    static func reasons(_ counts: [String: Int]) -> [Fathom_Agent_V1_ReasonCount] {
        counts.keys.sorted().map { reason in
            .with {
                $0.reason = reason
                $0.count = UInt64(clamping: counts[reason]!)
            }
        }
    }

    static func routeMetrics(_ route: RouteWindow) -> Fathom_Agent_V1_RouteMetrics {
        .with {
            $0.workload = .with {
                $0.kind = route.key.workload.kind
                $0.namespace = route.key.workload.namespace
                $0.name = route.key.workload.name
            }
            $0.direction = route.key.identity.direction == .inbound ? .inbound : .outbound
            $0.source = source(route.key.identity.source)
            $0.target = route.key.identity.target
            $0.route = route.key.identity.route
            $0.peer = route.key.identity.peer
            $0.toProxyAdmin = route.key.identity.toProxyAdmin
            $0.revision = route.key.revision
            $0.security = security(route.key.identity.security)
            $0.peerIdentity = route.key.identity.peerIdentity
            $0.peerReplicaSet = route.key.identity.peerReplicaSet
            $0.peerRevision = route.peerRevision
            $0.overflow = route.key.isOverflow
            $0.foldedRoutes = UInt32(clamping: route.foldedRoutes)
            $0.successCount = route.successCount
            $0.failureCount = route.failureCount
            $0.latency = .with {
                $0.upperBoundsSeconds = route.latency.upperBounds
                $0.cumulativeCounts = route.latency.cumulativeCounts
                $0.sumSeconds = route.latency.sum
            }
            $0.observedSeconds = route.duration
            if let tcp = route.tcp {
                $0.tcp = .with {
                    $0.connectionsOpened = tcp.opened
                    $0.connectionsClosed = tcp.closed
                    $0.closesByErrno = tcp.closedByErrno.sorted { $0.key < $1.key }.map { errno, count in
                        .with {
                            $0.errno = TCPCounter.errnoNames[Int(errno)]
                            $0.count = count
                        }
                    }
                    $0.bytesRead = tcp.bytesRead
                    $0.bytesWritten = tcp.bytesWritten
                    $0.openConnections = tcp.openConnections
                }
            }
            if let retries = route.retries {
                $0.retries = .with { counts in
                    for (counter, field) in Self.retryFields { counts[keyPath: field] = retries[counter, default: 0] }
                }
            }
            if let decisions = route.authorization {
                $0.authorization = .with { counts in
                    for (decision, field) in Self.authorizationFields {
                        counts[keyPath: field] = decisions[decision, default: 0]
                    }
                }
            }
            $0.outcomes = route.outcomes.map { counted in
                .with {
                    $0.httpStatusClass = counted.outcome.statusClassName
                    $0.grpcStatus = counted.outcome.grpcStatusName
                    $0.error = counted.outcome.errorName
                    $0.success = counted.success
                    $0.count = counted.count
                }
            }
        }
    }

    /// The wire value of a watch state (`ResourceWatchState.rawValue`).
    static func watchState(_ state: String) -> Fathom_Agent_V1_WatchState {
        switch state {
        case "starting": .starting
        case "synced": .synced
        case "forbidden": .forbidden
        case "unauthorized": .unauthorized
        case "not_installed": .notInstalled
        case "failing": .failing
        default: .unspecified
        }
    }

    /// The domain source of a wire value; nil for values this agent version does not know.
    static func source(_ source: Fathom_Agent_V1_Source) -> RouteSource? {
        RouteSource.allCases.first { Self.source($0) == source }
    }

    /// The wire field of each authorization decision, for writing batches and reading them back.
    static let authorizationFields:
        [(AuthorizationDecision, WritableKeyPath<Fathom_Agent_V1_AuthorizationCounts, Double> & Sendable)] =
            [
                (.httpAllowed, \.httpAllowed), (.httpDenied, \.httpDenied), (.tcpAllowed, \.tcpAllowed),
                (.tcpDenied, \.tcpDenied), (.tcpTerminated, \.tcpTerminated), (.routeNotFound, \.routeNotFound),
                (.rateLimited, \.rateLimited),
            ]

    /// The wire value of an edge's security, and back.
    static func security(_ security: EdgeSecurity) -> Fathom_Agent_V1_EdgeSecurity {
        switch security {
        case .unreported: .unreported
        case .mutualTLS: .mutualTls
        case .passthroughTLS: .passthroughTls
        case .disabled: .disabled
        case .loopback: .loopback
        case .portSkipped: .portSkipped
        case .noTLSFromRemote: .noTlsFromRemote
        case .notProvidedByServiceDiscovery: .notProvidedByServiceDiscovery
        case .ingressWithoutOverride: .ingressWithoutOverride
        case .otherPlaintext: .otherPlaintext
        }
    }

    static func security(_ security: Fathom_Agent_V1_EdgeSecurity) -> EdgeSecurity {
        EdgeSecurity.allCases.first { Self.security($0) == security } ?? .unreported
    }

    /// The wire field of each retry counter, for writing batches and reading them back.
    static let retryFields: [(RetryCounter, WritableKeyPath<Fathom_Agent_V1_RetryCounts, Double> & Sendable)] = [
        (.requests, \.requests), (.successes, \.successes), (.limitExceeded, \.limitExceeded), (.overflow, \.overflow),
    ]

    static func source(_ source: RouteSource) -> Fathom_Agent_V1_Source {
        switch source {
        case .endpoint: return .endpoint
        case .serviceProfileRoute: return .serviceProfileRoute
        case .serviceProfileRouteActual: return .serviceProfileRouteActual
        case .httpRoute: return .httpRoute
        case .grpcRoute: return .grpcRoute
        case .httpBackend: return .httpBackend
        case .grpcBackend: return .grpcBackend
        case .inboundHTTPRoute: return .inboundHTTPRoute
        case .inboundGRPCRoute: return .inboundGrpcRoute
        case .inboundHTTPErrors: return .inboundHTTPErrors
        case .outboundHTTPErrors: return .outboundHTTPErrors
        case .tcp: return .tcp
        case .tcpRoute: return .tcpRoute
        case .tlsRoute: return .tlsRoute
        case .authorization: return .authorization
        }
    }
}
