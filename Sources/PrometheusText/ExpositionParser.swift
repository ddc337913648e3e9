#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One line of a page: its bytes without the line feed and without a trailing carriage return.
public struct ExpositionLine: Sendable, Equatable {
    public var start: Int
    public var end: Int
    /// 1-based line number in the page.
    public var number: Int
    /// False only for a last line that has no line feed, which means the page was cut short.
    public var isTerminated: Bool

    public var range: Range<Int> { start..<end }
}

/// A sample line, as offsets into the page and a parsed value.
public struct Sample: Sendable {
    public var line: Int
    /// The metric name as written on the line (with `_total`, `_bucket`, ... suffixes).
    public var name: Range<Int>
    /// The bytes between `{` and `}`; empty when the sample has no labels. Walk it with `LabelIterator`.
    public var labels: Range<Int>
    /// The series identity: the metric name and label set exactly as written.
    public var series: Range<Int>
    public var labelCount: Int
    public var value: Double
    /// Milliseconds since the epoch, when the line carries a timestamp.
    public var timestamp: Int64?
}

/// What a non-blank line of a page says.
public enum Entry: Sendable {
    case sample(Sample)
    case help(metric: Range<Int>, text: Range<Int>)
    case type(metric: Range<Int>, type: MetricType)
    case unit(metric: Range<Int>, unit: Range<Int>)
    /// Any other comment; the range is the text after `#`.
    case comment(Range<Int>)
    /// `# EOF`, which ends an OpenMetrics exposition.
    case eof
}

/// A pull parser over the raw bytes of a Prometheus text (0.0.4) or OpenMetrics page.
///
/// It never copies: entries are offsets into the borrowed page plus parsed numbers, and nothing is
/// allocated per line. `next()` validates each line completely; on a bad line it throws a
/// `ParseError` naming the line and column, having already moved past that line, so a caller that
/// wants to skip bad lines simply calls `next()` again and one that wants to reject the page stops.
///
/// Hot paths that recognise series they have seen before can use `nextLine()`, `seriesEnd(of:)`
/// and `parseValue(of:after:)` to read only the value of a line and validate the rest on first sight.
public struct ExpositionParser {
    public let page: PageView
    public private(set) var position: Int = 0
    /// Number of the last line returned by `nextLine()`.
    public private(set) var lineNumber: Int = 0
    /// Whether `# EOF` has been read; only blank lines may follow it.
    public private(set) var sawEOF = false

    public init(_ bytes: UnsafeRawBufferPointer) {
        self.page = PageView(bytes)
    }

    // MARK: Lines

    /// The next line, blank or not, without parsing it.
    @inline(__always)
    public mutating func nextLine() -> ExpositionLine? {
        guard position < page.count else { return nil }
        let start = position
        var end: Int
        let terminated: Bool
        if let newline = memchr(page.base + start, 0x0A, page.count - start) {
            end = UnsafeRawPointer(newline) - page.base
            position = end + 1
            terminated = true
        } else {
            end = page.count
            position = end
            terminated = false
        }
        lineNumber += 1
        if end > start && page[end - 1] == 0x0D { end -= 1 }
        return ExpositionLine(start: start, end: end, number: lineNumber, isTerminated: terminated)
    }

    // MARK: Entries

    /// The next entry of the page, or nil at its end. Blank lines are skipped.
    public mutating func next() throws(ParseError) -> Entry? {
        while let line = nextLine() {
            if sawEOF {
                if isBlank(line) { continue }
                throw ParseError(.contentAfterEOF, line: line.number, column: 1)
            }
            guard let entry = try parse(line) else { continue }
            if case .eof = entry { sawEOF = true }
            return entry
        }
        return nil
    }

