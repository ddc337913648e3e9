import Synchronization

/// Caps the scrapes in flight twice: by count (`scrape.maxConcurrent`) and by the bytes their
/// pages hold, as received and as inflated (`scrape.maxBytesInFlight`). A scrape waits for a
/// slot and for the bytes its target's last page needed, first come, first served; while its
/// page arrives it takes more without waiting, or fails if the budget has no more free
/// (`PageAllowance.reserve(upTo:)`).
final class ScrapePermits: Sendable {
    private struct Waiter {
        var bytes: Int
        var continuation: CheckedContinuation<Int, Never>
    }

    private struct State {
        var slots: Int
        let totalBytes: Int
        var reservedBytes = 0
        var waiting: [Waiter] = []
        /// The most bytes reserved at once so far.
        var highestReserved = 0

        /// Whether `bytes` more fit in the budget.
        func fits(_ bytes: Int) -> Bool { reservedBytes + bytes <= totalBytes }

        /// Whether a scrape asking for `bytes` may start now: a slot and its bytes are free.
        func admits(_ bytes: Int) -> Bool { slots > 0 && fits(bytes) }

        mutating func reserve(_ bytes: Int) {
            reservedBytes += bytes
            highestReserved = max(highestReserved, reservedBytes)
        }

        mutating func admit(_ bytes: Int) {
            slots -= 1
            reserve(bytes)
        }
    }

    private let state: Mutex<State>

    init(slots: Int, bytes: Int) {
        state = Mutex(State(slots: max(1, slots), totalBytes: max(1, bytes)))
    }

    /// The byte budget, fixed at start.
    var totalBytes: Int { state.withLock { $0.totalBytes } }

    /// Bytes reserved now by the scrapes in flight.
    var reservedBytes: Int { state.withLock { $0.reservedBytes } }

    /// The most bytes the scrapes in flight held at once since the start.
    var highestReservedBytes: Int { state.withLock { $0.highestReserved } }

    /// Scrapes waiting for a slot or for their bytes.
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// Waits for a slot and `bytes` (at most the whole budget), and returns the scrape's allowance.
    func acquire(bytes wanted: Int) async -> PageAllowance {
        let bytes = await withCheckedContinuation { (continuation: CheckedContinuation<Int, Never>) in
            let admitted = state.withLock { state -> Int? in
                let bytes = min(max(wanted, 0), state.totalBytes)
                // Behind the waiters already in line, even if its bytes are free.
                if state.waiting.isEmpty, state.admits(bytes) {
                    state.admit(bytes)
                    return bytes
                }
                state.waiting.append(Waiter(bytes: bytes, continuation: continuation))
                return nil
            }
            if let admitted { continuation.resume(returning: admitted) }
        }
        return PageAllowance(permits: self, reserved: bytes)
    }

    /// Takes `more` bytes now if they are free; false otherwise.
    fileprivate func grow(by more: Int) -> Bool {
        state.withLock { state in
            guard state.fits(more) else { return false }
            state.reserve(more)
            return true
        }
    }

    /// Gives back a slot and `bytes`, and lets in the waiters that now fit, in order.
    fileprivate func release(bytes: Int) {
        let ready = state.withLock { state -> [Waiter] in
            state.slots += 1
            state.reservedBytes -= bytes
            var ready: [Waiter] = []
            while let first = state.waiting.first, state.admits(first.bytes) {
                state.waiting.removeFirst()
                state.admit(first.bytes)
                ready.append(first)
            }
            return ready
        }
        for waiter in ready { waiter.continuation.resume(returning: waiter.bytes) }
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
