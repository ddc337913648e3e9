import Synchronization

/// Caps the scrapes in flight twice: by count (`scrape.maxConcurrent`) and by the bytes their
/// pages hold, as received and as inflated (`scrape.maxBytesInFlight`). A scrape waits for a
/// slot and for the bytes its target's last page needed, first come, first served; while its
/// page arrives it takes more without waiting, or fails if the budget has no more free
/// (`PageAllowance.reserve(upTo:)`).
final class ScrapePermits: Sendable {
    /// The byte budget, fixed at start.
    let totalBytes: Int

    private struct Waiter {
        var bytes: Int
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var slots: Int
        let totalBytes: Int
        var freeBytes: Int
        var waiting: [Waiter] = []
        /// The most bytes reserved at once so far.
        var highestReserved = 0

        mutating func take(_ bytes: Int) {
            slots -= 1
            freeBytes -= bytes
            noteReserved()
        }

        mutating func noteReserved() {
            highestReserved = max(highestReserved, totalBytes - freeBytes)
        }
    }

    private let state: Mutex<State>

    init(slots: Int, bytes: Int) {
        totalBytes = max(1, bytes)
        state = Mutex(State(slots: max(1, slots), totalBytes: max(1, bytes), freeBytes: max(1, bytes)))
    }

    /// Bytes reserved now by the scrapes in flight.
    var reservedBytes: Int { state.withLock { totalBytes - $0.freeBytes } }

    /// The most bytes the scrapes in flight held at once since the start.
    var highestReservedBytes: Int { state.withLock { $0.highestReserved } }

    /// Scrapes waiting for a slot or for their bytes.
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// Waits for a slot and `bytes` (at most the whole budget), and returns the scrape's allowance.
    func acquire(bytes wanted: Int) async -> PageAllowance {
        let bytes = min(max(wanted, 0), totalBytes)
        let granted = state.withLock { state -> Bool in
            guard state.waiting.isEmpty, state.slots > 0, state.freeBytes >= bytes else { return false }
            state.take(bytes)
            return true
        }
        if !granted {
            await withCheckedContinuation { continuation in
                // Granted meanwhile by a release that found this waiter first in line.
                let now = state.withLock { state -> Bool in
                    if state.waiting.isEmpty, state.slots > 0, state.freeBytes >= bytes {
                        state.take(bytes)
                        return true
                    }
                    state.waiting.append(Waiter(bytes: bytes, continuation: continuation))
                    return false
                }
                if now { continuation.resume() }
            }
        }
        return PageAllowance(permits: self, reserved: bytes)
    }

    /// Takes `more` bytes now if they are free; false otherwise.
    fileprivate func grow(by more: Int) -> Bool {
        state.withLock { state in
            guard state.freeBytes >= more else { return false }
            state.freeBytes -= more
            state.noteReserved()
            return true
        }
    }

    /// Gives back a slot and `bytes`, and lets in the waiters that now fit, in order.
    fileprivate func release(bytes: Int) {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.slots += 1
            state.freeBytes += bytes
            var ready: [CheckedContinuation<Void, Never>] = []
            while let first = state.waiting.first, state.slots > 0, state.freeBytes >= first.bytes {
                state.waiting.removeFirst()
                state.take(first.bytes)
                ready.append(first.continuation)
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }
}

/// One scrape's share of the page budget: the bytes its page may hold, received and inflated.
/// The fetch reserves more as the page grows; an allowance without a budget (`unlimited`)
/// grants everything, for one-off fetches such as `check`'s.
public final class PageAllowance: Sendable {
    private let permits: ScrapePermits?
    private let held: Mutex<Held>

    private struct Held {
        var reserved: Int
        /// The most the page asked for (not what was reserved up front for it).
        var needed = 0
        var released = false
    }

    fileprivate init(permits: ScrapePermits, reserved: Int) {
        self.permits = permits
        held = Mutex(Held(reserved: reserved))
    }

    private init() {
        permits = nil
        held = Mutex(Held(reserved: 0))
    }

    /// An allowance that grants every reservation.
    public static var unlimited: PageAllowance { PageAllowance() }

    /// Holds at least `total` bytes, taking the difference from the budget without waiting;
    /// false when the budget has not that much free.
    public func reserve(upTo total: Int) -> Bool {
        held.withLock { held in
            held.needed = max(held.needed, total)
            guard total > held.reserved else { return true }
            if let permits, !permits.grow(by: total - held.reserved) { return false }
            held.reserved = total
            return true
        }
    }

    /// The most bytes the page asked for: what the next scrape of the same target reserves up
    /// front.
    public var neededBytes: Int { held.withLock { $0.needed } }

    /// Gives the slot and the bytes back; later calls do nothing.
    func release() {
        let bytes = held.withLock { held -> Int? in
            guard !held.released else { return nil }
            held.released = true
            return held.reserved
        }
        if let bytes, let permits { permits.release(bytes: bytes) }
    }
}
