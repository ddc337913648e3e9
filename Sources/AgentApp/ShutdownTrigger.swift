import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A one-shot shutdown request: SIGTERM from the kubelet, SIGINT from a terminal, or a test.
/// Everything that waits on it resumes once it fires, however late it started waiting.
public final class ShutdownTrigger: Sendable {
    private struct State {
        var fired = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let sources = SignalSources()

    public init() {}

    public var hasFired: Bool { state.withLock { $0.fired } }

    public func fire() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.fired else { return [] }
            state.fired = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    public func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.fired { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Fires on SIGTERM and SIGINT (their default handlers are replaced: the agent shuts down
    /// in order instead of dying mid-upload).
    public func fireOnTerminationSignals() {
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.fire() }
            source.resume()
            sources.keep(source)
        }
    }
}

/// Keeps the signal sources alive as long as the trigger. Dispatch sources are thread-safe but not
/// marked `Sendable`; they are only appended here, under the lock, and never read.
private final class SignalSources: @unchecked Sendable {
    private let lock = Mutex(())
    private var sources: [any DispatchSourceSignal] = []

    func keep(_ source: any DispatchSourceSignal) {
        lock.withLock { _ in sources.append(source) }
    }
}
