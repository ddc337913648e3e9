import AsyncHTTPClient
import GzipCodec
import NIOCore
import NIOHTTP1

/// Fetches one proxy page over HTTP: `Accept-Encoding: gzip`, a timeout, and a size cap applied
/// both to the bytes on the wire and to the decompressed page. A request that fails because the
/// proxy closed an idle keep-alive connection is retried once at once, and is not a failure.
public struct PageFetcher: Sendable {
    public let client: HTTPClient

    public init(client: HTTPClient) {
        self.client = client
    }

    /// The page's bytes, or why there are none (with a detail for the log).
    public func fetch(_ url: String, timeout: Double, maxBytes: Int) async -> Result<[UInt8], FetchError> {
        let first = await attempt(url, timeout: timeout, maxBytes: maxBytes)
        if case .failure(let error) = first, error.reason == .reset, error.beforeResponse {
            return await attempt(url, timeout: timeout, maxBytes: maxBytes)
        }
        return first
    }

    /// A failed fetch.
    public struct FetchError: Error, Sendable {
        public var reason: ScrapeFailure
        public var detail: String
        /// True when no response had started: the request may be repeated safely.
        var beforeResponse = false
    }

    private func attempt(_ url: String, timeout: Double, maxBytes: Int) async -> Result<[UInt8], FetchError> {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept-Encoding", value: "gzip")
        request.headers.add(name: "User-Agent", value: "fathom-agent")
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .milliseconds(Int64(timeout * 1_000)))
        } catch {
            return .failure(FetchError(reason: Self.reason(error), detail: "\(error)", beforeResponse: true))
        }
        guard response.status == .ok else {
            return .failure(FetchError(reason: .httpStatus, detail: "HTTP \(response.status.code)"))
        }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: maxBytes)
        } catch let error as NIOTooManyBytesError {
            return .failure(FetchError(reason: .tooLarge, detail: "\(error): over \(maxBytes) bytes"))
        } catch {
            return .failure(FetchError(reason: Self.reason(error), detail: "\(error)"))
        }
        let bytes = Array(body.readableBytesView)
        guard response.headers.first(name: "Content-Encoding")?.lowercased() == "gzip" else { return .success(bytes) }
        do {
            return .success(try Gzip.decompress(bytes, limit: maxBytes))
        } catch is Gzip.TooLarge {
            return .failure(FetchError(reason: .tooLarge, detail: "page over \(maxBytes) bytes once decompressed"))
        } catch {
            return .failure(FetchError(reason: .parseError, detail: "bad gzip body: \(error)"))
        }
    }

    /// A bounded reason for a request that got no complete response.
    static func reason(_ error: any Error) -> ScrapeFailure {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .deadlineExceeded, .readTimeout, .writeTimeout, .getConnectionFromPoolTimeout:
                return .timeout
            case .remoteConnectionClosed:
                return .reset
            default:
                break
            }
        }
        let text = String(describing: error).lowercased()
        if text.contains("refused") { return .refused }
        if text.contains("timeout") || text.contains("timed out") { return .timeout }
        if text.contains("reset") || text.contains("eof") || text.contains("closed") { return .reset }
        return .other
    }
}
