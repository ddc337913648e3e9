import AgentApp
import AgentConfiguration
import AgentTestSupport
import Foundation
import KubernetesModels
import Testing
import Yams

/// The Helm chart rendered by the real Helm engine (PyPI helm-python-sdk, through
/// charts/fathom-agent/tests/chart.py), linted, and every manifest validated offline with
/// kubernetes-validate --strict; then the rendered objects are checked here, and the ConfigMap's
/// config.yaml is loaded with the agent's own loader so chart and agent cannot drift.
struct ChartRender {
    var schemaError: String?
    var renderError: String?
    var lintErrors: [String]
    var manifests: [[String: Any]]
    var invalid: [String]

    static let repository = HelmChart.repository
    static let chart = HelmChart.chart

    /// The smallest values an install needs.
    static var required: [String: Any] {
        [
            "config": [
                "cluster": ["name": "prod-eu"], "report": ["endpoint": "https://ingest.example.com/v1/reports"],
            ],
            "apiToken": ["value": "t0k3n"],
        ]
    }

    static func render(_ values: [String: Any]) throws -> ChartRender {
        let result = try HelmChart.render(values)
        return ChartRender(
            schemaError: result["schema_error"] as? String, renderError: result["render_error"] as? String,
            lintErrors: result["lint_errors"] as? [String] ?? [],
            manifests: result["manifests"] as? [[String: Any]] ?? [],
            invalid: result["invalid"] as? [String] ?? [])
    }

    static func merged(_ overrides: [String: Any]) -> [String: Any] { merge(required, overrides) }

    static func merge(_ base: [String: Any], _ overrides: [String: Any]) -> [String: Any] {
        var result = base
        for (key, value) in overrides {
            if let nested = value as? [String: Any], let existing = result[key] as? [String: Any] {
                result[key] = merge(existing, nested)
            } else {
                result[key] = value
            }
        }
        return result
    }

    func objects(_ kind: String) -> [[String: Any]] { manifests.filter { $0["kind"] as? String == kind } }

    func object(_ kind: String) throws -> [String: Any] {
        try #require(objects(kind).first, "no \(kind) rendered")
    }

    var kinds: [String] { manifests.compactMap { $0["kind"] as? String }.sorted() }
}

/// Reads `a.b.c` out of nested dictionaries and arrays (`containers.0.name`).
func value(_ object: Any?, _ path: String) -> Any? {
    var current = object
    for part in path.split(separator: ".") {
        if let index = Int(part), let array = current as? [Any] {
            current = index < array.count ? array[index] : nil
        } else {
            current = (current as? [String: Any])?[String(part)]
        }
    }
    return current
}

