import GzipCodec
import NIOCore
import NIOHTTP1

/// One connection's page exchanges as a value: what has been asked and answered so far, and
/// what the channel handler must do next. Each event (a request to send, an answer's head, a
/// piece of its body, its end, the connection closing, an error) returns an `Action`; the
/// handler only carries them out, so every path is testable without a socket.
///
/// One exchange at a time: a request while another is in flight is refused, and an answer that
/// no request asked for closes the connection (it is out of step).
struct PageExchangeState {
    /// What the handler does.
    enum Action: Equatable {
        case none
        /// Send the request.
        case send(HTTPRequestHead)
        /// The answer is complete: hand it over, then close the connection when `close`.
        case succeed(RawPage, close: Bool)
        /// The exchange failed: hand over the error and close the connection, whose state is
        /// now unknown.
        case fail(PageFetchError)
        /// A second request while one is in flight: fail it; the one in flight goes on.
        case refuse(PageFetchError)
        /// Close the connection; no exchange is waiting.
        case close
    }

    /// What bounds an answer's body: the page cap, and the page budget it grows within.
    struct Limits {
        var maxBytes: Int
        /// Takes the bytes the body needs (in total) from the budget; false when it cannot.
        var reserve: (Int) -> Bool
    }

    private enum Phase {
        case idle
        /// `sentAt`: when the request was written.
        case awaitingHead(Limits, sentAt: Double)
        case receivingBody(Limits, status: Int, gzip: Bool, close: Bool, takenAt: Double)
    }

    private var phase = Phase.idle
    /// The body so far; outside `phase` so that appending to it never copies it.
    private var body: [UInt8] = []

    /// Whether an exchange is in flight.
    var isBusy: Bool {
        if case .idle = phase { return false }
        return true
    }

    /// A request for a page, written at `time`, to be answered within `limits`.
    mutating func request(_ head: HTTPRequestHead, limits: Limits, at time: Double) -> Action {
        guard case .idle = phase else {
            return .refuse(
                PageFetchError(
                    reason: .other, detail: "a request while another is in flight on this connection",
                    beforeResponse: true))
        }
        phase = .awaitingHead(limits, sentAt: time)
        body = []
        return .send(head)
    }

    /// The answer's head arrived at `time`; `contentLength` when it declared one. The page was
    /// taken when the request was written (after connecting), as Prometheus stamps a scrape with
    /// its start: a proxy renders its page as the request arrives, while a loaded agent may read
    /// the answer long after (a full test run measured first windows 2-3 % high with the head's
    /// time, and still with the middle of the two).
    mutating func head(status: Int, gzip: Bool, keepAlive: Bool, contentLength: Int?, at time: Double) -> Action {
        guard case .awaitingHead(let limits, let sentAt) = phase else { return outOfStep() }
        if let length = contentLength {
            guard length <= limits.maxBytes else {
                return fail(.init(reason: .tooLarge, detail: "Content-Length \(length) over \(limits.maxBytes) bytes"))
            }
            guard limits.reserve(length) else { return failOverBudget(needing: length) }
            body.reserveCapacity(length)
        }
        phase = .receivingBody(limits, status: status, gzip: gzip, close: !keepAlive, takenAt: min(sentAt, time))
        return .none
    }

    /// A piece of the answer's body.
    mutating func bodyPart(_ part: ByteBuffer) -> Action {
        guard case .receivingBody(let limits, _, _, _, _) = phase else { return outOfStep() }
        let needed = body.count + part.readableBytes
        guard needed <= limits.maxBytes else {
            return fail(.init(reason: .tooLarge, detail: "body over \(limits.maxBytes) bytes"))
        }
        do {
            // The budget holds what the body holds.
            try Gzip.makeRoom(in: &body, for: needed, limit: limits.maxBytes) { limits.reserve($0) }
        } catch {
            return failOverBudget(needing: error.capacity)
        }
        body.append(contentsOf: part.readableBytesView)
        return .none
    }

    /// The answer ended.
    mutating func end() -> Action {
        guard case .receivingBody(_, let status, let gzip, let close, let takenAt) = phase else {
            return outOfStep()
        }
        let page = RawPage(status: status, gzip: gzip, body: body, takenAt: takenAt)
        phase = .idle
        body = []
        return .succeed(page, close: close)
    }

    /// The connection closed: an exchange in flight is truncated (a head had come) or reset
    /// before any answer, which a kept-alive connection's caller may repeat once.
    mutating func closed() -> Action {
        switch phase {
        case .idle:
            return .none
        case .awaitingHead:
            return fail(
                .init(
                    reason: .reset, detail: "connection closed by the target before it answered",
                    beforeResponse: true))
        case .receivingBody:
            return fail(.init(reason: .truncated, detail: "the target closed the connection before the body ended"))
        }
    }

    /// The channel reported `error` (a transport failure, or the HTTP decoder's).
    mutating func error(_ error: any Error) -> Action {
        switch phase {
        case .idle:
            return .close
        case .awaitingHead:
            return fail(.init(reason: ScrapeFailure(transportError: error), detail: "\(error)", beforeResponse: true))
        case .receivingBody:
            if let parserError = error as? HTTPParserError, parserError == .invalidEOFState {
                // The decoder's word for a connection closed inside the body.
                return fail(.init(reason: .truncated, detail: "the target closed the connection before the body ended"))
            }
            return fail(.init(reason: ScrapeFailure(transportError: error), detail: "\(error)"))
        }
    }

    /// An answer, or part of one, that no request is waiting for.
    private mutating func outOfStep() -> Action {
        if case .idle = phase { return .close }
        return fail(.init(reason: .other, detail: "the answer is out of step with the request"))
    }

    private mutating func failOverBudget(needing bytes: Int) -> Action {
        fail(
            .init(
                reason: .overBudget,
                detail: "the body needs \(bytes) bytes and the pages in flight hold all of scrape.maxBytesInFlight"))
    }

    private mutating func fail(_ error: PageFetchError) -> Action {
        phase = .idle
        body = []
        return .fail(error)
    }
}
