import AgentApp
import AgentConfiguration
import KubernetesAPI
import KubernetesModels
import LocalServers
import Testing

/// `fathom-agent check` against the fake Kubernetes API and the collector stand-in: each missing
/// permission and a refused token get their own line and hint.
@Suite struct ConnectivityCheckTests {
    @Test func namesEachMissingPermissionAndARefusedToken() async throws {
        let api = try await FakeKubernetesAPI.start(behaviour: .init(token: "sa-token"))
        api.configure { $0.forbidden = ["pods", "daemonsets"] }
        let collector = try await FakeCollector.start(script: [.status(401, message: "bad token")])
        var configuration = AgentConfiguration()
        configuration.reportEndpoint = collector.url
        configuration.tokenFile = "/nonexistent"
        var items = await ConnectivityCheck.run(configuration: configuration, connection: .success(api.connection))
        let failed = items.filter { !$0.passed }
        #expect(
            failed.map(\.title).sorted() == [
                "can list and watch daemonsets (apps/v1)", "can list and watch pods (v1)",
                "collector accepts the API token",
            ])
        #expect(failed.first { $0.title.contains("pods") }?.hint?.contains("grant list on pods") == true)
        #expect(items.contains { $0.passed && $0.title == "can list and watch deployments (apps/v1)" })
        #expect(items.contains { $0.passed && $0.title.contains("Rollout CRD is not installed") })

        api.configure {
            $0.forbidden = []
            $0.installed.insert(ArgoRollout.resource)
        }
        items = await ConnectivityCheck.run(configuration: configuration, connection: .success(api.connection))
        #expect(items.allSatisfy { $0.passed }, "\(ConfigurationCheck.render(items))")
        #expect(items.contains { $0.title == "can list and watch rollouts (argoproj.io/v1alpha1)" })

        // A role with list but not watch: `run` would fail every watch, so `check` fails too,
        // naming the verb.
        api.configure { $0.denied = ["watch pods"] }
        items = await ConnectivityCheck.run(configuration: configuration, connection: .success(api.connection))
        let watchless = try #require(items.first { !$0.passed })
        #expect(watchless.title == "can list and watch pods (v1)")
        #expect(watchless.hint?.hasPrefix("grant watch on pods") == true, "\(watchless.hint ?? "")")

        // Daemonset mode: the Lease of leader election, read and (asked of the authorizer) written.
        var daemonset = configuration
        daemonset.nodeName = "node-a"
        api.configure { $0.denied = ["create leases", "update leases"] }
        items = await ConnectivityCheck.run(configuration: daemonset, connection: .success(api.connection))
        let lease = try #require(items.first { $0.title.contains("leases") })
        #expect(!lease.passed)
        #expect(lease.hint?.hasPrefix("grant create, update on leases") == true, "\(lease.hint ?? "")")
        api.configure { $0.denied = [] }
        items = await ConnectivityCheck.run(configuration: daemonset, connection: .success(api.connection))
        #expect(items.first { $0.title.contains("leases") }?.passed == true)
        #expect(
            !(await ConnectivityCheck.run(configuration: configuration, connection: .success(api.connection)))
                .contains { $0.title.contains("leases") }, "not in deployment mode")

        // The trust anchors' ConfigMap in the control-plane namespace, read by name: absent is
        // said, forbidden is named with the Role to grant.
        var mesh = configuration
        mesh.controlPlaneNamespace = "linkerd"
        func trustRoots() async -> ConfigurationCheck.Item? {
            await ConnectivityCheck.run(configuration: mesh, connection: .success(api.connection)).first {
                $0.title.contains(TrustRootsPermissions.name)
            }
        }
        let absent = await trustRoots()
        #expect(
            absent?.passed == true && absent?.title.contains("does not exist") == true, "\(String(describing: absent))")
        api.apply(ConfigMap(metadata: ObjectMeta(name: TrustRootsPermissions.name, namespace: "linkerd"), data: [:]))
        let present = await trustRoots()
        #expect(present?.passed == true && present?.title.contains("does not exist") == false)
        api.configure { $0.forbidden = ["configmaps"] }
        let forbidden = await trustRoots()
        #expect(forbidden?.passed == false)
        #expect(
            forbidden?.hint?.hasPrefix("grant get on the configmap linkerd-identity-trust-roots in namespace linkerd")
                == true, "\(forbidden?.hint ?? "")")
        api.configure { $0.forbidden = [] }

        // A wrong service-account token, and an API server that is not there.
        let wrongToken = ClusterConnection(server: api.url, credentials: .bearerToken("expired"))
        items = await ConnectivityCheck.run(configuration: configuration, connection: .success(wrongToken))
        #expect(items.first { !$0.passed }?.hint?.contains("rejected the credentials") == true)
        try await api.shutdown()
        try await collector.shutdown()
        items = await ConnectivityCheck.run(configuration: configuration, connection: .success(wrongToken))
        #expect(items.filter { !$0.passed }.count == 2, "\(ConfigurationCheck.render(items))")
        #expect(items.first { !$0.passed }?.hint?.contains("cannot be reached") == true)
        // Told at once, not after the HTTP client's retries: a refused connection is named.
        #expect(items.first { !$0.passed }?.hint?.contains("connection refused at 127.0.0.1") == true)
        #expect(items.last { !$0.passed }?.hint?.contains("connection refused at 127.0.0.1") == true)
    }
}