    /// Parses one line completely. Returns nil for a blank line.
    public func parse(_ line: ExpositionLine) throws(ParseError) -> Entry? {
        var index = line.start
        while index < line.end && ByteClass.isBlank(page[index]) { index += 1 }
        guard index < line.end else {
            if !line.isTerminated { throw ParseError(.truncated, line: line.number, column: line.end - line.start + 1) }
            return nil
        }
        let entry: Entry
        if page[index] == UInt8(ascii: "#") {
            entry = try parseComment(line, from: index + 1)
            if case .eof = entry { return entry }
        } else {
            entry = .sample(try parseSample(line, from: index))
        }
        if !line.isTerminated { throw ParseError(.truncated, line: line.number, column: line.end - line.start + 1) }
        return entry
    }

    @inline(__always)
    private func isBlank(_ line: ExpositionLine) -> Bool {
        var index = line.start
        while index < line.end {
            guard ByteClass.isBlank(page[index]) else { return false }
            index += 1
        }
        return true
    }

    // MARK: Samples

    /// Parses and validates a sample line starting at `start` (past any leading blanks).
    public func parseSample(_ line: ExpositionLine, from start: Int) throws(ParseError) -> Sample {
        let end = line.end
        func fail(_ reason: ParseError.Reason, _ at: Int) -> ParseError {
            ParseError(reason, line: line.number, column: at - line.start + 1)
        }
        var index = start
        guard ByteClass.isMetricNameStart(page[index]) else { throw fail(.invalidMetricName, index) }
        index += 1
        while index < end && ByteClass.isMetricNameContinuation(page[index]) { index += 1 }
        let name = start..<index
        var seriesEnd = index
        while index < end && ByteClass.isBlank(page[index]) { index += 1 }

        var labels = index..<index
        var labelCount = 0
        var seen = LabelNames()
        if index < end && page[index] == UInt8(ascii: "{") {
            index += 1
            let labelsStart = index
            while true {
                while index < end && ByteClass.isBlank(page[index]) { index += 1 }
                guard index < end else { throw fail(.expectedCommaOrBrace, index) }
                if page[index] == UInt8(ascii: "}") { break }
                // Label name.
                let labelNameStart = index
                guard ByteClass.isLetterOrUnderscore(page[index]) else { throw fail(.invalidLabelName, index) }
                index += 1
                while index < end && ByteClass.isLabelNameContinuation(page[index]) { index += 1 }
                let labelName = labelNameStart..<index
                if labelCount > 0, seen.contains(labelName, in: page, span: labelsStart..<labelNameStart) {
                    throw fail(.duplicateLabelName, labelNameStart)
                }
                seen.add(labelName)
                while index < end && ByteClass.isBlank(page[index]) { index += 1 }
                guard index < end && page[index] == UInt8(ascii: "=") else { throw fail(.expectedEquals, index) }
                index += 1
                while index < end && ByteClass.isBlank(page[index]) { index += 1 }
                guard index < end && page[index] == UInt8(ascii: "\"") else { throw fail(.expectedQuote, index) }
                index += 1
                index = try endOfLabelValue(from: index, end: end, line: line)
                index += 1
                labelCount += 1
                while index < end && ByteClass.isBlank(page[index]) { index += 1 }
                guard index < end else { throw fail(.expectedCommaOrBrace, index) }
                let separator = page[index]
                if separator == UInt8(ascii: ",") {
                    index += 1
                } else if separator != UInt8(ascii: "}") {
                    throw fail(.expectedCommaOrBrace, index)
                }
            }
            labels = labelsStart..<index
            index += 1
            seriesEnd = index
        }
        let (value, timestamp) = try parseValue(of: line, after: seriesEnd)
        return Sample(
            line: line.number, name: name, labels: labels, series: start..<seriesEnd, labelCount: labelCount,
            value: value, timestamp: timestamp)
    }

