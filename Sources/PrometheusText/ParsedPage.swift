/// What to do with a line that does not parse.
public enum BadLinePolicy: Sendable {
    /// Stop and throw the first error.
    case rejectPage
    /// Record the error, drop the line and go on.
    case skipLine
}

/// A sample copied out of a page into owned values.
public struct ParsedSample: Sendable, Equatable {
    public var name: String
    public var labels: [LabelPair]
    public var value: Double
    public var timestamp: Int64?

    public init(name: String, labels: [LabelPair], value: Double, timestamp: Int64? = nil) {
        self.name = name
        self.labels = labels
        self.value = value
        self.timestamp = timestamp
    }

    /// The value of label `name`, escapes resolved.
    public func label(_ name: String) -> String? {
        labels.first { $0.name == name }?.value
    }

    public static func == (lhs: ParsedSample, rhs: ParsedSample) -> Bool {
        lhs.name == rhs.name && lhs.labels == rhs.labels && lhs.timestamp == rhs.timestamp
            && (lhs.value == rhs.value || lhs.value.isNaN && rhs.value.isNaN)
    }
}

/// A label name and its unescaped value.
public struct LabelPair: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// A whole page parsed into owned values.
///
/// This allocates per sample and is meant for tools, tests and debugging; the agent's hot path
/// drives `ExpositionParser` directly.
public struct ParsedPage: Sendable {
    public var samples: [ParsedSample] = []
    public var help: [String: String] = [:]
    public var types: [String: MetricType] = [:]
    public var units: [String: String] = [:]
    /// Lines dropped under `.skipLine`, in page order.
    public var errors: [ParseError] = []
    public var sawEOF = false

    public init() {}

    /// Parses `bytes` completely.
    public static func parse(_ bytes: [UInt8], policy: BadLinePolicy = .rejectPage) throws(ParseError) -> ParsedPage {
        let result = bytes.withUnsafeBytes { buffer -> Result<ParsedPage, ParseError> in
            var page = ParsedPage()
            var parser = ExpositionParser(buffer)
            let view = parser.page
            while true {
                let entry: Entry?
                do throws(ParseError) {
                    entry = try parser.next()
                } catch {
                    if policy == .rejectPage { return .failure(error) }
                    page.errors.append(error)
                    continue
                }
                guard let entry else { break }
                switch entry {
                case .sample(let sample):
                    var labels: [LabelPair] = []
                    for label in LabelIterator(page: view, labels: sample.labels) {
                        labels.append(LabelPair(view.string(label.name), view.labelValue(label)))
                    }
                    page.samples.append(
                        ParsedSample(
                            name: view.string(sample.name), labels: labels, value: sample.value,
                            timestamp: sample.timestamp))
                case .help(let metric, let text):
                    page.help[view.string(metric)] = view.helpText(text)
                case .type(let metric, let type):
                    page.types[view.string(metric)] = type
                case .unit(let metric, let unit):
                    page.units[view.string(metric)] = view.string(unit)
                case .comment:
                    break
                case .eof:
                    page.sawEOF = true
                }
            }
            return .success(page)
        }
        return try result.get()
    }

    /// Parses a page given as text.
    public static func parse(_ text: String, policy: BadLinePolicy = .rejectPage) throws(ParseError) -> ParsedPage {
        try parse(Array(text.utf8), policy: policy)
    }
}
