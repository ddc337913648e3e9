/// One `name="value"` pair of a sample, as offsets into the page.
public struct Label: Sendable, Equatable {
    /// The label name.
    public var name: Range<Int>
    /// The raw value between the quotes, escapes not yet resolved.
    public var value: Range<Int>
    /// Whether the raw value contains a backslash escape (see `PageView.labelValue`).
    public var hasEscapes: Bool
}

/// Walks the labels of a sample whose label set the parser has already validated.
public struct LabelIterator: IteratorProtocol, Sequence {
    private let page: PageView
    private var position: Int
    private let end: Int

    /// - Parameter labels: `Sample.labels` of a sample returned by `ExpositionParser`.
    public init(page: PageView, labels: Range<Int>) {
        self.page = page
        self.position = labels.lowerBound
        self.end = labels.upperBound
    }

    public mutating func next() -> Label? {
        skipBlanksAndComma()
        guard position < end else { return nil }
        let nameStart = position
        while position < end && ByteClass.isLabelNameContinuation(page[position]) { position += 1 }
        let nameEnd = position
        // Skip to the opening quote (past blanks and `=`).
        while position < end && page[position] != UInt8(ascii: "\"") { position += 1 }
        position += 1
        let valueStart = position
        var hasEscapes = false
        while position < end {
            let byte = page[position]
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") {
                hasEscapes = true
                position += 2
            } else {
                position += 1
            }
        }
        let valueEnd = Swift.min(position, end)
        position += 1
        return Label(name: nameStart..<nameEnd, value: valueStart..<valueEnd, hasEscapes: hasEscapes)
    }

    private mutating func skipBlanksAndComma() {
        while position < end {
            let byte = page[position]
            guard ByteClass.isBlank(byte) || byte == UInt8(ascii: ",") else { return }
            position += 1
        }
    }
}
