/// What a consumer of a reflector sees: an object as it now is, or an object gone.
public enum ReflectorDelta<Object: KubernetesObject>: Sendable {
    case upserted(Object)
    /// `last` is the object's final state when the API sent it (a watch DELETED), nil when the
    /// deletion was inferred from a re-list.
    case deleted(ObjectKey, uid: String, last: Object?)
}

/// The pure part of a reflector (client-go's): which objects the consumer has been told about,
/// at which resource version, and the version to resume watching from.
///
/// It turns a full re-list into the difference from what was known, so a consumer never sees an
/// object twice at one version and never misses a deletion, whatever happened while the watch was
/// down. It keeps only key, uid and version per object: the consumer holds the objects.
public struct ReflectorState<Object: KubernetesObject>: Sendable {
    struct Known: Sendable, Equatable {
        var uid: String
        var resourceVersion: String
    }

    private(set) var known: [ObjectKey: Known] = [:]
    /// Keys seen by the list in progress.
    private var listed: [ObjectKey: Known]?
    /// Where the next watch resumes; nil until the first list.
    public private(set) var resourceVersion: String?

    public init() {}

    /// A state that assumes the consumer holds these objects (key and uid), at no particular
    /// version: the first list upserts what it finds and deletes the rest. A watch started again
    /// with another selector (a daemonset agent gaining or losing the lead) begins like this, so
    /// objects outside the new selection, or deleted meanwhile, leave the consumer.
    public init(assuming objects: [ObjectKey: String]) {
        known = objects.mapValues { Known(uid: $0, resourceVersion: "") }
    }

    public var count: Int { known.count }

    /// What a watch event means for the consumer.
    public enum EventOutcome: Sendable {
        case deltas([ReflectorDelta<Object>])
        /// 410 Gone: the resume version was compacted away; list again.
        case relist(APIStatus)
        /// Another error status from the server; back off and resume.
        case failed(APIStatus)
    }

    /// Starts a list. Pages are applied as they arrive, so only one page of decoded objects is in
    /// memory at a time; deletions are known only when the list is complete.
    public mutating func beginList() {
        listed = [:]
    }

    /// The upserts one page of the list in progress means for the consumer.
    public mutating func addListPage(_ items: [Object]) -> [ReflectorDelta<Object>] {
        var deltas: [ReflectorDelta<Object>] = []
        for item in items {
            let key = item.metadata.key
            let entry = Known(uid: item.metadata.uid, resourceVersion: item.metadata.resourceVersion ?? "")
            listed?[key] = entry
            switch known[key] {
            case let old? where old == entry:
                continue
            case let old? where old.uid != entry.uid:
                // Deleted and created again under the same name while we were not watching.
                deltas.append(.deleted(key, uid: old.uid, last: nil))
                deltas.append(.upserted(item))
            default:
                deltas.append(.upserted(item))
            }
            known[key] = entry
        }
        return deltas
    }

    /// Ends the list: what was known and is not in it was deleted meanwhile.
    public mutating func finishList(resourceVersion: String) -> [ReflectorDelta<Object>] {
        let current = listed ?? [:]
        var deltas: [ReflectorDelta<Object>] = []
        for (key, old) in known where current[key] == nil {
            deltas.append(.deleted(key, uid: old.uid, last: nil))
        }
        known = current
        listed = nil
        self.resourceVersion = resourceVersion
        return deltas
    }

    public mutating func apply(_ event: WatchEvent<Object>) -> EventOutcome {
        switch event {
        case .added(let object), .modified(let object):
            advance(to: object.metadata.resourceVersion)
            let key = object.metadata.key
            let entry = Known(uid: object.metadata.uid, resourceVersion: object.metadata.resourceVersion ?? "")
            let old = known[key]
            if old == entry { return .deltas([]) }
            known[key] = entry
            if let old, old.uid != entry.uid {
                return .deltas([.deleted(key, uid: old.uid, last: nil), .upserted(object)])
            }
            return .deltas([.upserted(object)])
        case .deleted(let object):
            advance(to: object.metadata.resourceVersion)
            let key = object.metadata.key
            guard let old = known[key], old.uid == object.metadata.uid else { return .deltas([]) }
            known[key] = nil
            return .deltas([.deleted(key, uid: old.uid, last: object)])
        case .bookmark(let version):
            advance(to: version)
            return .deltas([])
        case .error(let status):
            return status.code == 410 ? .relist(status) : .failed(status)
        }
    }

    /// The server is told to list from scratch after a 410; forget the resume point.
    public mutating func expire() {
        resourceVersion = nil
    }

    private mutating func advance(to version: String?) {
        if let version, !version.isEmpty { resourceVersion = version }
    }
}
