/// Character classes of the exposition grammar, on raw bytes.
enum ByteClass {
    @inline(__always)
    static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte &- 0x30 < 10 }

    @inline(__always)
    static func isLetterOrUnderscore(_ byte: UInt8) -> Bool {
        (byte | 0x20) &- 0x61 < 26 || byte == 0x5F
    }

    /// `[a-zA-Z_:]`: the first byte of a metric name.
    @inline(__always)
    static func isMetricNameStart(_ byte: UInt8) -> Bool { isLetterOrUnderscore(byte) || byte == 0x3A }

    /// `[a-zA-Z0-9_:]`: the following bytes of a metric name.
    @inline(__always)
    static func isMetricNameContinuation(_ byte: UInt8) -> Bool { isMetricNameStart(byte) || isDigit(byte) }

    /// `[a-zA-Z0-9_]`: the following bytes of a label name.
    @inline(__always)
    static func isLabelNameContinuation(_ byte: UInt8) -> Bool { isLetterOrUnderscore(byte) || isDigit(byte) }
}
