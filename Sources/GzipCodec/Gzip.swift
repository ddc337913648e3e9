import CZlib

/// gzip (RFC 1952) compression and decompression with the system zlib.
public enum Gzip {
    /// Why zlib refused.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public var operation: String
        public var code: Int32
        public var description: String { "zlib \(operation) failed with code \(code)" }
    }

    /// Decompressed data would exceed the caller's limit.
    public struct TooLarge: Error, Equatable {
        public var limit: Int

        public init(limit: Int) { self.limit = limit }
    }

    /// The caller's `mayGrow` refused the memory the decompressed data needed next.
    public struct GrowthRefused: Error, Equatable {
        /// The output capacity that was asked for.
        public var capacity: Int

        public init(capacity: Int) { self.capacity = capacity }
    }

    /// The capacity a growing buffer takes to hold `needed` bytes: the next power of two (at
    /// least 64 KiB), at most `limit`. It depends on the size alone, not on the pieces the bytes
    /// came in, so what one page needed tells what the same page will need next time.
    public static func capacity(toHold needed: Int, limit: Int) -> Int {
        var capacity = 64 << 10
        while capacity < needed { capacity *= 2 }
        return min(capacity, max(limit, needed))
    }

    /// Makes room in `buffer` for `needed` bytes in all: when it has too little, it grows to
    /// `capacity(toHold:limit:)` once `mayGrow` allows that capacity, rather than by append's
    /// doubling, so whoever counts the memory sees every growth. The scrape handler's plain
    /// bodies and `decompress`'s output grow this way.
    public static func makeRoom(
        in buffer: inout [UInt8], for needed: Int, limit: Int, mayGrow: (_ capacity: Int) -> Bool
    ) throws(GrowthRefused) {
        guard needed > buffer.capacity else { return }
        let capacity = capacity(toHold: needed, limit: limit)
        guard mayGrow(capacity) else { throw GrowthRefused(capacity: capacity) }
        buffer.reserveCapacity(capacity)
    }

    /// The CRC-32 of `bytes` (zlib's, as gzip's trailer carries it).
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { buffer in
            // zlib takes a 32-bit length: long inputs go in pieces.
            var crc: uLong = 0
            var offset = 0
            repeat {
                let count = min(buffer.count - offset, 1 << 30)
                crc = CZlib.crc32(crc, buffer.baseAddress.map { $0 + offset }, uInt(count))
                offset += count
            } while offset < buffer.count
            return UInt32(truncatingIfNeeded: crc)
        }
    }

    /// gzip-compresses `bytes` (level 1 fastest … 9 smallest).
    public static func compress(_ bytes: [UInt8], level: Int32 = 6) throws -> [UInt8] {
        var stream = z_stream()
        // windowBits 15 + 16 selects the gzip wrapper instead of zlib's.
        var status = deflateInit2_(
            &stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
            Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw Failure(operation: "deflateInit2", code: status) }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 32)
        var produced = 0
        status = bytes.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                let result = deflate(&stream, Z_FINISH)
                produced = out.count - Int(stream.avail_out)
                return result
            }
        }
        guard status == Z_STREAM_END else { throw Failure(operation: "deflate", code: status) }
        // A copy of exactly the compressed size: trimming in place would keep the whole bound
        // (about the input's size) allocated for as long as the batch waits to be sent.
        return Array(output[..<produced])
    }

    /// Decompresses a gzip stream, refusing to produce more than `limit` bytes. Before the output
    /// grows, `mayGrow` is asked for its new capacity (at most `limit`); when it answers false,
    /// decompression stops with `GrowthRefused`.
    public static func decompress(
        _ bytes: [UInt8], limit: Int, mayGrow: (_ capacity: Int) -> Bool = { _ in true }
    ) throws -> [UInt8] {
        var stream = z_stream()
        var status = inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw Failure(operation: "inflateInit2", code: status) }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        // A gzip stream ends with its uncompressed size modulo 2^32: a hint (a truncated or
        // multi-member stream can lie), used to allocate once instead of doubling, never past `limit`.
        if bytes.count >= 18 {
            let end = bytes.count
            let size =
                Int(bytes[end - 4]) | Int(bytes[end - 3]) << 8 | Int(bytes[end - 2]) << 16 | Int(bytes[end - 1]) << 24
            let capacity = min(size, limit)
            guard mayGrow(capacity) else { throw GrowthRefused(capacity: capacity) }
            output.reserveCapacity(capacity)
        }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        try bytes.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            repeat {
                let produced = chunk.withUnsafeMutableBufferPointer { out -> Int in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return out.count - Int(stream.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END else {
                    throw Failure(operation: "inflate", code: status)
                }
                let needed = output.count + produced
                guard needed <= limit else { throw TooLarge(limit: limit) }
                try makeRoom(in: &output, for: needed, limit: limit, mayGrow: mayGrow)
                output.append(contentsOf: chunk[..<produced])
                if status == Z_OK && produced == 0 && stream.avail_in == 0 {
                    // Input ended before the gzip trailer: a truncated stream.
                    throw Failure(operation: "inflate", code: Z_BUF_ERROR)
                }
            } while status != Z_STREAM_END
        }
        return output
    }
}
