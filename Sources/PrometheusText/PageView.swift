/// Read access to the bytes of one exposition page, by offset.
///
/// The page is borrowed: a `PageView` is valid only while the buffer it was made from is alive
/// (inside `withUnsafeBytes`), which is what lets the parser hand out offsets instead of copies.
public struct PageView {
    public let base: UnsafeRawPointer
    public let count: Int

    public init(_ bytes: UnsafeRawBufferPointer) {
        // An empty buffer may have no base address; any valid pointer will do since nothing is read.
        self.base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 0x1)!
        self.count = bytes.count
    }

    @inline(__always)
    public subscript(offset: Int) -> UInt8 {
        base.load(fromByteOffset: offset, as: UInt8.self)
    }

    /// Whether the bytes in `range` spell `literal` exactly.
    @inline(__always)
    public func equals(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard range.count == length else { return false }
        return memcmp(base + range.lowerBound, literal.utf8Start, length) == 0
    }

    /// Whether the bytes in `range` start with `literal`.
    @inline(__always)
    public func hasPrefix(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard range.count >= length else { return false }
        return memcmp(base + range.lowerBound, literal.utf8Start, length) == 0
    }

    /// Whether the bytes in `range` end with `literal`.
    @inline(__always)
    public func hasSuffix(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard range.count >= length else { return false }
        return memcmp(base + range.upperBound - length, literal.utf8Start, length) == 0
    }

    /// Whether two ranges of the page hold the same bytes.
    @inline(__always)
    public func equals(_ lhs: Range<Int>, _ rhs: Range<Int>) -> Bool {
        lhs.count == rhs.count && memcmp(base + lhs.lowerBound, base + rhs.lowerBound, lhs.count) == 0
    }

    /// The bytes in `range` as a string, taken literally (invalid UTF-8 is repaired).
    public func string(_ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count), as: UTF8.self)
    }

    /// The value of a label with its escapes (`\\`, `\"`, `\n`) resolved.
    ///
    /// Other escaped bytes are kept with their backslash, as Prometheus does.
    public func labelValue(_ label: Label) -> String {
        guard label.hasEscapes else { return string(label.value) }
        return unescaped(label.value, quoteEscapes: true)
    }

    /// HELP text with its escapes (`\\`, `\n`) resolved.
    public func helpText(_ range: Range<Int>) -> String {
        unescaped(range, quoteEscapes: false)
    }

    private func unescaped(_ range: Range<Int>, quoteEscapes: Bool) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(range.count)
        var index = range.lowerBound
        while index < range.upperBound {
            let byte = self[index]
            if byte == UInt8(ascii: "\\") && index + 1 < range.upperBound {
                let next = self[index + 1]
                switch next {
                case UInt8(ascii: "\\"): bytes.append(next)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "\"") where quoteEscapes: bytes.append(next)
                default:
                    bytes.append(byte)
                    bytes.append(next)
                }
                index += 2
            } else {
                bytes.append(byte)
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
