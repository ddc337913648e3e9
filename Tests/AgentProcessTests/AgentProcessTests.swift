import AgentTestSupport
import Foundation
import LocalServers
import ProxySimulation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built `fathom-agent` as users run it: a subprocess with a config file, against the fake
/// Kubernetes API, simulated proxies and the collector on loopback. What is checked is what a
/// user sees: exit codes, log lines, `/metrics`, and what reaches the collector.
@Suite struct AgentProcessTests {
    /// `fathom-agent run --config FILE` with the scene's kubeconfig.
    static func run(_ config: String, variables: [String: String] = [:]) throws -> AgentSubprocess {
        try AgentSubprocess.start("fathom-agent", ["run", "--config", config], variables: variables)
    }

    @Test func reloadAppliesLiveKeysFromEditsAndConfigMapSwapsAndKeepsOutAnInvalidFile() async throws {
        let scene = try await ProcessScene.start()
        let mount = try MountedVolume(in: scene.directory, named: "configmap", file: "config.yaml")
        try mount.publish(scene.configuration(reportInterval: "30s"))
        let agent = try Self.run(mount.file)
        defer { agent.kill() }
        #expect(
            await eventually(within: 30) { await agent.metric("fathom_targets") == Double(SimulatedMesh.demoPodCount) },
            "\(agent.errors)")

        // 1. A ConfigMap update (the ..data symlink swapped): a live key applies at once.
        try mount.publish(scene.configuration(reportInterval: "30s", exclude: ["emojivoto"]))
        #expect(await eventually(within: 30) { await agent.metric("fathom_targets") == 2 }, "\(agent.errors)")
        #expect(await agent.metric("fathom_config_reloads_total", ["result": "success"]) == 1)
        #expect(agent.logs("configuration reloaded").last?["config.applied"] == "scrape.namespaces.exclude")

