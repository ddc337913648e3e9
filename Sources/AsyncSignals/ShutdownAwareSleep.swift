import ServiceLifecycle

/// Sleeps `seconds` unless the service's graceful shutdown (or cancellation) comes first; returns
/// whether the whole time passed. The services' loops wait with it, so a shutdown never waits
/// for a timer.
public func sleepUnlessShuttingDown(seconds: Double) async -> Bool {
    guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return false }
    do {
        try await cancelWhenGracefulShutdown {
            try await Task.sleep(for: .milliseconds(Int64(max(0, seconds) * 1_000)))
        }
        return !Task.isShuttingDownGracefully
    } catch {
        return false
    }
}
