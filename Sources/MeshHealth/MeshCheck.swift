import Inventory

/// How a check came out, as `linkerd check` marks it (√, ‼, ×).
public enum CheckStatus: String, Sendable, Codable, CaseIterable, Comparable {
    case ok
    case warning
    case error

    private var rank: Int {
        switch self {
        case .ok: 0
        case .warning: 1
        case .error: 2
        }
    }

    public static func < (lhs: CheckStatus, rhs: CheckStatus) -> Bool { lhs.rank < rhs.rank }
}

/// One health check of the mesh, worded as `linkerd check` words its own: a stable id, the
/// category it belongs to, how it came out, what it found and what to do about it.
public struct MeshCheck: Sendable, Equatable, Codable {
    /// Stable across versions: the SaaS, alerts and `/metrics` key on it.
    public var id: String
    /// `linkerd check`'s category name (`linkerd-existence`, `linkerd-data-plane`, ...).
    public var category: String
    /// What is checked, as the line `linkerd check` prints for it.
    public var title: String
    public var status: CheckStatus
    /// What was found: empty when the check passed.
    public var message: String
    /// What to do about it: empty when the check passed.
    public var hint: String
    /// What the check names (pods as `namespace/name`, control-plane components), complete and
    /// sorted, so an operator has the whole list, as `linkerd check --proxy` gives it.
    public var subjects: [String]

    public init(
        id: String, category: String, title: String, status: CheckStatus, message: String = "", hint: String = "",
        subjects: [String] = []
    ) {
        self.id = id
        self.category = category
        self.title = title
        self.status = status
        self.message = message
        self.hint = hint
        self.subjects = subjects
    }
}

/// The checks the agent can make from what it already reads: the inventory (control-plane pods,
/// the proxies' versions) and the proxies' own identity certificates. None reads a Secret.
public enum MeshChecks {
    /// The control-plane components that must each have a ready pod for the mesh to work:
    /// without the identity service no proxy gets a certificate, without destination no proxy
    /// finds an endpoint, without the injector no new pod is meshed.
    public static let requiredComponents = ["destination", "identity", "proxy-injector"]

    /// Every check's id, for gauges with a bounded label.
    public static let ids = [
        "control-plane-pods-ready", "control-plane-pods-schedulable", "control-plane-proxies-version",
        "trust-anchors-valid", "trust-anchors-expiring",
        "data-plane-proxies-version", "data-plane-trust-anchors", "data-plane-agent-authorized",
        "data-plane-proxy-certificates",
    ]

    /// How long before a trust anchor's NotAfter it warns: 60 days, as `linkerd check` does.
    public static let defaultExpiryWarningSeconds = 60.0 * 86_400

    /// The checks at `now` (Unix seconds), as `certificates` was summed up. `inventory` is nil
    /// where this agent does not report the cluster (a follower in daemonset mode, or before its
    /// first lists): the checks that need it are then left out rather than guessed, and so are
    /// the trust anchors' while they are not yet read. `pods` are the running meshed pods'
    /// proxies, from the same inventory; `refusingScrapes` the pods (`namespace/name`) whose proxy
    /// last answered this agent's scrape with a 403, which every agent knows of its own scrapes.
    public static func evaluate(
        inventory: InventorySnapshot?, certificates: ProxyCertificates.Summary,
        trustAnchors: TrustAnchorsReading = .unknown, pods: [MeshedPodIdentity] = [], refusingScrapes: [String] = [],
        now: Double, expiryWarningSeconds: Double = defaultExpiryWarningSeconds
    ) -> [MeshCheck] {
        var checks: [MeshCheck] = []
        if let inventory {
            checks.append(controlPlanePodsReady(inventory.controlPlane))
            checks.append(controlPlanePodsSchedulable(inventory.controlPlane))
            checks.append(controlPlaneProxiesVersion(inventory.controlPlane))
        }
        checks += self.trustAnchors(trustAnchors, now: now, warningSeconds: expiryWarningSeconds)
        if let inventory {
            checks.append(dataPlaneProxiesVersion(inventory))
            if case .read(_, let fingerprint, .success) = trustAnchors {
                checks.append(dataPlaneTrustAnchors(pods, bundle: fingerprint))
            }
        }
        if inventory != nil || !refusingScrapes.isEmpty {
            checks.append(agentAuthorized(inventory == nil ? [] : pods, refusing: refusingScrapes))
        }
        checks.append(proxyCertificates(certificates))
        return checks
    }

    /// Pods whose proxy was given other trust anchors than the bundle's (an anchor rotated
    /// since they started): they cannot verify peers with certificates from the new issuer.
    static func dataPlaneTrustAnchors(_ pods: [MeshedPodIdentity], bundle: Int) -> MeshCheck {
        var check = MeshCheck(
            id: "data-plane-trust-anchors", category: "linkerd-identity-data-plane",
            title: "data plane proxies certificate match CA", status: .ok)
        let stale = pods.filter { $0.trustAnchorsFingerprint.map { $0 != bundle } ?? false }.map(\.pod.description)
        guard !stale.isEmpty else { return check }
        check.status = .warning
        check.subjects = stale.sorted()
        check.message =
            "\(stale.count) meshed pod\(stale.count == 1 ? " does" : "s do") not have the current trust bundle and must "
            + "be restarted"
        check.hint = "restart their workloads (kubectl rollout restart) so the injector gives them the current bundle"
        return check
    }

