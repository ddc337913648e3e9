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
        func relist(into inventory: inout ClusterInventory, at time: Double)
    }

    /// A resource's reflector state and its objects as they are now, kept across its steps.
    final class Reflected<Object: KubernetesObject>: Relisting {
        var state = ReflectorState<Object>()
        var objects: [ObjectKey: Object] = [:]

        func relist(into inventory: inout ClusterInventory, at time: Double) {
            state = ReflectorState<Object>()
            state.beginList()
            var deltas = state.addListPage(objects.values.sorted { $0.metadata.key < $1.metadata.key })
            deltas += state.finishList(resourceVersion: "")
            _ = inventory.apply(deltas, at: time, listed: true)
        }
    }

    static func run(_ scenario: String, through seconds: Double = .infinity) throws -> Replay {
        var replay = Replay()
        var boxes: [any Relisting] = []
        let steps = try load(scenario, into: &replay.inventory, boxes: &boxes)
        for step in steps where step.seconds <= seconds {
            replay.events += step.apply(&replay.inventory, step.seconds)
        }
        return replay
    }

    /// The recording as an agent started at `restart` sees it: it lists what exists then (into a
    /// new inventory), then follows the rest. Returns only the new agent's events.
    static func resumed(_ scenario: String, restartAt restart: Double) throws -> Replay {
        var first = ClusterInventory()
        var boxes: [any Relisting] = []
        let steps = try load(scenario, into: &first, boxes: &boxes)
        for step in steps where step.seconds <= restart { _ = step.apply(&first, step.seconds) }
        var replay = Replay()
        for box in boxes { box.relist(into: &replay.inventory, at: restart) }
        for step in steps where step.seconds > restart {
            replay.events += step.apply(&replay.inventory, step.seconds)
        }
        return replay
    }

    private static func load(
        _ scenario: String, into inventory: inout ClusterInventory, boxes: inout [any Relisting]
    ) throws -> [Step] {
        var steps: [Step] = []
        for resource in resources {
            steps += try load(resource, scenario, into: &inventory, boxes: &boxes)
        }
        return steps.sorted { $0.resourceVersion < $1.resourceVersion }
    }

    /// Lists the resource into the inventory and returns its watch lines as steps.
    private static func load<Object: KubernetesObject>(
        _ type: Object.Type, _ scenario: String, into inventory: inout ClusterInventory,
        boxes: inout [any Relisting]
    ) throws -> [Step] {
        let stream = try KubernetesRecordings.stream(scenario, Object.resource.plural)
        let list = try JSONDecoder().decode(ObjectList<Object>.self, from: stream.list)
        let reflected = Reflected<Object>()
        boxes.append(reflected)
        for item in list.items { reflected.objects[item.metadata.key] = item }
        reflected.state.beginList()
        var deltas = reflected.state.addListPage(list.items)
        deltas += reflected.state.finishList(resourceVersion: list.resourceVersion)
        _ = inventory.apply(deltas, at: 0, listed: true)
        return try stream.events.map { line, seconds in
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
