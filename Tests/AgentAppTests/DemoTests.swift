import AgentApp
import FathomDemo
import FathomModel
import ProxySimulation
import Synchronization
import Testing

/// The demo in real time with short intervals: every window must reach the local collector as a
/// real batch (scraped over HTTP, protobuf, gzip, POST), the tables printed from the decoded
/// batches must show every workload's routes, and the simulated restart must be seen.
@Suite struct DemoTests {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        init() {}
    }

    @Test func demoRunsTheWholePipeline() async throws {
        let printed = Lines()
        var options = DemoOptions()
        // Margins for a debug build sharing two cores with the rest of the suite: early windows
        // may see only some proxies, so the checks below are about the whole run.
        options.duration = 9
        options.scrapeInterval = 1
        options.windowLength = 3
        // After the first window, when every proxy has been scraped at least once, so the agent
        // knows the start time that changes (start times are whole seconds).
        options.restartAfter = 4.5
        // Then one proxy's certificate renewals start failing, every second: later windows name it,
        // also when the agent's first page of that proxy came after the first failure.
        options.certificateFailureAfter = 3.5
        let demo = Demo(options: options, output: { line in printed.lines.withLock { $0.append(line) } })
        let windows = try await demo.run()
        // Windows of 3 s over 9 s, then the partial one closed at shutdown. How many the clock
        // closes before the end depends on the machine's load, so the check is that there are
        // at least three and that they tile the run: each starts where the one before ended.
        #expect(windows.count >= 3)
        for (earlier, later) in zip(windows, windows.dropFirst()) {
            #expect(later.start == earlier.end, "\(earlier.start)–\(earlier.end), then \(later.start)")
        }
        let workloads = Set(windows.flatMap { $0.routes.map(\.key.workload.name) })
        #expect(workloads == ["web", "vote-bot", "voting", "webapp", "db"])
        let output = printed.lines.withLock { $0.joined(separator: "\n") }
        #expect(output.contains("simulated restart"))
        #expect(output.contains("proxy restarts seen: 1"))
        #expect(output.contains("» the identity service refuses to renew the certificate"))
        // The windows after it count the other proxies valid and name the failing one.
        #expect(output.contains(" valid, 1 refresh_failing (emojivoto/"), "\(output)")
        #expect(!output.contains("could not be delivered"))
        // One decoded batch per window, in order, each printed with its table.
        let received = printed.lines.withLock { $0.filter { $0.hasPrefix("collector: batch") } }
        #expect(received.count == windows.count)
        #expect(received.allSatisfy { $0.contains("from cluster demo") && $0.contains("\nWORKLOAD  ") })
        #expect(received.enumerated().allSatisfy { index, line in line.contains("-\(index + 1) from cluster") })
        #expect(received.contains { $0.contains("\(SimulatedMesh.demoPodCount) targets") })
        // Discovery through the fake Kubernetes API: the inventory and the pod on an older proxy.
        #expect(output.contains("inventory (full)"))
        #expect(output.contains("pods behind the control plane's proxy version: vote-bot-5f7c9d8b6-lk2pw"))
        #expect(output.contains("/emojivoto.v1.EmojiService/ListAll"))
        #expect(output.contains("HTTPRoute/emojivoto/vote-route"))
    }
}