        // 2. An edit in place of the file: the filter is lifted, a restart-only key waits.
        try mount.editInPlace(scene.configuration(reportInterval: "30s", adminPort: 1))
        #expect(
            await eventually(within: 30) { await agent.metric("fathom_targets") == Double(SimulatedMesh.demoPodCount) },
            "\(agent.errors)")
        #expect(await agent.metric("fathom_config_reloads_total", ["result": "success"]) == 2)
        #expect(
            agent.logs("configuration keys changed that apply only after a restart").last?["config.keys"]
                == "admin.port")

        // 3. An invalid file is counted, every problem logged, and the running configuration stays.
        try mount.publish(
            "cluster: {name: x}\nreport: {endpoint: nowhere, interval: soon}\nscrape: {intervall: 1s}\n")
        #expect(
            await eventually(within: 30) {
                await agent.metric("fathom_config_reloads_total", ["result": "failure"]) == 1
            })
        let problems = agent.logs("configuration reload failed; keeping the running configuration").last?[
            "config.problems"]
        #expect(problems?.contains("report.endpoint") == true, "\(problems ?? "no log line")")
        #expect(problems?.contains("report.interval") == true)
        #expect(problems?.contains("scrape.intervall: unknown key (did you mean scrape.interval?)") == true)
        #expect(await agent.metric("fathom_targets") == Double(SimulatedMesh.demoPodCount))

        // 4. The log level changes live: at warning, a reload's info line is no longer written.
        try mount.publish(scene.configuration(reportInterval: "30s", level: "warning"))
        #expect(
            await eventually(within: 30) {
                await agent.metric("fathom_config_reloads_total", ["result": "success"]) == 3
            })
        let infoLines = agent.logs("configuration reloaded").count
        try mount.publish(scene.configuration(reportInterval: "30s", level: "warning", exclude: ["booksapp"]))
        #expect(await eventually(within: 30) { await agent.metric("fathom_targets") == 5 })
        #expect(await agent.metric("fathom_config_reloads_total", ["result": "success"]) == 4)
        #expect(agent.logs("configuration reloaded").count == infoLines, "info lines are off at warning")

        agent.signal(SIGTERM)
        #expect(await agent.exitStatus(within: 30) == 0, "\(agent.errors)")
        try await scene.shutdown()
    }

    /// The trust anchors' warning threshold is a live key: the demo's anchor expires in 20 days,
    /// which a 10-day threshold passes and a 30-day one warns of, from the next window after the
    /// file changes, without a restart.
    @Test func theTrustAnchorThresholdIsALiveKey() async throws {
        let scene = try await ProcessScene.start()
        let mount = try MountedVolume(in: scene.directory, named: "configmap", file: "config.yaml")
        let threshold = { (days: Int) in
            scene.configuration(reportInterval: "5s") + "\nlinkerd: {trustAnchorExpiryWarning: \(days)d}\n"
        }
        try mount.publish(threshold(10))
        let agent = try Self.run(mount.file)
        defer { agent.kill() }
        let expiring = { (status: String) in
            await agent.metric("fathom_mesh_check", ["check": "trust-anchors-expiring", "status": status])
        }
        #expect(await eventually(within: 60) { await expiring("ok") == 1 }, "\(agent.errors)")
        try mount.publish(threshold(30))
        #expect(await eventually(within: 60) { await expiring("warning") == 1 }, "\(agent.errors)")
        #expect(await agent.metric("fathom_config_reloads_total", ["result": "success"]) == 1)
        #expect(await expiring("ok") == 0)
        agent.signal(SIGTERM)
        #expect(await agent.exitStatus(within: 30) == 0, "\(agent.errors)")
        try await scene.shutdown()
    }

    /// The agent's own `/metrics`, after a window, passes Prometheus's linter (`promtool check
    /// metrics`: names, types, units, help), as any target a Prometheus scrapes should.
    @Test func theAgentsOwnMetricsPassPromtool() async throws {
        guard (try? runCommand("promtool", ["--version"]))?.status == 0 else {
            let required = ProcessInfo.processInfo.environment["FATHOM_REQUIRE_ORACLES"] == "1"
            #expect(!required, "FATHOM_REQUIRE_ORACLES is set but promtool (Debian's prometheus) is missing")
            return
        }
        let scene = try await ProcessScene.start()
        let agent = try Self.run(try scene.writeConfiguration(scene.configuration()))
        defer { agent.kill() }
        #expect(await eventually(within: 60) { scene.collector.acceptedBatches.count >= 1 }, "\(agent.errors)")
        let (status, body) = try await agent.get("/metrics")
        #expect(status == 200)
        let file = scene.directory + "/metrics.txt"
        try body.write(toFile: file, atomically: true, encoding: .utf8)
        let lint = try runCommand("sh", ["-c", "promtool check metrics < '\(file)' 2>&1"])
        #expect(lint.status == 0, "promtool check metrics: \(lint.text)")
        // Counters with a bounded label are there at 0 before their first event, so an alert on
        // increase() sees that event.
        for (name, labels) in [
            ("fathom_config_reloads_total", ["result": "failure"]), ("fathom_encode_failures_total", ["what": "batch"]),
            ("fathom_admin_requests_refused_total", ["reason": "too_many_connections"]),
            ("fathom_proxy_series_resets_total", [:]),
        ] {
            #expect(await agent.metric(name, labels) == 0, "\(name)\(labels)")
        }
        agent.signal(SIGTERM)
        #expect(await agent.exitStatus(within: 30) == 0, "\(agent.errors)")
        try await scene.shutdown()
    }

    @Test func sigtermDeliversTheLastWindowExactlyOnce() async throws {
        let scene = try await ProcessScene.start()
        let agent = try Self.run(try scene.writeConfiguration(scene.configuration()))
        defer { agent.kill() }
        #expect(await eventually(within: 30) { scene.collector.acceptedBatches.count >= 1 }, "\(agent.errors)")
        let stoppedAt = Date().timeIntervalSince1970
        agent.signal(SIGTERM)
        #expect(await agent.exitStatus(within: 30) == 0, "\(agent.errors)")

        let requests = scene.collector.requests
        let keys = requests.compactMap(\.idempotencyKey)
        // Each batch was POSTed once: a healthy collector never sees a key twice.
        #expect(keys.count == Set(keys).count, "\(keys)")
        let batches = scene.collector.acceptedBatches
        #expect(batches.count == keys.count && batches.count >= 2)
        #expect(batches.map(\.sequence) == Array(1...UInt64(batches.count)))
        // The last batch is the window closed at shutdown: it ends after the signal.
        let last = try #require(batches.last)
        #expect(Double(last.windowEndUnixMs) / 1_000 >= stoppedAt)
        #expect(batches.dropLast().last?.windowEndUnixMs == last.windowStartUnixMs)
        #expect(agent.logs("shutdown complete: every batch delivered").count == 1)
        try await scene.shutdown()
    }

    /// A paused agent (SIGSTOP, as a stopped VM or a frozen cgroup does it) that resumes after
    /// missing three window closes sends one window for the pause, with the pause's traffic in
    /// it, not a burst of empty windows a moment long each.
    @Test func anAgentPausedPastSeveralWindowsSendsOneWindowForThePause() async throws {
        let scene = try await ProcessScene.start()
        let agent = try Self.run(try scene.writeConfiguration(scene.configuration(reportInterval: "5s")))
        defer { agent.kill() }
        #expect(
            await eventually(within: 60) { scene.collector.acceptedBatches.contains { !$0.routeMetrics.isEmpty } },
            "\(agent.errors)")
        let before = scene.collector.acceptedBatches.count
        agent.signal(SIGSTOP)
        let stoppedAt = Date().timeIntervalSince1970
        // What is under test is wall-clock time passing while the agent cannot run.
        _ = await eventually(within: 30) { Date().timeIntervalSince1970 >= stoppedAt + 17 }
        agent.signal(SIGCONT)
        let resumedAt = Date().timeIntervalSince1970
        #expect(
            await eventually(within: 60) { scene.collector.acceptedBatches.count >= before + 2 }, "\(agent.errors)")
        agent.signal(SIGTERM)
        #expect(await agent.exitStatus(within: 30) == 0, "\(agent.errors)")

        let windows = scene.collector.acceptedBatches.sorted { $0.sequence < $1.sequence }.dropFirst(before)
            .dropLast()  // the window cut short at shutdown
        func seconds(_ milliseconds: Int64) -> Double { Double(milliseconds) / 1_000 }
        let pause = try #require(
            windows.first {
                seconds($0.windowStartUnixMs) <= stoppedAt && seconds($0.windowEndUnixMs) >= stoppedAt + 17
            },
            "one window spans the pause: \(windows.map { (seconds($0.windowStartUnixMs), seconds($0.windowEndUnixMs)) })"
        )
        #expect(!pause.routeMetrics.isEmpty, "the pause's traffic is in it")
        // The clock keeps its beat, so the next close may come soon after the resume; a burst
        // of catch-up closes would put three or more windows in the interval after it.
        let soonAfter = windows.filter {
            seconds($0.windowEndUnixMs) >= resumedAt - 1 && seconds($0.windowEndUnixMs) < resumedAt + 5
        }
        #expect(soonAfter.count <= 2, "no burst of windows: \(soonAfter.count)")
        try await scene.shutdown()
    }

    @Test func sigtermDuringAnOutageSpoolsAndTheNextStartDeliversEachBatchOnce() async throws {
        let scene = try await ProcessScene.start()
        scene.collector.setOutage(503)
        let config = try scene.writeConfiguration(scene.configuration(grace: "2s", spool: true))
        let first = try Self.run(config)
        defer { first.kill() }
        #expect(await eventually(within: 30) { scene.collector.requests.count >= 2 }, "\(first.errors)")
        first.signal(SIGTERM)
        #expect(await first.exitStatus(within: 30) == 0, "\(first.errors)")
        // The grace period was spent retrying, then the batches were left in the spool.
        let warning = try #require(first.logs("shutdown: batches not delivered within the grace period").first)
        #expect(warning["report.spool"] == scene.spool)
        let spooled = try FileManager.default.contentsOfDirectory(atPath: scene.spool).filter { $0.hasSuffix(".batch") }
        #expect(spooled.count >= 2, "the last window and the earlier ones are spooled")
        #expect(first.logs("shutdown complete: every batch delivered").isEmpty)

        // The collector is back; the next start sends the spooled batches, each once.
        scene.collector.setOutage(nil)
        let second = try Self.run(config)
        defer { second.kill() }
        #expect(
            await eventually(within: 30) {
                (try? FileManager.default.contentsOfDirectory(atPath: scene.spool).filter { $0.hasSuffix(".batch") })?
                    .isEmpty == true
            })
        second.signal(SIGTERM)
        #expect(await second.exitStatus(within: 30) == 0, "\(second.errors)")
        let accepted = scene.collector.acceptedBatches
        let firstInstance = try #require(accepted.first?.agent.instanceID)
        let firstRun = accepted.filter { $0.agent.instanceID == firstInstance }.map(\.sequence)
        #expect(firstRun.count == spooled.count)
        #expect(firstRun == Array(1...UInt64(firstRun.count)), "every spooled batch, in order, once")
        // During the outage the same key was retried (503s); once back, each key got one 200.
        let acknowledged = scene.collector.requests.filter { $0.answeredStatus == 200 }.compactMap(\.idempotencyKey)
        #expect(acknowledged.count == Set(acknowledged).count)
        try await scene.shutdown()
    }

    @Test func aCollectorRejectingEveryBatchIsNotReportedAsDelivered() async throws {
        let scene = try await ProcessScene.start()
        scene.collector.setOutage(401)
        let agent = try Self.run(try scene.writeConfiguration(scene.configuration()))
        defer { agent.kill() }
        #expect(await eventually(within: 30) { scene.collector.requests.count >= 1 }, "\(agent.errors)")
        agent.signal(SIGTERM)
        #expect(await agent.exitStatus(within: 30) == 0, "\(agent.errors)")
        #expect(agent.logs("shutdown complete: every batch delivered").isEmpty, "\(agent.errors)")
        #expect(
            !agent.logs("shutdown: the queue is empty, but batches were dropped while running").isEmpty
                || !agent.logs("shutdown: batches not delivered within the grace period").isEmpty)
        try await scene.shutdown()
    }

    @Test func theAdminServerListensOnTheConfiguredAddressOnly() async throws {
        let scene = try await ProcessScene.start()
        // 127.0.0.2 is loopback too on Linux, and another address than 127.0.0.1.
        let agent = try Self.run(try scene.writeConfiguration(scene.configuration(adminAddress: "127.0.0.2")))
        defer { agent.kill() }
        let (status, _) = try await agent.get("/healthz", host: "127.0.0.2")
        #expect(status == 200)
        let port = try #require(agent.adminPort)
        // The agent's one listening socket is on that address, not on 0.0.0.0 or 127.0.0.1.
        #expect(agent.listeningAddresses == ["127.0.0.2:\(port)"])
        #expect(agent.logs("admin server listening").first?["admin.address"] == "127.0.0.2")
        agent.signal(SIGTERM)
        #expect(await agent.exitStatus(within: 30) == 0)
        try await scene.shutdown()
    }

    @Test func aTakenAdminPortIsAClearErrorAndANonZeroExit() async throws {
        let scene = try await ProcessScene.start()
        // The collector's port is taken, by the collector.
        let taken = scene.collector.port
        let agent = try Self.run(try scene.writeConfiguration(scene.configuration(adminPort: taken)))
        defer { agent.kill() }
        let status = await agent.exitStatus(within: 30)
        #expect(status != nil && status != 0, "\(agent.errors)")
        #expect(agent.errors.contains("cannot listen on 127.0.0.1:\(taken) for the admin endpoints"), "\(agent.errors)")
        #expect(agent.logs("service failed; stopping the agent").first?["service"] == "admin")
        // The cancellation that follows is not taken for a discovery failure or a start.
        #expect(agent.logs("cannot tell whether a custom resource is installed; not watching it").isEmpty)
        #expect(agent.logs("watching the cluster").isEmpty, "\(agent.errors)")

        let demo = try AgentSubprocess.start("fathom-demo", ["--admin-port", "\(taken)", "--duration", "20"])
        defer { demo.kill() }
        let demoStatus = await demo.exitStatus(within: 30)
        #expect(demoStatus != nil && demoStatus != 0, "the demo must not hang: \(demo.output)\(demo.errors)")
        #expect((demo.output + demo.errors).contains("cannot listen on 127.0.0.1:\(taken)"))
        try await scene.shutdown()
    }

    @Test func aMissingOrUnusableConfigFileIsNamedAsSuch() async throws {
        let missing = NSTemporaryDirectory() + "fathom-missing-\(UUID().uuidString).yaml"
        let agent = try Self.run(missing)
        #expect(await agent.exitStatus(within: 30) == 2)
        #expect(agent.errors.contains("\(missing): no such file"), "\(agent.errors)")
        #expect(!agent.errors.contains("required"), "not a list of required keys")

        let directory = try Self.run(NSTemporaryDirectory())
        #expect(await directory.exitStatus(within: 30) == 2)
        #expect(directory.errors.contains("is a directory"), "\(directory.errors)")

        let scene = try await ProcessScene.start()
        let unreadable = try scene.writeConfiguration(scene.configuration(), name: "unreadable.yaml")
        chmod(unreadable, 0)
        // Root reads any file, so a root runner starts this one as nobody.
        let denied = try AgentSubprocess.start("fathom-agent", ["run", "--config", unreadable], asNobody: true)
        #expect(await denied.exitStatus(within: 30) == 2)
        #expect(denied.errors.contains("permission denied"), "\(denied.errors)")
        let invalid = try Self.run(try scene.writeConfiguration("cluster: {name: x}\nreport: {endpoint: 1}\n"))
        #expect(await invalid.exitStatus(within: 30) == 2)
        #expect(invalid.errors.contains("report.endpoint: must be an http:// or https:// URL"), "\(invalid.errors)")
        try await scene.shutdown()
    }

    @Test func checkExitsZeroOnlyWhenEverythingPasses() async throws {
        let scene = try await ProcessScene.start()
        let config = try scene.writeConfiguration(scene.configuration())
        let passing = try AgentSubprocess.start("fathom-agent", ["check", "--config", config])
        #expect(await passing.exitStatus(within: 60) == 0, "\(passing.output)")
        #expect(passing.output.contains("√ can list and watch pods"))

        let offline = try AgentSubprocess.start("fathom-agent", ["check", "--offline", "--config", config])
        #expect(await offline.exitStatus(within: 30) == 0, "\(offline.output)")
        #expect(!offline.output.contains("pods"), "offline reaches nothing")

        let invalid = try scene.writeConfiguration(
            "cluster: {name: x}\nscrape: {intervall: 1s}\n", name: "invalid.yaml")
        let failing = try AgentSubprocess.start("fathom-agent", ["check", "--config", invalid])
        #expect(await failing.exitStatus(within: 30) == 1)
        // Every problem on a line of its own under the item, then what to do.
        #expect(
            failing.output.contains(
                """
                × configuration is valid
                    scrape.intervall: unknown key (did you mean scrape.interval?)
                    report.endpoint: required
                    see: run `fathom-agent config-reference` for every key
                """), "\(failing.output)")

        let missing = try AgentSubprocess.start("fathom-agent", ["check", "--config", scene.directory + "/none.yaml"])
        #expect(await missing.exitStatus(within: 30) == 1)
        #expect(missing.output.contains("no such file"), "\(missing.output)")
        try await scene.shutdown()

        let forbidden = try await ProcessScene.start(forbidden: ["daemonsets"])
        let denied = try AgentSubprocess.start(
            "fathom-agent", ["check", "--config", try forbidden.writeConfiguration(forbidden.configuration())])
        #expect(await denied.exitStatus(within: 60) == 1)
        #expect(denied.output.contains("× can list and watch daemonsets"), "\(denied.output)")
        try await forbidden.shutdown()
    }

    /// A collector that redirects receives nothing from the agent (it follows no redirect), so
    /// `check` fails on it and names where it points, without the query.
    @Test func checkFailsOnARedirectingCollector() async throws {
        let scene = try await ProcessScene.start(collector: [
            .redirect(status: 301, location: "https://elsewhere.example/v1/reports?signature=secret")
        ])
        let config = try scene.writeConfiguration(scene.configuration())
        let check = try AgentSubprocess.start("fathom-agent", ["check", "--config", config])
        #expect(await check.exitStatus(within: 60) == 1, "\(check.output)")
        #expect(
            check.output.contains(
                "redirects (HTTP 301) to https://elsewhere.example/v1/reports: set report.endpoint to it"),
            "\(check.output)")
        #expect(!check.output.contains("secret"))
        try await scene.shutdown()
    }

    /// A missing token file and a token sent over http:// to another host: `run` says so at start
    /// (and runs), `check` fails on each.
    @Test func credentialProblemsAreWarnedByRunAndFailCheck() async throws {
        let scene = try await ProcessScene.start()
        let inClear = try scene.writeConfiguration(
            scene.configuration(endpoint: "http://collector.example.invalid:8080/v1"), name: "clear.yaml")
        let noToken = try scene.writeConfiguration(
            scene.configuration().replacingOccurrences(of: scene.tokenFile, with: scene.directory + "/absent"),
            name: "no-token.yaml")

        let clearCheck = try AgentSubprocess.start("fathom-agent", ["check", "--offline", "--config", inClear])
        #expect(await clearCheck.exitStatus(within: 30) == 1, "\(clearCheck.output)")
        #expect(clearCheck.output.contains("× the API token is not sent in clear"), "\(clearCheck.output)")
        let tokenCheck = try AgentSubprocess.start("fathom-agent", ["check", "--offline", "--config", noToken])
        #expect(await tokenCheck.exitStatus(within: 30) == 1, "\(tokenCheck.output)")
        #expect(tokenCheck.output.contains("× API token file \(scene.directory)/absent holds a token"))

        for (config, message) in [
            (inClear, "report.endpoint is http:// to another host: the API token is sent in clear"),
            (noToken, "API token file missing or empty: batches are sent without Authorization"),
        ] {
            let agent = try Self.run(config)
            defer { agent.kill() }
            #expect(await eventually(within: 30) { !agent.logs(message).isEmpty }, "\(agent.errors)")
            #expect(agent.logs(message).count == 1)
            #expect(try await agent.get("/healthz").status == 200, "it runs all the same")
            agent.signal(SIGTERM)
            #expect(await agent.exitStatus(within: 30) == 0, "\(agent.errors)")
        }
        try await scene.shutdown()
    }

    /// Uploads through an egress proxy (CONNECT, with credentials from HTTPS_PROXY) to a collector
    /// whose certificate only `report.caFile` vouches for: delivered, through the tunnel, and the
    /// proxy password never in the log.
    @Test func uploadsGoThroughTheProxyToACollectorWithItsOwnCA() async throws {
        let scene = try await ProcessScene.start()
        let certificate = try TestCertificate.make(commonName: "collector.test", dnsNames: ["collector.test"])
        let caFile = scene.directory + "/collector-ca.pem"
        try Data(certificate.certificatePEM).write(to: URL(fileURLWithPath: caFile))
        let collector = try await FakeCollector.start(tls: certificate)
        let proxy = try await ConnectProxy.start(
            requiredAuthorization: "Basic " + Data("fathom:proxy-s3cret".utf8).base64EncodedString(),
            hosts: ["collector.test": "127.0.0.1"])
        let endpoint = "https://collector.test:\(collector.port)/v1/reports"
        let config = try scene.writeConfiguration(
            scene.configuration(endpoint: endpoint).replacingOccurrences(
                of: "  tokenFile:", with: "  caFile: \"\(caFile)\"\n  tokenFile:"))
        let agent = try Self.run(
            config,
            variables: ["HTTPS_PROXY": "http://fathom:proxy-s3cret@127.0.0.1:\(proxy.port)", "NO_PROXY": "other.test"])
        defer { agent.kill() }
        #expect(await eventually(within: 60) { collector.acceptedBatches.count >= 1 }, "\(agent.errors)")
        #expect(proxy.tunnels.first?.target == "collector.test:\(collector.port)")
        agent.signal(SIGTERM)
        #expect(await agent.exitStatus(within: 30) == 0, "\(agent.errors)")
        #expect(!agent.errors.contains("proxy-s3cret"))
        try await proxy.shutdown()
        try await collector.shutdown()
        try await scene.shutdown()
    }

    /// `report.caFile` mounted from a Secret and rotated by the kubelet (`..data` swapped): the
    /// agent, trusting the wrong CA at first, trusts the collector from the next upload on,
    /// without a restart, and says so once; nothing queued meanwhile is lost.
    @Test func aRotatedCollectorCAIsTrustedFromTheNextUpload() async throws {
        let scene = try await ProcessScene.start()
        let certificate = try TestCertificate.make(commonName: "collector", dnsNames: ["localhost"])
        let other = try TestCertificate.make(commonName: "someone-else")
        let bundle = try MountedVolume(in: scene.directory, named: "collector-ca", file: "ca.crt")
        try bundle.publish(String(decoding: other.certificatePEM, as: UTF8.self))
        let collector = try await FakeCollector.start(tls: certificate)
        let config = try scene.writeConfiguration(
            scene.configuration(spool: true, endpoint: collector.url).replacingOccurrences(
                of: "  tokenFile:", with: "  caFile: \"\(bundle.file)\"\n  tokenFile:"))
        let agent = try Self.run(config)
        defer { agent.kill() }
        #expect(
            await eventually(within: 60) {
                (await agent.metric("fathom_report_retries_total", ["reason": "tls"]) ?? 0) > 0
            }, "\(agent.errors)")
        #expect(collector.acceptedBatches.isEmpty)
        try bundle.publish(String(decoding: certificate.certificatePEM, as: UTF8.self))
        #expect(await eventually(within: 60) { collector.acceptedBatches.count >= 2 }, "\(agent.errors)")
        #expect(
            await agent.metric("fathom_credential_reloads_total", ["credential": "collector_ca", "result": "used"]) == 1
        )
        #expect(agent.logs("Credential file changed; the next requests use it").count == 1)
        agent.signal(SIGTERM)
        #expect(await agent.exitStatus(within: 30) == 0, "\(agent.errors)")
        let sequences = collector.acceptedBatches.map(\.sequence)
        #expect(sequences == Array(1...UInt64(sequences.count)), "every batch kept during the TLS failures arrived")
        try await collector.shutdown()
        try await scene.shutdown()
    }
}
