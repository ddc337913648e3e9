import Foundation
import KubernetesModels
import Testing

/// The one shape every kind with a spec and a status shares (`KubernetesResource`), decoded as
/// the API serves it.
@Suite struct ResourceDecodingTests {
    /// A Rollout as `kubectl create` leaves it before the Argo controller first writes its status.
    static let newRollout = """
        {"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout",
         "metadata":{"name":"web","namespace":"shop","uid":"u1","resourceVersion":"7","generation":1},
         "spec":{"replicas":3,"template":{"metadata":{"labels":{"app":"web"}},
                 "spec":{"containers":[{"name":"web","image":"web:1"}]}}}}
        """

    @Test func anObjectWithoutAStatusHasItsKindsEmptyOne() throws {
        let rollout = try JSONDecoder().decode(ArgoRollout.self, from: Data(Self.newRollout.utf8))
        #expect(rollout.status == ArgoRollout.Status())
        #expect(rollout.spec.replicas == 3)
        #expect(rollout.replicaCounts == ReplicaCounts(desired: 3, ready: 0, updated: 0, available: 0))
        #expect(rollout.rolloutObservation(revisions: .none)?.phase == .progressing)
        // A spec is not optional: without one the object is refused.
        let noSpec = #"{"metadata":{"name":"web","uid":"u1"},"status":{}}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Deployment.self, from: Data(noSpec.utf8)) }
    }

    @Test func podsAreSelectableByNodePhaseAndAddress() {
        let pod = Pod(
            metadata: ObjectMeta(name: "web-1", namespace: "shop"), spec: .init(nodeName: "n1", containers: []),
            status: .init(phase: "Running", podIP: "10.0.0.9"))
        #expect(
            pod.selectableFields == [
                "metadata.name": "web-1", "metadata.namespace": "shop", "spec.nodeName": "n1",
                "status.phase": "Running", "status.podIP": "10.0.0.9",
            ])
        let deployment = Deployment(
            metadata: ObjectMeta(name: "web", namespace: "shop"), spec: .init(template: PodTemplate(containers: [])))
        #expect(deployment.selectableFields == ["metadata.name": "web", "metadata.namespace": "shop"])
    }
}
