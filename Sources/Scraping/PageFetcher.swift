import NIOCore
import NIOPosix
import TransportErrors

/// Fetches proxy pages over HTTP: `Accept-Encoding: gzip`, a timeout, and a size cap applied
/// both to the bytes on the wire and to the decompressed page. Each scrape loop keeps one
/// `ScrapeConnection` to its target, alive between scrapes.
public struct PageFetcher: PageSource {
    private let group: any EventLoopGroup

    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.group = group
    }

    public func connection(to url: String) -> any PageConnection {
        ScrapeConnection(url: url, group: group)
    }

    /// Fetches one page on a connection of its own, closed afterwards (`check`'s one-off fetch).
    public func fetch(_ url: String, timeout: Double, maxBytes: Int) async -> Result<[UInt8], PageFetchError> {
        let connection = connection(to: url)
        defer { connection.close() }
        return await connection.fetchPage(timeout: timeout, maxBytes: maxBytes, allowance: .unlimited).map(\.bytes)
    }
}

extension ScrapeFailure {
    /// The bounded reason for a transport error from SwiftNIO (connecting to one address or
    /// several, reading or writing), by its type (`TransportFailure`); a proxy's admin port
    /// speaks plain HTTP to an IP address, so TLS and DNS failures are `other`.
    public init(transportError error: any Error) {
        switch TransportFailure(error) {
        case .refused: self = .refused
        case .reset: self = .reset
        case .timeout: self = .timeout
        case .tls, .dns, .other: self = .other
        }
    }
}
