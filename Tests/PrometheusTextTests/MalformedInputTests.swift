import PrometheusText
import Testing

/// Bad lines give a typed error with the line and the byte column, and a caller can either
/// reject the page or skip the line and keep the rest.
@Suite struct MalformedInputTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var text: String
        var reason: ParseError.Reason
        var line: Int
        var column: Int
        var testDescription: String { text.debugDescription }
    }

    static let cases: [Case] = [
        Case(text: "9m 1\n", reason: .invalidMetricName, line: 1, column: 1),
        Case(text: "m{9a=\"b\"} 1\n", reason: .invalidLabelName, line: 1, column: 3),
        Case(text: "m{a=\"b\",a=\"c\"} 1\n", reason: .duplicateLabelName, line: 1, column: 9),
        Case(text: "m{a\"b\"} 1\n", reason: .expectedEquals, line: 1, column: 4),
        Case(text: "m{a=b} 1\n", reason: .expectedQuote, line: 1, column: 5),
        Case(text: "m{a=\"b} 1\n", reason: .unterminatedLabelValue, line: 1, column: 10),
        Case(text: "m{a=\"b\\", reason: .unterminatedLabelValue, line: 1, column: 8),
        Case(text: "m{a=\"b\" c=\"d\"} 1\n", reason: .expectedCommaOrBrace, line: 1, column: 9),
        Case(text: "m{a=\"b\"\n", reason: .expectedCommaOrBrace, line: 1, column: 8),
        Case(text: "m{a=\"b\"}\n", reason: .missingValue, line: 1, column: 9),
        Case(text: "m\n", reason: .missingValue, line: 1, column: 2),
        Case(text: "m{a=\"b\"} \n", reason: .missingValue, line: 1, column: 10),
        Case(text: "m{a=\"b\"}1\n", reason: .unexpectedContent, line: 1, column: 9),
        Case(text: "m 1x\n", reason: .invalidValue, line: 1, column: 3),
        Case(text: "m 1e\n", reason: .invalidValue, line: 1, column: 3),
        Case(text: "m --1\n", reason: .invalidValue, line: 1, column: 3),
        Case(text: "m 0x10\n", reason: .invalidValue, line: 1, column: 3),
        Case(text: "m 1 12.5\n", reason: .invalidTimestamp, line: 1, column: 5),
        Case(text: "m 1 2 3\n", reason: .unexpectedContent, line: 1, column: 7),
        Case(text: "# TYPE m countr\n", reason: .invalidTypeLine, line: 1, column: 10),
        Case(text: "# TYPE m\n", reason: .invalidTypeLine, line: 1, column: 9),
        Case(text: "# TYPE 1m counter\n", reason: .invalidTypeLine, line: 1, column: 8),
        Case(text: "# HELP\n", reason: .invalidHelpLine, line: 1, column: 7),
        Case(text: "# UNIT {x} s\n", reason: .invalidUnitLine, line: 1, column: 8),
        Case(text: "ok 1\nm 2", reason: .truncated, line: 2, column: 4),
        Case(text: "ok 1\nm{a=\"b\"} 2", reason: .truncated, line: 2, column: 11),
        Case(text: "# EOF\nm 1\n", reason: .contentAfterEOF, line: 2, column: 1),
        Case(text: "ok 1\n\n\n  bad{ 1\n", reason: .invalidLabelName, line: 4, column: 8),
    ]

    @Test(arguments: cases)
    func rejectsWithPosition(_ example: Case) {
        #expect(throws: ParseError(example.reason, line: example.line, column: example.column)) {
            try ParsedPage.parse(example.text, policy: .rejectPage)
        }
    }

    @Test func skippingKeepsEveryGoodLine() throws {
        let text = "a 1\nb{x=} 2\nc 3\nd 4x\ne 5\n"
        let page = try ParsedPage.parse(text, policy: .skipLine)
        #expect(page.samples.map(\.name) == ["a", "c", "e"])
        #expect(page.errors.map(\.line) == [2, 4])
        #expect(page.errors.map(\.reason) == [.expectedQuote, .invalidValue])
    }

    @Test func truncatedPageKeepsCompleteLinesWhenSkipping() throws {
        let page = try ParsedPage.parse("a 1\nb 2\nc 12", policy: .skipLine)
        #expect(page.samples.map(\.value) == [1, 2])
        #expect(page.errors == [ParseError(.truncated, line: 3, column: 5)])
    }

    @Test func eofWithoutFinalNewlineIsComplete() throws {
        let page = try ParsedPage.parse("a 1\n# EOF")
        #expect(page.sawEOF)
        #expect(page.samples.count == 1)
    }

    @Test func errorDescriptionNamesPosition() {
        #expect(ParseError(.invalidValue, line: 3, column: 9).description == "invalid_value at line 3, column 9")
    }
}
