import AgentTestSupport
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

/// A real Kubernetes control plane on loopback, as controller-runtime's envtest runs one: etcd
/// (Debian's `etcd-server`), kube-apiserver and kube-controller-manager v1.28.7 (from
/// `../shared/kube`, or `FATHOM_KUBE_ASSETS`), with throwaway certificates made by openssl, RBAC on,
/// and an admin client (a client certificate in `system:masters`) for the test's own requests.
/// There is no scheduler and no kubelet: `StandInKubelet` plays both.
final class RealCluster: @unchecked Sendable {
    /// Where the binaries are, or why the suite cannot run.
    struct Assets {
        var apiServer: String
        var controllerManager: String
        var etcd: String
        var etcdctl: String

        static func find() -> Result<Assets, Unavailable> {
            let environment = ProcessInfo.processInfo.environment
            let kube =
                environment["FATHOM_KUBE_ASSETS"]
                ?? HelmChart.repository.deletingLastPathComponent().appendingPathComponent("shared/kube").path
            func onPath(_ name: String) -> String? {
                (environment["PATH"] ?? "/usr/bin").split(separator: ":").map { "\($0)/\(name)" }
                    .first { FileManager.default.isExecutableFile(atPath: $0) }
            }
            let apiServer = kube + "/kube-apiserver"
            let controllerManager = kube + "/kube-controller-manager"
            guard FileManager.default.isExecutableFile(atPath: apiServer),
                FileManager.default.isExecutableFile(atPath: controllerManager)
            else {
                return .failure(Unavailable(description: "no kube-apiserver and kube-controller-manager in \(kube)"))
            }
            guard let etcd = onPath("etcd"), let etcdctl = onPath("etcdctl") else {
                return .failure(Unavailable(description: "no etcd and etcdctl (Debian: etcd-server, etcd-client)"))
            }
            return .success(
                Assets(apiServer: apiServer, controllerManager: controllerManager, etcd: etcd, etcdctl: etcdctl))
        }
    }

    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let assets: Assets
    let directory: String
    let apiPort: Int
    let etcdPort: Int
    private var etcd: Process?
    private var apiServer: Process?
    private var controllerManager: Process?
    let client: HTTPClient

    var server: String { "https://127.0.0.1:\(apiPort)" }
    var caPEM: [UInt8] { Array(FileManager.default.contents(atPath: directory + "/ca.crt") ?? Data()) }

    private init(assets: Assets, directory: String, apiPort: Int, etcdPort: Int, client: HTTPClient) {
        self.assets = assets
        self.directory = directory
        self.apiPort = apiPort
        self.etcdPort = etcdPort
        self.client = client
    }

