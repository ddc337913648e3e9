import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file holding a credential (a token, a CA bundle, a client certificate or key) that is
/// replaced while the agent runs, read again whenever its content may have changed.
///
/// Kubernetes replaces mounted Secrets and projected tokens by swapping the volume's `..data`
/// symlink (the kubelet's AtomicWriter): the path the agent was given (`token -> ..data/token`)
/// is itself unchanged, so the file is checked with `stat`, which follows the links to the file
/// they lead to today. It is read again when that file's identity, size or modification time
/// differ from the last read (a rename, a `..data` swap, an in-place write), when `maxAge` has
/// passed since the last read (client-go re-reads its token file every minute too: a bind mount
/// or a clock step can hide a change from `stat`), and after `invalidate()` (a 401 says the
/// credential sent is no longer good). A read whose bytes equal the last one's is no change.
public final class WatchedFile: Sendable {
    /// The file's content and how many times it changed since the first read.
    public struct Content: Sendable, Equatable {
        public var bytes: [UInt8]
        /// 0 for the first content read; grows by one with each change.
        public var generation: Int
    }

    public let path: String
    /// Seconds after which the file is read again whatever `stat` says.
    public let maxAge: Double
    private let now: @Sendable () -> Double
    private let onChange: @Sendable (String) -> Void
    private let state = Mutex(State())

    private struct State {
        var cached: Content?
        var fingerprint: Fingerprint?
        var readAt = 0.0
        var stale = false
        var reads = 0
    }

    /// - Parameters:
    ///   - now: seconds on a monotonic clock (injected by tests).
    ///   - onChange: called with the path when a read finds bytes that differ from the last
    ///     ones read (never with the bytes: they are secret), not for the first read.
    public init(
        path: String, maxAge: Double = 60, now: @escaping @Sendable () -> Double = WatchedFile.monotonicSeconds,
        onChange: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.path = path
        self.maxAge = maxAge
        self.now = now
        self.onChange = onChange
    }

    /// The file's current content; nil while it is missing or unreadable. One `stat` when nothing
    /// changed.
    public func content() -> Content? {
        let current = Fingerprint(path: path)
        let time = now()
        let (content, changed) = state.withLock { state -> (Content?, Bool) in
            if let cached = state.cached, !state.stale, current != nil, current == state.fingerprint,
                time - state.readAt < maxAge
            {
                return (cached, false)
            }
            state.reads += 1
            guard let bytes = Self.readWhole(path) else {
                // The last content is kept for when it comes back: a missing file is no change.
                state.fingerprint = nil
                return (nil, false)
            }
            state.fingerprint = current
            state.readAt = time
            state.stale = false
            if let cached = state.cached, cached.bytes == bytes { return (cached, false) }
            let content = Content(bytes: bytes, generation: (state.cached?.generation ?? -1) + 1)
            defer { state.cached = content }
            return (content, state.cached != nil)
        }
        if changed { onChange(path) }
        return content
    }

    /// How many times the file was read (not only checked with `stat`).
    public var reads: Int { state.withLock { $0.reads } }

    /// Makes the next `content()` read the file whatever `stat` says.
    public func invalidate() {
        state.withLock { $0.stale = true }
    }

    /// What `stat` (following symbolic links) says of the file a path leads to.
    struct Fingerprint: Equatable, Sendable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modifiedSeconds: Int
        var modifiedNanoseconds: Int
        var changedSeconds: Int
        var changedNanoseconds: Int

        init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modifiedSeconds = Int(info.st_mtim.tv_sec)
            modifiedNanoseconds = Int(info.st_mtim.tv_nsec)
            changedSeconds = Int(info.st_ctim.tv_sec)
            changedNanoseconds = Int(info.st_ctim.tv_nsec)
        }
    }

    /// The whole file, or nil when it cannot be opened or read. Credentials are small; more than
    /// 16 MiB is refused as not one.
    static func readWhole(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
            if bytes.count > 16 << 20 { return nil }
        }
    }

    /// Seconds on the monotonic clock.
    public static func monotonicSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
