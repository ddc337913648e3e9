import FathomModel
import Testing

@testable import Inventory
@testable import MeshHealth

/// The checks made from the inventory and the proxies' certificates, as `linkerd check` words
/// and grades them.
@Suite struct MeshChecksTests {
    static func pod(_ name: String, _ component: String, version: String? = "stable-2.14.10", ready: Bool = true)
        -> ControlPlaneSummary.Pod
    {
        ControlPlaneSummary.Pod(name: name, component: component, version: version, phase: "Running", ready: ready)
    }

    static let healthyControlPlane = ControlPlaneSummary(
        namespace: "linkerd", version: "stable-2.14.10",
        pods: [
            pod("linkerd-destination-1", "destination"), pod("linkerd-identity-1", "identity"),
            pod("linkerd-proxy-injector-1", "proxy-injector"),
        ])

    static func inventory(_ controlPlane: ControlPlaneSummary, outdated: [String: [String]] = [:]) -> InventorySnapshot
    {
        let workloads = outdated.keys.sorted().map { name in
            var summary = WorkloadSummary(workload: WorkloadRef(kind: "Deployment", namespace: "shop", name: name))
            summary.outdatedProxyPods = outdated[name]!
            return summary
        }
        return InventorySnapshot(workloads: workloads, controlPlane: controlPlane, proxyVersions: [:])
    }

    static func certificates(_ troubled: [String: CertificateState] = [:]) -> ProxyCertificates.Summary {
        ProxyCertificates.Summary(
            proxies: [.valid: 3], earliestExpiry: nil,
            troubled: Dictionary(uniqueKeysWithValues: troubled.map { (ProxyID($0.key), $0.value) }))
    }

    @Test func aHealthyMeshPassesEveryCheck() {
        let anchor = TrustAnchor(subject: "CN=root.linkerd.cluster.local", notBefore: -86_400, notAfter: 365 * 86_400)
        let checks = MeshChecks.evaluate(
            inventory: Self.inventory(Self.healthyControlPlane), certificates: Self.certificates(),
            trustAnchors: .read(source: "linkerd/linkerd-identity-trust-roots", fingerprint: 1, .success([anchor])),
            now: 0)
        #expect(checks.map(\.id) == MeshChecks.ids)
        #expect(checks.allSatisfy { $0.status == .ok && $0.message.isEmpty && $0.subjects.isEmpty })
    }

    @Test func withoutTheInventoryOnlyTheCertificatesAreChecked() {
        let checks = MeshChecks.evaluate(inventory: nil, certificates: Self.certificates(), now: 0)
        #expect(checks.map(\.id) == ["data-plane-proxy-certificates"])
    }

    @Test func aComponentWithoutAReadyPodIsAnError() {
        var controlPlane = Self.healthyControlPlane
        controlPlane.pods[1].ready = false
        // A second destination pod that is not running does not stand in for anything.
        controlPlane.pods.append(
            ControlPlaneSummary.Pod(
                name: "linkerd-destination-2", component: "destination", version: "stable-2.14.10", phase: "Pending",
                ready: false))
        let check = MeshChecks.controlPlanePodsReady(controlPlane)
        #expect(check.status == .error)
        #expect(check.subjects == ["identity"])
        #expect(check.message == "no ready pod of identity in namespace linkerd")
        #expect(check.hint.contains("kubectl -n linkerd get pods"))

        let none = MeshChecks.controlPlanePodsReady(ControlPlaneSummary(namespace: "mesh", version: nil, pods: []))
        #expect(none.status == .error)
        #expect(none.subjects == MeshChecks.requiredComponents)
        #expect(none.hint.contains("linkerd.controlPlaneNamespace"))
    }

    /// A control-plane replica the scheduler found no node for is an error naming it, even when
    /// another replica of its component runs ("no unschedulable pods").
    @Test func unschedulableControlPlanePodsAreAnError() {
        var controlPlane = Self.healthyControlPlane
        #expect(MeshChecks.controlPlanePodsSchedulable(controlPlane).status == .ok)
        var pending = ControlPlaneSummary.Pod(
            name: "linkerd-identity-2", component: "identity", version: nil, phase: "Pending", ready: false)
        pending.unschedulable = true
        controlPlane.pods.append(pending)
        let check = MeshChecks.controlPlanePodsSchedulable(controlPlane)
        #expect(check.status == .error)
        #expect(check.subjects == ["linkerd-identity-2"])
        #expect(check.message == "1 control-plane pod in namespace linkerd cannot be scheduled")
        #expect(check.hint.hasPrefix("kubectl -n linkerd describe pod linkerd-identity-2"))
        #expect(MeshChecks.controlPlanePodsReady(controlPlane).status == .ok, "identity still has a ready pod")
        let checks = MeshChecks.evaluate(
            inventory: Self.inventory(controlPlane), certificates: Self.certificates(), now: 0)
        #expect(checks.first { $0.id == "control-plane-pods-schedulable" }?.status == .error)
    }

