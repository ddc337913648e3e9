import KubernetesModels

/// Linkerd's rule for "this pod is meshed", and where its proxy serves metrics.
///
/// Same test as linkerd-viz's Prometheus: the label `linkerd.io/control-plane-ns` names the
/// control plane's namespace, and a container named `linkerd-proxy` exists, either in
/// `containers` or, with native sidecars, in `initContainers`. The metrics port is the proxy's
/// `linkerd-admin` port, unless `config.linkerd.io/admin-port` overrides it; 4191 by default.
public enum MeshedPodRule {
    public static let controlPlaneLabel = "linkerd.io/control-plane-ns"
    public static let proxyContainerName = "linkerd-proxy"
    public static let adminPortName = "linkerd-admin"
    public static let adminPortAnnotation = "config.linkerd.io/admin-port"
    public static let proxyVersionAnnotation = "linkerd.io/proxy-version"
    public static let defaultAdminPort = 4191

    /// The proxy container, wherever the injector put it.
    public static func proxyContainer(of pod: Pod) -> Pod.Container? {
        pod.spec.containers.first { $0.name == proxyContainerName }
            ?? pod.spec.initContainers?.first { $0.name == proxyContainerName }
    }

    public static func isMeshed(_ pod: Pod, controlPlaneNamespace: String) -> Bool {
        pod.metadata.label(controlPlaneLabel) == controlPlaneNamespace && proxyContainer(of: pod) != nil
    }

    /// The admin (metrics) port of a meshed pod's proxy.
    public static func adminPort(of pod: Pod) -> Int {
        if let override = pod.metadata.annotation(adminPortAnnotation).flatMap(Int.init), (1...65535).contains(override)
        {
            return override
        }
        return proxyContainer(of: pod)?.ports?.first { $0.name == adminPortName }?.containerPort ?? defaultAdminPort
    }

    /// Why a meshed pod is not scraped now, or nil when it is: only running pods with an IP are
    /// targets, so evicted, failed, succeeded and unscheduled pods never hold a scrape slot.
    public static func notScrapableReason(_ pod: Pod) -> String? {
        guard pod.status.phase == "Running" else {
            return pod.status.reason.map { "\(pod.status.phase ?? "Unknown") (\($0))" }
                ?? (pod.status.phase ?? "Unknown")
        }
        guard let ip = pod.status.podIP, !ip.isEmpty else { return "no pod IP" }
        return nil
    }

    /// The proxy version the injector recorded (`linkerd.io/proxy-version`), or the proxy image's tag.
    public static func proxyVersion(of pod: Pod) -> String? {
        if let annotated = pod.metadata.annotation(proxyVersionAnnotation), !annotated.isEmpty { return annotated }
        guard let image = proxyContainer(of: pod)?.image, !image.contains("@") else { return nil }
        guard let colon = image.lastIndex(of: ":"), !image[colon...].contains("/") else { return nil }
        return String(image[image.index(after: colon)...])
    }
}
