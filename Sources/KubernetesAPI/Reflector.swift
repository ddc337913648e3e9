import KubernetesModels
import LogWhenChanged
import Logging

/// How a reflector lists and watches.
public struct ReflectorSettings: Sendable {
    public var namespace: String?
    public var selectors: Selectors
    public var pageSize: Int
    /// Each watch asks the server to end it after a random time in this range, so idle watches
    /// are renewed and a fleet of agents does not reconnect in step (client-go uses 5 to 10 minutes).
    public var watchTimeoutSeconds: ClosedRange<Int>
    public var maxLineBytes: Int
    public var initialBackoffSeconds: Double
    public var maxBackoffSeconds: Double

    public init(
        namespace: String? = nil, selectors: Selectors = .none, pageSize: Int = 500,
        watchTimeoutSeconds: ClosedRange<Int> = 300...600, maxLineBytes: Int = 16 << 20,
        initialBackoffSeconds: Double = 0.8, maxBackoffSeconds: Double = 30
    ) {
        self.namespace = namespace
        self.selectors = selectors
        self.pageSize = pageSize
        self.watchTimeoutSeconds = watchTimeoutSeconds
        self.maxLineBytes = maxLineBytes
        self.initialBackoffSeconds = initialBackoffSeconds
        self.maxBackoffSeconds = maxBackoffSeconds
    }

    /// The watch times for a shortest one of `seconds`: from it to twice it, as client-go picks them.
    public static func watchTimeouts(atLeast seconds: Double) -> ClosedRange<Int> {
        let shortest = max(1, Int(seconds.rounded()))
        return shortest...(2 * shortest)
    }
}

/// Counters a reflector reports to the agent's own metrics, by bounded labels.
public struct ReflectorHooks: Sendable {
    /// A watch event arrived: one of `eventTypes`.
    public var event: @Sendable (_ type: String) -> Void
    /// The `type` labels `event` is called with.
    public static let eventTypes = ["added", "modified", "deleted", "bookmark", "error"]
    /// The watch was restarted, by `KubernetesAPIError.reason`, `relist` or `timeout`.
    public var restart: @Sendable (_ reason: String) -> Void
    /// The resource's watch state changed (with the error, when it is not synced); called once
    /// per change, which is also when the reflector logs.
    public var state: @Sendable (_ state: ResourceWatchState, _ message: String?) -> Void

    public init(
        event: @escaping @Sendable (String) -> Void = { _ in },
        restart: @escaping @Sendable (String) -> Void = { _ in },
        state: @escaping @Sendable (ResourceWatchState, String?) -> Void = { _, _ in }
    ) {
        self.event = event
        self.restart = restart
        self.state = state
    }
}

/// client-go's reflector for one resource: a paginated LIST, then a WATCH from the list's version
/// with bookmarks, resumed from the last version seen after a dropped stream or a server timeout,
/// re-listed after 410 Gone, with jittered exponential backoff on errors.
///
/// The consumer gets deltas (never a duplicate, never a missed deletion) and `synced: true` after
/// each complete list, which is what readiness waits for.
public struct Reflector<Object: KubernetesObject>: Sendable {
    public let client: KubernetesClient
    public let settings: ReflectorSettings
    private let logger: Logger
    private let hooks: ReflectorHooks
    /// Objects the consumer already holds (key and uid) from an earlier watch of the resource.
    private let assumed: [ObjectKey: String]

    /// `assumed` names objects the consumer holds from an earlier watch: the first list deletes
    /// those it does not find.
    public init(
        _ type: Object.Type = Object.self, client: KubernetesClient, settings: ReflectorSettings = ReflectorSettings(),
        logger: Logger, hooks: ReflectorHooks = ReflectorHooks(), assumed: [ObjectKey: String] = [:]
    ) {
        self.assumed = assumed
        self.client = client
        self.settings = settings
        var logger = logger
        logger[metadataKey: "k8s.resource"] = "\(Object.resource.plural)"
        self.logger = logger
        self.hooks = hooks
    }

