import GzipCodec
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Fetches proxy pages over HTTP: `Accept-Encoding: gzip`, a timeout, and a size cap applied
/// both to the bytes on the wire and to the decompressed page. Each scrape loop keeps one
/// `ScrapeConnection` to its target, alive between scrapes.
public struct PageFetcher: Sendable {
    private let group: any EventLoopGroup

    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.group = group
    }

    /// A connection to the target at `url` (`http://host:port/path`), opened on first use.
    public func connection(to url: String) -> ScrapeConnection {
        ScrapeConnection(url: url, group: group)
    }

    /// Fetches one page on `connection`; the page's bytes, or why there are none (with a detail
    /// for the log).
    public func fetch(
        on connection: ScrapeConnection, timeout: Double, maxBytes: Int
    ) async -> Result<[UInt8], FetchError> {
        let page: RawPage
        switch await connection.fetch(timeout: timeout, maxBytes: maxBytes) {
        case .success(let received): page = received
        case .failure(let error): return .failure(error)
        }
        guard page.status == 200 else {
            return .failure(FetchError(reason: .httpStatus, detail: "HTTP \(page.status)"))
        }
        guard page.gzip else { return .success(page.body) }
        do {
            return .success(try Gzip.decompress(page.body, limit: maxBytes))
        } catch is Gzip.TooLarge {
            return .failure(FetchError(reason: .tooLarge, detail: "page over \(maxBytes) bytes once decompressed"))
        } catch {
            return .failure(FetchError(reason: .parseError, detail: "bad gzip body: \(error)"))
        }
    }

    /// Fetches one page on a connection of its own, closed afterwards.
    public func fetch(_ url: String, timeout: Double, maxBytes: Int) async -> Result<[UInt8], FetchError> {
        let connection = connection(to: url)
        defer { connection.close() }
        return await fetch(on: connection, timeout: timeout, maxBytes: maxBytes)
    }

    /// A failed fetch.
    public struct FetchError: Error, Sendable {
        public var reason: ScrapeFailure
        public var detail: String
        /// True when no response had started: the request may be repeated safely.
        var beforeResponse = false
    }

    /// A bounded reason for a transport error NIO reported without a more specific type.
    static func reason(_ error: any Error) -> ScrapeFailure {
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED: return .refused
            case ECONNRESET, EPIPE: return .reset
            case ETIMEDOUT: return .timeout
            default: break
            }
        }
        let text = String(describing: error).lowercased()
        if text.contains("refused") { return .refused }
        if text.contains("timeout") || text.contains("timed out") { return .timeout }
        if text.contains("reset") || text.contains("eof") || text.contains("closed") { return .reset }
        return .other
    }
}
