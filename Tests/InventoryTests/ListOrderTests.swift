import FathomModel
import Inventory
import KubernetesModels
import Testing

/// The agent lists its six resources concurrently, so their first lists complete in any order;
/// an agent also starts (or a leader takes over) at rest or in the middle of a rollout. Every
/// recorded scenario is replayed in every order of first lists, from the start and resumed at
/// rest and mid-rollout: the transitions never depend on the order, none is invented, and a
/// rollout taken up after a start knows where it came from.
@Suite struct ListOrderTests {
    static let scenarios = [
        "deployment-rolling-update", "deployment-failed-deadline", "deployment-undo-after-failure",
        "deployment-scale-and-pause", "deployment-non-template-edit", "statefulset-rolling-update",
        "statefulset-partitioned-update", "daemonset-rolling-update", "evictions",
    ]

    /// Every order of the six resources' first lists (720).
    static let orders: [[String]] = permutations(Replay.canonicalOrder)

    static func permutations(_ items: [String]) -> [[String]] {
        guard let first = items.first else { return [[]] }
        return permutations(Array(items.dropFirst())).flatMap { rest in
            (0...rest.count).map { index in
                var order = rest
                order.insert(first, at: index)
                return order
            }
        }
    }

    /// An event as everything it says, its identity included.
    static func line(_ event: RolloutEvent) -> String {
        "\(event.identity) \(event.description) from \(event.startedAt.map { "\($0)" } ?? "-") at \(event.at)"
    }

    @Test(arguments: scenarios)
    func theTransitionsAreTheSameWhateverOrderTheFirstListsCompleteIn(_ scenario: String) throws {
        let recording = try Replay.load(scenario)
        #expect(Self.orders.count == 720)
        let canonical = Replay.run(recording).events.map(Self.line)
        for order in Self.orders {
            let events = Replay.run(recording, order: order).events.map(Self.line)
            #expect(events == canonical, "lists in the order \(order)")
            if events != canonical { break }
        }
    }

    /// Each transition has an identity of its own (progress repeats counts; a handover must not
    /// merge two transitions), and progress is reported only when a count moved.
    @Test(arguments: scenarios)
    func eachTransitionHasItsOwnIdentityAndProgressMeansACountMoved(_ scenario: String) throws {
        let events = try Replay.run(scenario).events
        #expect(Set(events.map(\.identity)).count == events.count, "\(events.map(\.description))")
        var last: [WorkloadRef: [Int]] = [:]
        for event in events {
            let counts = [event.updatedReplicas, event.readyReplicas, event.availableReplicas]
            if event.kind == .progressed {
                #expect(last[event.workload] != counts, "a progress without a count moving: \(event)")
            }
            last[event.workload] = counts
        }
    }

    /// An agent started at any moment of a recording, whatever order its lists complete in,
    /// reports only transitions the agent that watched throughout reported too (by identity),
    /// never a start it did not see, and a rollout it takes up carries its from-revision.
    @Test(arguments: scenarios)
    func anAgentStartedAtAnyMomentInventsNothing(_ scenario: String) throws {
        let recording = try Replay.load(scenario)
        let full = Replay.run(recording).events
        let times = Array(Set(recording.steps.map(\.seconds))).sorted()
        // Before anything happens (at rest), and between each two arrivals.
        let restarts = [0.0] + zip(times, times.dropFirst()).map { ($0 + $1) / 2 }
        // Every order at rest and mid-way; a sample of orders at every other moment.
        let middle = restarts[restarts.count / 2]
        for restart in restarts {
            let orders =
                restart == 0 || restart == middle
                ? Self.orders
                : Self.orders.enumerated().filter {
                    $0.offset % 97 == 0
                }.map(\.element)
            let later = Set(full.filter { $0.at > restart }.map(\.identity))
            for order in orders {
                let resumed = Replay.resumed(recording, restartAt: restart, order: order).events
                let invented = resumed.filter { !later.contains($0.identity) }
                #expect(invented.isEmpty, "restarted at \(restart) s, lists \(order): \(invented.map(Self.line))")
                for event in resumed where event.kind == .completed || event.kind == .progressed {
                    #expect(event.fromRevision != nil, "no from-revision after a restart at \(restart) s: \(event)")
                }
                if !invented.isEmpty { return }
            }
        }
    }

    /// Each pod's revision, and a Deployment's ReplicaSet named as outbound traffic names its
    /// destination, are the same whatever order an agent's first lists complete in, at rest or
    /// mid-rollout, and the same as an agent that watched all along knows them.
    @Test(arguments: ["deployment-rolling-update", "statefulset-rolling-update", "daemonset-rolling-update"])
    func everyPodsRevisionIsTheSameWhateverOrderTheFirstListsCompleteIn(_ scenario: String) throws {
        let recording = try Replay.load(scenario)
        let times = Array(Set(recording.steps.map(\.seconds))).sorted()
        let restarts = zip(times, times.dropFirst()).map { ($0 + $1) / 2 }
        func revisions(_ inventory: ClusterInventory) -> [String: String] {
            var named: [String: String] = [:]
            for pod in inventory.pods.values {
                let workload = inventory.workload(of: pod)
                named["\(pod.key)"] = inventory.revision(of: pod, in: workload) ?? "none"
                if workload.kind == "Deployment", let hash = pod.templateHash {
                    named["\(pod.key) as a destination"] =
                        inventory.revision(ofReplicaSet: workload.name + "-" + hash, namespace: pod.key.namespace)
                        ?? "none"
                }
            }
            return named
        }
        var midRollout = 0
        for restart in restarts {
            let watched = revisions(Replay.run(recording, through: restart).inventory)
            if Set(watched.values).count > 1 { midRollout += 1 }
            let orders =
                restart == restarts[restarts.count / 2]
                ? Self.orders : Self.orders.enumerated().filter { $0.offset % 97 == 0 }.map(\.element)
            for order in orders {
                let listed = revisions(Replay.listed(recording, at: restart, order: order).inventory)
                #expect(listed == watched, "restarted at \(restart) s, lists \(order)")
                if listed != watched { return }
            }
        }
        // The recording has moments when two revisions run side by side.
        #expect(midRollout > 0)
    }
}
