/// What makes one kind of object that has a spec and a status: where the API serves it, its
/// spec and status types, and the fields a field selector may name. The kind's object is
/// `KubernetesResource<Definition>`, so every such kind shares one shape and one decoder.
public protocol ResourceDefinition: Sendable {
    associatedtype Spec: Codable, Sendable, Equatable
    associatedtype Status: Codable, Sendable, Equatable
    /// Where the API serves this kind and whether it is namespaced.
    static var resource: ResourceDescriptor { get }
    /// The status of an object no controller has written to yet (the API then omits it).
    static var emptyStatus: Status { get }
    /// Fields a field selector may name (by default `metadata.name` and `metadata.namespace`).
    static func selectableFields(of object: KubernetesResource<Self>) -> [String: String]
}

extension ResourceDefinition {
    public static func selectableFields(of object: KubernetesResource<Self>) -> [String: String] {
        object.metadata.selectableFields
    }
}

/// An object of a kind with a spec and a status (a Deployment, a Pod, ...), as the API serves
/// it: its metadata, the spec its owner asked for and the status its controller reports.
public struct KubernetesResource<Definition: ResourceDefinition>: KubernetesObject, Equatable {
    public typealias Spec = Definition.Spec
    public typealias Status = Definition.Status

    public static var resource: ResourceDescriptor { Definition.resource }

    public var metadata: ObjectMeta
    public var spec: Spec
    public var status: Status

    public init(metadata: ObjectMeta, spec: Spec, status: Status = Definition.emptyStatus) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    private enum CodingKeys: String, CodingKey { case metadata, spec, status }

    /// A missing status is the kind's empty one: a custom resource has none until its controller
    /// first writes it (a Rollout just created).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
        spec = try container.decode(Spec.self, forKey: .spec)
        status = try container.decodeIfPresent(Status.self, forKey: .status) ?? Definition.emptyStatus
    }

    public var selectableFields: [String: String] { Definition.selectableFields(of: self) }
}