    /// Runs until the task is cancelled. `deliver` is awaited, so a slow consumer slows the
    /// reflector instead of growing a buffer.
    public func run(deliver: (_ deltas: [ReflectorDelta<Object>], _ synced: Bool) async -> Void) async throws {
        var state = ReflectorState<Object>(assuming: assumed)
        var failures = 0
        var watchState = LoggedState(ResourceWatchState.starting)
        let clock = ContinuousClock()
        /// Reports and logs a change of the resource's watch state, once per change.
        func become(_ next: ResourceWatchState, _ error: (any Error)? = nil) {
            guard let change = watchState.record(next) else { return }
            hooks.state(next, error.map { "\($0)" })
            if next == .synced {
                if change.from != .starting {
                    logger.info("watch recovered", metadata: ["k8s.was": "\(change.from.rawValue)"])
                }
            } else {
                logger.warning(
                    "watch failing; retrying with backoff",
                    metadata: ["k8s.state": "\(next.rawValue)", "error": "\(error.map { "\($0)" } ?? "")"])
            }
        }

        while true {
            try Task.checkCancellation()
            var ending: ReflectorState<Object>.EventOutcome?
            do {
                if state.resourceVersion == nil {
                    try await list(into: &state, deliver: deliver)
                    become(.synced)
                }
                let started = clock.now
                var events = 0
                try await client.watch(
                    Object.self, namespace: settings.namespace, selectors: settings.selectors,
                    resourceVersion: state.resourceVersion ?? "",
                    timeoutSeconds: Int.random(in: settings.watchTimeoutSeconds),
                    maxLineBytes: settings.maxLineBytes,
                    // The server took the watch: the resource is followed again, events or not (a
                    // quiet cluster may send none for minutes).
                    onConnected: { become(.synced) },
                    onEvent: { event in
                        events += 1
                        // A watch that delivers is healthy again.
                        become(.synced)
                        hooks.event(Self.label(of: event))
                        switch state.apply(event) {
                        case .deltas(let deltas):
                            if !deltas.isEmpty { await deliver(deltas, false) }
                        case let outcome:
                            ending = outcome
                            throw WatchEnded()
                        }
                    })
                if events > 0 || clock.now - started > .seconds(1) {
                    // The server ended the watch at its timeout: resume from the last version seen.
                    hooks.restart("timeout")
                    failures = 0
                    become(.synced)
                } else {
                    // Ended at once with nothing: a server (or proxy) closing every watch. As
                    // client-go does, that counts as a failure and backs off, so the agent never
                    // reopens watches in a tight loop.
                    hooks.restart("closed_early")
                    failures += 1
                    try await backoff(attempt: failures)
                }
            } catch is WatchEnded {
                switch ending {
                case .relist(let status)?:
                    expire(&state, status.message ?? "")
                case .failed(let status)?:
                    let error = KubernetesAPIError.status(code: status.code ?? 500, message: status.message ?? "")
                    become(.failing, error)
                    try await recordFailure(error, &failures)
                default:
                    break
                }
            } catch KubernetesAPIError.gone(let message) {
                expire(&state, message)
            } catch {
                if error is CancellationError || Task.isCancelled { throw CancellationError() }
                become(ResourceWatchState(failureReason: (error as? KubernetesAPIError)?.reason ?? "transport"), error)
                try await recordFailure(error, &failures)
            }
        }
    }

    private struct WatchEnded: Error {}

    /// 410 Gone, however it came (an ERROR event, the status, an expired `continue`): list again.
    private func expire(_ state: inout ReflectorState<Object>, _ message: String) {
        hooks.restart("relist")
        logger.debug("resource version expired; listing again", metadata: ["k8s.message": "\(message)"])
        state.expire()
    }

    /// Counts the failure and backs off (the state change that comes with it is logged once).
    private func recordFailure(_ error: any Error, _ failures: inout Int) async throws {
        hooks.restart((error as? KubernetesAPIError)?.reason ?? "transport")
        failures += 1
        try await backoff(attempt: failures)
    }

    /// Lists every page, handing each page's upserts over as it arrives and the deletions at the
    /// end. A `continue` token that expired mid-list (410) makes the caller list again.
    private func list(
        into state: inout ReflectorState<Object>, deliver: ([ReflectorDelta<Object>], Bool) async -> Void
    ) async throws {
        state.beginList()
        var token: String?
        var version = ""
        repeat {
            let page = try await client.list(
                Object.self, namespace: settings.namespace, selectors: settings.selectors, limit: settings.pageSize,
                continueToken: token)
            // A paginated list is one snapshot: the version of its first page.
            if version.isEmpty { version = page.resourceVersion }
            token = page.continueToken
            let deltas = state.addListPage(page.items)
            if !deltas.isEmpty { await deliver(deltas, false) }
        } while token != nil
        await deliver(state.finishList(resourceVersion: version), true)
    }

    private func backoff(attempt: Int) async throws {
        let ceiling = min(
            settings.maxBackoffSeconds, settings.initialBackoffSeconds * Double(1 << min(attempt - 1, 16)))
        // Equal jitter: at least half the ceiling, so retries spread without collapsing to zero.
        let delay = ceiling / 2 + Double.random(in: 0...(ceiling / 2))
        try await Task.sleep(for: .milliseconds(Int64(delay * 1_000)))
    }

    private static func label(of event: WatchEvent<Object>) -> String {
        switch event {
        case .added: "added"
        case .modified: "modified"
        case .deleted: "deleted"
        case .bookmark: "bookmark"
        case .error: "error"
        }
    }
}
