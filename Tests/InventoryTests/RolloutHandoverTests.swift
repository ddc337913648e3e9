import FathomModel
import Inventory
import Testing

/// Rollout events across a change of leader, on recorded controller traffic: two agents see the
/// same watch events; the leader reports at each window's close; at some moment it stops (or
/// dies) and the other takes over. Whatever the moment, the events reported by the two together
/// are the events one agent alone reports, in order, each once.
@Suite("Rollout events across a change of leader")
struct RolloutHandoverTests {
    static let window = 10.0
    static let retention = 2 * (15 + window) + 60

    /// How the first leader's term ends at `end`, and after how long the other leads.
    enum Ending {
        /// It stops: its last window closes at `end` and it hands the Lease back.
        case stops
        /// It dies at `end`: what it saw since its last window is never reported; the other
        /// takes the Lease over when it runs out, `lease` seconds later.
        case dies(lease: Double)
    }

    /// What the two agents report between them, with the first leader's term ending at `end`.
    static func reported(_ events: [RolloutEvent], endingAt end: Double, _ ending: Ending) -> [RolloutEvent] {
        var first = RolloutHandover(retention: retention)
        var second = RolloutHandover(retention: retention)
        first.adopt(nil, at: 0)
        var note = ""
        var reported: [RolloutEvent] = []
        let takeover: Double
        switch ending {
        case .stops: takeover = end
        case .dies(let lease): takeover = end + lease
        }
        var secondLeads = false
        let last = (events.map(\.at).max() ?? 0) + 3 * window
        var close = window
        var lastClose = 0.0
        while close <= last {
            let seen = events.filter { $0.at > lastClose && $0.at <= close }
            if close <= end {
                reported += first.lead(seen, at: close)
                note = first.annotationValue()
            } else if lastClose < end, case .stops = ending {
                // The stopping leader's last, partial window.
                reported += first.lead(events.filter { $0.at > lastClose && $0.at <= end }, at: end)
                note = first.annotationValue()
            }
            if close < takeover {
                second.follow(seen, at: close)
            } else {
                if !secondLeads {
                    second.adopt(note, at: close)
                    secondLeads = true
                }
                reported += second.lead(seen, at: close)
            }
            lastClose = close
            close += window
        }
        return reported
    }

    static let scenarios = [
        "deployment-rolling-update", "deployment-undo-after-failure", "statefulset-rolling-update",
        "daemonset-rolling-update",
    ]

    @Test(arguments: scenarios)
    func noEventIsLostOrRepeatedWhicheverMomentTheLeaderStopsOrDies(_ scenario: String) throws {
        let alone = try Replay.run(scenario).events
        try #require(alone.count >= 3, "the scenario rolls out")
        let span = (alone.map(\.at).max() ?? 0) + Self.window
        var moment = 0.5
        while moment <= span {
            for ending in [Ending.stops, .dies(lease: 15), .dies(lease: 17)] {
                let together = Self.reported(alone, endingAt: moment, ending)
                #expect(
                    together.map(\.description) == alone.map(\.description),
                    "\(scenario), leader ends at \(moment) (\(ending))")
            }
            moment += 0.5
        }
    }

    /// Without the handover (the follower drops what it sees, as before), a leader dying
    /// mid-window loses events: the property above is not vacuous.
    @Test func droppingWhatAFollowerSawLosesTheDeadLeadersLastWindow() throws {
        let alone = try Replay.run("deployment-rolling-update").events
        let end = try #require(alone.first).at + 0.1
        var first = RolloutHandover(retention: Self.retention)
        first.adopt(nil, at: 0)
        let closedBefore = (end / Self.window).rounded(.down) * Self.window
        let byFirst = first.lead(alone.filter { $0.at <= closedBefore }, at: closedBefore)
        let bySecond = alone.filter { $0.at > end + 15 }
        #expect(byFirst.count + bySecond.count < alone.count)
        #expect(Self.reported(alone, endingAt: end, .dies(lease: 15)).count == alone.count)
    }

    /// A transition of the recorded rolling update.
    static func sample(_ kind: RolloutEvent.Kind) throws -> RolloutEvent {
        try #require(try Replay.run("deployment-rolling-update").events.first { $0.kind == kind })
    }

    @Test func aRepeatedTransitionIsReportedAsOftenAsItWasSeenLessAsOftenAsItWasReported() throws {
        let event = try Self.sample(.progressed)
        var follower = RolloutHandover(retention: 100)
        follower.follow([event, event, event], at: 2)
        follower.adopt("\(event.identity) \(event.identity)", at: 3)
        #expect(follower.lead([], at: 3).count == 1)
        #expect(follower.annotationValue().split(separator: " ").count == 3)
        // Its own repeats are its to report.
        #expect(follower.lead([event, event], at: 4).count == 2)
    }

    @Test func keptEventsAndInheritedIdentitiesLastTheRetentionOnly() throws {
        let event = try Self.sample(.started)
        var follower = RolloutHandover(retention: 100)
        follower.follow([event], at: 1)
        follower.follow([], at: 102)
        #expect(follower.keptCount == 0)
        follower.adopt(event.identity, at: 200)
        // Still inherited at 299: the same transition seen now was the earlier leader's.
        #expect(follower.lead([event], at: 299).isEmpty)
        follower.adopt(event.identity, at: 300)
        #expect(follower.lead([event], at: 401).count == 1)
        // The published list is bounded.
        var busy = RolloutHandover(retention: 100, maxPublished: 3)
        busy.adopt(nil, at: 0)
        _ = busy.lead(
            (0..<5).map {
                var e = event
                e.toRevision = "\($0)"
                return e
            }, at: 1)
        #expect(busy.annotationValue().split(separator: " ").count == 3)
    }

    @Test func identitiesIgnoreTheClockAndTellDifferentTransitionsApart() throws {
        var event = try Self.sample(.progressed)
        let identity = event.identity
        #expect(identity.count == 16 && identity.allSatisfy { $0.isHexDigit })
        event.at = 99
        event.startedAt = 50
        #expect(event.identity == identity)
        // Progress is named by the object version whose status made it: the same counts seen
        // again later are another transition.
        #expect(event.objectVersion != nil)
        event.objectVersion = "999999"
        #expect(event.identity != identity)
        // A start is the same start whatever the counts when it was seen.
        var started = event
        started.kind = .started
        let start = started.identity
        started.updatedReplicas = 3
        #expect(started.identity == start)
    }
}
