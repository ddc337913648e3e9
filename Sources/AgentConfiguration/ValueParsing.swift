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

    /// Why `text` is not a usable collector URL, or nil when it is: `http` or `https`, a host
    /// name, an IPv4 address or a bracketed IPv6 one, an optional port in 1...65535, a path and
    /// query, no fragment, no spaces, and no `user:password@` (credentials go in the token
    /// file, and a URL is logged). The message never repeats a password.
    static func endpointProblem(_ text: String) -> String? {
        let lowered = text.lowercased()
        let scheme = ["https://", "http://"].first { lowered.hasPrefix($0) }
        guard let scheme else { return "must be an http:// or https:// URL, got \"\(text)\"" }
        let rest = text.dropFirst(scheme.count)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if authority.contains("@") {
            return "must not carry credentials (user:password@): put the API token in the file report.tokenFile names"
        }
        guard !text.contains(where: \.isWhitespace) else { return "must not contain spaces, got \"\(text)\"" }
        guard !text.contains("#") else { return "must not have a #fragment, got \"\(text)\"" }
        let host: Substring
        let port: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                return "has an IPv6 address without its closing ], got \"\(text)\""
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            var v6 = in6_addr()
            guard inet_pton(AF_INET6, String(host), &v6) == 1 else {
                return "has \"\(host)\" in brackets, which is no IPv6 address"
            }
            let after = authority[authority.index(after: close)...]
            guard after.isEmpty || after.hasPrefix(":") else { return "has text after its IPv6 address: \"\(after)\"" }
            port = after.isEmpty ? nil : after.dropFirst()
        } else {
            let parts = authority.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            host = parts[0]
            port = parts.count > 1 ? parts[1] : nil
            let allowed = host.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }
            guard !host.isEmpty, allowed, !host.hasPrefix("."), !host.hasPrefix("-") else {
                return "has no valid host name, got \"\(text)\""
            }
        }
        if let port {
            guard let number = Int(port), port.allSatisfy(\.isASCII), (1...65_535).contains(number) else {
                return "has port \"\(port)\"; a port is a number from 1 to 65535"
            }
        }
        return nil
    }

    /// `1h30m`, `10s`, `500ms`, `2.5s`, `60d` (days, as Prometheus writes them), or a bare number
    /// of seconds.
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
            case "d": total += value * 86_400
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
