import AgentTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The admin port is reachable from any pod: the built agent under a 400 MB body, a 1 GiB
/// chunked body, a slowloris client and 10,000 connections keeps answering afterwards, counts
/// each kind of client it cut off, and its resident memory stays within 48 MB of where it was
/// (`SimpleHTTPServer.Limits.admin`: 64 connections of at most 16 KiB heads and 64 KiB bodies),
/// and a probe gets through while a client holds every connection.
@Suite struct AdminLimitsTests {
    @Test func hugeBodiesSlowClientsAndManyConnectionsAreCutOffWithinBoundedMemory() async throws {
        let scene = try await ProcessScene.start()
        let agent = try AgentSubprocess.start(
            "fathom-agent", ["run", "--config", try scene.writeConfiguration(scene.configuration())])
        defer { agent.kill() }
        #expect(try await agent.get("/healthz").status == 200)
        let port = try #require(agent.adminPort)
        let before = try #require(agent.memoryBytes("VmRSS"))

        // A 400 MB body is answered 413 at its first 64 KiB and the connection closed: the client
        // cannot send more than the socket buffers hold. (The answer may be lost to the reset
        // that closing with unread bytes sends; the counter below says it was refused.)
        let declared = try RawClient(port: port)
        let declaredAnswer = declared.sendBody(
            head: "POST /healthz HTTP/1.1\r\nHost: agent\r\nContent-Length: \(400 << 20)\r\n\r\n",
            total: 400 << 20, chunked: false)
        #expect(declaredAnswer.status == 413 || declaredAnswer.status == nil, "\(declaredAnswer)")
        #expect(declaredAnswer.sent < 64 << 20, "the agent read \(declaredAnswer.sent) bytes of the body")
        declared.close()
        let chunked = try RawClient(port: port)
        let chunkedAnswer = chunked.sendBody(
            head: "POST /healthz HTTP/1.1\r\nHost: agent\r\nTransfer-Encoding: chunked\r\n\r\n", total: 1 << 30,
            chunked: true)
        #expect(chunkedAnswer.status == 413 || chunkedAnswer.status == nil, "\(chunkedAnswer)")
        #expect(chunkedAnswer.sent < 64 << 20, "the agent read \(chunkedAnswer.sent) bytes of the body")
        chunked.close()

        // A head sent a byte at a time is cut off at the request timeout (5 s).
        let slow = try RawClient(port: port)
        let started = ContinuousClock.now
        var closedByAgent = false
        for byte in "GET /healthz HTTP/1.1\r\nHost: agent\r\nX-Slow: ".utf8
            + Array(repeating: UInt8(ascii: "a"), count: 600)
        {
            if !slow.send([byte]) || slow.peerClosed() {
                closedByAgent = true
                break
            }
            try await Task.sleep(for: .milliseconds(100))
            if ContinuousClock.now - started > .seconds(60) { break }
        }
        #expect(closedByAgent, "a slowloris head was still open after 60 s")
        slow.close()

        // 10,000 connections from one address: beyond 16, each one let in closes that address's
        // oldest, and once the clients go the agent answers again.
        var held: [RawClient] = []
        for _ in 0..<10_000 {
            guard let client = try? RawClient(port: port) else { break }
            held.append(client)
        }
        #expect(held.count == 10_000)
        for client in held { client.close() }
        held.removeAll()

        #expect(await eventually(within: 30) { (try? await agent.get("/healthz").status) == 200 })
        let refused = { (reason: String) async -> Double in
            await agent.metric("fathom_admin_requests_refused_total", ["reason": reason]) ?? 0
        }
        #expect(await refused("body_too_large") == 2)
        #expect(await refused("request_timeout") >= 1)
        // All but the last 16 let in, and those still in the accept queue (1,024 at most) when
        // the clients left.
        #expect(await refused("too_many_from_peer") >= 10_000 - 16 - 1_024)
        // Logged once per reason, however many clients were cut off.
        let logged = agent.logs(
            "admin server cut a client off; later ones are counted in fathom_admin_requests_refused_total")
        #expect(logged.filter { $0["reason"] == "too_many_from_peer" }.count == 1)
        #expect(
            Set(logged.compactMap { $0["reason"] }) == ["body_too_large", "request_timeout", "too_many_from_peer"])
        let after = try #require(agent.memoryBytes("VmRSS"))
        #expect(after < before + 48 << 20, "resident memory went from \(before >> 20) MB to \(after >> 20) MB")
        agent.signal(SIGTERM)
        #expect(await agent.exitStatus(within: 30) == 0, "\(agent.errors)")
        try await scene.shutdown()
    }

    /// Clients holding every connection the admin server allows (64, from four addresses, 16
    /// each as one address may) do not keep a kubelet probe out: the probe is answered, the
    /// connection open longest is closed to make room for it, and the other held ones stay open
    /// (so the probe did not wait for a timeout to free one).
    @Test func aProbeGetsThroughWhileAClientHoldsEveryConnection() async throws {
        let scene = try await ProcessScene.start()
        let agent = try AgentSubprocess.start(
            "fathom-agent", ["run", "--config", try scene.writeConfiguration(scene.configuration())])
        defer { agent.kill() }
        let probe = "GET /healthz HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n"
        let answered = { (port: Int) -> Int? in
            guard let client = try? RawClient(port: port) else { return nil }
            defer { client.close() }
            return client.send(Array(probe.utf8)) ? client.readStatus() : nil
        }
        // Raw probes only: a pooled HTTP client would keep a connection of its own open.
        #expect(await eventually(within: 30) { agent.adminPort.flatMap(answered) == 200 }, "\(agent.errors)")
        let port = try #require(agent.adminPort)

        var held: [RawClient] = []
        for index in 0..<64 { held.append(try RawClient(port: port, from: "127.0.0.\(2 + index % 4)")) }
        defer { for client in held { client.close() } }
        // Accepted in the order they connected, after the 64 held ones.
        #expect(answered(port) == 200)
        #expect(await eventually(within: 30) { held[0].peerClosed() }, "the longest-held connection made room")
        #expect(held.dropFirst().filter { $0.peerClosed() }.isEmpty)
        #expect(await agent.metric("fathom_admin_requests_refused_total", ["reason": "too_many_connections"]) ?? 0 >= 1)
        agent.signal(SIGTERM)
        #expect(await agent.exitStatus(within: 30) == 0, "\(agent.errors)")
        try await scene.shutdown()
    }
}

