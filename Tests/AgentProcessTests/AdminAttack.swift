import FathomModel
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A hostile client of the admin port (any pod in the cluster can reach it), run from addresses
/// other than 127.0.0.1 while probes come from 127.0.0.1 as a kubelet's would, on threads of its
/// own with blocking sockets, for a fixed time.
enum AdminAttack: Sendable {
    /// `clients` connections from 127.0.0.2, each pipelining `GET path` as fast as the agent
    /// reads and never reading an answer.
    case pipelineNeverRead(path: String, clients: Int)
    /// `connections` heads sent one byte a second, from 20 addresses, each reopened when cut off.
    case slowloris(connections: Int)
    /// Every connection the admin server allows (64: 16 from each of 4 addresses) held open and
    /// idle, each reopened when closed.
    case idleAtTheLimit

    /// What the probes saw while the attack ran, and the agent's resident memory.
    struct Outcome: Sendable {
        /// Each probe's status (nil: no answer) and seconds from connect to answer.
        var probes: [(status: Int?, seconds: Double)] = []
        /// The agent's `VmRSS` just before the attack and the most sampled during it.
        var residentBefore = 0
        var residentPeak = 0
    }

    /// Runs the attack against `port` for `seconds`, probing `/healthz` from 127.0.0.1 four times
    /// a second and sampling `resident` (the agent's VmRSS) as often. Returns when the attack
    /// threads have ended (a pipelining client stays connected, unread, until the agent closes it
    /// or 30 s more have passed, so the agent's write deadline is what ends it).
    func run(port: Int, seconds: Double, resident: @escaping @Sendable () -> Int?) async -> Outcome {
        let stop = Flag()
        let outcome = Box(Outcome())
        outcome.withLock { $0.residentBefore = resident() ?? 0 }
        let threads = attackers(port: port, stop: stop)
        let prober = Thread {
            while !stop.isSet {
                let started = ContinuousClock.now
                let status = Self.probe(port: port)
                let seconds = (ContinuousClock.now - started).inSeconds
                let rss = resident() ?? 0
                outcome.withLock {
                    $0.probes.append((status, seconds))
                    $0.residentPeak = max($0.residentPeak, rss)
                }
                usleep(250_000)
            }
        }
        for thread in threads + [prober] { thread.start() }
        try? await Task.sleep(for: .milliseconds(Int(seconds * 1_000)))
        stop.set()
        // The threads notice within a second; a pipelining client may hold its socket longer.
        _ = await eventuallyFinished(threads + [prober], within: 45)
        return outcome.withLock { $0 }
    }

    private func eventuallyFinished(_ threads: [Thread], within seconds: Double) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if threads.allSatisfy(\.isFinished) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return threads.allSatisfy(\.isFinished)
    }

    /// One kubelet-like probe: a new connection, `GET /healthz`, the status.
    static func probe(port: Int) -> Int? {
        guard let client = try? RawClient(port: port) else { return nil }
        defer { client.close() }
        let request = "GET /healthz HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n"
        return client.send(Array(request.utf8)) ? client.readStatus() : nil
    }

    private func attackers(port: Int, stop: Flag) -> [Thread] {
        switch self {
        case .pipelineNeverRead(let path, let clients):
            let request = Array("GET \(path) HTTP/1.1\r\nHost: agent\r\n\r\n".utf8)
            let burst = Array((0..<64).map { _ in request }.joined())
            return (0..<clients).map { _ in
                Thread {
                    var client = try? RawClient(port: port, from: "127.0.0.2", receiveBuffer: 4_096)
                    // Whole requests, however the socket takes them.
                    var offset = 0
                    while !stop.isSet {
                        guard let current = client else {
                            usleep(100_000)
                            client = try? RawClient(port: port, from: "127.0.0.2", receiveBuffer: 4_096)
                            offset = 0
                            continue
                        }
                        switch current.trySend(burst[offset...]) {
                        case .sent(let count): offset = (offset + count) % burst.count
                        case .wouldBlock: usleep(10_000)
                        case .closed:
                            current.close()
                            client = nil
                        }
                    }
                    // Connected and unread until the agent gives up on it.
                    if let client {
                        let deadline = ContinuousClock.now + .seconds(30)
                        while !client.peerClosed() && ContinuousClock.now < deadline { usleep(100_000) }
                        client.close()
                    }
                }
            }
        case .slowloris(let connections):
            return [
                Thread {
                    let head = Array("GET /healthz HTTP/1.1\r\nHost: agent\r\nX-Slow: ".utf8)
                    var clients: [(client: RawClient?, sent: Int)] = Array(repeating: (nil, 0), count: connections)
                    while !stop.isSet {
                        for index in clients.indices {
                            if clients[index].client == nil {
                                clients[index] = (try? RawClient(port: port, from: "127.0.0.\(2 + index % 20)"), 0)
                            }
                            guard let client = clients[index].client else { continue }
                            let sent = clients[index].sent
                            let byte = sent < head.count ? head[sent] : UInt8(ascii: "a")
                            if case .sent = client.trySend([byte][...]) {
                                clients[index].sent += 1
                            } else {
                                client.close()
                                clients[index] = (nil, 0)
                            }
                        }
                        sleep(1)
                    }
                    for (client, _) in clients { client?.close() }
                }
            ]
        case .idleAtTheLimit:
            return [
                Thread {
                    var clients: [RawClient?] = Array(repeating: nil, count: 64)
                    while !stop.isSet {
                        for index in clients.indices where clients[index].map({ $0.peerClosed() }) ?? true {
                            clients[index]?.close()
                            clients[index] = try? RawClient(port: port, from: "127.0.0.\(2 + index % 4)")
                        }
                        usleep(200_000)
                    }
                    for client in clients { client?.close() }
                }
            ]
        }
    }
}

/// A flag the attack's threads poll to end.
final class Flag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

/// A value threads share under a lock.
final class Box<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<Result>(_ body: (inout sending Value) -> sending Result) -> sending Result {
        value.withLock(body)
    }
}
