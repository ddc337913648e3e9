// The demo executable: the agent's own service graph against built-in stand-ins (a fake
// Kubernetes API, simulated linkerd-proxies, a local collector), with a live per-route table.
import AgentApp
import ArgumentParser
import FathomDemo
import Foundation

@main
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fathom-demo",
        abstract:
            "Run the real agent against a built-in simulated cluster and proxies; print a live per-route table.",
        version: "fathom-demo \(AgentVersion.current)")

    @Option(help: "Seconds to run; 0 runs until interrupted.")
    var duration: Double = 60

    @Option(help: "Seconds between scrapes of each simulated proxy.")
    var scrapeInterval: Double = 2

    @Option(help: "Seconds per aggregation window (one table per window).")
    var window: Double = 10

    @Option(help: "Seed of the simulated traffic.")
    var seed: UInt64 = 42

    @Option(help: "Port of the admin endpoints (/metrics, /healthz, /readyz, /debug/routes) on 127.0.0.1; 0 picks one.")
    var adminPort = 0

    func validate() throws {
        guard scrapeInterval > 0 else { throw ValidationError("--scrape-interval must be positive") }
        guard window >= scrapeInterval else { throw ValidationError("--window must be at least --scrape-interval") }
        guard (0...65_535).contains(adminPort) else { throw ValidationError("--admin-port must be 0...65535") }
    }

    func run() async throws {
        var options = DemoOptions()
        options.duration = duration
        options.scrapeInterval = scrapeInterval
        options.windowLength = window
        options.seed = seed
        options.adminPort = adminPort
        options.handlesTerminationSignals = true
        // Written a line at a time, also into a pipe (`| tee`): print's buffer would hold a
        // pipe's output in 4 KB blocks, cut mid-row.
        let demo = Demo(options: options, output: { line in FileHandle.standardOutput.write(Data((line + "\n").utf8)) })
        do {
            try await demo.run()
        } catch {
            FileHandle.standardError.write(Data("fathom-demo: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
