// The running agent's cost for a fleet of N meshed pods: a child process (this binary with
// --serve-fleet N PAGE) serves N linkerd-proxy stand-ins over loopback HTTP (one port each, the
// page gzip-compressed), a fake Kubernetes API listing N meshed pods that point at them, and a
// collector. This process runs the real `Agent` (discovery, scraping over AsyncHTTPClient, gzip,
// decode, aggregate, batches, uploads) against it and reports the CPU and resident memory that
// costs. The stand-ins live in the other process so their memory and CPU are not counted.
import AgentApp
import AgentConfiguration
import Foundation
import GzipCodec
import HTTPServing
import KubernetesAPI
import KubernetesModels
import LocalServers
import Logging
import NIOPosix
import Synchronization

/// Child process: serve the fleet, print where, then serve until killed.
func serveFleet(proxies: Int, page: Workload) async -> Never {
    do {
        // Successive scrapes of a proxy get successive versions of the page (counters grown);
        // every eighth scrape starts over, which the agent sees as counter resets.
        let pages = try page.variants.map { try Gzip.compress($0, level: 1) }
        let plain = page.variants
        let scrapes = Mutex([Int](repeating: 0, count: proxies))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var ports: [Int] = []
        for index in 0..<proxies {
            let server = try await SimpleHTTPServer.start(group: group) { request in
                let round = scrapes.withLock { counts in
                    defer { counts[index] += 1 }
                    return counts[index] % pages.count
                }
                if request.head.headers.first(name: "Accept-Encoding")?.contains("gzip") ?? false {
                    return .reply(
                        status: 200, headers: [("Content-Type", "text/plain"), ("Content-Encoding", "gzip")],
                        body: pages[round])
                }
                return .reply(status: 200, headers: [("Content-Type", "text/plain")], body: plain[round])
            }
            ports.append(server.port)
        }
        let cluster = SyntheticCluster(podCount: proxies, adminPorts: ports)
        let api = try await FakeKubernetesAPI.start()
        for deployment in cluster.deployments { api.apply(deployment) }
        for set in cluster.replicaSets { api.apply(set) }
        for pod in cluster.pods { api.apply(pod) }
        let collector = try await FakeCollector.start()
        FileHandle.standardOutput.write(Data("api \(api.port) collector \(collector.url)\n".utf8))
        while true { try await Task.sleep(for: .seconds(3_600)) }
    } catch {
        FileHandle.standardError.write(Data("serve-fleet: \(error)\n".utf8))
        exit(1)
    }
}

/// User plus system CPU seconds this process has used.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// Peak resident memory of this process in bytes.
func peakResidentBytes() -> Int { processStatusBytes("VmHWM:") }

/// What the agent reported at the end of one window.
struct WindowMark: Sendable {
    var cpu: Double
    var time: Double
    var resident: Int
    var heap: Int
    var pageBytes: Int
    var targets: Int
    var routes: Int
}

/// Parent process: run the real agent against the child's fleet for `windows` report windows
/// after one of warm-up, and print what it cost.
func measureAgentFleet(proxies: Int, pagePath: String, pageBytes: Int, windows: Int, window: Double) async {
    let (child, line) = startServingChild(["--serve-fleet", String(proxies), pagePath])
    defer { child.terminate() }
    let words = line.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    guard words.count == 4, let apiPort = Int(words[1]) else {
        FileHandle.standardError.write(Data("the fleet server did not start\n".utf8))
        exit(1)
    }

    var configuration = AgentConfiguration()
    configuration.clusterName = "bench"
    configuration.agentID = "bench"
    configuration.reportEndpoint = words[3]
    configuration.reportInterval = window
    configuration.adminAddress = "127.0.0.1"
    configuration.adminPort = 0
    configuration.tokenFile = ""
    var quiet = Logger(label: "bench")
    quiet.logLevel = .error
    let marks = Mutex<[WindowMark]>([])
    let started = Date().timeIntervalSince1970
    let residentBefore = residentBytes()
    var environment = AgentEnvironment(connection: ClusterConnection(server: "http://127.0.0.1:\(apiPort)"))
    environment.onBatch = { queued in
        let mark = WindowMark(
            cpu: cpuSeconds(), time: Date().timeIntervalSince1970, resident: residentBytes(), heap: heapInUse(),
            pageBytes: queued.pageBytes, targets: queued.targets, routes: queued.window.routes.count)
        marks.withLock { $0.append(mark) }
        FileHandle.standardError.write(
            Data(
                ("window \(marks.withLock { $0.count }): \(mark.targets) targets, \(mark.pageBytes / 1_000_000) MB "
                    + "of pages, RSS \(mark.resident / 1_000_000) MB, heap in use \(mark.heap / 1_000_000) MB\n")
                    .utf8))
    }
    let agent: Agent
    do {
        agent = try Agent(configuration: configuration, environment: environment, logger: quiet)
    } catch {
        FileHandle.standardError.write(Data("the agent cannot start: \(error)\n".utf8))
        exit(1)
    }
    // Where the peak comes from: the largest heap in use, and when, sampled as it runs.
    var largestHeap = (bytes: 0, resident: 0, second: 0.0)
    var peak = 0
    do {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await agent.run() }
            while marks.withLock({ $0.count }) < windows + 1 {
                try? await Task.sleep(for: .milliseconds(200))
                let heap = heapInUse()
                if heap > largestHeap.bytes {
                    largestHeap = (heap, residentBytes(), Date().timeIntervalSince1970 - started)
                }
                if Date().timeIntervalSince1970 - started > window * Double(windows + 4) {
                    FileHandle.standardError.write(Data("the agent did not close its windows in time\n".utf8))
                    exit(1)
                }
            }
            peak = peakResidentBytes()
            await agent.shutdown()
            try await group.waitForAll()
        }
    } catch {
        FileHandle.standardError.write(Data("the agent stopped on an error: \(error)\n".utf8))
        exit(1)
    }
    FileHandle.standardError.write(
        Data(
            ("largest heap in use \(largestHeap.bytes / 1_000_000) MB at \(Int(largestHeap.second)) s "
                + "(RSS then \(largestHeap.resident / 1_000_000) MB)\n").utf8))

    // The first window holds every proxy's first page, where each series is parsed in full;
    // steady state is what follows.
    let measured = marks.withLock { Array($0.prefix(windows + 1)) }
    let first = measured[0]
    let last = measured[measured.count - 1]
    let seconds = last.time - first.time
    let cores = (last.cpu - first.cpu) / seconds
    let pages = measured.dropFirst().reduce(0) { $0 + $1.pageBytes } / max(1, pageBytes)
    let expected = Int(seconds / configuration.scrapeInterval) * proxies
    print(
        "| pods | page bytes | scrape interval s | windows measured | pages scraped (expected) | cores | "
            + "RSS before agent MB | RSS at window ends MB (max) | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        "| \(proxies) | \(pageBytes) | \(Int(configuration.scrapeInterval)) | \(windows) | \(pages) (\(expected)) | "
            + "\(String(format: "%.3f", cores)) | \(residentBefore / 1_000_000) | "
            + "\(measured.map(\.resident).max()! / 1_000_000) | \(peak / 1_000_000) |")
}
