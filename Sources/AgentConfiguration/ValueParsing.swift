#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Parsers for the written forms of durations, sizes and addresses.
enum ValueParsing {
    /// Whether `text` is an IPv4 or IPv6 address literal (what a listening socket binds to).
    static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    /// `1h30m`, `10s`, `500ms`, `2.5s`, or a bare number of seconds.
    static func duration(_ text: String) -> Double? {
        if let seconds = Double(text) { return seconds }
        var total = 0.0
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            switch unit {
            case "ms": total += value / 1_000
            case "s": total += value
            case "m": total += value * 60
            case "h": total += value * 3_600
            default: return nil
            }
        }
        return total
    }

    /// `64Mi`, `1Gi`, `512Ki`, `500k`, `10M`, `1G`, or a bare number of bytes.
    static func bytes(_ text: String) -> Int? {
        if let bytes = Int(text) { return bytes }
        let units: [(String, Double)] = [
            ("Ki", 1_024), ("Mi", 1_048_576), ("Gi", 1_073_741_824), ("k", 1_000), ("M", 1_000_000),
            ("G", 1_000_000_000),
        ]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value >= 0 else { return nil }
            let bytes = value * factor
            return bytes < Double(Int.max) ? Int(bytes) : nil
        }
        return nil
    }

    /// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
    static func suggestion(for word: String, among candidates: [String]) -> String? {
        let scored = candidates.map { ($0, distance(word.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, word.count / 4) else { return nil }
        return best.0
    }

    /// Levenshtein distance.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
