#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Parses sample values and timestamps straight from page bytes.
///
/// Values follow Go's `strconv.ParseFloat`, which is what Prometheus uses: decimal numbers with an
/// optional sign, fraction and exponent, plus `Inf`/`Infinity`/`NaN` in any case. The common case
/// (at most 19 significant digits and a small exponent) is computed exactly with one correctly
/// rounded multiplication or division; anything else falls back to the C library's `strtod`,
/// which is correctly rounded too, on a small stack copy.
enum NumberParsing {
    /// Exact powers of ten representable as doubles.
    private static let exactPowersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]

    /// An optional leading sign: whether it is `-`, and where what follows it starts. Nil when
    /// nothing follows.
    @inline(__always)
    private static func sign(_ base: UnsafeRawPointer, _ start: Int, _ end: Int) -> (Bool, Int)? {
        guard start < end else { return nil }
        let first = base.load(fromByteOffset: start, as: UInt8.self)
        guard first == UInt8(ascii: "-") || first == UInt8(ascii: "+") else { return (false, start) }
        return start + 1 < end ? (first == UInt8(ascii: "-"), start + 1) : nil
    }

    /// Parses the value token in `start..<end`, or returns nil when it is not a number.
    @inline(__always)
    static func parseDouble(_ base: UnsafeRawPointer, _ start: Int, _ end: Int) -> Double? {
        guard let (negative, digitsStart) = sign(base, start, end) else { return nil }
        var index = digitsStart
        let lead = base.load(fromByteOffset: index, as: UInt8.self)
        if !ByteClass.isDigit(lead) && lead != UInt8(ascii: ".") {
            return parseSpecial(base, index, end, negative: negative)
        }

        var mantissa: UInt64 = 0
        var significantDigits = 0
        var exponent = 0
        var sawDigit = false
        var inexact = false

        while index < end {
            let digit = base.load(fromByteOffset: index, as: UInt8.self) &- 0x30
            guard digit < 10 else { break }
            sawDigit = true
            if significantDigits < 19 {
                if mantissa != 0 || digit != 0 {
                    mantissa = mantissa &* 10 &+ UInt64(digit)
                    significantDigits += 1
                }
            } else {
                exponent += 1
                if digit != 0 { inexact = true }
            }
            index += 1
        }
        if index < end && base.load(fromByteOffset: index, as: UInt8.self) == UInt8(ascii: ".") {
            index += 1
            while index < end {
                let digit = base.load(fromByteOffset: index, as: UInt8.self) &- 0x30
                guard digit < 10 else { break }
                sawDigit = true
                if significantDigits < 19 {
                    if mantissa != 0 || digit != 0 {
                        mantissa = mantissa &* 10 &+ UInt64(digit)
                        significantDigits += 1
                    }
                    exponent -= 1
                } else if digit != 0 {
                    inexact = true
                }
                index += 1
            }
        }
        guard sawDigit else { return nil }
        if index < end {
            let marker = base.load(fromByteOffset: index, as: UInt8.self)
            guard marker == UInt8(ascii: "e") || marker == UInt8(ascii: "E") else { return nil }
            index += 1
            guard index < end else { return nil }
            var exponentNegative = false
            let sign = base.load(fromByteOffset: index, as: UInt8.self)
            if sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
                exponentNegative = sign == UInt8(ascii: "-")
                index += 1
            }
            var written = 0
            var sawExponentDigit = false
            while index < end {
                let digit = base.load(fromByteOffset: index, as: UInt8.self) &- 0x30
                guard digit < 10 else { return nil }
                sawExponentDigit = true
                // Clamp: anything past this is zero or infinity anyway.
                if written < 100_000 { written = written * 10 + Int(digit) }
                index += 1
            }
            guard sawExponentDigit else { return nil }
            exponent += exponentNegative ? -written : written
        }

        if mantissa == 0 { return negative ? -0.0 : 0.0 }
        if !inexact && mantissa <= 1 << 53 && exponent >= -22 && exponent <= 22 {
            var value = Double(mantissa)
            if exponent >= 0 {
                value *= exactPowersOfTen[exponent]
            } else {
                value /= exactPowersOfTen[-exponent]
            }
            return negative ? -value : value
        }
        // The token is known to be a well-formed decimal here; let strtod round it.
        return parseWithStrtod(base, start, end)
    }

    private static func parseSpecial(_ base: UnsafeRawPointer, _ start: Int, _ end: Int, negative: Bool) -> Double? {
        let length = end - start
        func matches(_ word: StaticString) -> Bool {
            guard word.utf8CodeUnitCount == length else { return false }
            let wordBytes = word.utf8Start
            for offset in 0..<length {
                // ASCII case folding: letters only, which is all these words contain.
                if base.load(fromByteOffset: start + offset, as: UInt8.self) | 0x20 != wordBytes[offset] {
                    return false
                }
            }
            return true
        }
        if matches("inf") || matches("infinity") { return negative ? -.infinity : .infinity }
        if matches("nan") { return .nan }
        return nil
    }

    private static func parseWithStrtod(_ base: UnsafeRawPointer, _ start: Int, _ end: Int) -> Double? {
        let length = end - start
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: length + 1) { buffer in
            for offset in 0..<length {
                buffer[offset] = CChar(bitPattern: base.load(fromByteOffset: start + offset, as: UInt8.self))
            }
            buffer[length] = 0
            var stop: UnsafeMutablePointer<CChar>? = nil
            let value = strtod(buffer.baseAddress!, &stop)
            guard let stop, stop == buffer.baseAddress! + length else { return nil }
            return value
        }
    }

    /// Parses an integer millisecond timestamp in `start..<end`.
    static func parseTimestamp(_ base: UnsafeRawPointer, _ start: Int, _ end: Int) -> Int64? {
        guard let (negative, digitsStart) = sign(base, start, end) else { return nil }
        var index = digitsStart
        guard end - index <= 18 else { return nil }
        var value: Int64 = 0
        while index < end {
            let digit = base.load(fromByteOffset: index, as: UInt8.self) &- 0x30
            guard digit < 10 else { return nil }
            value = value * 10 + Int64(digit)
            index += 1
        }
        return negative ? -value : value
    }
}
