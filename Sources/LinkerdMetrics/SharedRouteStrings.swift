import FathomModel
import Synchronization

/// One copy of each route string (targets, route names, peers, their identities and ReplicaSets) for all the decoders of the
/// process. The proxies of one workload report the same routes, and a thousand decoders each
/// holding their own copies of the same strings cost about 8 MB in the fleet benchmark. Only a
/// route's first sighting takes the lock.
enum SharedRouteStrings {
    /// Distinct strings kept. Past this the set starts over: strings already shared stay shared,
    /// and memory stays bounded whatever the proxies invent.
    static let limit = 50_000
    private static let strings = Mutex<Set<String>>([])

    /// `identity` with its strings replaced by the shared copies.
    static func interned(_ identity: RouteIdentity) -> RouteIdentity {
        strings.withLock { strings in
            if strings.count >= limit { strings.removeAll() }
            var shared = identity
            shared.target = share(identity.target, &strings)
            shared.route = share(identity.route, &strings)
            shared.peer = share(identity.peer, &strings)
            shared.peerIdentity = share(identity.peerIdentity, &strings)
            shared.peerReplicaSet = share(identity.peerReplicaSet, &strings)
            return shared
        }
    }

    private static func share(_ string: String, _ strings: inout Set<String>) -> String {
        // Up to 15 bytes of UTF-8 are stored inside the String value itself: nothing to share.
        guard string.utf8.count > 15 else { return string }
        return strings.insert(string).memberAfterInsert
    }
}
