import AgentTestSupport
import Foundation
import KubernetesAPI
import KubernetesModels
import LocalServers
import Synchronization
import Testing

/// Over HTTP/1.1 an open watch holds its connection: with every watch the agent keeps open at
/// once, a request beside them (a Lease renewal) still gets a connection of its own.
@Suite struct ConnectionBudgetTests {
    @Test func aRequestGetsThroughWhileEveryWatchIsOpen() async throws {
        let api = try await FakeKubernetesAPI.start(behaviour: .init(token: "budget"))
        let client = try KubernetesClient(connection: api.connection)
        // Each watched resource and the trust bundle's ConfigMap.
        let watches = WatchedResource.all.count + 1
        let opened = OpenedWatches()
        let version = try await client.list(Pod.self).resourceVersion
        let watching = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<watches {
                    group.addTask {
                        try await client.watch(
                            Pod.self, resourceVersion: version, timeoutSeconds: 300,
                            onConnected: { opened.count.withLock { $0 += 1 } }
                        ) { _ in }
                    }
                }
                try await group.waitForAll()
            }
        }
        #expect(await eventually(within: 60) { opened.count.withLock { $0 } == watches }, "not every watch opened")
        // The Lease's renewal, as leader election makes it, is answered while they stay open
        // (before, it waited for a watch to end: minutes).
        let answered = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                do {
                    _ = try await client.get(Lease.self, namespace: "fathom", name: "leader")
                    return true
                } catch {
                    return false
                }
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(60))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        #expect(answered, "a GET beside \(watches) open watches was not answered")
        watching.cancel()
        try? await client.shutdown()
        try await api.shutdown()
    }
}

/// How many watches the server accepted.
final class OpenedWatches: Sendable {
    let count = Mutex(0)
}
