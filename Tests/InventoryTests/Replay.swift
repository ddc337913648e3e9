import AgentTestSupport
import FathomModel
import Foundation
import Inventory
import KubernetesModels

/// Plays a recorded scenario through what discovery runs: each resource's reflector state (its
/// list, then its watch events), the inventory and the rollout tracker. Events of all resources
/// are applied in the order the API server made the changes (their resource versions, which are
/// comparable within one recording), each at the time it arrived.
struct Replay {
    var inventory = ClusterInventory()
    /// Rollout events of the watch, in order (the lists give none: the agent was not watching).
    var events: [RolloutEvent] = []

    static let resources: [any KubernetesObject.Type] = [
        ControllerRevision.self, ReplicaSet.self, Deployment.self, StatefulSet.self, DaemonSet.self, Pod.self,
    ]

    /// One watch line, ready to apply.
    struct Step {
        var resourceVersion: Int
        var seconds: Double
        var apply: (inout ClusterInventory, Double) -> [RolloutEvent]
    }

    /// What a new agent does with a resource: list what exists now.
    protocol Relisting: AnyObject {
        func relist(into inventory: inout ClusterInventory, at time: Double) -> [RolloutEvent]
    }

    /// A resource's reflector state and its objects as they are now, kept across its steps.
    final class Reflected<Object: KubernetesObject>: Relisting {
        var state = ReflectorState<Object>()
        var objects: [ObjectKey: Object] = [:]

        func relist(into inventory: inout ClusterInventory, at time: Double) -> [RolloutEvent] {
            state = ReflectorState<Object>()
            state.beginList()
            var deltas = state.addListPage(objects.values.sorted { $0.metadata.key < $1.metadata.key })
            deltas += state.finishList(resourceVersion: "")
            return inventory.apply(deltas, at: time, listed: true)
        }
    }

    /// A recording, decoded once: each resource's first list (to apply in any order) and the
    /// watch steps of all resources in the order the API server made them.
    struct Recording {
        /// Each list applied returns the events it caused, as discovery keeps them: none, unless
        /// a list completing after another names a revision anew.
        var lists: [(resource: String, apply: (inout ClusterInventory) -> [RolloutEvent])] = []
        var steps: [Step] = []
        var boxes: [any Relisting] = []
    }

    /// The order the first lists complete in when none is given.
    static let canonicalOrder = resources.map { $0.resource.plural }

    /// The recording played from its start; its first lists complete in `order` (resource
    /// plurals; the agent lists them concurrently, so any order happens).
    static func run(_ scenario: String, through seconds: Double = .infinity, order: [String]? = nil) throws -> Replay {
        run(try load(scenario), through: seconds, order: order)
    }

    static func run(_ recording: Recording, through seconds: Double = .infinity, order: [String]? = nil) -> Replay {
        var replay = Replay()
        for list in ordered(recording.lists, order) { replay.events += list.apply(&replay.inventory) }
        for step in recording.steps where step.seconds <= seconds {
            replay.events += step.apply(&replay.inventory, step.seconds)
        }
        return replay
    }

    /// The recording as an agent started at `restart` sees it: it lists what exists then (into a
    /// new inventory, the lists completing in `order`), then follows the rest. Returns only the
    /// new agent's events.
    static func resumed(_ scenario: String, restartAt restart: Double, order: [String]? = nil) throws -> Replay {
        resumed(try load(scenario), restartAt: restart, order: order)
    }

    static func resumed(_ recording: Recording, restartAt restart: Double, order: [String]? = nil) -> Replay {
        var replay = listed(recording, at: restart, order: order)
        for step in recording.steps where step.seconds > restart {
            replay.events += step.apply(&replay.inventory, step.seconds)
        }
        return replay
    }

    /// What an agent started at `restart` knows once its first lists completed in `order`,
    /// before it follows any watch.
    static func listed(_ recording: Recording, at restart: Double, order: [String]? = nil) -> Replay {
        var first = ClusterInventory()
        for list in recording.lists { _ = list.apply(&first) }
        for step in recording.steps where step.seconds <= restart { _ = step.apply(&first, step.seconds) }
        var replay = Replay()
        let boxes = Dictionary(uniqueKeysWithValues: zip(recording.lists.map(\.resource), recording.boxes))
        for resource in order ?? canonicalOrder {
            replay.events += boxes[resource]?.relist(into: &replay.inventory, at: restart) ?? []
        }
        return replay
    }

    private static func ordered<Element>(_ lists: [(resource: String, apply: Element)], _ order: [String]?) -> [(
        resource: String, apply: Element
    )] {
        guard let order else { return lists }
        return order.compactMap { resource in lists.first { $0.resource == resource } }
    }

    static func load(_ scenario: String) throws -> Recording {
        var recording = Recording()
        for resource in resources {
            try load(resource, scenario, into: &recording)
        }
        recording.steps.sort { $0.resourceVersion < $1.resourceVersion }
        return recording
    }

    /// Decodes the resource's list and its watch lines as steps.
    private static func load<Object: KubernetesObject>(
        _ type: Object.Type, _ scenario: String, into recording: inout Recording
    ) throws {
        let stream = try KubernetesRecordings.stream(scenario, Object.resource.plural)
        let list = try JSONDecoder().decode(ObjectList<Object>.self, from: stream.list)
        let reflected = Reflected<Object>()
        recording.boxes.append(reflected)
        recording.lists.append(
            (
                Object.resource.plural,
                { inventory in
                    // A run starts from the list: the reflector as new, the objects as listed.
                    reflected.state = ReflectorState<Object>()
                    reflected.objects = Dictionary(uniqueKeysWithValues: list.items.map { ($0.metadata.key, $0) })
                    reflected.state.beginList()
                    var deltas = reflected.state.addListPage(list.items)
                    deltas += reflected.state.finishList(resourceVersion: list.resourceVersion)
                    return inventory.apply(deltas, at: 0, listed: true)
                }
            ))
        recording.steps += try stream.events.map { line, seconds in
            let event = try JSONDecoder().decode(WatchEvent<Object>.self, from: line)
            let version: String?
            switch event {
            case .added(let object), .modified(let object), .deleted(let object):
                version = object.metadata.resourceVersion
            case .bookmark(let resourceVersion): version = resourceVersion
            case .error: version = nil
            }
            return Step(resourceVersion: Int(version ?? "") ?? 0, seconds: seconds) { inventory, time in
                switch event {
                case .added(let object), .modified(let object): reflected.objects[object.metadata.key] = object
                case .deleted(let object): reflected.objects[object.metadata.key] = nil
                default: break
                }
                guard case .deltas(let deltas) = reflected.state.apply(event) else { return [] }
                return inventory.apply(deltas, at: time)
            }
        }
    }

    /// The events as one line each: `kind from→to updated/available/desired`.
    var timeline: [String] {
        events.map { event in
            "\(event.workload.name) \(event.kind.rawValue) \(event.fromRevision ?? "-")→\(event.toRevision) "
                + "\(event.updatedReplicas)/\(event.availableReplicas)/\(event.desiredReplicas)"
        }
    }
}
