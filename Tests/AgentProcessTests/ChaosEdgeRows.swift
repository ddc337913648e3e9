import AgentTestSupport
import Foundation
import KubernetesModels
import ReportEncoding
import Reporting
import RouteAggregation
import Synchronization
import Testing

/// The chaos rows at the agent's edges: credentials rotated as the kubelet rotates them, a
/// collector that redirects, refuses large bodies or acknowledges with a large body, a spool file
/// damaged on disk, and hostile clients of the admin port.
extension ChaosTests {
    /// Requests the host a collector redirected to received (it must receive none).
    static let redirectedRequests = Mutex(0)

    static let credentialChanged = "Credential file changed; the next requests use it"

    static func redirect(_ status: Int) -> ChaosRow {
        ChaosRow(
            name: "collector: \(status) to another host (127.0.0.2), not followed",
            fault: .redirectingCollector(status: status),
            counted: [ChaosRow.Counted(name: "fathom_report_retries_total", labels: ["reason": "redirect"])],
            logged: "Collector redirects; the agent follows no redirect and keeps the batch")
    }

    static let adminCutOff =
        "admin server cut a client off; later ones are counted in fathom_admin_requests_refused_total"

    static let edgeRows: [ChaosRow] = [
        ChaosRow(
            // Before: the old token went on for as long as the agent ran (20 answers 401, batches
            // queued until dropped), and no routes arrived after the rotation.
            name: "credentials: the collector token rotated in its Secret volume (..data swapped)",
            fault: .rotatedToken(.collector),
            counted: [
                ChaosRow.Counted(
                    name: "fathom_credential_reloads_total",
                    labels: ["credential": "collector_token", "result": "used"])
            ],
            logged: credentialChanged,
            atMost: [
                (ChaosRow.Counted(name: "fathom_report_batches_dropped_total", labels: ["reason": "unauthorized"]), 0)
            ]),
        ChaosRow(
            // Before: every watch after the rotation was refused (401, `unauthorized`).
            name: "credentials: the ServiceAccount token rotated in its projected volume (..data swapped)",
            fault: .rotatedToken(.kubernetes),
            counted: [
                ChaosRow.Counted(
                    name: "fathom_credential_reloads_total",
                    labels: ["credential": "kubernetes_token", "result": "used"]
                )
            ],
            logged: credentialChanged,
            atMost: [
                (
                    ChaosRow.Counted(
                        name: "fathom_kubernetes_watch_restarts_total",
                        labels: ["resource": "pods", "reason": "unauthorized"]), 0
                )
            ]),
        // Before: a 301 or 302 became a GET to the other host, whose 200 counted as delivery;
        // a 307 sent the batch there.
        redirect(301), redirect(302), redirect(307),
        ChaosRow(
            // Before: the batch was dropped as rejected.
            name: "collector: 413 for bodies over 1 KiB, batches split until they fit",
            fault: .collectorBodyLimit(1_024),
            counted: [ChaosRow.Counted(name: "fathom_report_batches_split_total")],
            logged: "Collector refused a batch as too large (413); it is sent in two parts",
            atMost: [
                (ChaosRow.Counted(name: "fathom_report_batches_dropped_total", labels: ["reason": "too_large"]), 0)
            ]),
        ChaosRow(
            // Before: reading the body failed, and each batch was sent again and acknowledged twice.
            name: "collector: 200 with a 1 MiB body",
            fault: .collector(Array(repeating: .acceptWithBody(bytes: 1 << 20), count: 6)),
            counted: [ChaosRow.Counted(name: "fathom_report_batches_sent_total")], logged: nil,
            atMost: [(ChaosRow.Counted(name: "fathom_report_retries_total", labels: ["reason": "other"]), 0)]),
        ChaosRow(
            // Before: the damaged file was sent (and refused as undecodable).
            name: "spool: a batch file damaged on disk, from an earlier run", fault: .damagedSpoolFile,
            counted: [
                ChaosRow.Counted(name: "fathom_report_batches_dropped_total", labels: ["reason": "spool_damaged"])
            ],
            logged: "A spooled batch is damaged (its checksum differs); dropped, not sent"),
        ChaosRow(
            // Before: every response queued in memory (53 MB to 2.3 GB in 10 s), and written to
            // nobody for a minute after the client left, /healthz unanswered.
            name: "admin: /debug/routes pipelined for 15 s and never read",
            fault: .admin(.pipelineNeverRead(path: "/debug/routes", clients: 1), seconds: 15),
            counted: [ChaosRow.Counted(name: "fathom_admin_requests_refused_total", labels: ["reason": "slow_reader"])],
            logged: adminCutOff),
        ChaosRow(
            name: "admin: /metrics pipelined by eight clients for 15 s and never read",
            fault: .admin(.pipelineNeverRead(path: "/metrics", clients: 8), seconds: 15),
            counted: [ChaosRow.Counted(name: "fathom_admin_requests_refused_total", labels: ["reason": "slow_reader"])],
            logged: adminCutOff),
        ChaosRow(
            name: "admin: 300 slowloris heads at a byte a second from 20 addresses",
            fault: .admin(.slowloris(connections: 300), seconds: 15),
            counted: [
                ChaosRow.Counted(
                    name: "fathom_admin_requests_refused_total", labels: ["reason": "too_many_connections"])
            ], logged: nil),
        ChaosRow(
            name: "admin: every connection held idle, reopened when closed, with probes",
            fault: .admin(.idleAtTheLimit, seconds: 15),
            counted: [
                ChaosRow.Counted(
                    name: "fathom_admin_requests_refused_total", labels: ["reason": "too_many_connections"])
            ], logged: nil),
    ]

