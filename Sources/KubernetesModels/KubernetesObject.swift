/// An object the agent lists and watches, with the API path that serves it.
public protocol KubernetesObject: Codable, Sendable {
    /// Where the API serves this kind and whether it is namespaced.
    static var resource: ResourceDescriptor { get }
    var metadata: ObjectMeta { get set }
    /// Fields a field selector may name for this kind (the fake API server filters on them;
    /// the real one has its own table per kind).
    var selectableFields: [String: String] { get }
}

extension KubernetesObject {
    public var selectableFields: [String: String] { metadata.selectableFields }
}

extension ObjectMeta {
    /// The fields every kind can be selected by.
    public var selectableFields: [String: String] { ["metadata.name": name, "metadata.namespace": namespace ?? ""] }
}

/// An API resource: group, version, plural name and kind, and the URL paths that serve it.
public struct ResourceDescriptor: Hashable, Sendable, CustomStringConvertible {
    /// The API group; empty for the core group (`/api/v1`).
    public var group: String
    public var version: String
    public var plural: String
    public var kind: String
    public var namespaced: Bool

    public init(group: String, version: String, plural: String, kind: String, namespaced: Bool = true) {
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
    }

    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    /// `/api/v1` or `/apis/<group>/<version>`.
    public var groupPath: String { group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)" }

    /// The collection path, cluster-wide or in one namespace.
    public func collectionPath(namespace: String? = nil) -> String {
        if let namespace, namespaced { return "\(groupPath)/namespaces/\(namespace)/\(plural)" }
        return "\(groupPath)/\(plural)"
    }

    /// A bounded label value for the agent's own metrics (`resource="pods"`).
    public var description: String { plural }
}
