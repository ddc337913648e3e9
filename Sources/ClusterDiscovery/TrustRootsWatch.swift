import KubernetesAPI
import KubernetesModels
import Logging
import MeshHealth
import Synchronization

/// Follows the mesh's trust bundle, the ConfigMap `linkerd-identity-trust-roots` in the
/// control-plane namespace, with a reflector narrowed to that one name, and keeps it parsed for
/// the checks. It is optional: a missing Role or ConfigMap is a check's warning, never a reason
/// for the agent not to be ready.
public final class TrustRootsWatch: Sendable {
    private let client: KubernetesClient
    private let namespace: String
    private let settings: ReflectorSettings
    private let logger: Logger
    private let reading = Mutex(TrustAnchorsReading.unknown)

    public init(client: KubernetesClient, namespace: String, reflectorSettings: ReflectorSettings, logger: Logger) {
        self.client = client
        self.namespace = namespace
        var settings = reflectorSettings
        settings.namespace = namespace
        settings.selectors = Selectors(field: TrustRootsPermissions.fieldSelector)
        self.settings = settings
        self.logger = logger
    }

    /// The trust anchors as last read.
    public var current: TrustAnchorsReading { reading.withLock { $0 } }

    private var source: String { "\(namespace)/\(TrustRootsPermissions.name)" }

    /// Runs until cancelled; the reflector retries with backoff, and a forbidden list is retried
    /// as rarely as its backoff allows (a Role granted later is picked up).
    public func run() async throws {
        let hooks = ReflectorHooks(state: { [weak self] state, message in
            guard let self, state == .forbidden || state == .unauthorized else { return }
            self.reading.withLock {
                $0 = .unavailable("\(state.rawValue) to read ConfigMap \(self.source): \(message ?? "")")
            }
        })
        let reflector = Reflector(ConfigMap.self, client: client, settings: settings, logger: logger, hooks: hooks)
        var held: ConfigMap?
        try await reflector.run { deltas, listed in
            for delta in deltas {
                switch delta {
                case .upserted(let configMap) where configMap.metadata.name == TrustRootsPermissions.name:
                    held = configMap
                case .deleted(let key, _, _) where key.name == TrustRootsPermissions.name:
                    held = nil
                default:
                    break
                }
            }
            guard listed || !deltas.isEmpty else { return }
            let next = Self.reading(of: held, source: source)
            let changed = reading.withLock { reading in
                defer { reading = next }
                return reading != next
            }
            if changed { log(next) }
        }
    }

    /// What the ConfigMap says, or why it says nothing.
    static func reading(of configMap: ConfigMap?, source: String) -> TrustAnchorsReading {
        guard let configMap else {
            return .unavailable(
                "ConfigMap \(source) does not exist (Linkerd before 2.12, or an external CA, keeps the anchors "
                    + "elsewhere)")
        }
        guard let bundle = configMap.data?[TrustRootsPermissions.key] else {
            return .read(
                source: source, fingerprint: 0,
                .failure(.init(reason: .empty, detail: "the ConfigMap has no \(TrustRootsPermissions.key) key")))
        }
        return .parsing(bundle, from: source)
    }

    /// Once per change of what the bundle says.
    private func log(_ reading: TrustAnchorsReading) {
        switch reading {
        case .unknown:
            break
        case .unavailable(let why):
            logger.warning("cannot read the mesh's trust anchors", metadata: ["error": "\(why)"])
        case .read(let source, _, .failure(let error)):
            logger.error(
                "the mesh's trust bundle is not usable",
                metadata: [
                    "k8s.configmap": "\(source)", "reason": "\(error.reason.rawValue)", "error": "\(error.detail)",
                ])
        case .read(let source, _, .success(let anchors)):
            logger.info(
                "read the mesh's trust anchors",
                metadata: [
                    "k8s.configmap": "\(source)", "anchors": "\(anchors.count)",
                    "subjects": "\(anchors.map(\.subject).joined(separator: "; "))",
                ])
        }
    }
}
