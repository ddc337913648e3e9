import AgentTestSupport
import KubernetesAPI
import KubernetesModels
import LocalServers
import Logging
import Testing

@Suite("Leader election on a Lease")
struct LeaderElectionTests {
    /// Short timings; `scale` stretches them for the tests that run in real time on a busy machine.
    static func settings(_ identity: String, scale: Double = 1) -> LeaderElectionSettings {
        var settings = LeaderElectionSettings(namespace: "fathom", leaseName: "fathom-leader", identity: identity)
        settings.leaseDurationSeconds = 1 * scale
        settings.renewDeadlineSeconds = 0.8 * scale
        settings.retryPeriodSeconds = 0.1 * scale
        return settings
    }

    @Test("the state machine: create when absent, renew its own, wait on a live lease, take over an expired one")
    func stateMachine() throws {
        var a = LeaderElectionState(settings: Self.settings("a"))
        guard case .create(let created) = a.decide(current: nil, now: 100) else {
            Issue.record("an absent lease is created")
            return
        }
        #expect(created.spec.holderIdentity == "a" && created.spec.leaseTransitions == 0)
        a.succeeded(created, at: 100)
        #expect(a.isLeader(at: 100.5) && !a.isLeader(at: 100.9))
        guard case .update(let renewed) = a.decide(current: created, now: 100.5) else {
            Issue.record("the holder renews")
            return
        }
        #expect(renewed.spec.renewTime == LeaderElectionState.microTime(100.5))
        #expect(renewed.spec.acquireTime == created.spec.acquireTime)

        // b sees a's lease change at 200 (its own clock): it waits until a full lease duration
        // passed without a change, whatever the timestamps inside say.
        var b = LeaderElectionState(settings: Self.settings("b"))
        #expect(b.decide(current: created, now: 200) == .wait)
        #expect(b.decide(current: created, now: 200.9) == .wait)
        guard case .update(let taken) = b.decide(current: created, now: 201) else {
            Issue.record("an expired lease is taken over")
            return
        }
        #expect(taken.spec.holderIdentity == "b" && taken.spec.leaseTransitions == 1)
        // A released lease (empty holder) is taken at once.
        var c = LeaderElectionState(settings: Self.settings("c"))
        guard case .update(let fromReleased) = c.decide(current: a.released(renewed), now: 300) else {
            Issue.record("a released lease is taken at once")
            return
        }
        #expect(fromReleased.spec.holderIdentity == "c")
        #expect(LeaderElectionState.microTime(1_764_047_296.25) == "2025-11-25T05:08:16.250000Z")
    }

    struct NotAnUpdate: Error, CustomStringConvertible {
        var description: String
    }

    /// What `state` writes over `current` at `now`, which must be an update (`why` says whose).
    static func update(
        _ state: inout LeaderElectionState, current: Lease, at now: Double, _ why: String
    ) throws -> Lease {
        guard case .update(let lease) = state.decide(current: current, now: now) else {
            throw NotAnUpdate(description: why)
        }
        return lease
    }

    @Test("the note: a term inherits the Lease's note, keeps it until it sets its own, and hands its own on")
    func noteAcrossTerms() throws {
        let key = LeaderElectionState.noteAnnotation
        var a = LeaderElectionState(settings: Self.settings("a"))
        guard case .create(let created) = a.decide(current: nil, now: 100) else {
            Issue.record("an absent lease is created")
            return
        }
        a.succeeded(created, at: 100)
        #expect(a.term == 1 && a.inheritedNote == nil)
        // Renewals within the term do not start another one.
        let renewed = try Self.update(&a, current: created, at: 100.5, "the holder renews")
        a.succeeded(renewed, at: 100.5)
        #expect(a.term == 1)
        #expect(!a.noteUnwritten(at: 100.6))
        a.note = "e1 e2"
        #expect(a.noteUnwritten(at: 100.6))
        let withNote = try Self.update(&a, current: renewed, at: 100.7, "the holder renews")
        #expect(withNote.metadata.annotation(key) == "e1 e2")
        a.succeeded(withNote, at: 100.7)
        #expect(!a.noteUnwritten(at: 100.8))

        // b takes the released lease over: it inherits a's note and leaves it in place until it
        // sets its own, even though it has a note from an earlier term of its own.
        let released = a.released(withNote)
        #expect(released.metadata.annotation(key) == "e1 e2" && released.spec.holderIdentity == "")
        var b = LeaderElectionState(settings: Self.settings("b"))
        b.note = "stale"
        let taken = try Self.update(&b, current: released, at: 200, "a released lease is taken at once")
        #expect(taken.metadata.annotation(key) == "e1 e2")
        b.succeeded(taken, at: 200)
        #expect(b.term == 1 && b.inheritedNote == "e1 e2" && b.note == nil)
        let kept = try Self.update(&b, current: taken, at: 200.5, "the holder renews")
        #expect(kept.metadata.annotation(key) == "e1 e2")
        b.note = "e1 e2 e3"
        let own = try Self.update(&b, current: kept, at: 200.6, "the holder renews")
        #expect(own.metadata.annotation(key) == "e1 e2 e3")
        b.succeeded(own, at: 200.6)
        // b lapses (no renewal within the deadline) and renews later: that is a new term.
        let again = try Self.update(&b, current: own, at: 205, "the holder renews")
        b.succeeded(again, at: 205)
        #expect(b.term == 2 && b.inheritedNote == "e1 e2 e3")
    }

    @Test("two candidates against the API: one leader at a time; the other takes over when it stops")
    func twoCandidates() async throws {
        let api = try await FakeKubernetesAPI.start()
        let client = try KubernetesClient(connection: api.connection)
        var logger = Logger(label: "election")
        logger.logLevel = .critical
        // A 20 s lease (retries every 2 s): a loaded machine's delays are far shorter than its
        // expiry, so a takeover before it can only come from the release.
        let a = LeaseElector(client: client, settings: Self.settings("pod-a", scale: 20), logger: logger)
        let b = LeaseElector(client: client, settings: Self.settings("pod-b", scale: 20), logger: logger)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await a.run() }
            #expect(await eventually { a.isLeader })
            let reads = api.requestCounts["get leases", default: 0]
            group.addTask { await b.run() }
            // b keeps waiting while a renews: both have read the Lease twice more since b began.
            #expect(await eventually { api.requestCounts["get leases", default: 0] >= reads + 4 })
            #expect(a.isLeader && !b.isLeader)
            // a hands the lease back on shutdown: b leads well before a lease duration (20 s).
            await a.release()
            #expect(await eventually(within: 15) { b.isLeader })
            let lease = try? await client.get(Lease.self, namespace: "fathom", name: "fathom-leader")
            #expect(lease?.spec.holderIdentity == "pod-b")
            #expect((lease?.spec.leaseTransitions ?? 0) >= 1)
            group.cancelAll()
        }
        #expect(api.requestCounts["create leases"] == 1)
        // At least one renewal by a, and b's takeover.
        #expect((api.requestCounts["update leases"] ?? 0) >= 2)
        try await client.shutdown()
        try await api.shutdown()
    }
}
