import AgentTestSupport
import Foundation
import GzipCodec
import HTTPServing
import KubernetesModels
import LocalServers
import ReportProtos
import Synchronization
import Testing

/// One peer misbehaving on purpose, a row of the chaos table.
struct ChaosRow: Sendable, CustomTestStringConvertible {
    /// A sample of the agent's `/metrics` that must be above zero: the failure, counted.
    struct Counted: Sendable {
        var name: String
        var labels: [String: String] = [:]
    }

    enum Fault: Sendable {
        /// One more meshed pod whose proxy answers every scrape like this.
        case proxy(@Sendable (SimpleHTTPServer.Request) -> SimpleHTTPServer.Response)
        /// This many more meshed pods whose proxies answer every scrape like this.
        case proxies(Int, @Sendable (SimpleHTTPServer.Request) -> SimpleHTTPServer.Response)
        /// The Kubernetes API misbehaves once the agent is ready; the closure is the misbehaviour
        /// and returns when it is over (the API then behaves again).
        case api(@Sendable (FakeKubernetesAPI) async throws -> Void)
        /// The collector answers with these first, then accepts again.
        case collector([FakeCollector.Answer])
        /// The collector's certificate is not one the agent trusts.
        case untrustedCollector
        /// The spool directory is replaced by a file while the agent runs (a disk gone bad).
        case unwritableSpool
        /// The spool's disk (a 1 MiB tmpfs) fills up while the agent runs, then has room again.
        case fullSpoolDisk
        /// The cluster holds this many more pods (not meshed) from the start.
        case pods(Int)
        /// The collector is down (503) until the agent, with three batches in its spool, is
        /// killed with `kill -9`; then the collector is back and a second agent starts on the
        /// same spool. The row's checks are the second agent's.
        case killNineDuringOutage
        /// The token is rotated the way the kubelet rotates a mounted Secret or projected token
        /// (`..data` swapped), and its peer refuses the old one from then on.
        case rotatedToken(RotatedToken)
        /// The collector answers its next three requests with this 3xx to a server on
        /// 127.0.0.2, which must receive nothing.
        case redirectingCollector(status: Int)
        /// The collector answers 413 to bodies over this many bytes.
        case collectorBodyLimit(Int)
        /// The spool holds three batches of an earlier run when the agent starts, the second
        /// damaged on disk (a byte flipped).
        case damagedSpoolFile
        /// A hostile client of the admin port for `seconds`, while probes come from 127.0.0.1:
        /// every probe is answered 200 within a second, and resident memory stays within 100 MB
        /// of where it was.
        case admin(AdminAttack, seconds: Double)
    }

    /// Whose token a row rotates.
    enum RotatedToken: Sendable {
        /// The collector's API token (`report.tokenFile`, a mounted Secret).
        case collector
        /// The kubeconfig's `tokenFile` (a projected ServiceAccount token).
        case kubernetes
    }

    var name: String
    var fault: Fault
    var counted: [Counted]
    /// A log message that must appear exactly once: the failure, logged once.
    var logged: String?
    /// More configuration, appended to the scene's.
    var configuration = ""
    /// Environment variables for the agent (`FATHOM_…` keys over the scene's file).
    var variables: [String: String] = [:]
    /// Peak resident memory of the agent (`VmHWM`), a debug build, over the whole row.
    var peakBytes = 320 << 20
    /// Samples of the agent's `/metrics` that must stay at or under a value at the row's end (a
    /// sample not exposed counts as 0).
    var atMost: [(Counted, Double)] = []
    /// Whether the collector may acknowledge one batch more than once (it keeps a batch it
    /// answers after the agent's timeout, and the retry is acknowledged again).
    var repeatsAcknowledged = false
    var testDescription: String { name }
}

/// The chaos suite: the built `fathom-agent` against the demo cluster and its proxies, with
/// one peer misbehaving per row. For every row the agent keeps running and reporting the
/// healthy proxies' routes, its peak memory stays under the row's bound, the failure is counted
/// on `/metrics` with a bounded reason and logged once, and every batch the collector
/// acknowledged arrived once, in order, with none missing. The rows run one at a time: together
/// they would starve the real-time suites that run beside them.
@Suite(.serialized) struct ChaosTests {
    static let sample = Array(
        "response_total{direction=\"inbound\",authority=\"chaos:80\",classification=\"success\",status_code=\"200\"} 1\n"
            .utf8)