    /// The offset of the quote that closes a label value starting at `start`: any bytes but an
    /// unescaped quote, where a backslash escapes the next byte. Searches with `memchr`, since
    /// values are long and escapes rare.
    @inline(__always)
    private func endOfLabelValue(from start: Int, end: Int, line: ExpositionLine) throws(ParseError) -> Int {
        var index = start
        while true {
            guard index < end, let found = memchr(page.base + index, 0x22, end - index) else {
                throw ParseError(.unterminatedLabelValue, line: line.number, column: end - line.start + 1)
            }
            let quote = UnsafeRawPointer(found) - page.base
            guard memchr(page.base + index, 0x5C, quote - index) != nil else { return quote }
            // An escape before the quote: walk this stretch byte by byte.
            while index < quote {
                if page[index] == 0x5C {
                    guard index + 1 < end else {
                        throw ParseError(.unterminatedLabelValue, line: line.number, column: index + 1 - line.start + 1)
                    }
                    index += 2
                } else {
                    index += 1
                }
            }
            // The quote was escaped if the walk stepped over it.
            if index == quote { return quote }
        }
    }

    /// Where the series identity of a sample line ends: after the closing `}` of its label set,
    /// or after its metric name. This is a quick split, not a validation: values and timestamps
    /// never contain `}`, so the last `}` of a line closes its label set.
    @inline(__always)
    public func seriesEnd(of line: ExpositionLine) -> Int? {
        var index = line.start
        let end = line.end
        while index < end && ByteClass.isMetricNameContinuation(page[index]) { index += 1 }
        guard index < end else { return nil }
        if page[index] == UInt8(ascii: "{") || ByteClass.isBlank(page[index]) && hasBrace(after: index, in: line) {
            // Scan back from the end: the value and timestamp after the brace are short.
            var cursor = end - 1
            while cursor > index && page[cursor] != UInt8(ascii: "}") { cursor -= 1 }
            return page[cursor] == UInt8(ascii: "}") ? cursor + 1 : nil
        }
        return index
    }

    @inline(__always)
    private func hasBrace(after index: Int, in line: ExpositionLine) -> Bool {
        var cursor = index
        while cursor < line.end && ByteClass.isBlank(page[cursor]) { cursor += 1 }
        return cursor < line.end && page[cursor] == UInt8(ascii: "{")
    }

    /// Parses what follows the series identity: blanks, the value, an optional timestamp and an
    /// optional OpenMetrics exemplar (` # {...} value`), which is ignored.
    @inline(__always)
    public func parseValue(of line: ExpositionLine, after seriesEnd: Int) throws(ParseError) -> (Double, Int64?) {
        let end = line.end
        var index = seriesEnd
        guard index < end && ByteClass.isBlank(page[index]) else {
            let reason: ParseError.Reason = index < end ? .unexpectedContent : .missingValue
            throw ParseError(reason, line: line.number, column: index - line.start + 1)
        }
        repeat { index += 1 } while index < end && ByteClass.isBlank(page[index])
        let valueStart = index
        while index < end && !ByteClass.isBlank(page[index]) { index += 1 }
        guard valueStart < index else {
            throw ParseError(.missingValue, line: line.number, column: valueStart - line.start + 1)
        }
        guard let value = NumberParsing.parseDouble(page.base, valueStart, index) else {
            throw ParseError(.invalidValue, line: line.number, column: valueStart - line.start + 1)
        }
        while index < end && ByteClass.isBlank(page[index]) { index += 1 }
        guard index < end else { return (value, nil) }
        if page[index] == UInt8(ascii: "#") { return (value, nil) }
        let timestampStart = index
        while index < end && !ByteClass.isBlank(page[index]) { index += 1 }
        guard let timestamp = NumberParsing.parseTimestamp(page.base, timestampStart, index) else {
            throw ParseError(.invalidTimestamp, line: line.number, column: timestampStart - line.start + 1)
        }
        while index < end && ByteClass.isBlank(page[index]) { index += 1 }
        if index < end && page[index] != UInt8(ascii: "#") {
            throw ParseError(.unexpectedContent, line: line.number, column: index - line.start + 1)
        }
        return (value, timestamp)
    }

    // MARK: Comments

