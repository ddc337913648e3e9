import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// An HTTP proxy on loopback that answers `CONNECT host:port` by opening a TCP connection there
/// and relaying bytes both ways, as the egress proxies of locked-down clusters (Squid, an
/// enterprise gateway) do for HTTPS. It records each CONNECT target and the `Proxy-Authorization`
/// it came with, and can require one (407 otherwise). Any other request is answered 405.
public final class ConnectProxy: Sendable {
    /// One CONNECT request as received.
    public struct Tunnel: Sendable, Equatable {
        public var target: String
        public var authorization: String?
    }

    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    private let log: TunnelLog
    public let port: Int

    private init(channel: any Channel, group: MultiThreadedEventLoopGroup, log: TunnelLog) {
        self.channel = channel
        self.group = group
        self.log = log
        self.port = channel.localAddress?.port ?? 0
    }

    /// Every CONNECT request so far, in arrival order.
    public var tunnels: [Tunnel] { log.tunnels.withLock { $0 } }

    /// Starts the proxy on 127.0.0.1; with `requiredAuthorization` (a `Proxy-Authorization`
    /// value), requests without it are answered 407. `hosts` resolves names as the proxy's own
    /// DNS would (the agent never resolves a name it reaches through a proxy).
    public static func start(requiredAuthorization: String? = nil, hosts: [String: String] = [:]) async throws
        -> ConnectProxy
    {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let log = TunnelLog()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectRequestHandler(required: requiredAuthorization, hosts: hosts, log: log))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ConnectProxy(channel: channel, group: group, log: log)
    }

    public func shutdown() async throws {
        try await channel.close()
        try await group.shutdownGracefully()
    }
}

/// The CONNECT requests a proxy saw.
final class TunnelLog: Sendable {
    let tunnels = Mutex<[ConnectProxy.Tunnel]>([])
}

/// Reads the request head; for a CONNECT, opens the upstream connection, answers 200 and then
/// relays raw bytes between the two connections.
private final class ConnectRequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let required: String?
    private let hosts: [String: String]
    private let log: TunnelLog
    private var head: [UInt8] = []
    private var upstream: (any Channel)?

    init(required: String?, hosts: [String: String], log: TunnelLog) {
        self.required = required
        self.hosts = hosts
        self.log = log
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if let upstream {
            upstream.writeAndFlush(buffer, promise: nil)
            return
        }
        head += buffer.readBytes(length: buffer.readableBytes) ?? []
        guard let end = Self.endOfHead(head) else {
            if head.count > 16 << 10 { context.close(promise: nil) }
            return
        }
        let text = String(decoding: head[..<end], as: UTF8.self)
        let rest = Array(head[(end + 4)...])
        head = []
        let lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
        let words = lines.first?.split(separator: " ") ?? []
        let authorization = lines.dropFirst().first { $0.lowercased().hasPrefix("proxy-authorization:") }
            .map { String($0.dropFirst("proxy-authorization:".count)).trimmingCharacters(in: .whitespaces) }
        guard words.count == 3, words[0] == "CONNECT" else {
            answer(context, "405 Method Not Allowed", close: true)
            return
        }
        let target = String(words[1])
        log.tunnels.withLock { $0.append(.init(target: target, authorization: authorization)) }
        if let required, authorization != required {
            answer(context, "407 Proxy Authentication Required", close: true)
            return
        }
        guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]) else {
            answer(context, "400 Bad Request", close: true)
            return
        }
        let name = String(target[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let host = hosts[name] ?? name
        let client = context.channel
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        ClientBootstrap(group: context.eventLoop)
            .channelInitializer { upstream in
                upstream.eventLoop.makeCompletedFuture {
                    try upstream.pipeline.syncOperations.addHandler(Relay(to: client))
                }
            }
            .connect(host: host, port: port)
            .whenComplete { result in
                let (handler, context) = bound.value
                switch result {
                case .success(let upstream):
                    handler.upstream = upstream
                    handler.answer(context, "200 Connection established", close: false)
                    if !rest.isEmpty { upstream.writeAndFlush(ByteBuffer(bytes: rest), promise: nil) }
                    upstream.closeFuture.whenComplete { _ in client.close(promise: nil) }
                case .failure:
                    handler.answer(context, "502 Bad Gateway", close: true)
                }
            }
    }

    func channelInactive(context: ChannelHandlerContext) {
        upstream?.close(promise: nil)
        context.fireChannelInactive()
    }

    private func answer(_ context: ChannelHandlerContext, _ status: String, close: Bool) {
        let bytes = Array("HTTP/1.1 \(status)\r\nContent-Length: 0\r\n\r\n".utf8)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: bytes))).whenComplete { _ in
            if close { bound.value.close(promise: nil) }
        }
    }

    private static func endOfHead(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }
}

/// Writes what one connection reads to another.
private final class Relay: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private let partner: any Channel

    init(to partner: any Channel) {
        self.partner = partner
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner.writeAndFlush(unwrapInboundIn(data), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner.close(promise: nil)
        context.fireChannelInactive()
    }
}