    static func failures(_ reason: String) -> [ChaosRow.Counted] {
        [ChaosRow.Counted(name: "fathom_scrapes_total", labels: ["result": "failure", "reason": reason])]
    }

    /// A page of `count` distinct route series.
    static func series(_ count: Int) -> [UInt8] {
        var page: [UInt8] = []
        page.reserveCapacity(count * 110)
        for index in 0..<count {
            page += Array(
                "response_total{direction=\"outbound\",authority=\"svc-\(index).shop.svc.cluster.local:80\",classification=\"success\"} 1\n"
                    .utf8)
        }
        return page
    }

    /// The sample series with another value.
    static func sample(value: Int) -> [UInt8] {
        Array(
            "response_total{direction=\"inbound\",authority=\"chaos:80\",classification=\"success\",status_code=\"200\"} \(value)\n"
                .utf8)
    }

    /// A page of a million route series, gzip-compressed; made when a row first serves it.
    static let millionSeries: [UInt8] = (try? Gzip.compress(series(1_000_000), level: 1)) ?? []

    /// Pages served so far by the rows whose proxy changes from page to page.
    static let droppingCounter = PageCount()
    static let nonMonotonic = PageCount()
    static let switching = PageCount()

    static func badLinesCounted(_ reason: String) -> [ChaosRow.Counted] {
        [ChaosRow.Counted(name: "fathom_page_bad_lines_total", labels: ["reason": reason])]
    }

    static let scrapeFailed = "Scrape failed"
    static let badLines = "Proxy page has bad lines; they were skipped"

