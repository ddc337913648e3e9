import FathomModel
import Foundation
import Inventory
import KubernetesModels
import Testing

/// A pod as the Linkerd proxy injector leaves it (trimmed `kubectl get pod -o json`), with the
/// proxy as a classic sidecar or as a native sidecar in `initContainers`.
func injectedPodJSON(
    native: Bool, adminPortOverride: String? = nil, phase: String = "Running", ip: String? = "10.42.0.17"
)
    -> String
{
    let proxy = """
        {"name":"linkerd-proxy","image":"cr.l5d.io/linkerd/proxy:stable-2.14.10",\(native ? #""restartPolicy":"Always","# : "")
         "ports":[{"containerPort":4143,"name":"linkerd-proxy","protocol":"TCP"},
                  {"containerPort":4191,"name":"linkerd-admin","protocol":"TCP"}],
         "env":[{"name":"LINKERD2_PROXY_ADMIN_LISTEN_ADDR","value":"0.0.0.0:4191"},
                {"name":"LINKERD2_PROXY_INBOUND_DEFAULT_POLICY","value":"all-unauthenticated"},
                {"name":"LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS","value":"\(injectedTrustAnchors.replacingOccurrences(of: "\n", with: "\\n"))"},
                {"name":"_pod_ns","valueFrom":{"fieldRef":{"fieldPath":"metadata.namespace"}}}]}
        """
    let app =
        #"{"name":"web-svc","image":"docker.l5d.io/buoyantio/emojivoto-web:v11","ports":[{"containerPort":8080,"name":"http","protocol":"TCP"}],"env":[{"name":"LINKERD2_PROXY_INBOUND_DEFAULT_POLICY","value":"deny"}]}"#
    let initContainers =
        native
        ? "[{\"name\":\"linkerd-init\",\"image\":\"cr.l5d.io/linkerd/proxy-init:v2.2.3\"},\(proxy)]"
        : "[{\"name\":\"linkerd-init\",\"image\":\"cr.l5d.io/linkerd/proxy-init:v2.2.3\"}]"
    let containers = native ? "[\(app)]" : "[\(proxy),\(app)]"
    let override = adminPortOverride.map { #","config.linkerd.io/admin-port":"\#($0)""# } ?? ""
    return """
        {"apiVersion":"v1","kind":"Pod","metadata":{
          "name":"web-5f86686c4d-58nvn","namespace":"emojivoto","uid":"0b6c2a4e-6a5b-4c5b-9d0e-2a7f3c1d9e01",
          "resourceVersion":"48213","generateName":"web-5f86686c4d-","creationTimestamp":"2026-11-20T09:12:03Z",
          "labels":{"app":"web-svc","linkerd.io/control-plane-ns":"linkerd","linkerd.io/proxy-deployment":"web",
                    "linkerd.io/workload-ns":"emojivoto","pod-template-hash":"5f86686c4d","version":"v11"},
          "annotations":{"linkerd.io/created-by":"linkerd/proxy-injector stable-2.14.10","linkerd.io/inject":"enabled",
                         "linkerd.io/proxy-version":"stable-2.14.10","linkerd.io/trust-root-sha256":"3bb8",
                         "kubectl.kubernetes.io/last-applied-configuration":"{\\"big\\":\\"blob\\"}",
                         "viz.linkerd.io/tap-enabled":"true"\(override)},
          "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-5f86686c4d",
                              "uid":"7d1e","controller":true,"blockOwnerDeletion":true}]},
         "spec":{"nodeName":"k3d-node-0","serviceAccountName":"web","initContainers":\(initContainers),
                 "containers":\(containers),"volumes":[{"name":"linkerd-identity-end-entity","emptyDir":{"medium":"Memory"}}]},
         "status":{"phase":"\(phase)",\(ip.map { #""podIP":"\#($0)","podIPs":[{"ip":"\#($0)"}],"# } ?? "")
                   "startTime":"2026-11-20T09:12:03Z","qosClass":"Burstable",
                   "conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-11-20T09:12:09Z"}],
                   "containerStatuses":[{"name":"web-svc","ready":true,"restartCount":0,"image":"emojivoto-web:v11","started":true}]}}
        """
}

/// The bundle the injector inlined (its shape; the agent compares it, it does not parse it).
let injectedTrustAnchors = "-----BEGIN CERTIFICATE-----\nMIIBwDCCAWagAwIBAgIQ\n-----END CERTIFICATE-----\n"

func decodePod(_ json: String) throws -> Pod {
    try JSONDecoder().decode(Pod.self, from: Data(json.utf8))
}

@Suite("Meshed-pod rule on pods shaped like injected pods")
struct MeshedPodTests {
    @Test(
        "a classic sidecar and a native sidecar are both meshed, on the linkerd-admin port", arguments: [false, true])
    func meshed(native: Bool) throws {
        let pod = try decodePod(injectedPodJSON(native: native))
        #expect(MeshedPodRule.isMeshed(pod, controlPlaneNamespace: "linkerd"))
        #expect(MeshedPodRule.adminPort(of: pod) == 4191)
        #expect(MeshedPodRule.proxyVersion(of: pod) == "stable-2.14.10")
        #expect(pod.isReady)
        // Another control plane's pods are not ours.
        #expect(!MeshedPodRule.isMeshed(pod, controlPlaneNamespace: "linkerd-other"))
    }

    @Test("the proxy's trust anchors and default policy are kept, as a fingerprint, and no other environment")
    func proxyEnvironment() throws {
        let pod = try decodePod(injectedPodJSON(native: false))
        let proxy = try #require(MeshedPodRule.proxyContainer(of: pod))
        #expect(
            proxy.proxyEnvironment == [
                "LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS": injectedTrustAnchors,
                "LINKERD2_PROXY_INBOUND_DEFAULT_POLICY": "all-unauthenticated",
            ])
        // The application's environment is not kept, even a variable of the same name.
        #expect(pod.spec.containers.allSatisfy { $0.name == "linkerd-proxy" || $0.proxyEnvironment.isEmpty })
        let record = PodRecord(pod, controlPlaneNamespace: "linkerd")
        #expect(record.inboundDefaultPolicy == "all-unauthenticated")
        // The bundle with other whitespace around it is the same bundle (linkerd2#3880).
        #expect(record.trustAnchorsFingerprint == TrustAnchorsFingerprint.of("\n  " + injectedTrustAnchors + "\n\n"))
        #expect(record.trustAnchorsFingerprint != TrustAnchorsFingerprint.of(injectedTrustAnchors + "x"))
        #expect(
            TrustAnchorsFingerprint.of("\t\r\u{0B}\u{0C}" + injectedTrustAnchors + " ")
                == record.trustAnchorsFingerprint)
        #expect(TrustAnchorsFingerprint.of(" \n") == TrustAnchorsFingerprint.of(""))
        // Whitespace inside the bundle is part of it.
        #expect(
            TrustAnchorsFingerprint.of(injectedTrustAnchors.replacingOccurrences(of: "\n", with: "\n\n"))
                != record.trustAnchorsFingerprint)
        // What the model encodes decodes to the same pod (the fake API server serves it so).
        let again = try JSONDecoder().decode(Pod.self, from: try JSONEncoder().encode(pod))
        #expect(again == pod)
    }

    @Test("decoding keeps only the annotations the agent reads")
    func annotationsFiltered() throws {
        let pod = try decodePod(injectedPodJSON(native: false))
        #expect(pod.metadata.annotation("kubectl.kubernetes.io/last-applied-configuration") == nil)
        #expect(pod.metadata.annotation("viz.linkerd.io/tap-enabled") == nil)
        #expect(pod.metadata.annotation("linkerd.io/proxy-version") == "stable-2.14.10")
        #expect(pod.metadata.controller?.name == "web-5f86686c4d")
    }

    @Test("config.linkerd.io/admin-port overrides the port; a bad override is ignored")
    func adminPortOverride() throws {
        #expect(
            MeshedPodRule.adminPort(of: try decodePod(injectedPodJSON(native: false, adminPortOverride: "9990")))
                == 9990)
        #expect(
            MeshedPodRule.adminPort(of: try decodePod(injectedPodJSON(native: true, adminPortOverride: "x"))) == 4191)
    }

    @Test("the label without a proxy container (injection failed) is not meshed")
    func labelAlone() throws {
        var pod = try decodePod(injectedPodJSON(native: false))
        pod.spec.containers.removeAll { $0.name == "linkerd-proxy" }
        #expect(!MeshedPodRule.isMeshed(pod, controlPlaneNamespace: "linkerd"))
        pod = try decodePod(injectedPodJSON(native: true))
        pod.metadata.labels?["linkerd.io/control-plane-ns"] = nil
        #expect(!MeshedPodRule.isMeshed(pod, controlPlaneNamespace: "linkerd"))
    }

    @Test("evicted, failed, succeeded, pending and IP-less pods are never scrape targets")
    func notScrapable() throws {
        var evicted = try decodePod(injectedPodJSON(native: false, phase: "Failed"))
        evicted.status.reason = "Evicted"
        #expect(MeshedPodRule.notScrapableReason(evicted) == "Failed (Evicted)")
        #expect(
            MeshedPodRule.notScrapableReason(try decodePod(injectedPodJSON(native: false, phase: "Succeeded")))
                == "Succeeded")
        #expect(
            MeshedPodRule.notScrapableReason(try decodePod(injectedPodJSON(native: false, phase: "Pending", ip: nil)))
                == "Pending")
        #expect(MeshedPodRule.notScrapableReason(try decodePod(injectedPodJSON(native: false, ip: nil))) == "no pod IP")
        #expect(MeshedPodRule.notScrapableReason(try decodePod(injectedPodJSON(native: false))) == nil)

        var inventory = ClusterInventory()
        for (index, var pod) in [
            evicted, try decodePod(injectedPodJSON(native: false, ip: nil)),
            try decodePod(injectedPodJSON(native: true)),
        ].enumerated() {
            pod.metadata.name += "-\(index)"
            _ = inventory.apply([ReflectorDelta.upserted(pod)], at: 0)
        }
        let targets = inventory.scrapeCandidates()
        #expect(targets.map(\.pod.name) == ["web-5f86686c4d-58nvn-2"])
        #expect(targets.first?.url == "http://10.42.0.17:4191/metrics")
        #expect(targets.first?.workload == WorkloadRef(kind: "Deployment", namespace: "emojivoto", name: "web"))
    }

    @Test("the proxy version falls back to the proxy image tag, never a digest")
    func versionFromImage() throws {
        var pod = try decodePod(injectedPodJSON(native: false))
        pod.metadata.annotations?["linkerd.io/proxy-version"] = nil
        #expect(MeshedPodRule.proxyVersion(of: pod) == "stable-2.14.10")
        pod.spec.containers[0].image = "cr.l5d.io/linkerd/proxy@sha256:abcd"
        #expect(MeshedPodRule.proxyVersion(of: pod) == nil)
        pod.spec.containers[0].image = "registry:5000/linkerd/proxy"
        #expect(MeshedPodRule.proxyVersion(of: pod) == nil)
    }
}
