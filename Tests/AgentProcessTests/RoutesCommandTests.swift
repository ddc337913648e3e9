import AgentApp
import AgentTestSupport
import AsyncHTTPClient
import Foundation
import Testing

/// `fathom-agent routes` as users run it, against the demo's agent while its voting Deployment
/// rolls out a revision that fails more: `--by revision` shows the old and the new revision in one
/// row each per kind, `--by workload` one row per workload, `--failures` every reason.
@Suite struct RoutesCommandTests {
    /// The admin address from the demo's first line (`... /debug/mesh at http://127.0.0.1:PORT (...)`).
    static func adminAddress(_ output: String) -> String? {
        guard let line = output.split(separator: "\n").first(where: { $0.contains("/debug/mesh at ") }),
            let rest = line.components(separatedBy: "/debug/mesh at ").last,
            let address = rest.split(separator: " ").first
        else { return nil }
        return String(address)
    }

    /// The agent's last window, as `/debug/routes` serves it.
    static func window(_ address: String) async -> [DebugRoute]? {
        guard
            let response = try? await HTTPClient.shared.execute(
                HTTPClientRequest(url: address + "/debug/routes"), timeout: .seconds(5)),
            let body = try? await response.body.collect(upTo: 16 << 20)
        else { return nil }
        return try? JSONDecoder().decode([DebugRoute].self, from: Data(body.readableBytesView))
    }

    /// What `fathom-agent routes` with `arguments` printed, once it exited 0.
    static func routes(_ arguments: [String]) async throws -> String? {
        let command = try AgentSubprocess.start("fathom-agent", ["routes"] + arguments)
        defer { command.kill() }
        guard await command.exitStatus(within: 60) == 0 else { return nil }
        return command.output
    }

    /// The table's lines (the header first), without the KIND legend under it.
    static func tableLines(_ text: String) -> [Substring] {
        Array(text.split(separator: "\n\n", maxSplits: 1).first?.split(separator: "\n") ?? [])
    }

    @Test func byRevisionAndByWorkloadWhileARolloutRuns() async throws {
        let demo = try AgentSubprocess.start(
            "fathom-demo", ["--duration", "0", "--scrape-interval", "1", "--window", "4"])
        defer { demo.kill() }
        var address = ""
        #expect(
            await eventually(within: 60) {
                address = Self.adminAddress(demo.output) ?? ""
                return !address.isEmpty
            }, "the demo never said where its agent listens: \(demo.output)\(demo.errors)")

        // The commands read the same window as the fetches around them (retried when one closed
        // in between), and a window in which voting's two revisions both served.
        var window: [DebugRoute] = []
        var byRevision = ""
        var byWorkload = ""
        let found = await eventually(within: 120) {
            guard let before = await Self.window(address),
                Set(before.filter { $0.workload == "voting" }.compactMap(\.revision)) == ["1", "2"],
                let revisions = try? await Self.routes(["--agent", address, "--by", "revision", "--failures"]),
                let workloads = try? await Self.routes(["--agent", address, "--by", "workload"]),
                let after = await Self.window(address), after == before
            else { return false }
            (window, byRevision, byWorkload) = (before, revisions, workloads)
            return true
        }
        try #require(found, "no window with both of voting's revisions: \(demo.output.suffix(3_000))")

        // One row per workload, revision, direction and kind, counted here from the window's routes.
        let groups = Set(window.map { [$0.namespace, $0.workload, $0.revision ?? "", $0.direction, $0.kind] })
        let revisionLines = Self.tableLines(byRevision)
        #expect(revisionLines.first?.hasSuffix("FAILURES") == true)
        #expect(revisionLines.count == groups.count + 1, "\(byRevision)")
        // The old and the new revision of voting side by side, each with its own success rate.
        let voting = revisionLines.filter { $0.hasPrefix("emojivoto/voting ") && $0.contains(" endpoint ") }
        #expect(voting.count == 2, "\(byRevision)")
        #expect(voting.map { $0.split(separator: " ", omittingEmptySubsequences: true)[1] } == ["1", "2"])
        // Its success rates are those of the window's rows of each revision.
        for revision in ["1", "2"] {
            let rows = window.filter { $0.workload == "voting" && $0.revision == revision && $0.kind == "endpoint" }
            let success = rows.map(\.success).reduce(0, +)
            let all = success + rows.map(\.failure).reduce(0, +)
            let line = try #require(voting.first { $0.split(separator: " ")[1] == revision })
            #expect(line.contains(RouteTable.percent(all > 0 ? success / all : nil)), "\(line)")
        }
        // The whole output is what the command's own table function makes of that window.
        let expected = RouteTable.render(
            rows: RouteTable.rows(RouteGrouping.revision.group(window), allFailures: true),
            header: RouteTable.headerWithFailures)
        #expect(byRevision.hasPrefix(expected + "\n\nKIND"))

        // By workload: voting's revisions in one row per kind, its REV `*`.
        let workloadLines = Self.tableLines(byWorkload)
        let workloadGroups = Set(window.map { [$0.namespace, $0.workload, $0.direction, $0.kind] })
        #expect(workloadLines.count == workloadGroups.count + 1, "\(byWorkload)")
        let votingEndpoint = workloadLines.filter { $0.hasPrefix("emojivoto/voting ") && $0.contains(" endpoint ") }
        #expect(votingEndpoint.count == 1 && votingEndpoint.first?.split(separator: " ")[1] == "*")
        #expect(workloadLines.first?.hasSuffix("TOP FAILURE") == true)
    }
}