    static let proxyRows: [ChaosRow] = {
        let bomb = (try? Gzip.compress([UInt8](repeating: 0, count: 200 << 20), level: 9)) ?? []
        let wide = series(3_000)
        let large = LargePages.padded(sample, to: 15 << 20)
        return [
            ChaosRow(
                name: "proxy: a body cut short of its Content-Length",
                fault: .proxy { _ in
                    .stream(status: 200, headers: [("Content-Length", "100000")]) { stream in
                        stream.write(Self.sample)
                        stream.abort()
                    }
                }, counted: failures("truncated"), logged: scrapeFailed),
            ChaosRow(
                name: "proxy: a 20 MiB page, past scrape.maxPageBytes",
                fault: .proxy { _ in .reply(status: 200, body: [UInt8](repeating: 0x23, count: 20 << 20)) },
                counted: failures("too_large"), logged: scrapeFailed),
            ChaosRow(
                name: "proxy: a gzip bomb (200 MiB of zeros in 200 KB)",
                fault: .proxy { _ in .reply(status: 200, headers: [("Content-Encoding", "gzip")], body: bomb) },
                counted: failures("too_large"), logged: scrapeFailed),
            ChaosRow(
                name: "proxy: an endless chunked body",
                fault: .proxy { _ in
                    .stream(status: 200) { stream in
                        // Past the page cap at once, and never a last chunk.
                        let chunk = [UInt8](repeating: 0x23, count: 1 << 20)
                        for _ in 0..<20 { stream.write(chunk) }
                    }
                }, counted: failures("too_large"), logged: scrapeFailed),
            ChaosRow(
                name: "proxy: slowloris, one byte every 200 ms",
                fault: .proxy { _ in
                    .stream(status: 200) { stream in
                        @Sendable func drip(_ left: Int) {
                            guard left > 0 else { return }
                            stream.write([0x23])
                            stream.schedule(after: 0.2) { drip(left - 1) }
                        }
                        drip(100)
                    }
                }, counted: failures("timeout"), logged: scrapeFailed),
            ChaosRow(
                name: "proxy: never answers",
                fault: .proxy { _ in .delayed(seconds: 3_600, status: 200) },
                counted: failures("timeout"), logged: scrapeFailed),
            ChaosRow(
                // As a proxy's admin server answers a scrape its authorization policy refuses.
                name: "proxy: 403 from its authorization policy",
                fault: .proxy { _ in .reply(status: 403, body: Array("unauthorized request on route\n".utf8)) },
                counted: failures("forbidden") + [
                    ChaosRow.Counted(
                        name: "fathom_mesh_check", labels: ["check": "data-plane-agent-authorized", "status": "error"])
                ], logged: scrapeFailed),
            ChaosRow(
                name: "proxy: garbage and NUL bytes",
                fault: .proxy { _ in
                    .reply(status: 200, body: (0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) })
                }, counted: failures("parse_error"), logged: scrapeFailed),
            ChaosRow(
                name: "proxy: a 2 MiB line among good ones",
                fault: .proxy { _ in
                    .reply(
                        status: 200, body: Self.sample + [UInt8](repeating: 0x61, count: 2 << 20) + [0x0A] + Self.sample
                    )
                }, counted: badLinesCounted("missing_value"), logged: badLines),
            ChaosRow(
                name: "proxy: 3,000 series, past aggregation.maxSeriesPerProxy of 1,000",
                fault: .proxy { _ in .reply(status: 200, body: wide) },
                counted: [ChaosRow.Counted(name: "fathom_series_over_limit_total")],
                logged: "Proxy has more series than aggregation.maxSeriesPerProxy; the new ones are not counted",
                configuration: "aggregation: {maxSeriesPerProxy: 1000}\n"),
            ChaosRow(
                name: "proxy: NaN and +Inf counters",
                fault: .proxy { _ in
                    .reply(
                        status: 200,
                        body: Self.sample
                            + Array(
                                "response_total{direction=\"inbound\",authority=\"nan:80\",classification=\"success\"} NaN\nresponse_total{direction=\"inbound\",authority=\"inf:80\",classification=\"success\"} +Inf\n"
                                    .utf8))
                }, counted: badLinesCounted("non_finite_value"), logged: badLines),
            ChaosRow(
                // Without the page budget the agent peaked at 516 MiB here (`scrape.maxBytesInFlight: 8Gi`).
                name: "proxy: 40 slow proxies with legal 15 MiB pages, within scrape.maxBytesInFlight",
                fault: .proxies(40) { _ in
                    .stream(status: 200, headers: [("Content-Length", String(large.count))]) { stream in
                        // All but the last byte at once, the last one 3 s later.
                        stream.write(Array(large.dropLast()))
                        stream.schedule(after: 3) {
                            stream.write([large[large.count - 1]])
                            stream.finish()
                        }
                    }
                },
                counted: failures("over_budget") + [ChaosRow.Counted(name: "fathom_scrape_page_bytes_in_flight_max")],
                logged: nil,
                // 44 MiB at rest and the 128 MiB budget (164 MiB measured), with room for the heap.
                peakBytes: 240 << 20,
                atMost: [(ChaosRow.Counted(name: "fathom_scrape_page_bytes_in_flight_max"), Double(128 << 20))]),
            ChaosRow(
                // Pages this large are allowed here, so the series limit is what holds.
                name: "proxy: a million series (105 MB, gzip), past aggregation.maxSeriesPerProxy",
                fault: .proxy { _ in
                    .reply(status: 200, headers: [("Content-Encoding", "gzip")], body: Self.millionSeries)
                },
                counted: [ChaosRow.Counted(name: "fathom_series_over_limit_total")],
                logged: "Proxy has more series than aggregation.maxSeriesPerProxy; the new ones are not counted",
                variables: ["FATHOM_SCRAPE_MAX_PAGE_BYTES": "128Mi", "FATHOM_SCRAPE_MAX_BYTES_IN_FLIGHT": "256Mi"]),
            ChaosRow(
                // Every third page a counter is one below the last: a reset, as rate() takes it.
                name: "proxy: a counter that drops a little now and then",
                fault: .proxy { _ in
                    let page = droppingCounter.next()
                    let value = 100 + 10 * page - (page % 3 == 2 ? 11 : 0)
                    return .reply(status: 200, body: Self.sample(value: value))
                },
                counted: [ChaosRow.Counted(name: "fathom_proxy_series_resets_total")], logged: nil),
            ChaosRow(
                // Kept as sent, as Prometheus stores them; histogram_quantile mends them when read.
                name: "proxy: histogram buckets that are not monotonic",
                fault: .proxy { _ in
                    let page = nonMonotonic.next()
                    return .reply(
                        status: 200,
                        body: Self.sample(value: page)
                            + Array(
                                ["10": 5 + page, "100": 3 + page, "+Inf": 7 + 2 * page].map {
                                    "response_latency_ms_bucket{direction=\"inbound\",authority=\"chaos:80\",status_code=\"200\",le=\"\($0.key)\"} \($0.value)\n"
                                }.joined().utf8))
                }, counted: [], logged: nil),
            ChaosRow(
                // The proxy was upgraded: a new process, and route metrics of the newer generation.
                name: "proxy: a switch from the older metric generation to the newer one",
                fault: .proxy { _ in
                    let page = switching.next()
                    if page < 3 {
                        return .reply(
                            status: 200,
                            body: Array("process_start_time_seconds 1000\n".utf8) + Self.sample(value: page))
                    }
                    return .reply(
                        status: 200,
                        body: Array(
                            ("process_start_time_seconds 2000\n"
                                + "outbound_http_route_request_statuses_total{parent_group=\"core\",parent_kind=\"Service\","
                                + "parent_namespace=\"shop\",parent_name=\"chaos\",parent_port=\"80\",parent_section_name=\"\","
                                + "route_group=\"\",route_kind=\"default\",route_namespace=\"\",route_name=\"http\",hostname=\"\","
                                + "http_status=\"200\",error=\"\"} \(page)\n").utf8))
                },
                counted: [ChaosRow.Counted(name: "fathom_proxy_restarts_total")], logged: nil),
            ChaosRow(
                name: "proxy: a series twice on one page",
                fault: .proxy { _ in .reply(status: 200, body: Self.sample + Self.sample) },
                counted: badLinesCounted("duplicate_series"), logged: badLines),
        ]
    }()

    static let watchFailing = "watch failing; retrying with backoff"

    /// The API answers the pods reflector's next `count` requests with `status`, then behaves: the
    /// pod watch's restarts are counted with `reason`. The failures are the pods reflector's alone:
    /// shared with the other reflectors, they could all be spent before the pods one asks again.
    static func failingRequests(_ count: Int, status: Int, name: String, reason: String) -> ChaosRow {
        ChaosRow(
            name: name,
            fault: .api { api in
                api.failNext(count, status: status, of: Pod.resource)
                api.dropWatches()
                _ = await eventually(within: 90) { api.pendingFailures == 0 }
            },
            counted: [
                ChaosRow.Counted(
                    name: "fathom_kubernetes_watch_restarts_total", labels: ["resource": "pods", "reason": reason])
            ], logged: nil)
    }

    static let apiRows: [ChaosRow] = [
        failingRequests(4, status: 500, name: "api: 500 on the next 4 pod requests", reason: "http_status"),
        failingRequests(
            4, status: 401, name: "api: 401 on the next 4 pod requests (a token rotated late), then accepted again",
            reason: "unauthorized"),
        ChaosRow(
            name: "api: garbage JSON on the pod watch",
            fault: .api { api in
                let garbage = Array("{\"type\":\"MODIFIED\",\"object\":{nonsense\n".utf8)
                _ = await eventually(within: 30) { api.injectIntoWatches(of: Pod.resource, garbage) > 0 }
            },
            counted: [
                ChaosRow.Counted(
                    name: "fathom_kubernetes_watch_restarts_total", labels: ["resource": "pods", "reason": "decode"])
            ], logged: nil),
        ChaosRow(
            name: "api: a 100 MB line on the pod watch",
            fault: .api { api in
                let line = [UInt8](repeating: 0x20, count: 100_000_000) + [0x0A]
                _ = await eventually(within: 30) { api.injectIntoWatches(of: Pod.resource, line) > 0 }
            },
            counted: [
                ChaosRow.Counted(
                    name: "fathom_kubernetes_watch_restarts_total",
                    labels: ["resource": "pods", "reason": "line_too_long"])
            ], logged: nil),
        ChaosRow(
            // The watch's deadline is its timeoutSeconds (10 to 20 s here) and 30 s more.
            name: "api: the pod watch left open and silent (kubernetes.minWatchTimeout 10s)",
            fault: .api { api in
                _ = await eventually(within: 30) { api.silenceWatches(of: Pod.resource) > 0 }
                let opened = api.requestCounts["watch pods", default: 0]
                // Over when the agent has given the silent watch up and opened another.
                _ = await eventually(within: 90) { api.requestCounts["watch pods", default: 0] > opened }
            },
            counted: [
                ChaosRow.Counted(
                    name: "fathom_kubernetes_watch_restarts_total",
                    labels: ["resource": "pods", "reason": "silent_watch"])
            ], logged: nil, variables: ["FATHOM_KUBERNETES_MIN_WATCH_TIMEOUT": "10s"]),
        ChaosRow(
            name: "api: every watch connection dropped every second for 10 s",
            fault: .api { api in
                _ = await eventually(within: 30) { api.openWatches > 0 }
                for _ in 0..<10 {
                    api.dropWatches()
                    try await Task.sleep(for: .seconds(1))
                }
            },
            counted: [
                ChaosRow.Counted(
                    name: "fathom_kubernetes_watch_restarts_total", labels: ["resource": "pods", "reason": "transport"])
            ], logged: nil),
        ChaosRow(
            name: "api: 50,000 pods", fault: .pods(50_000),
            counted: [ChaosRow.Counted(name: "fathom_inventory_objects", labels: ["resource": "pods"])], logged: nil),
    ]

    static let uploadFailed = "Upload failed; retrying"

    static let collectorRows: [ChaosRow] = [
        ChaosRow(
            name: "collector: 503 for four attempts, then recovers",
            fault: .collector(Array(repeating: .status(503), count: 4)),
            counted: [ChaosRow.Counted(name: "fathom_report_retries_total", labels: ["reason": "http_5xx"])],
            logged: uploadFailed),
        ChaosRow(
            name: "collector: 429 with Retry-After",
            fault: .collector([.status(429, retryAfter: "1"), .status(429, retryAfter: "1")]),
            counted: [ChaosRow.Counted(name: "fathom_report_retries_total", labels: ["reason": "throttled"])],
            logged: uploadFailed),
        ChaosRow(
            name: "collector: 400 for three batches",
            fault: .collector(Array(repeating: .status(400, message: "bad batch"), count: 3)),
            counted: [ChaosRow.Counted(name: "fathom_report_batches_dropped_total", labels: ["reason": "rejected"])],
            logged: "Collector rejected a batch; dropped"),
        ChaosRow(
            name: "collector: answers after the request timeout",
            fault: .collector([.slow(seconds: 4, then: .accept), .slow(seconds: 4, then: .accept)]),
            counted: [ChaosRow.Counted(name: "fathom_report_retries_total", labels: ["reason": "timeout"])],
            logged: uploadFailed, repeatsAcknowledged: true),
        ChaosRow(
            // The collector keeps the batch (its idempotency key makes the retry a repeat).
            name: "collector: 200 only after 60 s",
            fault: .collector([.slow(seconds: 60, then: .accept)]),
            counted: [ChaosRow.Counted(name: "fathom_report_retries_total", labels: ["reason": "timeout"])],
            logged: uploadFailed, repeatsAcknowledged: true),
        ChaosRow(
            name: "collector: connections reset",
            fault: .collector(Array(repeating: .dropConnection, count: 4)),
            counted: [ChaosRow.Counted(name: "fathom_report_retries_total", labels: ["reason": "reset"])],
            logged: uploadFailed),
        ChaosRow(
            name: "collector: a certificate the agent does not trust", fault: .untrustedCollector,
            counted: [ChaosRow.Counted(name: "fathom_report_retries_total", labels: ["reason": "tls"])],
            logged: uploadFailed),
        ChaosRow(
            name: "spool: its disk full, then room again", fault: .fullSpoolDisk,
            counted: [ChaosRow.Counted(name: "fathom_report_spool_write_failures_total")],
            logged: "Cannot write the spool; batches are kept in memory only until it works again"),
        ChaosRow(
            name: "spool: kill -9 during a collector outage, then a restart", fault: .killNineDuringOutage,
            counted: [ChaosRow.Counted(name: "fathom_report_spool_resumed_batches_total")],
            logged: "Resuming batches from the spool"),
        ChaosRow(
            name: "spool: its directory replaced by a file while the agent runs", fault: .unwritableSpool,
            counted: [ChaosRow.Counted(name: "fathom_report_spool_write_failures_total")],
            logged: "Cannot write the spool; batches are kept in memory only until it works again"),
    ]

    @Test(arguments: proxyRows + apiRows + collectorRows + edgeRows)
    func theAgentKeepsGoingCountsAndLogsOnce(_ row: ChaosRow) async throws {
        // FATHOM_CHAOS_ROW=<part of a row's name> runs that row alone (the others pass at once).
        if let only = ProcessInfo.processInfo.environment["FATHOM_CHAOS_ROW"], !row.name.contains(only) { return }
        let scene = try await ProcessScene.start()
        var chaos: SimpleHTTPServer?
        var collector = scene.collector
        var endpoint: String?
        var spool = false
        switch row.fault {
        case .proxy(let respond):
            let server = try await SimpleHTTPServer.start(respond: respond)
            chaos = server
            try Self.addMeshedPod(to: scene.api, port: server.port)
        case .proxies(let count, let respond):
            let server = try await SimpleHTTPServer.start(respond: respond)
            chaos = server
            for index in 0..<count {
                try Self.addMeshedPod(to: scene.api, port: server.port, name: "chaos-proxy-\(index)")
            }
        case .collector(let answers):
            scene.collector.script(answers)
            spool = true
        case .untrustedCollector:
            let certificate = try TestCertificate.make(commonName: "collector", dnsNames: ["localhost"])
            collector = try await FakeCollector.start(tls: certificate)
            endpoint = collector.url
        case .unwritableSpool:
            spool = true
        case .fullSpoolDisk:
            spool = true
            try FileManager.default.createDirectory(atPath: scene.spool, withIntermediateDirectories: true)
            guard Self.command("/bin/mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", scene.spool) else {
                // Mounting needs privileges this machine may not grant; the directory row still runs.
                print("skipped: cannot mount a tmpfs at \(scene.spool)")
                try await scene.shutdown()
                return
            }
        case .pods(let count):
            Self.addPods(to: scene.api, count: count)
        case .killNineDuringOutage:
            scene.collector.setOutage(503)
            spool = true
        case .rotatedToken(.collector):
            scene.collector.requireToken(ProcessScene.collectorToken)
        case .redirectingCollector(let status):
            let server = try await SimpleHTTPServer.start(host: "127.0.0.2") { _ in
                Self.redirectedRequests.withLock { $0 += 1 }
                return .reply(status: 200)
            }
            Self.redirectedRequests.withLock { $0 = 0 }
            chaos = server
            scene.collector.script(
                Array(
                    repeating: .redirect(status: status, location: "http://127.0.0.2:\(server.port)/v1/reports?sig=x"),
                    count: 3))
        case .collectorBodyLimit(let bytes):
            scene.collector.limitBodies(to: bytes)
            spool = true
        case .damagedSpoolFile:
            spool = true
            try Self.spoolDamagedBatches(in: scene.spool)
        case .api, .rotatedToken(.kubernetes), .admin:
            break
        }
        let config = try scene.writeConfiguration(
            // A scrape timeout no busy machine reaches by accident: a row's failure is its own.
            scene.configuration(
                reportInterval: "5s", spool: spool, endpoint: endpoint, scrapeInterval: "5s", scrapeTimeout: "4s")
                + "\n" + row.configuration)
        var agent = try AgentProcessTests.run(config, variables: row.variables)
        defer { agent.kill() }
        try await Self.awaitReady(agent)
        // What the collector was sent before the kill, and what the spool held then.
        var killed: (tried: Set<String>, spooled: [String])?
        let batchFiles = {
            (try? FileManager.default.contentsOfDirectory(atPath: scene.spool).filter { $0.hasSuffix(".batch") }) ?? []
        }
        if case .killNineDuringOutage = row.fault {
            #expect(await eventually(within: 60) { batchFiles().count >= 3 }, "\(agent.errors.suffix(3_000))")
            agent.kill()
            killed = (Set(scene.collector.requests.compactMap(\.idempotencyKey)), batchFiles())
            scene.collector.setOutage(nil)
            agent = try AgentProcessTests.run(config, variables: row.variables)
            try await Self.awaitReady(agent)
        }
        if case .api(let misbehave) = row.fault { try await misbehave(scene.api) }
        if case .rotatedToken(let whose) = row.fault { try await Self.rotate(whose, in: scene) }
        var attacked: AdminAttack.Outcome?
        if case .admin(let attack, let seconds) = row.fault {
            let port = try #require(agent.adminPort)
            attacked = await attack.run(port: port, seconds: seconds) { [agent] in agent.memoryBytes("VmRSS") }
        }
        if case .unwritableSpool = row.fault {
            try FileManager.default.removeItem(atPath: scene.spool)
            try "in the way\n".write(toFile: scene.spool, atomically: true, encoding: .utf8)
        }
        defer { if case .fullSpoolDisk = row.fault { _ = Self.command("/bin/umount", "-l", scene.spool) } }
        if case .fullSpoolDisk = row.fault {
            // Fills what is left of the disk; dd stops with "No space left on device".
            _ = Self.command("/bin/dd", "if=/dev/zero", "of=\(scene.spool)/filler", "bs=4096")
        }

        for counted in row.counted {
            #expect(
                await eventually(within: 60) { (await agent.metric(counted.name, counted.labels) ?? 0) > 0 },
                "\(counted.name)\(counted.labels) never counted; \(agent.errors.suffix(3_000))")
        }
        if case .fullSpoolDisk = row.fault {
            try FileManager.default.removeItem(atPath: "\(scene.spool)/filler")
            #expect(
                await eventually(within: 60) { agent.logs("Spool writable again").count == 1 },
                "\(agent.errors.suffix(3_000))")
        }
        // It goes on: healthy, and the healthy proxies' routes keep arriving after the fault (or,
        // with a collector it cannot trust, wait in the queue).
        let before = collector.acceptedBatches.count
        if case .untrustedCollector = row.fault {
            #expect(await eventually(within: 60) { (await agent.metric("fathom_report_queue_batches") ?? 0) >= 2 })
        } else {
            #expect(
                await eventually(within: 60) {
                    collector.acceptedBatches.dropFirst(before).contains { !$0.routeMetrics.isEmpty }
                }, "no routes after the fault; \(agent.errors.suffix(3_000))")
        }
        #expect((try? await agent.get("/healthz"))?.status == 200)
        if let logged = row.logged {
            #expect(agent.logs(logged).count == 1, "\(agent.logs(logged))")
        }
        for (bounded, most) in row.atMost {
            let value = await agent.metric(bounded.name, bounded.labels) ?? 0
            #expect(value <= most, "\(bounded.name)\(bounded.labels) is \(value), over \(most)")
        }
        if let attacked {
            // Answered throughout, as a kubelet's probe must be, and memory bounded.
            #expect(attacked.probes.count >= 8, "probes: \(attacked.probes.count)")
            #expect(attacked.probes.allSatisfy { $0.status == 200 }, "\(attacked.probes.filter { $0.status != 200 })")
            let slowest = attacked.probes.map(\.seconds).max() ?? 0
            #expect(slowest < 1, "the slowest probe took \(slowest) s")
            let grown = attacked.residentPeak - attacked.residentBefore
            #expect(grown < 100 << 20, "resident memory grew by \(grown >> 20) MiB under the attack")
            print(
                "\(row.name): \(attacked.probes.count) probes, slowest \(Int(slowest * 1_000)) ms; resident "
                    + "\(attacked.residentBefore >> 20) MiB before, \(attacked.residentPeak >> 20) MiB at most")
        }
        let peak = try #require(agent.memoryBytes("VmHWM"))
        #expect(peak < row.peakBytes, "peak resident \(peak >> 20) MiB")

        agent.signal(SIGTERM)
        #expect(await agent.exitStatus(within: 30) == 0, "\(agent.errors.suffix(3_000))")
        // Acknowledged once each, in order, none missing (rejected batches are the row's point),
        // for each run of the agent.
        // Rows of the collector's (but for the one rejecting batches) and the kill -9 row miss none.
        var noneRejected = false
        if case .collector(let answers) = row.fault {
            noneRejected = !answers.contains(.status(400, message: "bad batch"))
        }
        if case .killNineDuringOutage = row.fault { noneRejected = true }
        if case .redirectingCollector = row.fault {
            noneRejected = true
            #expect(Self.redirectedRequests.withLock { $0 } == 0, "the host redirected to was sent something")
        }
        if case .collectorBodyLimit = row.fault { noneRejected = true }
        if case .damagedSpoolFile = row.fault {
            let sent = Set(collector.requests.compactMap(\.idempotencyKey))
            #expect(!sent.contains("earlier-2"), "the damaged batch was sent")
            #expect(sent.isSuperset(of: ["earlier-1", "earlier-3"]), "the intact ones were not: \(sent.sorted())")
        }
        if case .rotatedToken = row.fault { noneRejected = true }
        let runs = Dictionary(grouping: collector.acceptedBatches, by: \.agent.instanceID)
        for (instance, batches) in runs {
            // A split batch arrives as consecutive parts that share its sequence.
            var sequences: [UInt64] = []
            for batch in batches where sequences.last != batch.sequence { sequences.append(batch.sequence) }
            #expect(sequences == sequences.sorted() && Set(sequences).count == sequences.count, "\(instance)")
            guard noneRejected else { continue }
            #expect(sequences == Array(1...UInt64(sequences.count)), "\(instance): \(sequences)")
            for sequence in sequences {
                let parts = batches.filter { $0.sequence == sequence && $0.hasPart }.map(\.part.path)
                guard !parts.isEmpty else { continue }
                // Every part: the halvings' shares add up to the whole batch.
                #expect(parts.reduce(0.0) { $0 + pow(2, -Double($1.count)) } == 1, "\(sequence): \(parts)")
            }
        }
        if !row.repeatsAcknowledged {
            let acknowledged = collector.requests.filter { $0.answeredStatus == 200 }.compactMap(\.idempotencyKey)
            #expect(acknowledged.count == Set(acknowledged).count, "a batch acknowledged twice")
        }
        if let killed {
            // The killed run: every batch it had spooled arrived, those it had tried among them.
            #expect(runs.count == 2)
            // A batch's idempotency key is its run's instance and its sequence.
            let keys = runs.mapValues { batches in Set(batches.map { "\($0.agent.instanceID)-\($0.sequence)" }) }
            let killedRun = try #require(keys.values.first { !$0.isDisjoint(with: killed.tried) })
            #expect(killedRun.count == killed.spooled.count, "\(killed.spooled)")
            #expect(killedRun.isSuperset(of: killed.tried))
            #expect(batchFiles().isEmpty, "every spooled batch sent and its file removed")
            let acknowledged = collector.requests.filter { $0.answeredStatus == 200 }.compactMap(\.idempotencyKey)
            #expect(acknowledged.count == Set(acknowledged).count)
        }
        try await chaos?.shutdown()
        if collector !== scene.collector { try await collector.shutdown() }
        // Unmounted before the scene's directory is removed (the deferred unmount is for a row
        // that stopped early; a second unmount does nothing).
        if case .fullSpoolDisk = row.fault { _ = Self.command("/bin/umount", scene.spool) }
        try await scene.shutdown()
    }

    /// Waits until the agent is ready; fails the row if it is not within a minute or has stopped.
    static func awaitReady(_ agent: AgentSubprocess) async throws {
        let settled = await eventually(within: 60) {
            guard agent.isRunning else { return true }
            return (try? await agent.get("/readyz"))?.status == 200
        }
        #expect(settled, "never ready; \(agent.errors.suffix(3_000))")
        try #require(agent.isRunning, "\(agent.errors)")
    }

    /// Runs a command to its end, quietly; whether it succeeded.
    static func command(_ path: String, _ arguments: String...) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// A copy of a demo pod whose proxy's admin port is `port`.
    static func addMeshedPod(to api: FakeKubernetesAPI, port: Int, name: String = "chaos-proxy") throws {
        var pod = try #require(
            api.objects(Pod.self).first { $0.metadata.annotation("config.linkerd.io/admin-port") != nil })
        pod.metadata.name = name
        pod.metadata.uid = ""
        pod.metadata.resourceVersion = nil
        var annotations = pod.metadata.annotations ?? [:]
        annotations["config.linkerd.io/admin-port"] = String(port)
        pod.metadata.annotations = annotations
        api.apply(pod)
    }

    /// `count` running pods without a proxy, in one namespace.
    static func addPods(to api: FakeKubernetesAPI, count: Int) {
        for index in 0..<count {
            api.apply(
                Pod(
                    metadata: ObjectMeta(name: "batch-\(index)", namespace: "jobs", labels: ["app": "batch"]),
                    spec: Pod.Spec(nodeName: "demo-node", containers: [Pod.Container(name: "job", image: "jobs:1")]),
                    status: Pod.Status(phase: "Running", podIP: "10.9.\(index / 250).\(index % 250)")))
        }
    }
}

/// How many pages a changing proxy has served: each call is the next page's number, from 0.
final class PageCount: Sendable {
    private let served = Mutex(0)

    func next() -> Int {
        served.withLock { count in
            defer { count += 1 }
            return count
        }
    }
}
