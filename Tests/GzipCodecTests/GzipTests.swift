import GzipCodec
import Testing

@Suite struct GzipTests {
    @Test func roundTripsAndCompresses() throws {
        let text = Array(String(repeating: "route_response_total{rt_route=\"GET /items/{id}\"} 42\n", count: 500).utf8)
        let compressed = try Gzip.compress(text)
        // gzip magic number and deflate method.
        #expect(Array(compressed.prefix(3)) == [0x1F, 0x8B, 0x08])
        #expect(compressed.count < text.count / 20)
        // What stays allocated is the compressed size, not zlib's bound (about the input's).
        #expect(compressed.capacity < text.count / 10)
        #expect(try Gzip.decompress(compressed, limit: 1 << 20) == text)
    }

    @Test func emptyInput() throws {
        #expect(try Gzip.decompress(try Gzip.compress([]), limit: 10) == [])
    }

    @Test func limitStopsDecompressionBombs() throws {
        let compressed = try Gzip.compress([UInt8](repeating: 0, count: 1 << 20))
        #expect(throws: Gzip.TooLarge(limit: 1000)) { try Gzip.decompress(compressed, limit: 1000) }
    }

    /// The output grows only after `mayGrow` agreed to its new capacity: at once to the size
    /// the trailer states when it is honest, in powers of two when it lies; a refusal stops it.
    @Test func everyGrowthIsAskedFor() throws {
        let text = [UInt8](repeating: 0x61, count: 300_000)
        let honest = try Gzip.compress(text)
        var asked: [Int] = []
        #expect(
            try Gzip.decompress(honest, limit: 1 << 20) {
                asked.append($0)
                return true
            } == text)
        #expect(asked == [300_000])
        #expect(throws: Gzip.GrowthRefused(capacity: 300_000)) {
            try Gzip.decompress(honest, limit: 1 << 20) { $0 < 200_000 }
        }
        // A trailer that says 1,000 bytes: the rest grows by powers of two, each asked for, until
        // zlib finds the trailer wrong.
        var lying = honest
        let end = lying.count
        (lying[end - 4], lying[end - 3], lying[end - 2], lying[end - 1]) = (0xE8, 0x03, 0, 0)
        asked = []
        #expect(throws: Gzip.Failure.self) {
            try Gzip.decompress(lying, limit: 1 << 20) {
                asked.append($0)
                return true
            }
        }
        #expect(asked == [1_000, 65_536, 131_072, 262_144])
        #expect(Gzip.capacity(toHold: 1, limit: 1 << 20) == 65_536)
        #expect(Gzip.capacity(toHold: 700_000, limit: 1 << 20) == 1 << 20)
        #expect(Gzip.capacity(toHold: 700_000, limit: 800_000) == 800_000)
    }

    @Test func truncatedAndCorruptStreamsFail() throws {
        let compressed = try Gzip.compress(Array("hello hello hello hello".utf8))
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(Array(compressed.dropLast(6)), limit: 1000) }
        var corrupt = compressed
        corrupt[12] ^= 0xFF
        #expect(throws: (any Error).self) { try Gzip.decompress(corrupt, limit: 1000) }
    }
}
