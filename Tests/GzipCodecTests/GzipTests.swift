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

    @Test func truncatedAndCorruptStreamsFail() throws {
        let compressed = try Gzip.compress(Array("hello hello hello hello".utf8))
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(Array(compressed.dropLast(6)), limit: 1000) }
        var corrupt = compressed
        corrupt[12] ^= 0xFF
        #expect(throws: (any Error).self) { try Gzip.decompress(corrupt, limit: 1000) }
    }
}
