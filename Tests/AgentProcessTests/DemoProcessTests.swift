import AgentTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `fathom-demo` as users run it, its output going to a file as it would to `| tee`: each line
/// is written when it is made, and Ctrl-C (SIGINT) ends it as SIGTERM ends the agent, with the
/// last window shown and delivered.
@Suite struct DemoProcessTests {
    @Test func linesArriveAsMadeAndCtrlCShowsTheLastWindow() async throws {
        // A 120 s window: nothing but the introduction (3.4 KB, less than a stdio buffer) is
        // written before the interrupt.
        let demo = try AgentSubprocess.start("fathom-demo", ["--duration", "0", "--window", "120"])
        defer { demo.kill() }
        #expect(
            await eventually(within: 60) { demo.output.contains("fathom demo: a fake Kubernetes API at ") },
            "the introduction is not written as it is made: \(demo.output)\(demo.errors)")
        #expect(!demo.output.contains("window closed"))
        demo.signal(SIGINT)
        #expect(await demo.exitStatus(within: 30) == 0, "\(demo.errors)")
        #expect(demo.output.contains("\nagent: window closed with "), "\(demo.output)")
        #expect(demo.output.contains("\ncollector: batch "), "the last window was delivered: \(demo.output)")
    }
}
