import AsyncSignals
import Foundation
import KubernetesModels
import LogWhenChanged
import Logging
import Synchronization

/// Leader election on a Lease, for the agent's pods in daemonset mode: every candidate runs one;
/// at most one leads at a time, and another takes over when the leader stops renewing (or hands
/// the lease back on shutdown).
public final class LeaseElector: Sendable {
    private let client: KubernetesClient
    private let state: Mutex<LeaderElectionState>
    private let now: @Sendable () -> Double
    private let logger: Logger
    private let stopped = Mutex(false)
    /// True while a round (read, decide, write) is in flight; release waits for it to end.
    private let inRound = Mutex(false)
    /// Rung by `publish(note:)`: the campaign writes the note now, not after its retry period.
    private let noteSet = Doorbell()
    /// Rung when a round ends, for a release waiting on one in flight.
    private let roundEnded = Doorbell()

    public init(
        client: KubernetesClient, settings: LeaderElectionSettings, logger: Logger,
        now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) {
        self.client = client
        self.state = Mutex(LeaderElectionState(settings: settings))
        self.now = now
        var logger = logger
        logger[metadataKey: "lease"] = "\(settings.namespace)/\(settings.leaseName)"
        self.logger = logger
    }

    /// The Lease, the identity and the timings.
    public var settings: LeaderElectionSettings { state.withLock { $0.settings } }

    /// Whether this candidate leads now.
    public var isLeader: Bool {
        let time = now()
        return state.withLock { $0.isLeader(at: time) }
    }

    /// Whether this candidate leads now, which term it is in (it grows each time the candidate
    /// starts leading), and the note the Lease held when that term began.
    public var leadership: (leading: Bool, term: Int, inheritedNote: String?) {
        let time = now()
        return state.withLock { ($0.isLeader(at: time), $0.term, $0.inheritedNote) }
    }

    /// Sets the note this leader leaves in the Lease for its successor, written at once by the
    /// campaign's loop (not on the caller's task: a slow API server does not hold up a window)
    /// and with every renewal and the release after it.
    public func publish(note: String) {
        let time = now()
        let changed = state.withLock { state -> Bool in
            guard state.isLeader(at: time), state.note != note else { return false }
            state.note = note
            return true
        }
        if changed { noteSet.ring() }
    }

    /// Tries to acquire or renew every retry period until cancelled or released.
    public func run() async {
        let settings = self.settings
        var leading = LoggedState(false)
        var noteRetried = false
        while !Task.isCancelled {
            guard await round() else { break }
            if let change = leading.record(isLeader) {
                logger.info(change.to ? "became the leader" : "no longer the leader")
            }
            // A note set while a round was in flight may have missed it: write it now, once (a
            // failing API server waits for the retry period like any other round).
            let time = now()
            if !noteRetried && state.withLock({ $0.noteUnwritten(at: time) }) {
                noteRetried = true
                continue
            }
            noteRetried = false
            // The retry period, or less when a note is set meanwhile.
            await noteSet.wait(upTo: settings.retryPeriodSeconds)
        }
    }

    /// One attempt to acquire or renew: read the Lease, decide, write. False once campaigning
    /// stopped or the task was cancelled; a round already in flight makes this one a no-op.
    private func round() async -> Bool {
        let settings = self.settings
        enum Start { case go, busy, stop }
        let start = inRound.withLock { busy -> Start in
            if stopped.withLock({ $0 }) { return .stop }
            if busy { return .busy }
            busy = true
            return .go
        }
        switch start {
        case .stop: return false
        case .busy: return true
        case .go: break
        }
        defer {
            inRound.withLock { $0 = false }
            roundEnded.ring()
        }
        do {
            let current = try await client.get(Lease.self, namespace: settings.namespace, name: settings.leaseName)
            let action = state.withLock { $0.decide(current: current, now: now()) }
            var written: Lease?
            switch action {
            case .create(let lease): written = try await client.create(lease, namespace: settings.namespace)
            case .update(let lease): written = try await client.replace(lease, namespace: settings.namespace)
            case .wait: written = nil
            }
            if let written {
                let time = now()
                state.withLock { $0.succeeded(written, at: time) }
            }
        } catch is CancellationError {
            return false
        } catch {
            // A conflict means another candidate wrote first; anything else is retried too.
            logger.debug("lease not acquired or renewed", metadata: ["error": "\(error)"])
        }
        return true
    }

    /// Stops campaigning and, when leading, hands the lease back so another candidate takes over
    /// at once (called on shutdown, before the elector's task is cancelled).
    public func release() async {
        stopped.withLock { $0 = true }
        // A renewal in flight would otherwise land after the release and keep the lease. (Its
        // requests time out within 10 s; past 5 s the release goes ahead.)
        let deadline = ContinuousClock.now + .seconds(5)
        while inRound.withLock({ $0 }), ContinuousClock.now < deadline {
            // A ring left from an earlier round returns at once; the loop asks again.
            await roundEnded.wait(upTo: 0.5)
        }
        let settings = self.settings
        do {
            guard
                let current = try await client.get(Lease.self, namespace: settings.namespace, name: settings.leaseName),
                current.spec.holderIdentity == settings.identity
            else { return }
            let released = state.withLock { $0.released(current) }
            _ = try await client.replace(released, namespace: settings.namespace)
            logger.info("lease released")
        } catch {
            logger.warning("could not release the lease; it expires on its own", metadata: ["error": "\(error)"])
        }
    }
}