    /// Pods whose proxy refuses the agent's scrapes of its admin port (the blind spot `linkerd viz
    /// check` warns Prometheus of): an error for those whose last answer was a 403, a warning for
    /// those that deny by default on a port without a Server, which a policy may still admit.
    static func agentAuthorized(_ pods: [MeshedPodIdentity], refusing: [String] = []) -> MeshCheck {
        var check = MeshCheck(
            id: "data-plane-agent-authorized", category: "linkerd-data-plane",
            title: "the agent is authorized to scrape data plane pods", status: .ok)
        if !refusing.isEmpty {
            check.status = .error
            check.subjects = refusing.sorted()
            check.message =
                "\(refusing.count) meshed pod\(refusing.count == 1 ? "'s proxy refuses" : "s' proxies refuse") the "
                + "agent's scrapes (HTTP 403 from their authorization policy): their traffic is missing from the reports"
            check.hint =
                "admit the agent to the linkerd-admin port: an AuthorizationPolicy for the Server of that port naming "
                + "the agent's ServiceAccount identity when the agent is meshed, else its network"
            return check
        }
        let denying = pods.filter { $0.inboundDefaultPolicy == "deny" }.map(\.pod.description)
        guard !denying.isEmpty else { return check }
        check.status = .warning
        check.subjects = denying.sorted()
        check.message =
            "\(denying.count) meshed pod\(denying.count == 1 ? "'s proxy denies" : "s' proxies deny") by default "
            + "(LINKERD2_PROXY_INBOUND_DEFAULT_POLICY=deny): the agent's scrapes of their admin port are refused "
            + "unless a policy admits them, and their traffic is missing from the reports"
        check.hint =
            "add a Server for the linkerd-admin port and an AuthorizationPolicy admitting the agent (its "
            + "ServiceAccount's identity when the agent is meshed, else its network) in each of their namespaces"
        return check
    }

    static func trustAnchors(_ reading: TrustAnchorsReading, now: Double, warningSeconds: Double) -> [MeshCheck] {
        var valid = MeshCheck(
            id: "trust-anchors-valid", category: "linkerd-identity",
            title: "trust anchors are within their validity period", status: .ok)
        let days = Int((warningSeconds / 86_400).rounded())
        var expiring = MeshCheck(
            id: "trust-anchors-expiring", category: "linkerd-identity",
            title: "trust anchors are valid for at least \(days) days", status: .ok)
        switch reading {
        case .unknown:
            return []
        case .unavailable(let why):
            valid.status = .warning
            valid.message = "cannot read the trust anchors: \(why)"
            valid.hint =
                "let the agent get the ConfigMap linkerd-identity-trust-roots in the control-plane namespace "
                + "(the chart's Role does; helm upgrade with linkerd.controlPlaneNamespace set)"
            return [valid]
        case .read(let source, _, .failure(let error)):
            valid.status = .error
            valid.subjects = [source]
            valid.message = "the trust bundle in \(source) is not usable: \(error.detail)"
            valid.hint =
                "every block of ca-bundle.crt must be a PEM CA certificate, with nothing but whitespace between "
                + "them; no new proxy can verify its peers until it is fixed"
            return [valid]
        case .read(let source, _, .success(let anchors)):
            let invalid = anchors.filter { now < $0.notBefore || now >= $0.notAfter }
            if !invalid.isEmpty {
                valid.status = .error
                valid.subjects = invalid.map(\.subject).sorted()
                valid.message =
                    "\(invalid.count) trust anchor\(invalid.count == 1 ? " is" : "s are") expired or not yet valid "
                    + "in \(source)"
                valid.hint =
                    "rotate the trust anchor: https://linkerd.io/2/tasks/manually-rotating-control-plane-tls-credentials/"
            }
            let soon = anchors.filter { now < $0.notAfter && $0.notAfter - now < warningSeconds }
            if !soon.isEmpty {
                expiring.status = .warning
                expiring.subjects = soon.map(\.subject).sorted()
                let first = soon.map(\.notAfter).min()!
                expiring.message =
                    "\(soon.count) trust anchor\(soon.count == 1 ? " expires" : "s expire") within \(days) days, the "
                    + "first in \(Int(((first - now) / 86_400).rounded())) days"
                expiring.hint = "rotate the trust anchor before it expires, keeping both in the bundle meanwhile"
            }
            return [valid, expiring]
        }
    }

