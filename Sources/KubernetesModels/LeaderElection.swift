import Foundation

/// How the agent's pods elect one leader through a Lease (client-go's defaults).
public struct LeaderElectionSettings: Sendable, Equatable {
    public var namespace: String
    public var leaseName: String
    /// This candidate's name in `holderIdentity` (the pod name).
    public var identity: String
    /// A lease not renewed for this long may be taken over.
    public var leaseDurationSeconds: Double = 15
    /// The leader steps down when it could not renew for this long.
    public var renewDeadlineSeconds: Double = 10
    /// Time between two attempts to acquire or renew.
    public var retryPeriodSeconds: Double = 2

    public init(namespace: String, leaseName: String, identity: String) {
        self.namespace = namespace
        self.leaseName = leaseName
        self.identity = identity
    }
}

/// The pure part of leader election: given the Lease as read and the local clock, what to write.
///
/// As in client-go, expiry is judged by when *this* candidate saw the lease record change (local
/// time), never by the timestamps inside it, so clock skew between nodes cannot steal a lease.
public struct LeaderElectionState: Sendable {
    /// The Lease annotation in which a leader leaves its successor a note: the identities of
    /// the rollout events it reported (see `RolloutHandover`).
    public static let noteAnnotation = "fathom.dev/reported-rollout-events"

    public let settings: LeaderElectionSettings
    private var observed: Lease.Spec?
    private var observedAt = 0.0
    private var lastRenewal: Double?
    /// Counts this candidate's terms: it grows each time the candidate starts leading.
    public private(set) var term = 0
    /// The note the Lease held when this term began: the previous leader's.
    public private(set) var inheritedNote: String?
    /// The note to write with each renewal; nil until this term's holder sets one, so the
    /// previous leader's note stays until the new one has adopted it.
    public var note: String?
    /// The note as last written.
    public private(set) var writtenNote: String?

    public init(settings: LeaderElectionSettings) {
        self.settings = settings
    }

    public enum Action: Sendable, Equatable {
        case create(Lease)
        case update(Lease)
        /// Another candidate holds a live lease.
        case wait
    }

    /// Whether this candidate leads at `now`: it renewed within the renew deadline.
    public func isLeader(at now: Double) -> Bool {
        guard let lastRenewal else { return false }
        return now - lastRenewal < settings.renewDeadlineSeconds
    }

    public mutating func decide(current: Lease?, now: Double) -> Action {
        guard let current else {
            return .create(
                Lease(
                    metadata: ObjectMeta(name: settings.leaseName, namespace: settings.namespace),
                    spec: record(acquiredAt: now, now: now, transitions: 0)))
        }
        if current.spec != observed {
            observed = current.spec
            observedAt = now
        }
        let holder = current.spec.holderIdentity ?? ""
        var next = current
        if holder == settings.identity {
            next.spec.renewTime = Self.microTime(now)
            next.spec.leaseDurationSeconds = Int(settings.leaseDurationSeconds)
            if let note, isLeader(at: now) { next.metadata.setAnnotation(Self.noteAnnotation, note) }
            return .update(next)
        }
        let duration = Double(current.spec.leaseDurationSeconds ?? Int(settings.leaseDurationSeconds))
        guard holder.isEmpty || now >= observedAt + duration else {
            lastRenewal = nil
            return .wait
        }
        next.spec = record(acquiredAt: now, now: now, transitions: (current.spec.leaseTransitions ?? 0) + 1)
        return .update(next)
    }

    /// The write succeeded: this candidate holds the lease as of `now`.
    public mutating func succeeded(_ lease: Lease, at now: Double) {
        let written = lease.metadata.annotation(Self.noteAnnotation)
        if !isLeader(at: now) {
            term += 1
            inheritedNote = written
            note = nil
        }
        writtenNote = written
        observed = lease.spec
        observedAt = now
        lastRenewal = now
    }

    /// Whether the note set for this term is not yet in the Lease.
    public func noteUnwritten(at now: Double) -> Bool {
        isLeader(at: now) && note != nil && note != writtenNote
    }

    /// A lease handing leadership back (empty holder), written on shutdown so another candidate
    /// takes over at once instead of after the lease duration.
    public func released(_ lease: Lease) -> Lease {
        var lease = lease
        lease.spec.holderIdentity = ""
        lease.spec.leaseDurationSeconds = 1
        if let note { lease.metadata.setAnnotation(Self.noteAnnotation, note) }
        return lease
    }

    private func record(acquiredAt: Double, now: Double, transitions: Int) -> Lease.Spec {
        Lease.Spec(
            holderIdentity: settings.identity, leaseDurationSeconds: Int(settings.leaseDurationSeconds),
            acquireTime: Self.microTime(acquiredAt), renewTime: Self.microTime(now), leaseTransitions: transitions)
    }

    /// Kubernetes `MicroTime`: RFC 3339 in UTC with exactly six fractional digits.
    public static func microTime(_ seconds: Double) -> String {
        let whole = floor(seconds)
        let micros = Int(((seconds - whole) * 1_000_000).rounded(.down))
        let base = Date(timeIntervalSince1970: whole).ISO8601Format(
            .iso8601.year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .omitted))
        let digits = String(micros)
        return base.replacingOccurrences(of: "Z", with: "")
            + "." + String(repeating: "0", count: 6 - digits.count) + digits + "Z"
    }
}
