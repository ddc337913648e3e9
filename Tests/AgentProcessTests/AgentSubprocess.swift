import AgentTestSupport
import AsyncHTTPClient
import Foundation
import PrometheusText
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One run of a built executable (`fathom-agent`, `fathom-demo`) as a subprocess, as users run
/// it: arguments, a clean environment, its output in files (so it can never block on a pipe),
/// signals, and its JSON log lines read back.
final class AgentSubprocess: @unchecked Sendable {
    // `Process` is not Sendable; it is only touched under the lock.
    private let process: Process
    private let lock = Mutex(())
    let outputFile: URL
    let errorFile: URL

    private init(process: Process, outputFile: URL, errorFile: URL) {
        self.process = process
        self.outputFile = outputFile
        self.errorFile = errorFile
    }

    enum Failure: Error { case notBuilt(String) }

    /// Starts `product` with `arguments`. The environment holds only PATH and HOME plus `variables`,
    /// so no `FATHOM_*` or `KUBERNETES_*` variable of the test runner leaks in. With `asNobody`,
    /// a runner that is root starts it as user and group 65534 (through util-linux's `setpriv`),
    /// as the chart's pod runs it, non-root; another runner starts it as itself.
    static func start(
        _ product: String, _ arguments: [String], variables: [String: String] = [:], asNobody: Bool = false
    ) throws -> AgentSubprocess {
        guard let binary = BuiltProducts.executable(named: product) else { throw Failure.notBuilt(product) }
        let directory = FileManager.default.temporaryDirectory
        let name = "\(product)-\(UUID().uuidString)"
        let outputFile = directory.appendingPathComponent(name + ".out")
        let errorFile = directory.appendingPathComponent(name + ".err")
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        let process = Process()
        if asNobody && getuid() == 0 {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments =
                ["--reuid=65534", "--regid=65534", "--clear-groups", "--", binary.path] + arguments
        } else {
            process.executableURL = binary
            process.arguments = arguments
        }
        let inherited = ProcessInfo.processInfo.environment
        process.environment = ["PATH": inherited["PATH"] ?? "/usr/bin:/bin", "HOME": inherited["HOME"] ?? "/root"]
            .merging(variables) { $1 }
        process.standardOutput = try FileHandle(forWritingTo: outputFile)
        process.standardError = try FileHandle(forWritingTo: errorFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return AgentSubprocess(process: process, outputFile: outputFile, errorFile: errorFile)
    }

    var pid: Int32 { lock.withLock { _ in process.processIdentifier } }

    /// A memory figure from its `/proc/PID/status`, in bytes: `VmRSS` (resident now), `VmHWM`
    /// (the peak resident so far).
    func memoryBytes(_ field: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return nil }
        return kilobytes << 10
    }

    /// Whether it has not exited yet.
    var isRunning: Bool { lock.withLock { _ in process.isRunning } }

    /// What it printed on standard output so far.
    var output: String { (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "" }
    /// What it printed on standard error so far (the agent's log).
    var errors: String { (try? String(contentsOf: errorFile, encoding: .utf8)) ?? "" }

    /// The JSON log lines so far, each as its fields.
    var logLines: [[String: String]] {
        errors.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("{"), let data = line.data(using: .utf8) else { return nil }
            return (try? JSONSerialization.jsonObject(with: data)) as? [String: String]
        }
    }

    /// The log lines with this message.
    func logs(_ message: String) -> [[String: String]] { logLines.filter { $0["message"] == message } }

    func signal(_ number: Int32) {
        lock.withLock { _ in
            if process.isRunning { _ = Glibc.kill(process.processIdentifier, number) }
        }
    }

    /// The exit status once it has exited within `seconds`; nil if it is still running.
    func exitStatus(within seconds: Double) async -> Int32? {
        let exited = await eventually(within: seconds) { lock.withLock { _ in !process.isRunning } }
        guard exited else { return nil }
        return lock.withLock { _ in process.terminationStatus }
    }

    /// Stops it for good (a test that failed half-way must not leave it running).
    func kill() {
        signal(SIGKILL)
        lock.withLock { _ in process.waitUntilExit() }
    }

    /// The admin port from its "admin server listening" log line.
    var adminPort: Int? { logs("admin server listening").first?["admin.port"].flatMap { Int($0) } }

    /// Waits for the admin server, then answers `GET path` with status and body.
    func get(_ path: String, host: String = "127.0.0.1") async throws -> (status: Int, body: String) {
        guard await eventually(within: 30, { adminPort != nil }), let port = adminPort else {
            throw AdminUnavailable(log: errors)
        }
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://\(host):\(port)\(path)"), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 4 << 20)
        return (Int(response.status.code), String(buffer: body))
    }

    struct AdminUnavailable: Error, CustomStringConvertible {
        var log: String
        var description: String { "the agent's admin server never listened; its log:\n\(log)" }
    }

    /// The addresses its TCP sockets listen on (`127.0.0.2:41234`), from `/proc`: its socket
    /// inodes (`/proc/PID/fd`) matched in the kernel's socket tables. Sockets it shares with this
    /// test process are left out: Foundation's `Process` lets a child inherit the listening
    /// sockets other tests running at the same time hold open, and those are not the agent's.
    var listeningAddresses: [String] {
        func socketInodes(_ process: String) -> Set<String> {
            let fdDirectory = "/proc/\(process)/fd"
            return Set(
                ((try? FileManager.default.contentsOfDirectory(atPath: fdDirectory)) ?? []).compactMap {
                    fd -> String? in
                    guard
                        let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fdDirectory)/\(fd)"),
                        link.hasPrefix("socket:[")
                    else { return nil }
                    return String(link.dropFirst(8).dropLast())
                })
        }
        let inodes = socketInodes("\(pid)").subtracting(socketInodes("self"))
        var addresses: [String] = []
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            // procfs files report a size of 0: read them to their end, not by their size.
            let data = FileHandle(forReadingAtPath: table).flatMap { try? $0.readToEnd() } ?? Data()
            let rows = String(decoding: data, as: UTF8.self).split(separator: "\n").dropFirst()
            for row in rows {
                let fields = row.split(separator: " ")
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
                guard fields.count > 9, fields[3] == "0A", inodes.contains(String(fields[9])) else { continue }
                addresses.append(Self.address(String(fields[1])))
            }
        }
        return addresses
    }

    /// `0200007F:A0B2` (IPv4, little-endian hex) as `127.0.0.2:41138`; IPv6 as hex words.
    static func address(_ hex: String) -> String {
        let parts = hex.split(separator: ":")
        let port = Int(parts.last ?? "", radix: 16) ?? 0
        let host = String(parts.first ?? "")
        guard host.count == 8, let value = UInt32(host, radix: 16) else { return "[\(host)]:\(port)" }
        let bytes = [value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff, value >> 24]
        return bytes.map(String.init).joined(separator: ".") + ":\(port)"
    }

    /// A sample of its own `/metrics`, by name and labels.
    func metric(_ name: String, _ labels: [String: String] = [:]) async -> Double? {
        guard let (status, body) = try? await get("/metrics"), status == 200,
            let page = try? ParsedPage.parse(Array(body.utf8))
        else { return nil }
        return page.samples.first { sample in
            sample.name == name && Dictionary(uniqueKeysWithValues: sample.labels.map { ($0.name, $0.value) }) == labels
        }?.value
    }
}
