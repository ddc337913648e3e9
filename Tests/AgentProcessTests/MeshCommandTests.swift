import AgentApp
import AgentTestSupport
import Foundation
import KubernetesModels
import LocalServers
import Testing

/// `fathom-agent mesh` as users run it: the built binary reading a running agent's `/debug/mesh`,
/// printing the checks as `linkerd check` does and exiting as it does.
@Suite struct MeshCommandTests {
    /// What `fathom-agent mesh --agent ADDRESS` printed and how it exited.
    static func mesh(_ address: String) async throws -> (status: Int32?, output: String, errors: String) {
        let command = try AgentSubprocess.start("fathom-agent", ["mesh", "--agent", address])
        defer { command.kill() }
        let status = await command.exitStatus(within: 60)
        return (status, command.output, command.errors)
    }

    /// `routes` and `mesh` take the agent as host:port too; with no agent there they fail at once
    /// (a refused connection is not retried), on standard error, saying what was refused, with
    /// nothing on standard output; both binaries answer `--version`.
    @Test func theCommandsAddressAnAgentAndSayClearlyWhenNoneIsThere() async throws {
        let closedPort = try RealCluster.freePort()
        for (command, exit) in [("routes", Int32(1)), ("mesh", Int32(2))] {
            let run = try AgentSubprocess.start("fathom-agent", [command, "--agent", "127.0.0.1:\(closedPort)"])
            defer { run.kill() }
            #expect(await run.exitStatus(within: 60) == exit, "\(command): \(run.output)\(run.errors)")
            #expect(run.output.isEmpty, "\(command) printed \(run.output)")
            #expect(
                run.errors.hasPrefix(
                    "error: cannot reach the agent at http://127.0.0.1:\(closedPort)/debug/\(command): connection refused"
                ),
                "\(command): \(run.errors)")
        }
        for binary in ["fathom-agent", "fathom-demo"] {
            let run = try AgentSubprocess.start(binary, ["--version"])
            defer { run.kill() }
            #expect(await run.exitStatus(within: 60) == 0)
            #expect(run.output == "\(binary) \(AgentVersion.current)\n")
        }
    }

    @Test func theDemosTwoWarningsThenAnErrorWhenIdentityLosesItsPod() async throws {
        let scene = try await ProcessScene.start()
        let config = scene.directory + "/config.yaml"
        try scene.configuration(reportInterval: "5s").write(toFile: config, atomically: true, encoding: .utf8)
        let agent = try AgentSubprocess.start("fathom-agent", ["run", "--config", config])
        defer { agent.kill() }
        #expect(await eventually(within: 60) { agent.adminPort != nil }, "\(agent.errors)")
        let address = "http://127.0.0.1:\(agent.adminPort ?? 0)"

        // The demo cluster's control plane is ready and one pod runs an older proxy: a warning
        // naming that pod, and the command exits 0, as `linkerd check` does on warnings.
        var report: (status: Int32?, output: String, errors: String) = (nil, "", "")
        #expect(
            await eventually(within: 60) {
                report = (try? await Self.mesh(address)) ?? (nil, "", "")
                return report.output.contains("‼ data plane proxies and control plane versions match")
            }, "\(report.output)\(agent.errors)")
        #expect(report.status == 0, "\(report.output)")
        #expect(report.output.contains("linkerd-existence\n-----------------\n√ control plane pods are ready"))
        #expect(
            report.output.contains("runs a proxy not on the control plane's version \(DemoCluster.controlPlaneVersion)")
        )
        #expect(report.output.hasSuffix("Status check results are ‼\n"), "\(report.output)")
        // The cluster's trust anchor, read from its ConfigMap, expires within 60 days.
        #expect(report.output.contains("√ trust anchors are within their validity period"))
        #expect(report.output.contains("‼ trust anchors are valid for at least 60 days"))
        #expect(report.output.contains("        * CN=root.linkerd.cluster.local"))
        #expect(
            await agent.metric("fathom_mesh_check", ["check": "data-plane-proxies-version", "status": "warning"]) == 1)

        // The identity service's pod goes away: an error, and a non-zero exit.
        let identity = try #require(
            scene.api.objects(Pod.self).first { $0.metadata.label("linkerd.io/control-plane-component") == "identity" })
        #expect(scene.api.delete(Pod.self, namespace: "linkerd", name: identity.metadata.name))
        #expect(
            await eventually(within: 60) {
                report = (try? await Self.mesh(address)) ?? (nil, "", "")
                return report.status == 1
            }, "\(report.output)")
        #expect(report.output.contains("× control plane pods are ready"))
        #expect(report.output.contains("no ready pod of identity in namespace linkerd"))
        #expect(report.output.hasSuffix("Status check results are ×\n"))
        #expect(await agent.metric("fathom_mesh_check", ["check": "control-plane-pods-ready", "status": "error"]) == 1)

        // A pod whose proxy was given an older bundle and denies by default: named by both checks.
        var pod = try #require(
            scene.api.objects(Pod.self).first { $0.metadata.namespace == "emojivoto" && $0.spec.nodeName != nil })
        let proxy = try #require(pod.spec.containers.firstIndex { $0.name == "linkerd-proxy" })
        pod.spec.containers[proxy].proxyEnvironment = [
            "LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS": "-----BEGIN CERTIFICATE-----\nold\n-----END CERTIFICATE-----",
            "LINKERD2_PROXY_INBOUND_DEFAULT_POLICY": "deny",
        ]
        scene.api.apply(pod)
        let name = "emojivoto/\(pod.metadata.name)"
        #expect(
            await eventually(within: 60) {
                report = (try? await Self.mesh(address)) ?? (nil, "", "")
                return report.output.contains("‼ data plane proxies certificate match CA\n")
                    && report.output.contains("‼ the agent is authorized to scrape data plane pods\n")
            }, "\(report.output)")
        for title in ["data plane proxies certificate match CA", "the agent is authorized to scrape data plane pods"] {
            let block = report.output.components(separatedBy: "‼ \(title)\n").last?.components(separatedBy: "\n‼ ")
                .first
            #expect(block?.contains("        * \(name)\n") == true, "\(title): \(report.output)")
        }

        // A bundle someone appended a note to: not usable, said why.
        let anchor = try SelfSignedAuthority.pem(commonName: "root.linkerd.cluster.local", untilDays: 365)
        scene.api.apply(
            ConfigMap(
                metadata: ObjectMeta(name: TrustRootsPermissions.name, namespace: "linkerd"),
                data: [TrustRootsPermissions.key: anchor + "\nrotated 2026-12-01\n"]))
        #expect(
            await eventually(within: 60) {
                report = (try? await Self.mesh(address)) ?? (nil, "", "")
                return report.output.contains("× trust anchors are within their validity period")
            }, "\(report.output)")
        #expect(report.output.contains("text outside the certificate blocks: \"rotated 2026-12-01\""))
        #expect(report.status == 1)

        // No agent there: said so, and a third exit status.
        let port = agent.adminPort ?? 0
        agent.signal(SIGTERM)
        #expect(await agent.exitStatus(within: 30) == 0, "\(agent.errors)")
        let gone = try await Self.mesh("http://127.0.0.1:\(port)")
        #expect(gone.status == 2)
        #expect(gone.output.isEmpty)
        #expect(gone.errors.hasPrefix("error: cannot reach the agent at http://127.0.0.1:\(port)/debug/mesh"))
        try await scene.shutdown()
    }
}
