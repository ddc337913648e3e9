import AgentApp
import FathomModel
import Synchronization
import Testing

/// The demo loop with a fake clock: every window must reach the local collector as a real batch
/// (protobuf, gzip, HTTP), and the tables printed from the decoded batches must show every
/// workload's routes; the simulated restart must be seen.
@Suite struct DemoTests {
    final class FakeClock: Sendable {
        let time = Mutex(1_000_000.0)
        func now() -> Double { time.withLock { $0 } }
        func advance(_ seconds: Double) { time.withLock { $0 += seconds } }
    }

    @Test func demoShowsEveryWorkloadAndTheRestart() async throws {
        let clock = FakeClock()
        let lines = Mutex<[String]>([])
        var options = DemoOptions()
        options.duration = 60
        let demo = Demo(
            options: options, now: { clock.now() }, sleep: { clock.advance($0) },
            output: { line in lines.withLock { $0.append(line) } })
        let windows = try await demo.run()
        #expect(windows.count == 6)
        let workloads = Set(windows.flatMap { $0.routes.map(\.key.workload.name) })
        #expect(workloads == ["web", "vote-bot", "voting", "webapp"])
        let output = lines.withLock { $0.joined(separator: "\n") }
        #expect(output.contains("simulated restart"))
        #expect(output.contains("proxy restarts seen: 1"))
        // One decoded batch per window, in order, each printed with its table.
        let received = lines.withLock { $0.filter { $0.hasPrefix("collector: batch") } }
        #expect(received.count == 6)
        #expect(received.allSatisfy { $0.contains("from cluster demo") && $0.contains("\nWORKLOAD  ") })
        #expect(received.enumerated().allSatisfy { index, line in line.contains("-\(index + 1) from cluster") })
        #expect(output.contains("WORKLOAD  "))
        #expect(output.contains("/emojivoto.v1.EmojiService/ListAll"))
        #expect(output.contains("HTTPRoute/emojivoto/vote-route"))
    }
}
