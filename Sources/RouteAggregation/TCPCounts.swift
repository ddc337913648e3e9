import FathomModel

/// A TCP route's connections in one window: opened, closed (by `errno`), and the bytes the proxy
/// read from the peer and wrote to it, summed over the workload's pods.
public struct TCPCounts: Sendable, Equatable {
    public var opened = 0.0
    public var closed = 0.0
    /// Closes by `errno` (an index into `TCPCounter.errnoNames`; 0 is a clean close).
    public var closedByErrno: [UInt8: Double] = [:]
    public var bytesRead = 0.0
    public var bytesWritten = 0.0
    /// Connections open at the window's end (`tcp_open_connections`), summed over the pods then
    /// alive: a gauge, as PromQL's `sum()` at that moment reads it.
    public var openConnections = 0.0

    public init() {}

    /// Each counter that counted something, by what it counts.
    public var counters: [TCPCounter: Double] {
        var counters: [TCPCounter: Double] = [.opened: opened, .bytesRead: bytesRead, .bytesWritten: bytesWritten]
        for (errno, count) in closedByErrno { counters[.closed(errno: errno)] = count }
        return counters.filter { $0.value > 0 }
    }

    /// Adds an increase of one of its counters.
    mutating func add(_ counter: TCPCounter, _ increase: Double) {
        switch counter {
        case .opened: opened += increase
        case .closed(let errno):
            closed += increase
            closedByErrno[errno, default: 0] += increase
        case .bytesRead: bytesRead += increase
        case .bytesWritten: bytesWritten += increase
        }
    }
}