    @Test func proxiesOnAnotherVersionWarnWithTheCompleteList() {
        let inventory = Self.inventory(
            Self.healthyControlPlane, outdated: ["web": ["web-2", "web-1"], "api": ["api-1"]])
        let check = MeshChecks.dataPlaneProxiesVersion(inventory)
        #expect(check.status == .warning)
        #expect(check.subjects == ["shop/api-1", "shop/web-1", "shop/web-2"])
        #expect(check.message == "3 meshed pods run proxies not on the control plane's version stable-2.14.10")

        var controlPlane = Self.healthyControlPlane
        controlPlane.pods[0].version = "stable-2.14.9"
        let proxies = MeshChecks.controlPlaneProxiesVersion(controlPlane)
        #expect(proxies.status == .warning)
        #expect(proxies.subjects == ["linkerd/linkerd-destination-1"])
    }

    @Test func anExpiredProxyCertificateIsAnErrorAndAFailingRenewalAWarning() {
        let failing = MeshChecks.proxyCertificates(Self.certificates(["shop/web-1": .refreshFailing]))
        #expect(failing.status == .warning)
        #expect(failing.subjects == ["shop/web-1"])
        #expect(failing.message == "1 proxy fails to renew its certificate")

        let both = MeshChecks.proxyCertificates(
            Self.certificates(["shop/web-1": .refreshFailing, "shop/db-0": .expired, "shop/db-1": .expired]))
        #expect(both.status == .error)
        // Expired first, each group sorted.
        #expect(both.subjects == ["shop/db-0", "shop/db-1", "shop/web-1"])
        #expect(both.message == "2 proxy certificates have expired; 1 proxy fails to renew its certificate")
    }

    @Test func podsWithAnotherBundleOrADenyingProxyAreNamed() {
        let bundle = TrustAnchorsFingerprint.of("anchors")
        func pod(_ name: String, anchors: String?, policy: String? = "all-unauthenticated") -> MeshedPodIdentity {
            MeshedPodIdentity(
                pod: .init(namespace: "shop", name: name),
                trustAnchorsFingerprint: anchors.map(TrustAnchorsFingerprint.of),
                inboundDefaultPolicy: policy)
        }
        let pods = [
            pod("web-1", anchors: "anchors\n"), pod("web-2", anchors: "old anchors"),
            pod("db-0", anchors: nil, policy: "deny"), pod("db-1", anchors: " anchors", policy: "deny"),
        ]
        let drift = MeshChecks.dataPlaneTrustAnchors(pods, bundle: bundle)
        #expect(drift.status == .warning)
        #expect(drift.subjects == ["shop/web-2"])
        #expect(drift.message == "1 meshed pod does not have the current trust bundle and must be restarted")
        let denied = MeshChecks.agentAuthorized(pods)
        #expect(denied.status == .warning)
        #expect(denied.subjects == ["shop/db-0", "shop/db-1"])
        #expect(MeshChecks.agentAuthorized([pods[0]]).status == .ok)
        // Compared only with a bundle that was read.
        let inventory = Self.inventory(Self.healthyControlPlane)
        let unread = MeshChecks.evaluate(inventory: inventory, certificates: Self.certificates(), pods: pods, now: 0)
        #expect(!unread.map(\.id).contains("data-plane-trust-anchors"))
        #expect(unread.first { $0.id == "data-plane-agent-authorized" }?.status == .warning)
        let read = MeshChecks.evaluate(
            inventory: inventory, certificates: Self.certificates(),
            trustAnchors: .read(source: "linkerd/linkerd-identity-trust-roots", fingerprint: bundle, .success([])),
            pods: pods, now: 0)
        #expect(read.first { $0.id == "data-plane-trust-anchors" }?.subjects == ["shop/web-2"])
    }

    /// Scrapes a proxy answered with a 403 are an error naming those pods, whether or not this
    /// agent reports the inventory (each agent knows its own scrapes); a default-deny policy
    /// alone stays a warning.
    @Test func scrapesRefusedByPolicyAreAnErrorNamingThePods() {
        let denying = MeshedPodIdentity(
            pod: .init(namespace: "shop", name: "db-0"), trustAnchorsFingerprint: nil, inboundDefaultPolicy: "deny")
        let refused = MeshChecks.agentAuthorized([denying], refusing: ["shop/web-2", "shop/web-1"])
        #expect(refused.status == .error)
        #expect(refused.subjects == ["shop/web-1", "shop/web-2"])
        #expect(refused.message.hasPrefix("2 meshed pods' proxies refuse the agent's scrapes (HTTP 403"))
        #expect(MeshChecks.agentAuthorized([denying]).status == .warning)

        let follower = MeshChecks.evaluate(
            inventory: nil, certificates: Self.certificates(), refusingScrapes: ["shop/web-1"], now: 0)
        #expect(follower.first { $0.id == "data-plane-agent-authorized" }?.subjects == ["shop/web-1"])
        let quiet = MeshChecks.evaluate(inventory: nil, certificates: Self.certificates(), now: 0)
        #expect(!quiet.map(\.id).contains("data-plane-agent-authorized"), "nothing to say without the inventory")
    }

    @Test func statusesOrderFromOkToError() {
        #expect([CheckStatus.error, .ok, .warning].max() == .error)
        #expect([CheckStatus.ok, .warning].max() == .warning)
    }
}
