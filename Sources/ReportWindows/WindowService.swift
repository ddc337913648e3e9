import AsyncSignals
import ServiceLifecycle

/// The window clock: every report interval (read anew each window: it reloads) the aggregation
/// window closes into one batch for the uploader. At the graceful shutdown, which comes after
/// discovery and scraping have stopped, it closes the last, partial window, exactly once.
public struct WindowService: Service {
    let interval: @Sendable () -> Double
    let now: @Sendable () -> Double
    let schedule: WindowSchedule
    let windows: WindowCloser

    /// - Parameter interval: the report interval in seconds, asked anew for every window.
    public init(
        interval: @escaping @Sendable () -> Double, now: @escaping @Sendable () -> Double, schedule: WindowSchedule,
        windows: WindowCloser
    ) {
        self.interval = interval
        self.now = now
        self.schedule = schedule
        self.windows = windows
    }

    public func run() async {
        switch schedule {
        case .everyReportInterval:
            var next = now() + interval()
            while await sleepUnlessShuttingDown(seconds: next - now()) {
                await windows.close(at: now())
                next = WindowSchedule.nextClose(after: next, interval: interval(), now: now())
            }
        case .onTrigger(let trigger):
            while await trigger.next() { await windows.close(at: now()) }
        }
        // Everything scraped so far leaves with the last window.
        if Task.isShuttingDownGracefully { await windows.close(at: now()) }
    }
}

/// When windows close: every `report.interval` by the wall clock (what the agent does), or each
/// time a `WindowTrigger` is pulled, so a test closes windows at moments it has made sure of
/// (that every scrape it needs has been taken) however slow the machine is.
public enum WindowSchedule: Sendable {
    case everyReportInterval
    case onTrigger(WindowTrigger)

    /// When the window after the one due at `due` closes: an interval later, on the same beat. A
    /// process that was paused past more than one close (a stopped VM, a node starved of CPU)
    /// skips the closes it missed, as a Go ticker drops ticks: one window then spans the pause,
    /// and the counters' increase over it is in that window with its true length, where a burst
    /// of empty windows a moment long each would say the pause had no traffic.
    public static func nextClose(after due: Double, interval: Double, now: Double) -> Double {
        let next = due + interval
        guard next <= now, interval > 0 else { return next }
        let missed = ((now - next) / interval).rounded(.down) + 1
        return next + missed * interval
    }
}

/// Closes the agent's windows on request (`WindowSchedule.onTrigger`).
public final class WindowTrigger: Sendable {
    private let requests: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    public init() {
        (requests, continuation) = AsyncStream<Void>.makeStream()
    }

    /// Asks for one window to close now.
    public func closeWindow() {
        continuation.yield()
    }

    /// Waits for the next request; false when the service is shutting down or cancelled.
    func next() async -> Bool {
        guard !Task.isShuttingDownGracefully else { return false }
        let requests = self.requests
        let pulled = await cancelWhenGracefulShutdown {
            for await _ in requests { return true }
            return false
        }
        return pulled && !Task.isShuttingDownGracefully
    }
}
