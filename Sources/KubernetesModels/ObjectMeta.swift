/// The part of Kubernetes' `metadata` the agent uses.
///
/// Annotations are filtered while decoding: only the prefixes the agent reads are kept, so a
/// pod's `kubectl.kubernetes.io/last-applied-configuration` (often kilobytes) never stays in memory.
public struct ObjectMeta: Codable, Sendable, Equatable {
    public var name: String
    public var namespace: String?
    public var uid: String
    public var resourceVersion: String?
    public var generation: Int64?
    public var labels: [String: String]?
    public var annotations: [String: String]?
    public var ownerReferences: [OwnerReference]?
    public var creationTimestamp: String?
    public var deletionTimestamp: String?

    /// Annotation prefixes the agent reads; every other annotation is dropped while decoding.
    public static let keptAnnotationPrefixes = [
        "linkerd.io/", "config.linkerd.io/", "deployment.kubernetes.io/", "rollout.argoproj.io/", "fathom.dev/",
    ]

    public init(
        name: String, namespace: String? = nil, uid: String = "", resourceVersion: String? = nil,
        generation: Int64? = nil, labels: [String: String]? = nil, annotations: [String: String]? = nil,
        ownerReferences: [OwnerReference]? = nil, creationTimestamp: String? = nil, deletionTimestamp: String? = nil
    ) {
        self.name = name
        self.namespace = namespace
        self.uid = uid
        self.resourceVersion = resourceVersion
        self.generation = generation
        self.labels = labels
        self.annotations = annotations
        self.ownerReferences = ownerReferences
        self.creationTimestamp = creationTimestamp
        self.deletionTimestamp = deletionTimestamp
    }

    private enum CodingKeys: String, CodingKey {
        case name, namespace, uid, resourceVersion, generation, labels, annotations, ownerReferences
        case creationTimestamp, deletionTimestamp
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
        namespace = try container.decodeIfPresent(String.self, forKey: .namespace)
        uid = try container.decodeIfPresent(String.self, forKey: .uid) ?? ""
        resourceVersion = try container.decodeIfPresent(String.self, forKey: .resourceVersion)
        generation = try container.decodeIfPresent(Int64.self, forKey: .generation)
        labels = try container.decodeIfPresent([String: String].self, forKey: .labels)
        annotations = try container.decodeIfPresent([String: String].self, forKey: .annotations)?
            .filter { key, _ in Self.keptAnnotationPrefixes.contains { key.hasPrefix($0) } }
        if annotations?.isEmpty == true { annotations = nil }
        ownerReferences = try container.decodeIfPresent([OwnerReference].self, forKey: .ownerReferences)
        creationTimestamp = try container.decodeIfPresent(String.self, forKey: .creationTimestamp)
        deletionTimestamp = try container.decodeIfPresent(String.self, forKey: .deletionTimestamp)
    }

    public func label(_ key: String) -> String? { labels?[key] }
    public func annotation(_ key: String) -> String? { annotations?[key] }

    /// Sets an annotation; an empty value removes it (the API server drops empty maps anyway).
    public mutating func setAnnotation(_ key: String, _ value: String) {
        var all = annotations ?? [:]
        all[key] = value.isEmpty ? nil : value
        annotations = all.isEmpty ? nil : all
    }

    /// The owner marked as the managing controller, as Kubernetes' garbage collector reads it.
    public var controller: OwnerReference? { ownerReferences?.first { $0.controller == true } }

    public var key: ObjectKey { ObjectKey(namespace: namespace ?? "", name: name) }
}

/// A reference from an object to its owner (`metadata.ownerReferences[]`).
public struct OwnerReference: Codable, Sendable, Equatable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var uid: String
    public var controller: Bool?

    public init(apiVersion: String, kind: String, name: String, uid: String, controller: Bool? = true) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.uid = uid
        self.controller = controller
    }
}

/// Namespace and name: how the API addresses an object (namespace is empty for cluster-scoped ones).
public struct ObjectKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var namespace: String
    public var name: String

    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    public static func < (lhs: ObjectKey, rhs: ObjectKey) -> Bool {
        (lhs.namespace, lhs.name) < (rhs.namespace, rhs.name)
    }

    public var description: String { namespace.isEmpty ? name : "\(namespace)/\(name)" }
}

/// A status condition as workloads report them (`status.conditions[]`).
public struct Condition: Codable, Sendable, Equatable {
    public var type: String
    public var status: String
    public var reason: String?
    public var message: String?
    public var lastUpdateTime: String?
    public var lastTransitionTime: String?

    public init(type: String, status: String, reason: String? = nil, message: String? = nil) {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
    }
}