    /// Rotates a token as the kubelet does, and has its peer refuse the old one from then on.
    static func rotate(_ whose: ChaosRow.RotatedToken, in scene: ProcessScene) async throws {
        switch whose {
        case .collector:
            // Once the old token has been sent and taken: the agent has read it.
            _ = await eventually(within: 60) { !scene.collector.acceptedBatches.isEmpty }
            try scene.collectorSecret.publish("rotated-collector-token\n")
            scene.collector.requireToken("rotated-collector-token")
        case .kubernetes:
            try scene.serviceAccount.publish("rotated-kubernetes-token\n")
            scene.api.configure { $0.token = "rotated-kubernetes-token" }
            // Watches under way keep the token they started with; new ones must carry the new one.
            let watches = scene.api.requestCounts["watch pods", default: 0]
            scene.api.dropWatches()
            _ = await eventually(within: 60) { scene.api.requestCounts["watch pods", default: 0] > watches }
        }
    }

    /// Three batches of an earlier run (instance `earlier`) in the spool, the second with a byte
    /// flipped in the middle of its file.
    static func spoolDamagedBatches(in directory: String) throws {
        var builder = BatchBuilder(
            identity: AgentIdentity(
                agentID: "fathom-process", instanceID: "earlier", clusterName: "process-test", agentVersion: "0.0.9"))
        var spool = try BatchSpool(directory: directory, maxBytes: 1 << 20)
        let now = Date().timeIntervalSince1970 - 600
        for index in 0..<3 {
            let window = AggregationWindow(start: now + Double(index) * 5, end: now + Double(index + 1) * 5, routes: [])
            _ = try spool.store(try builder.encode(window: window, health: HealthSummary()))
        }
        let damaged = try #require(
            try FileManager.default.contentsOfDirectory(atPath: directory).sorted().dropFirst().first)
        var bytes = [UInt8](try #require(FileManager.default.contents(atPath: directory + "/" + damaged)))
        bytes[bytes.count / 2] ^= 0x20
        try Data(bytes).write(to: URL(fileURLWithPath: directory + "/" + damaged))
    }
}
