import PrometheusText
import Testing

/// The grammar's corners, each as a one-line page and what it must parse to.
@Suite struct EdgeCaseTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var text: String
        var name: String
        var labels: [LabelPair]
        var value: Double
        var timestamp: Int64? = nil
        var testDescription: String { text.debugDescription }
    }

    static let cases: [Case] = [
        Case(text: "plain 1\n", name: "plain", labels: [], value: 1),
        Case(text: "with_ts 2 1700000000000\n", name: "with_ts", labels: [], value: 2, timestamp: 1_700_000_000_000),
        Case(text: "neg_ts 2 -5\n", name: "neg_ts", labels: [], value: 2, timestamp: -5),
        Case(text: "m{a=\"b\"} 3\n", name: "m", labels: [.init("a", "b")], value: 3),
        Case(text: "m{a=\"b\",} 3\n", name: "m", labels: [.init("a", "b")], value: 3),
        Case(text: "m{} 3\n", name: "m", labels: [], value: 3),
        Case(text: "m { a = \"b\" , c=\"d\" } 3\n", name: "m", labels: [.init("a", "b"), .init("c", "d")], value: 3),
        Case(text: "m{a=\"x\\\\y\"} 1\n", name: "m", labels: [.init("a", "x\\y")], value: 1),
        Case(text: "m{a=\"say \\\"hi\\\"\"} 1\n", name: "m", labels: [.init("a", "say \"hi\"")], value: 1),
        Case(text: "m{a=\"two\\nlines\"} 1\n", name: "m", labels: [.init("a", "two\nlines")], value: 1),
        Case(text: "m{a=\"keep \\t\"} 1\n", name: "m", labels: [.init("a", "keep \\t")], value: 1),
        Case(
            text: "r{rt_route=\"GET /items/{id}\",x=\"a,b=c}\"} 4\n", name: "r",
            labels: [.init("rt_route", "GET /items/{id}"), .init("x", "a,b=c}")], value: 4),
        Case(text: "m{a=\"\"} 0\n", name: "m", labels: [.init("a", "")], value: 0),
        Case(text: "m{a=\"ünï\"} 1\n", name: "m", labels: [.init("a", "ünï")], value: 1),
        Case(text: "m +Inf\n", name: "m", labels: [], value: .infinity),
        Case(text: "m -Inf\n", name: "m", labels: [], value: -.infinity),
        Case(text: "m inf\n", name: "m", labels: [], value: .infinity),
        Case(text: "m NaN\n", name: "m", labels: [], value: .nan),
        Case(text: "m 1.5e3\n", name: "m", labels: [], value: 1500),
        Case(text: "m 2E-3\n", name: "m", labels: [], value: 0.002),
        Case(text: "m -0.25\n", name: "m", labels: [], value: -0.25),
        Case(text: "m .5\n", name: "m", labels: [], value: 0.5),
        Case(text: "m 5.\n", name: "m", labels: [], value: 5),
        Case(text: "m 0.5594713199999999\n", name: "m", labels: [], value: 0.5594713199999999),
        Case(text: "m 12345678901234567890123\n", name: "m", labels: [], value: 12345678901234567890123.0),
        Case(text: "m 1e-400\n", name: "m", labels: [], value: 0),
        Case(text: "m 1.7976931348623157e308\n", name: "m", labels: [], value: .greatestFiniteMagnitude),
        Case(text: "m 0.1000000000000000055511151231257827\n", name: "m", labels: [], value: 0.1),
        Case(text: "m 3\r\n", name: "m", labels: [], value: 3),
        Case(text: "  m 3  \n", name: "m", labels: [], value: 3),
        Case(text: "m\t3\n", name: "m", labels: [], value: 3),
        Case(text: "a:b_c 3\n", name: "a:b_c", labels: [], value: 3),
        Case(
            text: "m_bucket{le=\"1.0\",a=\"b\"} 7 # {trace_id=\"abc\"} 0.5\n", name: "m_bucket",
            labels: [.init("le", "1.0"), .init("a", "b")], value: 7),
    ]

    @Test(arguments: cases)
    func parsesLine(_ example: Case) throws {
        let page = try ParsedPage.parse(example.text)
        let sample = try #require(page.samples.first)
        #expect(page.samples.count == 1)
        #expect(sample.name == example.name)
        #expect(sample.labels == example.labels)
        if example.value.isNaN {
            #expect(sample.value.isNaN)
        } else {
            #expect(sample.value == example.value)
        }
        #expect(sample.timestamp == example.timestamp)
    }

    @Test func commentsBlankLinesAndMetadataInAnyOrder() throws {
        let text = """
            #
            # POD web-1 (1 of 1)

            # TYPE a counter
            # HELP a Counts \\\\ things.\\nTwo lines.
            a_total 1

            # HELP b Bees.
            # UNIT b seconds
            # TYPE b histogram
            b_bucket{le="+Inf"} 2
            #HELP not metadata
            # EOF

            """
        let page = try ParsedPage.parse(text)
        #expect(page.samples.map(\.name) == ["a_total", "b_bucket"])
        #expect(page.types == ["a": .counter, "b": .histogram])
        #expect(page.help["a"] == "Counts \\ things.\nTwo lines.")
        #expect(page.help["b"] == "Bees.")
        #expect(page.units["b"] == "seconds")
        #expect(page.sawEOF)
    }

    @Test func emptyPageAndWhitespaceOnlyPage() throws {
        #expect(try ParsedPage.parse("").samples.isEmpty)
        #expect(try ParsedPage.parse("\n\n  \n").samples.isEmpty)
        #expect(try ParsedPage.parse("\r\n").samples.isEmpty)
    }

    @Test func helpWithoutText() throws {
        let page = try ParsedPage.parse("# HELP m\nm 1\n")
        #expect(page.help["m"] == "")
    }
}