    private func parseComment(_ line: ExpositionLine, from start: Int) throws(ParseError) -> Entry {
        let end = line.end
        var index = start
        while index < end && ByteClass.isBlank(page[index]) { index += 1 }
        // Keywords count only when separated from `#` by a blank, as in `# HELP`.
        guard index > start else { return .comment(start..<end) }
        let keywordStart = index
        while index < end && !ByteClass.isBlank(page[index]) { index += 1 }
        let keyword = keywordStart..<index

        if page.equals(keyword, "EOF") {
            while index < end && ByteClass.isBlank(page[index]) { index += 1 }
            guard index == end else { return .comment(start..<end) }
            return .eof
        }
        let reason: ParseError.Reason
        if page.equals(keyword, "HELP") {
            reason = .invalidHelpLine
        } else if page.equals(keyword, "TYPE") {
            reason = .invalidTypeLine
        } else if page.equals(keyword, "UNIT") {
            reason = .invalidUnitLine
        } else {
            return .comment(start..<end)
        }
        func fail(_ at: Int) -> ParseError { ParseError(reason, line: line.number, column: at - line.start + 1) }

        guard index < end else { throw fail(index) }
        while index < end && ByteClass.isBlank(page[index]) { index += 1 }
        let metricStart = index
        guard index < end && ByteClass.isMetricNameStart(page[index]) else { throw fail(index) }
        while index < end && ByteClass.isMetricNameContinuation(page[index]) { index += 1 }
        let metric = metricStart..<index
        guard index == end || ByteClass.isBlank(page[index]) else { throw fail(index) }
        // One blank separates the name from the rest; the rest is kept as written.
        let restStart = min(index + 1, end)

        switch reason {
        case .invalidHelpLine:
            return .help(metric: metric, text: restStart..<end)
        case .invalidUnitLine:
            var unitStart = restStart
            while unitStart < end && ByteClass.isBlank(page[unitStart]) { unitStart += 1 }
            var unitEnd = end
            while unitEnd > unitStart && ByteClass.isBlank(page[unitEnd - 1]) { unitEnd -= 1 }
            return .unit(metric: metric, unit: unitStart..<unitEnd)
        default:
            while index < end && ByteClass.isBlank(page[index]) { index += 1 }
            let typeStart = index
            while index < end && !ByteClass.isBlank(page[index]) { index += 1 }
            let typeRange = typeStart..<index
            while index < end && ByteClass.isBlank(page[index]) { index += 1 }
            guard index == end, let type = MetricType(rawValue: page.string(typeRange)) else { throw fail(typeStart) }
            return .type(metric: metric, type: type)
        }
    }
}

/// The label names of one sample so far, for the duplicate check. The first 32 are kept inline
/// (offset and length packed in one word) so the check allocates nothing; a sample with more
/// labels is checked by rescanning its label set.
private struct LabelNames {
    private static let capacity = 32
    private var names: InlineArray<32, UInt64>
    private var count = 0

    @inline(__always)
    init() {
        // Only the first `count` entries are ever read.
        names = InlineArray(repeating: 0)
    }

    @inline(__always)
    mutating func add(_ name: Range<Int>) {
        if count < Self.capacity {
            names[count] = UInt64(truncatingIfNeeded: name.lowerBound) << 16 | UInt64(truncatingIfNeeded: name.count)
        }
        count += 1
    }

    /// Whether `name` was added before. `span` is the label set up to `name`, for the rescan.
    @inline(__always)
    func contains(_ name: Range<Int>, in page: PageView, span: Range<Int>) -> Bool {
        guard count <= Self.capacity, name.count < 1 << 16 else {
            var labels = LabelIterator(page: page, labels: span)
            while let label = labels.next() {
                if page.equals(label.name, name) { return true }
            }
            return false
        }
        let length = UInt64(truncatingIfNeeded: name.count)
        for index in 0..<count {
            let packed = names[index]
            guard packed & 0xFFFF == length else { continue }
            let start = Int(truncatingIfNeeded: packed >> 16)
            if page.equals(start..<start + name.count, name) { return true }
        }
        return false
    }
}