    static func controlPlanePodsReady(_ controlPlane: ControlPlaneSummary) -> MeshCheck {
        var check = MeshCheck(
            id: "control-plane-pods-ready", category: "linkerd-existence",
            title: "control plane pods are ready", status: .ok)
        let missing = requiredComponents.filter { component in
            !controlPlane.pods.contains { $0.component == component && $0.phase == "Running" && $0.ready }
        }
        guard !missing.isEmpty else { return check }
        check.status = .error
        check.subjects = missing
        if controlPlane.pods.isEmpty {
            check.message = "no Linkerd control-plane pod in namespace \(controlPlane.namespace)"
            check.hint =
                "install Linkerd, or set linkerd.controlPlaneNamespace to the namespace it runs in "
                + "(pods labelled linkerd.io/control-plane-component)"
        } else {
            check.message = "no ready pod of \(missing.joined(separator: ", ")) in namespace \(controlPlane.namespace)"
            check.hint =
                "kubectl -n \(controlPlane.namespace) get pods; kubectl -n \(controlPlane.namespace) describe pod"
        }
        return check
    }

    static func controlPlaneProxiesVersion(_ controlPlane: ControlPlaneSummary) -> MeshCheck {
        var check = MeshCheck(
            id: "control-plane-proxies-version", category: "linkerd-control-plane-proxy",
            title: "control plane proxies and control plane versions match", status: .ok)
        guard let version = controlPlane.version else { return check }
        let other = controlPlane.pods.filter { $0.version.map { $0 != version } ?? false }
        guard !other.isEmpty else { return check }
        check.status = .warning
        check.subjects = other.map { "\(controlPlane.namespace)/\($0.name)" }.sorted()
        check.message =
            "\(other.count) control-plane pod\(other.count == 1 ? "" : "s") not on the control plane's version \(version)"
        check.hint = "restart them after the upgrade: kubectl -n \(controlPlane.namespace) rollout restart deploy"
        return check
    }

    static func dataPlaneProxiesVersion(_ inventory: InventorySnapshot) -> MeshCheck {
        var check = MeshCheck(
            id: "data-plane-proxies-version", category: "linkerd-data-plane",
            title: "data plane proxies and control plane versions match", status: .ok)
        let outdated = inventory.workloads.flatMap { workload in
            workload.outdatedProxyPods.map { "\(workload.workload.namespace)/\($0)" }
        }.sorted()
        guard !outdated.isEmpty, let version = inventory.controlPlane.version else { return check }
        check.status = .warning
        check.subjects = outdated
        check.message =
            "\(outdated.count) meshed pod\(outdated.count == 1 ? " runs a proxy" : "s run proxies") "
            + "not on the control plane's version \(version)"
        check.hint = "restart their workloads so the injector gives them the current proxy (kubectl rollout restart)"
        return check
    }

    /// Control-plane pods the scheduler found no node for, as `linkerd check`'s "no unschedulable
    /// pods": a replica that never runs (an HA control plane short of nodes, or of resources).
    static func controlPlanePodsSchedulable(_ controlPlane: ControlPlaneSummary) -> MeshCheck {
        var check = MeshCheck(
            id: "control-plane-pods-schedulable", category: "linkerd-existence", title: "no unschedulable pods",
            status: .ok)
        let stuck = controlPlane.pods.filter(\.unschedulable).map(\.name).sorted()
        guard !stuck.isEmpty else { return check }
        check.status = .error
        check.subjects = stuck
        check.message =
            "\(stuck.count) control-plane pod\(stuck.count == 1 ? "" : "s") in namespace \(controlPlane.namespace) "
            + "cannot be scheduled"
        check.hint =
            "kubectl -n \(controlPlane.namespace) describe pod \(stuck[0]) says why (no node with the resources, "
            + "the node selector or the anti-affinity a high-availability install asks for)"
        return check
    }

    static func proxyCertificates(_ certificates: ProxyCertificates.Summary) -> MeshCheck {
        var check = MeshCheck(
            id: "data-plane-proxy-certificates", category: "linkerd-identity-data-plane",
            title: "data plane proxies' identity certificates are renewed", status: .ok)
        guard !certificates.troubled.isEmpty else { return check }
        let expired = certificates.troubled.filter { $0.value == .expired }.keys.map(\.description).sorted()
        let failing = certificates.troubled.filter { $0.value == .refreshFailing }.keys.map(\.description).sorted()
        check.status = expired.isEmpty ? .warning : .error
        check.subjects = expired + failing
        var found: [String] = []
        if !expired.isEmpty {
            found.append("\(expired.count) proxy certificate\(expired.count == 1 ? " has" : "s have") expired")
        }
        if !failing.isEmpty {
            found.append("\(failing.count) prox\(failing.count == 1 ? "y fails" : "ies fail") to renew its certificate")
        }
        check.message = found.joined(separator: "; ")
        check.hint =
            "check the identity service (kubectl -n linkerd logs deploy/linkerd-identity) and whether its issuer "
            + "certificate has expired; a proxy whose certificate expired cannot make mTLS connections"
        return check
    }
}