/// A blocking TCP client on loopback that writes what a test says, byte for byte, with no HTTP
/// library in between.
final class RawClient: @unchecked Sendable {
    private let socket: Int32

    struct Unavailable: Error {}

    /// - Parameters:
    ///   - source: the local address to connect from (any of 127.0.0.0/8): the admin server
    ///     tells clients apart by address.
    ///   - receiveBuffer: a receive buffer this small (bytes), for a client that never reads.
    init(port: Int, from source: String = "127.0.0.1", receiveBuffer: Int32? = nil) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Unavailable() }
        if var size = receiveBuffer {
            setsockopt(socket, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            Glibc.close(socket)
            throw Unavailable()
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        // Reads give up after 10 s, so a test can never hang on a silent peer.
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(socket)
            throw Unavailable()
        }
    }

    /// Writes all of `bytes`; false once the peer is gone (no SIGPIPE).
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes {
                Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    enum SendResult {
        case sent(Int)
        case wouldBlock, closed
    }

    /// Writes what the socket takes of `bytes` now, without waiting: how many bytes it took.
    func trySend(_ bytes: ArraySlice<UInt8>) -> SendResult {
        let written = bytes.withUnsafeBytes {
            Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
        }
        if written > 0 { return .sent(written) }
        return written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? .wouldBlock : .closed
    }

    /// Whether the peer closed the connection (a read returns end of stream or a reset), without
    /// waiting.
    func peerClosed() -> Bool {
        var byte: UInt8 = 0
        let read = recv(socket, &byte, 1, Int32(MSG_DONTWAIT) | Int32(MSG_PEEK))
        return read == 0 || (read < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    /// Sends `head`, then up to `total` body bytes in 1 MiB pieces (as chunks when `chunked`)
    /// until the peer stops taking them; then reads the status of its answer.
    func sendBody(head: String, total: Int, chunked: Bool) -> (status: Int?, sent: Int) {
        guard send(Array(head.utf8)) else { return (nil, 0) }
        let piece = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
        let framed = chunked ? Array("100000\r\n".utf8) + piece + Array("\r\n".utf8) : piece
        var sent = 0
        while sent < total, send(framed) { sent += piece.count }
        return (readStatus(), sent)
    }

    /// The status code of the response on the connection, if one arrives.
    func readStatus() -> Int? {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while received.count < 64 {
            let count = recv(socket, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            received += buffer[0..<count]
        }
        let text = String(decoding: received, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 ") else { return nil }
        return Int(text.dropFirst(9).prefix(3))
    }

    func close() { Glibc.close(socket) }
}
