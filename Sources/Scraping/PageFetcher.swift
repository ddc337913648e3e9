import GzipCodec
import NIOCore
import NIOPosix
import TransportErrors

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
        on connection: ScrapeConnection, timeout: Double, maxBytes: Int, allowance: PageAllowance = .unlimited
    ) async -> Result<[UInt8], FetchError> {
        await fetchPage(on: connection, timeout: timeout, maxBytes: maxBytes, allowance: allowance).map(\.bytes)
    }

    /// A fetched page and when the target answered it (seconds since the epoch, when its answer's
    /// head arrived): the proxy renders its counters just before it answers, so this is their
    /// time, more nearly than the request's start (which includes connecting) or the end of its
    /// decoding.
    public struct Page: Sendable {
        public var bytes: [UInt8]
        public var answeredAt: Double
    }

    /// Fetches one page on `connection`, with the time it was answered. The page as received and
    /// as inflated is held within `allowance`.
    public func fetchPage(
        on connection: ScrapeConnection, timeout: Double, maxBytes: Int, allowance: PageAllowance
    ) async -> Result<Page, FetchError> {
        let page: RawPage
        switch await connection.fetch(timeout: timeout, maxBytes: maxBytes, allowance: allowance) {
        case .success(let received): page = received
        case .failure(let error): return .failure(error)
        }
        guard page.status == 200 else {
            return .failure(FetchError(reason: .httpStatus, detail: "HTTP \(page.status)"))
        }
        guard page.gzip else { return .success(Page(bytes: page.body, answeredAt: page.answeredAt)) }
        // While inflating, the allowance holds the body as received and the page as inflated.
        let received = page.body.capacity
        do {
            let inflated = try Gzip.decompress(page.body, limit: maxBytes) { allowance.reserve(upTo: received + $0) }
            return .success(Page(bytes: inflated, answeredAt: page.answeredAt))
        } catch is Gzip.TooLarge {
            return .failure(FetchError(reason: .tooLarge, detail: "page over \(maxBytes) bytes once decompressed"))
        } catch let refused as Gzip.GrowthRefused {
            return .failure(
                FetchError(
                    reason: .overBudget,
                    detail: "inflating needs \(refused.capacity) bytes and the pages in flight hold all of "
                        + "scrape.maxBytesInFlight"))
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
