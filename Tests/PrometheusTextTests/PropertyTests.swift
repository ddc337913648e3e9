import AgentTestSupport
import PrometheusText
import ProxySimulation
import Testing

/// Random pages from a model, written out, must parse back to the model; random damage to real
/// and random pages must never crash, hang, or report a position outside the page.
@Suite struct PropertyTests {
    /// One random sample and how it is written.
    struct ModelSample {
        var name: String
        var labels: [LabelPair]
        var value: Double
        var timestamp: Int64?
    }

    static let nameAlphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:0123456789")
    static let valueAlphabet = Array("abc XYZ 019 {}[],=/.:;-_é€😀\t") + ["\"", "\\", "\n"]

    static func name(_ random: inout SeededRandom, colons: Bool) -> String {
        let first = nameAlphabet[Int.random(in: 0..<(colons ? 53 : 52), using: &random)]
        let rest = (0..<Int.random(in: 0..<12, using: &random)).map { _ in
            var character = nameAlphabet.randomElement(using: &random)!
            if !colons && character == ":" { character = "_" }
            return character
        }
        return String([first] + rest)
    }

    static func escaped(_ value: String) -> String {
        var text = ""
        for character in value {
            switch character {
            case "\\": text += "\\\\"
            case "\"": text += "\\\""
            case "\n": text += "\\n"
            default: text.append(character)
            }
        }
        return text
    }

    static func randomValue(_ random: inout SeededRandom) -> (Double, String) {
        switch Int.random(in: 0..<8, using: &random) {
        case 0: return (.nan, "NaN")
        case 1: return (.infinity, "+Inf")
        case 2: return (-.infinity, "-Inf")
        case 3:
            let value = Double(Int.random(in: 0..<1_000_000_000, using: &random))
            return (value, String(Int(value)))
        case 4:
            let mantissa = Int.random(in: -99999...99999, using: &random)
            let exponent = Int.random(in: -30...30, using: &random)
            let text = "\(mantissa)e\(exponent)"
            return (Double(text)!, text)
        default:
            let value = Double.random(in: -1e6...1e6, using: &random)
            return (value, "\(value)")
        }
    }

    static func randomPage(_ random: inout SeededRandom) -> (text: String, samples: [ModelSample]) {
        var text = ""
        var samples: [ModelSample] = []
        let newline = random.chance(0.2) ? "\r\n" : "\n"
        for _ in 0..<Int.random(in: 0..<40, using: &random) {
            switch Int.random(in: 0..<10, using: &random) {
            case 0:
                text += "# HELP \(name(&random, colons: true)) some help \\\\ text\(newline)"
            case 1:
                text +=
                    "# TYPE \(name(&random, colons: true)) \(MetricType.allCases.randomElement(using: &random)!)\(newline)"
            case 2:
                text += random.chance(0.5) ? newline : "# just a comment {\"\(newline)"
            default:
                let metric = name(&random, colons: true)
                var labels: [LabelPair] = []
                var used = Set<String>()
                for _ in 0..<Int.random(in: 0..<6, using: &random) {
                    let label = name(&random, colons: false)
                    guard used.insert(label).inserted else { continue }
                    let value = String(
                        (0..<Int.random(in: 0..<10, using: &random)).map { _ in
                            valueAlphabet.randomElement(using: &random)!
                        })
                    labels.append(LabelPair(label, value))
                }
                let (value, valueText) = randomValue(&random)
                let timestamp: Int64? =
                    random.chance(0.2) ? Int64.random(in: -1...2_000_000_000_000, using: &random) : nil
                var line = metric
                if !labels.isEmpty || random.chance(0.2) {
                    let body = labels.map { "\($0.name)=\"\(escaped($0.value))\"" }.joined(separator: ",")
                    line += "{" + body + (random.chance(0.2) && !labels.isEmpty ? "," : "") + "}"
                }
                line += " " + valueText
                if let timestamp { line += " \(timestamp)" }
                text += line + newline
                samples.append(ModelSample(name: metric, labels: labels, value: value, timestamp: timestamp))
            }
        }
        return (text, samples)
    }

    @Test func randomValidPagesRoundTrip() async throws {
        var random = SeededRandom(seed: 0xFA7_0001)
        for round in 0..<3_000 {
            // Long synchronous loops would starve the other suites' async tasks.
            if round % 50 == 0 { await Task.yield() }
            let (text, model) = Self.randomPage(&random)
            let page = try ParsedPage.parse(text, policy: .rejectPage)
            try #require(page.samples.count == model.count, "\(text.debugDescription)")
            for (parsed, expected) in zip(page.samples, model) {
                #expect(parsed.name == expected.name)
                #expect(parsed.labels == expected.labels)
                #expect(parsed.value == expected.value || parsed.value.isNaN && expected.value.isNaN)
                #expect(parsed.timestamp == expected.timestamp)
            }
        }
    }

    @Test func damagedPagesNeverCrashAndReportPositionsInside() async throws {
        var random = SeededRandom(seed: 0xFA7_0002)
        var sources = try Fixtures.pageNames().map { try Fixtures.bytes($0) }
        for _ in 0..<50 { sources.append(Array(Self.randomPage(&random).text.utf8)) }
        var errorsSeen = 0
        for round in 0..<4_000 {
            if round % 50 == 0 { await Task.yield() }
            let source = sources[round % sources.count]
            let bytes = PageDamage.mutate(source, &random)
            let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
            let page = try ParsedPage.parse(bytes, policy: .skipLine)
            errorsSeen += page.errors.count
            #expect(page.samples.count + page.errors.count <= lines.count)
            for error in page.errors {
                #expect(error.line >= 1 && error.line <= lines.count)
                let length = lines[error.line - 1].count
                #expect(error.column >= 1 && error.column <= length + 1, "\(error)")
            }
            // Rejecting stops at the first error that skipping reports.
            do {
                _ = try ParsedPage.parse(bytes, policy: .rejectPage)
                #expect(page.errors.isEmpty)
            } catch {
                #expect(page.errors.first == error)
            }
        }
        // The damage must actually produce bad lines for this test to mean anything.
        #expect(errorsSeen > 1_000)
    }
}
