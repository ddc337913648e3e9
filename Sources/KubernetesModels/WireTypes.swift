/// A page of a LIST response: items plus the list's `resourceVersion` and `continue` token.
public struct ObjectList<Object: KubernetesObject>: Decodable, Sendable {
    public var items: [Object]
    public var resourceVersion: String
    /// Non-empty when more pages follow.
    public var continueToken: String?

    private enum CodingKeys: String, CodingKey { case items, metadata }
    private enum MetaKeys: String, CodingKey {
        case resourceVersion
        case continueToken = "continue"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        items = try container.decodeIfPresent([Object].self, forKey: .items) ?? []
        let meta = try container.nestedContainer(keyedBy: MetaKeys.self, forKey: .metadata)
        resourceVersion = try meta.decodeIfPresent(String.self, forKey: .resourceVersion) ?? ""
        continueToken = try meta.decodeIfPresent(String.self, forKey: .continueToken).flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// One event of a WATCH stream.
public enum WatchEvent<Object: KubernetesObject>: Sendable {
    case added(Object)
    case modified(Object)
    case deleted(Object)
    /// Progress marker: nothing changed up to this resource version.
    case bookmark(resourceVersion: String)
    /// The server ended the watch with a status (410 Gone when the version is too old).
    case error(APIStatus)
}

extension WatchEvent: Decodable {
    private enum CodingKeys: String, CodingKey { case type, object }
    private struct BookmarkObject: Decodable {
        struct Meta: Decodable { var resourceVersion: String? }
        var metadata: Meta
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "ADDED": self = .added(try container.decode(Object.self, forKey: .object))
        case "MODIFIED": self = .modified(try container.decode(Object.self, forKey: .object))
        case "DELETED": self = .deleted(try container.decode(Object.self, forKey: .object))
        case "BOOKMARK":
            let object = try container.decode(BookmarkObject.self, forKey: .object)
            self = .bookmark(resourceVersion: object.metadata.resourceVersion ?? "")
        case "ERROR": self = .error(try container.decode(APIStatus.self, forKey: .object))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container, debugDescription: "unknown watch event type \(type)")
        }
    }
}

/// The API server's `Status` object, returned with errors.
public struct APIStatus: Codable, Sendable, Equatable {
    public var code: Int?
    public var reason: String?
    public var message: String?

    public init(code: Int?, reason: String?, message: String?) {
        self.code = code
        self.reason = reason
        self.message = message
    }
}

/// Label and field selectors for LIST and WATCH (`app=web`, `spec.nodeName=node-1`).
public struct Selectors: Sendable, Equatable {
    public var label: String?
    public var field: String?

    public init(label: String? = nil, field: String? = nil) {
        self.label = label
        self.field = field
    }

    public static let none = Selectors()
}
