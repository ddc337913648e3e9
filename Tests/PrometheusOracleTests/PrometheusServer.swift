import AgentTestSupport
import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real Prometheus (Debian's `prometheus`) as a subprocess on loopback, scraping the given
/// targets, and its query API.
final class PrometheusServer: @unchecked Sendable {
    /// A scrape target and the labels Prometheus attaches to its series.
    struct Target {
        var address: String
        var labels: [String: String]
    }

    /// The binary: `FATHOM_PROMETHEUS`, else `prometheus` on the PATH; nil when there is none.
    static var binary: String? {
        if let path = ProcessInfo.processInfo.environment["FATHOM_PROMETHEUS"] { return path }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let candidate = "\(directory)/prometheus"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The binary, or nil once it has said that `suite` is skipped for want of one; with
    /// `FATHOM_REQUIRE_ORACLES=1` (as CI sets it) a missing binary fails the test instead.
    static func binaryOrSkip(_ suite: String) -> String? {
        guard let binary else {
            let required = ProcessInfo.processInfo.environment["FATHOM_REQUIRE_ORACLES"] == "1"
            #expect(!required, "FATHOM_REQUIRE_ORACLES is set but no prometheus binary was found")
            print("\(suite): skipped, no prometheus binary (Debian: apt-get install prometheus)")
            return nil
        }
        return binary
    }

    private let process: Process
    let port: Int
    let directory: String
    let logFile: URL

    private init(process: Process, port: Int, directory: String, logFile: URL) {
        self.process = process
        self.port = port
        self.directory = directory
        self.logFile = logFile
    }

    /// A free loopback port (bound, read and released; Prometheus cannot listen on port 0 and say which).
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(descriptor, pointer, length) == 0 else { return -1 }
                return getsockname(descriptor, pointer, &length)
            }
        }
        guard bound == 0 else { throw CocoaError(.fileWriteUnknown) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Starts Prometheus scraping `targets` every `interval` seconds, honouring the timestamps on
    /// the pages, and waits until it is ready.
    static func start(binary: String, targets: [Target], interval: Double) async throws -> PrometheusServer {
        let directory = NSTemporaryDirectory() + "fathom-prometheus-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let milliseconds = Int(interval * 1_000)
        var config = """
            global:
              scrape_interval: \(milliseconds)ms
              scrape_timeout: \(milliseconds * 4 / 5)ms
            scrape_configs:
              - job_name: proxies
                honor_timestamps: true
                metrics_path: /metrics
                static_configs:

            """
        for target in targets {
            config += "      - targets: ['\(target.address)']\n        labels:\n"
            for (name, value) in target.labels.sorted(by: { $0.key < $1.key }) {
                config += "          \(name): '\(value)'\n"
            }
        }
        try config.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        let port = try freePort()
        let logFile = URL(fileURLWithPath: directory + "/prometheus.log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
            "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
        ]
        let log = try FileHandle(forWritingTo: logFile)
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let server = PrometheusServer(process: process, port: port, directory: directory, logFile: logFile)
        let ready = await eventually(within: 60) {
            guard
                let response = try? await HTTPClient.shared.execute(
                    HTTPClientRequest(url: "http://127.0.0.1:\(port)/-/ready"), timeout: .seconds(2))
            else { return false }
            return response.status == .ok
        }
        guard ready else {
            server.stop()
            throw Failure(description: "Prometheus did not become ready: \(server.log)")
        }
        return server
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// One instant query at `time`: each result series' labels and value (NaN as Prometheus says).
    func query(_ promQL: String, at time: Double) async throws -> [(labels: [String: String], value: Double)] {
        try await answer(promQL, at: time).result.map { series in
            var value = Double.nan
            if case .text(let text) = series.value?.last { value = Double(text) ?? .nan }
            return (series.metric, value)
        }
    }

    /// The raw samples of a range selector at `time`, as `time=value` per series: what a failed
    /// comparison prints, so it can be understood.
    func samples(_ rangeSelector: String, at time: Double) async -> String {
        guard let answer = try? await answer(rangeSelector, at: time) else { return "(query failed)" }
        return answer.result.map { series in
            let points = (series.values ?? []).map { pair in
                pair.map { value -> String in
                    switch value {
                    case .number(let number): String(format: "%.3f", number)
                    case .text(let text): text
                    }
                }
                .joined(separator: "=")
            }
            return
                "\(series.metric.filter { $0.key != "__name__" }.sorted { $0.key < $1.key }): \(points.joined(separator: ", "))"
        }
        .joined(separator: "\n")
    }

    private func answer(_ promQL: String, at time: Double) async throws -> Answer.Data {
        var components = URLComponents(string: "http://127.0.0.1:\(port)/api/v1/query")!
        components.queryItems = [
            URLQueryItem(name: "query", value: promQL), URLQueryItem(name: "time", value: String(format: "%.3f", time)),
        ]
        let url = components.url!.absoluteString.replacingOccurrences(of: "+", with: "%2B")
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        let answer = try JSONDecoder().decode(Answer.self, from: Data(body.readableBytesView))
        guard answer.status == "success", let data = answer.data else {
            throw Failure(description: "query \(promQL) failed: \(answer.error ?? "?")")
        }
        return data
    }

    /// The query API's answer.
    struct Answer: Decodable {
        struct Data: Decodable {
            struct Series: Decodable {
                var metric: [String: String]
                var value: [Value]?
                var values: [[Value]]?
            }
            var result: [Series]
        }
        enum Value: Decodable {
            case number(Double)
            case text(String)
            init(from decoder: any Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let number = try? container.decode(Double.self) {
                    self = .number(number)
                } else {
                    self = .text(try container.decode(String.self))
                }
            }
        }
        var status: String
        var data: Data?
        var error: String?
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
