/// A fast 64-bit fingerprint of a byte range, used to recognise a series seen in an earlier
/// scrape without comparing (or keeping) its full text.
///
/// Each 16-byte block is folded into the state with one 64×64→128-bit multiplication, in two
/// independent lanes for long keys, so hashing runs at several bytes per cycle. Two different series of one proxy collide with probability
/// about n²/2⁶⁵ (n series), i.e. never in practice; callers also compare the key length.
public enum SeriesFingerprint {
    private static let blockKey0: UInt64 = 0x9E37_79B9_7F4A_7C15
    private static let blockKey1: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let finalKey0: UInt64 = 0x1656_67B1_9E37_79F9
    private static let finalKey1: UInt64 = 0xD6E8_FEB8_6659_FD93

    @inline(__always)
    private static func fold(_ x: UInt64, _ y: UInt64) -> UInt64 {
        let product = x.multipliedFullWidth(by: y)
        return product.high ^ product.low
    }

    /// The fingerprint of `range` in `page`.
    @inline(__always)
    public static func hash(_ page: PageView, _ range: Range<Int>) -> UInt64 {
        hash(page.base + range.lowerBound, count: range.count)
    }

    /// The fingerprint of `count` bytes at `start`.
    @inline(__always)
    public static func hash(_ start: UnsafeRawPointer, count: Int) -> UInt64 {
        var state = UInt64(truncatingIfNeeded: count) &* finalKey1 ^ blockKey0
        var cursor = start
        var remaining = count
        if remaining > 32 {
            // Two independent lanes over 32-byte blocks, so the multiplications overlap.
            var other = state ^ finalKey0
            repeat {
                let x0 = cursor.loadUnaligned(as: UInt64.self)
                let y0 = cursor.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                let x1 = cursor.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
                let y1 = cursor.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
                state = fold(x0 ^ state ^ blockKey0, y0 ^ blockKey1)
                other = fold(x1 ^ other ^ finalKey0, y1 ^ finalKey1)
                cursor += 32
                remaining -= 32
            } while remaining > 32
            state = fold(state ^ blockKey1, other ^ blockKey0)
        }
        while remaining > 16 {
            let x = cursor.loadUnaligned(as: UInt64.self)
            let y = cursor.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            state = fold(x ^ state ^ blockKey0, y ^ blockKey1)
            cursor += 16
            remaining -= 16
        }
        // The last 1...16 bytes, read with overlapping loads so nothing is read out of range.
        var x: UInt64 = 0
        var y: UInt64 = 0
        if remaining >= 8 {
            x = cursor.loadUnaligned(as: UInt64.self)
            y = cursor.loadUnaligned(fromByteOffset: remaining - 8, as: UInt64.self)
        } else if remaining >= 4 {
            x =
                UInt64(cursor.loadUnaligned(as: UInt32.self)) << 32
                | UInt64(cursor.loadUnaligned(fromByteOffset: remaining - 4, as: UInt32.self))
        } else if remaining > 0 {
            x =
                UInt64(cursor.load(as: UInt8.self)) << 16
                | UInt64(cursor.load(fromByteOffset: remaining >> 1, as: UInt8.self)) << 8
                | UInt64(cursor.load(fromByteOffset: remaining - 1, as: UInt8.self))
        }
        state = fold(x ^ state ^ blockKey0, y ^ blockKey1)
        return fold(state ^ finalKey0, UInt64(truncatingIfNeeded: count) ^ finalKey1)
    }
}
