import GzipCodec

/// A page as received: the body bytes, whether they are gzip-compressed, and when it was taken
/// (seconds since the epoch: when its request was written, read on the event loop).
struct RawPage: Sendable, Equatable {
    var status: Int
    var gzip: Bool
    var body: [UInt8]
    var takenAt: Double

    /// The page it carries: a 200's body, inflated when it is gzip, within `maxBytes` and the
    /// allowance (which holds the body as received and the page as inflated while inflating).
    func page(maxBytes: Int, allowance: PageAllowance) -> Result<FetchedPage, PageFetchError> {
        guard status == 200 else {
            guard status == 403 else { return .failure(PageFetchError(reason: .httpStatus, detail: "HTTP \(status)")) }
            return .failure(
                PageFetchError(reason: .forbidden, detail: "HTTP 403: refused by the proxy's authorization policy"))
        }
        guard gzip else { return .success(FetchedPage(bytes: body, takenAt: takenAt)) }
        let received = body.capacity
        do {
            let inflated = try Gzip.decompress(body, limit: maxBytes) { allowance.reserve(upTo: received + $0) }
            return .success(FetchedPage(bytes: inflated, takenAt: takenAt))
        } catch is Gzip.TooLarge {
            return .failure(PageFetchError(reason: .tooLarge, detail: "page over \(maxBytes) bytes once decompressed"))
        } catch let refused as Gzip.GrowthRefused {
            return .failure(
                PageFetchError(
                    reason: .overBudget,
                    detail: "inflating needs \(refused.capacity) bytes and the pages in flight hold all of "
                        + "scrape.maxBytesInFlight"))
        } catch {
            return .failure(PageFetchError(reason: .parseError, detail: "bad gzip body: \(error)"))
        }
    }
}