    /// Makes the certificates, starts etcd, the API server and the controller manager, and waits
    /// until the API server is ready.
    static func start(_ assets: Assets) async throws -> RealCluster {
        let directory = NSTemporaryDirectory() + "fathom-cluster-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try makeCertificates(in: directory)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(directory + "/ca.crt")
        tls.certificateChain = try NIOSSLCertificate.fromPEMFile(directory + "/admin.crt").map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: directory + "/admin.key", format: .pem))
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let cluster = RealCluster(
            assets: assets, directory: directory, apiPort: try freePort(), etcdPort: try freePort(), client: client)
        try cluster.startEtcd()
        try await cluster.startAPIServer()
        try cluster.startControllerManager()
        return cluster
    }

    static func makeCertificates(in directory: String) throws {
        func openssl(_ arguments: [String]) throws {
            let run = try runCommand("openssl", arguments)
            guard run.status == 0 else { throw Failure(description: "openssl \(arguments.first ?? ""): \(run.errors)") }
        }
        let path = { (name: String) in "\(directory)/\(name)" }
        try openssl([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("ca.key"), "-out", path("ca.crt"), "-days",
            "1", "-subj", "/CN=fathom-test-ca",
        ])
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(
            toFile: path("san.ext"), atomically: true, encoding: .utf8)
        for (name, subject, extensions) in [
            ("apiserver", "/CN=kube-apiserver", true), ("admin", "/O=system:masters/CN=admin", false),
        ] {
            try openssl([
                "req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("\(name).key"), "-out", path("\(name).csr"),
                "-subj", subject,
            ])
            try openssl(
                [
                    "x509", "-req", "-in", path("\(name).csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"),
                    "-CAcreateserial", "-out", path("\(name).crt"), "-days", "1",
                ] + (extensions ? ["-extfile", path("san.ext")] : []))
        }
        try openssl(["genrsa", "-out", path("sa.key"), "2048"])
        try openssl(["rsa", "-in", path("sa.key"), "-pubout", "-out", path("sa.pub")])
        try """
        apiVersion: v1
        kind: Config
        clusters: [{name: test, cluster: {server: "https://127.0.0.1:PORT", certificate-authority: \(path("ca.crt"))}}]
        users: [{name: admin, user: {client-certificate: \(path("admin.crt")), client-key: \(path("admin.key"))}}]
        contexts: [{name: test, context: {cluster: test, user: admin}}]
        current-context: test
        """.write(toFile: path("admin.kubeconfig.template"), atomically: true, encoding: .utf8)
    }

    private func launch(_ binary: String, _ arguments: [String], log name: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let logFile = directory + "/\(name).log"
        if !FileManager.default.fileExists(atPath: logFile) {
            _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    private func startEtcd() throws {
        let peer = try Self.freePort()
        etcd = try launch(
            assets.etcd,
            [
                "--data-dir", directory + "/etcd", "--name", "default",
                "--listen-client-urls", "http://127.0.0.1:\(etcdPort)",
                "--advertise-client-urls", "http://127.0.0.1:\(etcdPort)",
                "--listen-peer-urls", "http://127.0.0.1:\(peer)",
                "--initial-advertise-peer-urls", "http://127.0.0.1:\(peer)",
                "--initial-cluster", "default=http://127.0.0.1:\(peer)",
            ], log: "etcd")
    }

    /// Starts (or starts again, on the same port and etcd) the API server, and waits until ready.
    func startAPIServer() async throws {
        let path = { (name: String) in "\(self.directory)/\(name)" }
        apiServer = try launch(
            assets.apiServer,
            [
                "--etcd-servers=http://127.0.0.1:\(etcdPort)", "--bind-address=127.0.0.1",
                "--secure-port=\(apiPort)", "--advertise-address=127.0.0.1", "--tls-cert-file=\(path("apiserver.crt"))",
                "--tls-private-key-file=\(path("apiserver.key"))", "--client-ca-file=\(path("ca.crt"))",
                "--service-account-key-file=\(path("sa.pub"))", "--service-account-signing-key-file=\(path("sa.key"))",
                "--service-account-issuer=https://kubernetes.default.svc",
                "--api-audiences=https://kubernetes.default.svc", "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.96.0.0/16", "--endpoint-reconciler-type=none",
                "--feature-gates=SidecarContainers=true",
            ], log: "apiserver")
        let ready = await eventually(within: 90) {
            (try? await self.request(.GET, "/readyz"))?.status == 200
        }
        guard ready else { throw Failure(description: "kube-apiserver did not become ready:\n\(log("apiserver"))") }
    }

    /// Stops the API server abruptly (SIGKILL): its watches end without a goodbye.
    func killAPIServer() {
        if let apiServer, apiServer.isRunning {
            kill(apiServer.processIdentifier, SIGKILL)
            apiServer.waitUntilExit()
        }
    }

    private func startControllerManager() throws {
        let template = try String(contentsOfFile: directory + "/admin.kubeconfig.template", encoding: .utf8)
        try template.replacingOccurrences(of: "PORT", with: String(apiPort))
            .write(toFile: directory + "/admin.kubeconfig", atomically: true, encoding: .utf8)
        controllerManager = try launch(
            assets.controllerManager,
            [
                "--kubeconfig=\(directory)/admin.kubeconfig",
                "--controllers=deployment,replicaset,statefulset,daemonset,garbagecollector,serviceaccount",
                "--service-account-private-key-file=\(directory)/sa.key", "--root-ca-file=\(directory)/ca.crt",
                "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0",
                "--use-service-account-credentials=false",
            ], log: "controller-manager")
    }

    /// Compacts etcd's history up to its current revision: a watch resumed from before gets 410 Gone.
    func compactEtcd() throws {
        let endpoint = "--endpoints=http://127.0.0.1:\(etcdPort)"
        let status = try runCommand(assets.etcdctl, [endpoint, "endpoint", "status", "--write-out=json"])
        guard let items = try JSONSerialization.jsonObject(with: status.output) as? [[String: Any]],
            let header = (items.first?["Status"] as? [String: Any])?["header"] as? [String: Any],
            let revision = header["revision"] as? Int
        else { throw Failure(description: "etcdctl endpoint status: \(status.text) \(status.errors)") }
        let compact = try runCommand(assets.etcdctl, [endpoint, "compact", String(revision)])
        guard compact.status == 0 else { throw Failure(description: "etcdctl compact: \(compact.errors)") }
    }

    func log(_ name: String) -> String {
        String((try? String(contentsOfFile: directory + "/\(name).log", encoding: .utf8))?.suffix(4_000) ?? "")
    }

    // MARK: - The admin's requests

    /// One request as the admin; `json` is sent as the body.
    @discardableResult
    /// With `as`, the admin impersonates that user (`system:serviceaccount:NS:NAME`), so the
    /// authorizer answers as it would the agent.
    func request(
        _ method: HTTPMethod, _ path: String, json: Any? = nil, contentType: String = "application/json",
        as user: String? = nil
    ) async throws -> (status: Int, body: Any?) {
        var request = HTTPClientRequest(url: server + path)
        request.method = method
        if let user { request.headers.add(name: "Impersonate-User", value: user) }
        if let json {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))
        return (Int(response.status.code), object)
    }

    /// Creates an object, failing on anything but 201 (409, it exists, is fine).
    func create(_ object: [String: Any]) async throws {
        let (status, body) = try await request(.POST, Self.collectionPath(of: object), json: object)
        guard status == 201 || status == 409 else {
            throw Failure(description: "create \(object["kind"] ?? "?"): HTTP \(status) \(body ?? "")")
        }
    }

    /// Replaces an object with what `object` says (reading its resourceVersion first).
    func replace(_ object: [String: Any]) async throws {
        let metadata = object["metadata"] as? [String: Any] ?? [:]
        let path = Self.collectionPath(of: object) + "/\(metadata["name"] as? String ?? "")"
        let (_, current) = try await request(.GET, path)
        var updated = object
        var meta = metadata
        meta["resourceVersion"] = ((current as? [String: Any])?["metadata"] as? [String: Any])?["resourceVersion"]
        updated["metadata"] = meta
        let (status, body) = try await request(.PUT, path, json: updated)
        guard status == 200 else { throw Failure(description: "replace \(path): HTTP \(status) \(body ?? "")") }
    }

    /// A merge patch of an object at `path`.
    func patch(_ path: String, _ patch: [String: Any]) async throws {
        let (status, body) = try await request(
            .PATCH, path, json: patch, contentType: "application/strategic-merge-patch+json")
        guard status == 200 else { throw Failure(description: "patch \(path): HTTP \(status) \(body ?? "")") }
    }

    /// A token for a ServiceAccount (the TokenRequest API), as a projected volume would hold.
    func token(namespace: String, serviceAccount: String) async throws -> String {
        let (status, body) = try await request(
            .POST, "/api/v1/namespaces/\(namespace)/serviceaccounts/\(serviceAccount)/token",
            json: [
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": ["expirationSeconds": 3_600],
            ])
        guard status == 201, let token = ((body as? [String: Any])?["status"] as? [String: Any])?["token"] as? String
        else { throw Failure(description: "TokenRequest: HTTP \(status) \(body ?? "")") }
        return token
    }

    /// The REST collection of an object, from its apiVersion and kind.
    static func collectionPath(of object: [String: Any]) -> String {
        let apiVersion = object["apiVersion"] as? String ?? "v1"
        let kind = object["kind"] as? String ?? ""
        let namespace = (object["metadata"] as? [String: Any])?["namespace"] as? String
        let plural: String =
            switch kind {
            case "ClusterRole": "clusterroles"
            case "ClusterRoleBinding": "clusterrolebindings"
            case "Role": "roles"
            case "RoleBinding": "rolebindings"
            case "ServiceAccount": "serviceaccounts"
            case "Namespace": "namespaces"
            case "Deployment": "deployments"
            case "Node": "nodes"
            default: kind.lowercased() + "s"
            }
        let group = apiVersion.contains("/") ? "/apis/\(apiVersion)" : "/api/\(apiVersion)"
        let clusterScoped = ["ClusterRole", "ClusterRoleBinding", "Namespace", "Node"].contains(kind)
        return clusterScoped || namespace == nil ? "\(group)/\(plural)" : "\(group)/namespaces/\(namespace!)/\(plural)"
    }

    func stop() async {
        for process in [controllerManager, apiServer, etcd].compactMap({ $0 }) where process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? await client.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A free loopback port (bound, read and released).
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(descriptor, pointer, length) == 0 else { return -1 }
                return getsockname(descriptor, pointer, &length)
            }
        }
        guard bound == 0 else { throw Failure(description: "no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
