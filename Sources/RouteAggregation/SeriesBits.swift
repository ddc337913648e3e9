/// One bit per series index, all clear until set: which of a proxy's series were absent from its
/// last page. 3,000 series take 47 words.
struct SeriesBits: Sendable {
    private var words: [UInt64] = []

    init() {}

    @inline(__always)
    subscript(index: Int) -> Bool {
        get {
            let word = index >> 6
            return word < words.count && words[word] & (1 << UInt64(index & 63)) != 0
        }
        set {
            let word = index >> 6
            if word >= words.count {
                guard newValue else { return }
                words.append(contentsOf: repeatElement(0, count: word + 1 - words.count))
            }
            if newValue {
                words[word] |= 1 << UInt64(index & 63)
            } else {
                words[word] &= ~(1 << UInt64(index & 63))
            }
        }
    }
}
