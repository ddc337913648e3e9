import Foundation
import KubernetesModels
import Yams

/// How to reach one Kubernetes API server: its URL, the CA to verify it with, and the credentials.
///
/// Built either from the pod's service account (`inCluster`) or from a kubeconfig (`kubeconfig`),
/// like client-go's loaders. TLS is always verified: `insecure-skip-tls-verify` is refused.
public struct ClusterConnection: Sendable, Equatable {
    public enum Credentials: Sendable, Equatable {
        case none
        case bearerToken(String)
        /// Read again whenever the file changes: projected service-account tokens rotate.
        case tokenFile(String)
        case clientCertificate(certificate: PEMMaterial, key: PEMMaterial)
    }

    /// PEM bytes given in the kubeconfig (`*-data`), or a file read again whenever it changes
    /// (a mounted Secret or the pod's `ca.crt`, which Kubernetes replaces in place).
    public enum PEMMaterial: Sendable, Equatable {
        case inline([UInt8])
        case file(String)
    }

    /// `https://host:port` (plain `http://` only for the in-process fake on loopback).
    public var server: String
    /// PEM bundle to verify the server with; nil trusts the system roots.
    public var certificateAuthority: PEMMaterial?
    public var credentials: Credentials
    /// The namespace of the agent's own pod or the kubeconfig context.
    public var namespace: String?

    public init(
        server: String, certificateAuthority: PEMMaterial? = nil, credentials: Credentials = .none,
        namespace: String? = nil
    ) {
        self.server = server
        self.certificateAuthority = certificateAuthority
        self.credentials = credentials
        self.namespace = namespace
    }

    /// Where a pod's service account is mounted.
    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// The connection a pod has: `KUBERNETES_SERVICE_HOST`/`_PORT`, and the mounted token, CA and
    /// namespace files.
    public static func inCluster(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory directory: String = serviceAccountDirectory
    ) throws(KubernetesAPIError) -> ClusterConnection {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
            let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty
        else {
            throw .configuration(
                "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set")
        }
        let tokenPath = directory + "/token"
        guard FileManager.default.fileExists(atPath: tokenPath) else {
            throw .configuration(
                "no service-account token at \(tokenPath): is automountServiceAccountToken disabled?")
        }
        guard FileManager.default.isReadableFile(atPath: directory + "/ca.crt") else {
            throw .configuration("no cluster CA at \(directory)/ca.crt")
        }
        let namespace = FileManager.default.contents(atPath: directory + "/namespace").map {
            String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // An IPv6 service address needs brackets in a URL.
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return ClusterConnection(
            server: "https://\(hostPart):\(port)", certificateAuthority: .file(directory + "/ca.crt"),
            credentials: .tokenFile(tokenPath), namespace: namespace)
    }

    /// The connection a kubeconfig names: its current context, or `context` when given. Relative
    /// file paths are resolved against `baseDirectory` (the kubeconfig's folder), as kubectl does.
    public static func kubeconfig(
        yaml: String, context contextName: String? = nil, baseDirectory: String
    ) throws(KubernetesAPIError) -> ClusterConnection {
        let root: [String: Any]
        do {
            guard let loaded = try Yams.load(yaml: yaml) as? [String: Any] else {
                throw KubernetesAPIError.configuration("kubeconfig is not a YAML mapping")
            }
            root = loaded
        } catch let error as KubernetesAPIError {
            throw error
        } catch {
            throw .configuration("kubeconfig is not valid YAML: \(error)")
        }
        func named(_ list: String, _ name: String, _ field: String) throws(KubernetesAPIError) -> [String: Any] {
            let entries = root[list] as? [[String: Any]] ?? []
            guard let entry = entries.first(where: { $0["name"] as? String == name }),
                let body = entry[field] as? [String: Any]
            else { throw .configuration("kubeconfig has no \(field) named \"\(name)\" in \(list)") }
            return body
        }
        guard let selected = contextName ?? root["current-context"] as? String, !selected.isEmpty else {
            throw .configuration("kubeconfig has no current-context; set one with kubectl config use-context NAME")
        }
        let context = try named("contexts", selected, "context")
        guard let clusterName = context["cluster"] as? String else {
            throw .configuration("kubeconfig context \"\(selected)\" names no cluster")
        }
        let cluster = try named("clusters", clusterName, "cluster")
        guard let server = cluster["server"] as? String, !server.isEmpty else {
            throw .configuration("kubeconfig cluster \"\(clusterName)\" has no server")
        }
        if cluster["insecure-skip-tls-verify"] as? Bool == true {
            throw .configuration(
                "kubeconfig cluster \"\(clusterName)\" sets insecure-skip-tls-verify; the agent always verifies TLS")
        }
        func resolve(_ path: String) -> String { path.hasPrefix("/") ? path : baseDirectory + "/" + path }
        // Files stay files, read again when they change; data is decoded now.
        func material(data dataKey: String, file fileKey: String, in map: [String: Any]) throws(KubernetesAPIError)
            -> PEMMaterial?
        {
            if let encoded = map[dataKey] as? String {
                guard let data = Data(base64Encoded: encoded, options: .ignoreUnknownCharacters) else {
                    throw .configuration("kubeconfig \(dataKey) is not valid base64")
                }
                return .inline(Array(data))
            }
            if let path = map[fileKey] as? String {
                guard FileManager.default.isReadableFile(atPath: resolve(path)) else {
                    throw .configuration("kubeconfig \(fileKey) \(resolve(path)) cannot be read")
                }
                return .file(resolve(path))
            }
            return nil
        }
        let ca = try material(data: "certificate-authority-data", file: "certificate-authority", in: cluster)

        var credentials = Credentials.none
        if let userName = context["user"] as? String {
            let user = try named("users", userName, "user")
            for unsupported in ["exec", "auth-provider", "username", "password"] where user[unsupported] != nil {
                throw .configuration(
                    "kubeconfig user \"\(userName)\" uses \(unsupported), which the agent does not support; "
                        + "use a token, a token file or a client certificate")
            }
            if let token = user["token"] as? String, !token.isEmpty {
                credentials = .bearerToken(token)
            } else if let path = user["tokenFile"] as? String {
                credentials = .tokenFile(resolve(path))
            } else if let certificate = try material(
                data: "client-certificate-data", file: "client-certificate", in: user)
            {
                guard let key = try material(data: "client-key-data", file: "client-key", in: user) else {
                    throw .configuration("kubeconfig user \"\(userName)\" has a client certificate but no key")
                }
                credentials = .clientCertificate(certificate: certificate, key: key)
            }
        }
        return ClusterConnection(
            server: server.hasSuffix("/") ? String(server.dropLast()) : server, certificateAuthority: ca,
            credentials: credentials, namespace: context["namespace"] as? String)
    }

    /// Reads the kubeconfig at `path` (or the first of `$KUBECONFIG`, or `~/.kube/config`).
    public static func kubeconfig(
        path: String? = nil, context: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(KubernetesAPIError) -> ClusterConnection {
        let chosen =
            path ?? environment["KUBECONFIG"]?.split(separator: ":").first.map(String.init)
            ?? (environment["HOME"] ?? "") + "/.kube/config"
        guard let data = FileManager.default.contents(atPath: chosen) else {
            throw .configuration("cannot read kubeconfig \(chosen)")
        }
        let directory = (chosen as NSString).deletingLastPathComponent
        return try kubeconfig(
            yaml: String(decoding: data, as: UTF8.self), context: context,
            baseDirectory: directory.isEmpty ? "." : directory)
    }
}
