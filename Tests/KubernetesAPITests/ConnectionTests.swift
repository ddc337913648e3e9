import Foundation
import KubernetesAPI
import KubernetesModels
import Testing

@Suite("Connections: in-cluster service account and kubeconfig")
struct ConnectionTests {
    func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "fathom-k8s-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("in-cluster: service host and port, the mounted token file (re-read), CA and namespace")
    func inCluster() throws {
        let directory = try temporaryDirectory()
        try "token-1\n".write(toFile: directory + "/token", atomically: true, encoding: .utf8)
        try "-----BEGIN CERTIFICATE-----\n".write(toFile: directory + "/ca.crt", atomically: true, encoding: .utf8)
        try "observability\n".write(toFile: directory + "/namespace", atomically: true, encoding: .utf8)
        let environment = ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"]
        let connection = try ClusterConnection.inCluster(environment: environment, serviceAccountDirectory: directory)
        #expect(connection.server == "https://10.96.0.1:443")
        #expect(connection.credentials == .tokenFile(directory + "/token"))
        #expect(connection.namespace == "observability")
        // A file, read again when it changes (the kubelet replaces ca.crt in place).
        #expect(connection.certificateAuthority == .file(directory + "/ca.crt"))
        let ipv6 = try ClusterConnection.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"],
            serviceAccountDirectory: directory)
        #expect(ipv6.server == "https://[fd00::1]:443")
        #expect(throws: KubernetesAPIError.self) {
            try ClusterConnection.inCluster(environment: [:], serviceAccountDirectory: directory)
        }
        try FileManager.default.removeItem(atPath: directory + "/token")
        do {
            _ = try ClusterConnection.inCluster(environment: environment, serviceAccountDirectory: directory)
            Issue.record("a missing token must be an error")
        } catch {
            #expect("\(error)".contains("automountServiceAccountToken"))
        }
    }

    static let kubeconfig = """
        apiVersion: v1
        kind: Config
        current-context: dev
        clusters:
        - name: dev-cluster
          cluster:
            server: https://dev.example:6443/
            certificate-authority-data: \(Data("CA-PEM".utf8).base64EncodedString())
        - name: prod-cluster
          cluster:
            server: https://prod.example:6443
            certificate-authority: certs/prod-ca.pem
        - name: lab-cluster
          cluster:
            server: https://lab.example
            insecure-skip-tls-verify: true
        users:
        - name: dev-user
          user:
            token: dev-token
        - name: prod-user
          user:
            client-certificate-data: \(Data("CERT".utf8).base64EncodedString())
            client-key-data: \(Data("KEY".utf8).base64EncodedString())
        - name: sso-user
          user:
            exec:
              command: aws
        contexts:
        - name: dev
          context: {cluster: dev-cluster, user: dev-user, namespace: team-a}
        - name: prod
          context: {cluster: prod-cluster, user: prod-user}
        - name: lab
          context: {cluster: lab-cluster, user: dev-user}
        - name: sso
          context: {cluster: dev-cluster, user: sso-user}
        """

    @Test(
        "kubeconfig: the current context with a token and inline CA; another context with a client certificate and a CA file"
    )
    func kubeconfig() throws {
        let directory = try temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory + "/certs", withIntermediateDirectories: true)
        try "PROD-CA".write(toFile: directory + "/certs/prod-ca.pem", atomically: true, encoding: .utf8)
        let dev = try ClusterConnection.kubeconfig(yaml: Self.kubeconfig, baseDirectory: directory)
        #expect(dev.server == "https://dev.example:6443")
        #expect(dev.credentials == .bearerToken("dev-token"))
        #expect(dev.certificateAuthority == .inline(Array("CA-PEM".utf8)))
        #expect(dev.namespace == "team-a")
        let prod = try ClusterConnection.kubeconfig(yaml: Self.kubeconfig, context: "prod", baseDirectory: directory)
        #expect(
            prod.credentials
                == .clientCertificate(certificate: .inline(Array("CERT".utf8)), key: .inline(Array("KEY".utf8))))
        #expect(prod.certificateAuthority == .file(directory + "/certs/prod-ca.pem"))
    }

    @Test(
        "kubeconfig: what is unsupported or missing is a clear error",
        arguments: [
            ("lab", "always verifies TLS"), ("sso", "uses exec"), ("nope", "no context named \"nope\""),
        ])
    func kubeconfigErrors(context: String, message: String) throws {
        do {
            _ = try ClusterConnection.kubeconfig(yaml: Self.kubeconfig, context: context, baseDirectory: "/")
            Issue.record("context \(context) must be refused")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }
}

@Suite("Watch stream framing")
struct WatchFramingTests {
    @Test("events split across chunks at every byte are decoded once each, in order")
    func chunking() throws {
        let lines = (0..<5).map { #"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"\#($0)"}}}"# }
        let stream = Array(lines.joined(separator: "\n").utf8) + [UInt8(ascii: "\n")]
        for cut in stride(from: 1, to: stream.count, by: 7) {
            var splitter = WatchLineSplitter(maxLineBytes: 1 << 10)
            var seen: [String] = []
            for chunk in [Array(stream[..<cut]), Array(stream[cut...])] {
                try splitter.append(chunk)
                while let line = try splitter.nextLine() { seen.append(String(decoding: line, as: UTF8.self)) }
            }
            #expect(seen == lines)
        }
    }

    @Test("lines come out whole and in order however the stream is chunked, blank lines skipped")
    func linesAcrossManyChunks() throws {
        let lines = (0..<40).map { index in String(repeating: "x", count: (index * 37) % 300 + 1) + "\(index)" }
        let stream = Array(lines.map { $0 + "\n\r\n" }.joined().utf8)
        var random = SystemRandomNumberGenerator()
        for maxChunk in [1, 2, 3, 17, 64, 512, stream.count] {
            var splitter = WatchLineSplitter(maxLineBytes: 1 << 10)
            var seen: [String] = []
            var offset = 0
            while offset < stream.count {
                let size = min(Int.random(in: 1...maxChunk, using: &random), stream.count - offset)
                try splitter.append(stream[offset..<(offset + size)])
                offset += size
                while let line = try splitter.nextLine() { seen.append(String(decoding: line, as: UTF8.self)) }
            }
            #expect(seen == lines, "chunks of up to \(maxChunk) bytes")
            #expect(splitter.unfinishedBytes == 0)
        }
        // A line past the bound, in small chunks, is refused once the bound is passed.
        var splitter = WatchLineSplitter(maxLineBytes: 1_000)
        var refusedAt: Int?
        for chunk in 0..<100 where refusedAt == nil {
            do {
                try splitter.append([UInt8](repeating: 65, count: 16))
                _ = try splitter.nextLine()
            } catch {
                refusedAt = (chunk + 1) * 16
            }
        }
        #expect(refusedAt == 1_008)
    }

    @Test("an event longer than the bound is refused, even before its newline arrives")
    func lineTooLong() throws {
        var splitter = WatchLineSplitter(maxLineBytes: 16)
        #expect(throws: KubernetesAPIError.lineTooLong(limit: 16)) {
            try splitter.append(Array(repeating: 65, count: 40))
        }
    }
}
