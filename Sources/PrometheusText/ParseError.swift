/// Why a line of an exposition page could not be read, with where it happened.
///
/// `line` and `column` are 1-based; `column` counts bytes from the start of the line, so an
/// editor showing the raw page points at the offending byte.
public struct ParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A bounded set of reasons, suitable as a metric label value.
    public enum Reason: String, Sendable, CaseIterable {
        case invalidMetricName = "invalid_metric_name"
        case invalidLabelName = "invalid_label_name"
        case duplicateLabelName = "duplicate_label_name"
        case expectedEquals = "expected_equals"
        case expectedQuote = "expected_quote"
        case unterminatedLabelValue = "unterminated_label_value"
        case expectedCommaOrBrace = "expected_comma_or_brace"
        case missingValue = "missing_value"
        case invalidValue = "invalid_value"
        case invalidTimestamp = "invalid_timestamp"
        case unexpectedContent = "unexpected_content"
        case invalidTypeLine = "invalid_type_line"
        case invalidHelpLine = "invalid_help_line"
        case invalidUnitLine = "invalid_unit_line"
        case contentAfterEOF = "content_after_eof"
        /// The page ended in the middle of a line: it was cut short in transit.
        case truncated = "truncated"
        /// A series the page already had (a decoder's check: Prometheus keeps the first sample of
        /// a series in a scrape and rejects the others).
        case duplicateSeries = "duplicate_series"
        /// A counter or bucket of NaN or ±Inf (a decoder's check: such a value cannot be counted).
        case nonFiniteValue = "non_finite_value"
        /// A route series whose target, route or peer is longer than a decoder keeps (its check:
        /// such a string would be carried into every batch).
        case labelTooLong = "label_too_long"
    }

    public var reason: Reason
    public var line: Int
    public var column: Int

    public init(_ reason: Reason, line: Int, column: Int) {
        self.reason = reason
        self.line = line
        self.column = column
    }

    public var description: String {
        "\(reason.rawValue) at line \(line), column \(column)"
    }
}
