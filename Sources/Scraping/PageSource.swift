/// Where the scrape loops get pages from: one connection per target, kept between scrapes.
/// `PageFetcher` is the real one (HTTP/1.1 on SwiftNIO); tests give `ScrapeManager` others.
public protocol PageSource: Sendable {
    /// A connection to the target at `url` (`http://host:port/path`), opened on first use.
    func connection(to url: String) -> any PageConnection
}

/// One target's connection: fetches its page on demand, and is closed when the target leaves.
public protocol PageConnection: Sendable {
    /// Fetches one page within `timeout` seconds, at most `maxBytes` as received and as
    /// inflated, holding its bytes within `allowance`; the page, or why there is none.
    func fetchPage(timeout: Double, maxBytes: Int, allowance: PageAllowance) async -> Result<
        FetchedPage, PageFetchError
    >
    /// Closes the connection; the next fetch would open another.
    func close()
}

/// A fetched page and when it was taken (seconds since the epoch): when its request was written,
/// after connecting. The proxy renders its counters as the request arrives; a loaded agent may
/// read the answer much later.
public struct FetchedPage: Sendable {
    public var bytes: [UInt8]
    public var takenAt: Double

    public init(bytes: [UInt8], takenAt: Double) {
        self.bytes = bytes
        self.takenAt = takenAt
    }
}

/// A failed fetch: its bounded reason, and a detail for the log.
public struct PageFetchError: Error, Sendable, Equatable {
    public var reason: ScrapeFailure
    public var detail: String
    /// True when no response had started: the request may be repeated safely.
    var beforeResponse: Bool

    public init(reason: ScrapeFailure, detail: String) {
        self.init(reason: reason, detail: detail, beforeResponse: false)
    }

    init(reason: ScrapeFailure, detail: String, beforeResponse: Bool) {
        self.reason = reason
        self.detail = detail
        self.beforeResponse = beforeResponse
    }
}