@Suite("Helm chart")
struct ChartTests {
    @Test("default install: lints clean, every manifest validates, the expected objects")
    func defaults() throws {
        let render = try ChartRender.render(ChartRender.required)
        #expect(render.schemaError == nil && render.renderError == nil)
        #expect(render.lintErrors.isEmpty, "\(render.lintErrors)")
        #expect(render.invalid.isEmpty, "\(render.invalid)")
        #expect(
            render.kinds == [
                "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Role", "RoleBinding", "Secret",
                "Service", "ServiceAccount",
            ])
        let deployment = try render.object("Deployment")
        for key in ["name", "instance", "version", "managed-by", "component", "part-of"] {
            #expect(
                value(deployment, "metadata.labels")
                    .flatMap { ($0 as? [String: Any])?["app.kubernetes.io/\(key)"] } != nil, "label \(key)")
        }
    }

    /// Each rule of a rendered Role or ClusterRole as `group/resource: verbs`, one line per resource.
    static func grants(_ role: [String: Any]) -> Set<String> {
        let rules = (role["rules"] as? [[String: Any]]) ?? []
        return Set(
            rules.flatMap { rule in
                let verbs = (rule["verbs"] as? [String] ?? []).sorted().joined(separator: ",")
                return (rule["apiGroups"] as? [String] ?? []).flatMap { group in
                    (rule["resources"] as? [String] ?? []).map { "\(group)/\($0): \(verbs)" }
                }
            })
    }

    @Test("RBAC: exactly the watched resources with exactly the verbs the agent uses; never Secrets, never writes")
    func rbac() throws {
        let render = try ChartRender.render(ChartRender.required)
        // The agent's registry of watched resources is the contract.
        let expected = Set(
            WatchedResource.all.map {
                "\($0.resource.group)/\($0.resource.plural): \($0.verbs.sorted().joined(separator: ","))"
            })
        #expect(Self.grants(try render.object("ClusterRole")) == expected)
        #expect(expected.allSatisfy { !$0.contains("secrets") && !$0.contains("create") && !$0.contains("update") })
        // One Role: the trust anchors' ConfigMap, by name, in the control-plane namespace only.
        let roles = render.objects("Role")
        #expect(roles.count == 1)
        let trustRoots = try #require(roles.first)
        #expect(value(trustRoots, "metadata.namespace") as? String == "linkerd")
        let configMaps = TrustRootsPermissions.resource
        #expect(
            Self.grants(trustRoots)
                == [
                    "\(configMaps.group)/\(configMaps.plural): \(TrustRootsPermissions.verbs.sorted().joined(separator: ","))"
                ])
        #expect(value(trustRoots, "rules.0.resourceNames") as? [String] == [TrustRootsPermissions.name])
        #expect((trustRoots["rules"] as? [Any])?.count == 1)
        let roleBinding = try render.object("RoleBinding")
        #expect(value(roleBinding, "metadata.namespace") as? String == "linkerd")
        #expect(value(roleBinding, "roleRef.name") as? String == value(trustRoots, "metadata.name") as? String)
        #expect(
            value(roleBinding, "subjects.0.namespace") as? String
                == value(try render.object("ClusterRoleBinding"), "subjects.0.namespace") as? String)
        // Never a Secret, in any rule of any role the chart renders, and it follows the namespace.
        for role in render.objects("ClusterRole") + roles {
            #expect(!Self.grants(role).contains { $0.contains("secrets") })
        }
        let elsewhere = try ChartRender.render(
            ChartRender.merged(["config": ["cluster": ["name": "c"], "linkerd": ["controlPlaneNamespace": "mesh"]]]))
        #expect(value(try elsewhere.object("Role"), "metadata.namespace") as? String == "mesh")
        let without = try ChartRender.render(ChartRender.merged(["rbac": ["trustRoots": false]]))
        #expect(without.objects("Role").isEmpty && without.objects("RoleBinding").isEmpty)
        let binding = try render.object("ClusterRoleBinding")
        #expect(
            value(binding, "subjects.0.name") as? String == value(try render.object("ServiceAccount"), "metadata.name")
                as? String)
    }

    @Test("the pod runs non-root, read-only, without capabilities, with probes on the admin port")
    func podSecurityAndProbes() throws {
        let render = try ChartRender.render(ChartRender.required)
        let pod = try #require(value(try render.object("Deployment"), "spec.template.spec") as? [String: Any])
        #expect(value(pod, "securityContext.runAsNonRoot") as? Bool == true)
        #expect(value(pod, "securityContext.seccompProfile.type") as? String == "RuntimeDefault")
        let container = try #require(value(pod, "containers.0") as? [String: Any])
        #expect(value(container, "securityContext.readOnlyRootFilesystem") as? Bool == true)
        #expect(value(container, "securityContext.allowPrivilegeEscalation") as? Bool == false)
        #expect(value(container, "securityContext.capabilities.drop") as? [String] == ["ALL"])
        #expect(value(container, "ports.0.containerPort") as? Int == 9990)
        #expect(value(container, "livenessProbe.httpGet.path") as? String == "/healthz")
        #expect(value(container, "readinessProbe.httpGet.path") as? String == "/readyz")
        #expect(value(container, "readinessProbe.httpGet.port") as? String == "admin")
        #expect(value(container, "resources.limits.memory") as? String == "512Mi")
        #expect(value(container, "args") as? [String] == ["--config", "/etc/fathom/config.yaml"])
        // SIGTERM: the pod's grace period is above the agent's flush deadline.
        #expect((value(pod, "terminationGracePeriodSeconds") as? Int ?? 0) > 20)
        let volumes = try #require(value(pod, "volumes") as? [[String: Any]])
        #expect(volumes.contains { value($0, "emptyDir.sizeLimit") as? String == "512Mi" })
    }

    @Test("the ConfigMap's config.yaml is valid for the agent's own loader, and points at the mounts")
    func configDecodesWithTheAgentsLoader() throws {
        let render = try ChartRender.render(
            ChartRender.merged(["config": ["scrape": ["interval": "15s", "namespaces": ["exclude": ["kube-system"]]]]]))
        let yaml = try #require(
            (value(try render.object("ConfigMap"), "data") as? [String: Any])?["config.yaml"] as? String)
        let configuration = try ConfigurationLoader.load(yaml: yaml)
        #expect(configuration.clusterName == "prod-eu")
        #expect(configuration.scrapeInterval == 15)
        #expect(configuration.excludeNamespaces == ["kube-system"])
        #expect(configuration.agentID == "fathom-fathom-agent")
        let container = try #require(
            value(try render.object("Deployment"), "spec.template.spec.containers.0") as? [String: Any])
        let mounts = try #require(container["volumeMounts"] as? [[String: Any]])
        let mountPaths = Set(mounts.compactMap { $0["mountPath"] as? String })
        #expect(mountPaths.contains((configuration.tokenFile as NSString).deletingLastPathComponent))
        #expect(mountPaths.contains(try #require(configuration.spoolDirectory)))
        #expect(configuration.adminPort == value(container, "ports.0.containerPort") as? Int)
        #expect(configuration.spoolMaxBytes == 448 << 20)
    }

    @Test("every configuration key users set is in values.yaml, and the chart's appVersion is the agent's")
    func chartAndAgentAgree() throws {
        let values = try #require(
            try Yams.load(
                yaml: String(contentsOf: ChartRender.chart.appendingPathComponent("values.yaml"), encoding: .utf8))
                as? [String: Any])
        func paths(_ object: Any?, _ prefix: String) -> [String] {
            guard let map = object as? [String: Any] else { return [prefix] }
            return map.flatMap { paths($0.value, prefix.isEmpty ? $0.key : "\(prefix).\($0.key)") }
        }
        let offered = Set(paths(values["config"], ""))
        // Set by the chart itself (identity, mounts, the admin listener and the grace period from
        // their own values, the node in daemonset mode, no kubeconfig in a pod).
        let chartOwned: Set<String> = [
            "agent.id", "report.tokenFile", "report.spool.directory", "report.spool.maxBytes", "admin.address",
            "admin.port", "shutdown.gracePeriod", "kubernetes.nodeName", "kubernetes.kubeconfig",
        ]
        #expect(offered == Set(ConfigurationKey.all.map(\.path)).subtracting(chartOwned))
        let chart = try #require(
            try Yams.load(
                yaml: String(contentsOf: ChartRender.chart.appendingPathComponent("Chart.yaml"), encoding: .utf8))
                as? [String: Any])
        #expect(chart["appVersion"] as? String == AgentVersion.current)
    }

    @Test("daemonset mode: one agent per node, each told its node through the downward API")
    func daemonset() throws {
        let render = try ChartRender.render(
            ChartRender.merged(["mode": "daemonset", "podDisruptionBudget": ["enabled": true]]))
        #expect(render.invalid.isEmpty, "\(render.invalid)")
        #expect(render.objects("Deployment").isEmpty && render.objects("PodDisruptionBudget").isEmpty)
        let env = try #require(
            value(try render.object("DaemonSet"), "spec.template.spec.containers.0.env") as? [[String: Any]])
        #expect(env.first?["name"] as? String == "FATHOM_KUBERNETES_NODE_NAME")
        #expect(value(env.first, "valueFrom.fieldRef.fieldPath") as? String == "spec.nodeName")
        #expect(value(env.last, "valueFrom.fieldRef.fieldPath") as? String == "metadata.name")
        // The one write: the leader-election Lease, in the release namespace only.
        let lease = LeaderElectionPermissions.resource
        let leaderElection = try #require(
            render.objects("Role").first {
                (value($0, "metadata.name") as? String)?.hasSuffix("-leader-election") == true
            })
        #expect(
            Self.grants(leaderElection)
                == [
                    "\(lease.group)/\(lease.plural): \(LeaderElectionPermissions.verbs.sorted().joined(separator: ","))"
                ])
    }

    @Test("every option renders valid objects: monitors, PDB, network policy, an existing Secret, scheduling")
    func optionMatrix() throws {
        let render = try ChartRender.render(
            ChartRender.merged([
                "apiToken": ["value": "", "existingSecret": "fathom-api", "existingSecretKey": "api-token"],
                "serviceMonitor": ["enabled": true, "labels": ["release": "kube-prometheus"]],
                "podMonitor": ["enabled": true], "podDisruptionBudget": ["enabled": true],
                "networkPolicy": ["enabled": true], "spool": ["enabled": false],
                "podAnnotations": ["linkerd.io/inject": "enabled"], "nodeSelector": ["kubernetes.io/os": "linux"],
                "tolerations": [["key": "dedicated", "operator": "Exists", "effect": "NoSchedule"]],
                "priorityClassName": "system-cluster-critical",
            ]))
        #expect(render.lintErrors.isEmpty, "\(render.lintErrors)")
        #expect(render.invalid.isEmpty, "\(render.invalid)")
        #expect(render.objects("Secret").isEmpty, "an existing Secret is used, not created")
        for kind in ["ServiceMonitor", "PodMonitor", "PodDisruptionBudget", "NetworkPolicy"] {
            #expect(render.objects(kind).count == 1, "\(kind)")
        }
        let pod = try #require(value(try render.object("Deployment"), "spec.template.spec") as? [String: Any])
        let volumes = try #require(pod["volumes"] as? [[String: Any]])
        #expect(volumes.contains { value($0, "secret.secretName") as? String == "fathom-api" })
        #expect(volumes.contains { value($0, "secret.items.0.key") as? String == "api-token" })
        #expect(!volumes.contains { $0["emptyDir"] != nil })
        #expect(value(pod, "priorityClassName") as? String == "system-cluster-critical")
        let yaml = try #require(
            (value(try render.object("ConfigMap"), "data") as? [String: Any])?["config.yaml"] as? String)
        #expect(try ConfigurationLoader.load(yaml: yaml).spoolDirectory == nil)
    }

    @Test("a config change rolls the pods through the checksum annotation")
    func checksumFollowsConfig() throws {
        func checksum(_ values: [String: Any]) throws -> String? {
            value(
                try ChartRender.render(values).object("Deployment"),
                "spec.template.metadata.annotations.checksum/config")
                as? String
        }
        let before = try checksum(ChartRender.required)
        #expect(before != nil)
        #expect(try checksum(ChartRender.merged(["config": ["logging": ["level": "debug"]]])) != before)
    }

    @Test(
        "values.schema.json rejects typos and wrong types; missing required values fail with what to set",
        arguments: [
            (#"{"confg": {"cluster": {"name": "x"}}}"#, "confg"),
            (#"{"config": {"scrape": {"intervall": "10s"}}}"#, "intervall"),
            (#"{"replicaCount": "one"}"#, "replicaCount"),
            (#"{"mode": "statefulset"}"#, "mode"),
        ])
    func schemaRejects(json: String, key: String) throws {
        let values = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let render = try ChartRender.render(ChartRender.merged(values))
        let error = try #require(render.schemaError)
        #expect(error.contains(key), "\(error)")
    }

    @Test("a missing cluster name or token fails the render with the value to set")
    func requiredValues() throws {
        var values = ChartRender.required
        values["apiToken"] = ["value": ""]
        #expect(try ChartRender.render(values).renderError?.contains("apiToken.existingSecret") == true)
        values = ChartRender.required
        values["config"] = ["report": ["endpoint": "https://x.example"]]
        #expect(try ChartRender.render(values).renderError?.contains("config.cluster.name is required") == true)
    }
}
