import NIOCore
import Synchronization

/// Hands a watch's body chunks from the task that reads them to the task that decodes them, one
/// at a time (the reader waits until its chunk is taken, so nothing piles up), and lets a third
/// party end the stream with an error: the watch's deadline, which the HTTP client does not apply
/// to a streamed body. Failing the handoff, rather than cancelling the decoding task, keeps that
/// task usable afterwards (cancellation would stay with it and end the reflector).
final class WatchChunkHandoff: Sendable {
    private enum Slot {
        /// Nothing offered, nobody waiting.
        case idle
        /// A chunk offered; its reader waits for it to be taken.
        case offered(ByteBuffer, CheckedContinuation<Void, any Error>)
        /// The decoder waits for a chunk.
        case wanted(CheckedContinuation<ByteBuffer?, any Error>)
        /// No more chunks: the body ended (nil) or failed.
        case ended((any Error)?)
    }

    private let slot = Mutex(Slot.idle)

    /// Offers `chunk` and waits until it is taken; throws once the handoff has ended.
    func put(_ chunk: ByteBuffer) async throws {
        try await withCheckedThrowingContinuation { (reader: CheckedContinuation<Void, any Error>) in
            let action = slot.withLock { slot -> (() -> Void)? in
                switch slot {
                case .idle:
                    slot = .offered(chunk, reader)
                    return nil
                case .wanted(let decoder):
                    slot = .idle
                    return {
                        decoder.resume(returning: chunk)
                        reader.resume()
                    }
                case .ended:
                    return { reader.resume(throwing: CancellationError()) }
                case .offered:
                    preconditionFailure("one reader at a time")
                }
            }
            action?()
        }
    }

    /// The next chunk; nil when the body ended; throws what ended it otherwise.
    func take() async throws -> ByteBuffer? {
        try await withCheckedThrowingContinuation { (decoder: CheckedContinuation<ByteBuffer?, any Error>) in
            let action = slot.withLock { slot -> (() -> Void)? in
                switch slot {
                case .idle:
                    slot = .wanted(decoder)
                    return nil
                case .offered(let chunk, let reader):
                    slot = .idle
                    return {
                        reader.resume()
                        decoder.resume(returning: chunk)
                    }
                case .ended(let error):
                    return { Self.finish(decoder, error) }
                case .wanted:
                    preconditionFailure("one decoder at a time")
                }
            }
            action?()
        }
    }

    /// Tells a waiting decoder the body is over: nil for its end, or what failed it.
    private static func finish(_ decoder: CheckedContinuation<ByteBuffer?, any Error>, _ error: (any Error)?) {
        if let error { decoder.resume(throwing: error) } else { decoder.resume(returning: nil) }
    }

    /// Ends the handoff: the body ended (`error` nil) or failed. A waiting decoder gets it; a
    /// waiting reader is released with an error. The first end wins.
    func end(_ error: (any Error)?) {
        let action = slot.withLock { slot -> (() -> Void)? in
            switch slot {
            case .ended:
                return nil
            case .idle:
                slot = .ended(error)
                return nil
            case .wanted(let decoder):
                slot = .ended(error)
                return { Self.finish(decoder, error) }
            case .offered(_, let reader):
                slot = .ended(error)
                return { reader.resume(throwing: CancellationError()) }
            }
        }
        action?()
    }
}
