/// Legal proxy pages of a chosen size, for tests of size bounds and memory.
public enum LargePages {
    /// `lines` followed by comment lines (and newlines) up to exactly `bytes` bytes: a page that
    /// parses cleanly and costs its size to fetch, whatever its series.
    public static func padded(_ lines: [UInt8], to bytes: Int) -> [UInt8] {
        var page = lines
        page.reserveCapacity(bytes)
        let comment = Array(("# " + String(repeating: "x", count: 1_021) + "\n").utf8)
        while page.count + comment.count <= bytes { page += comment }
        return page + Array(repeating: 0x0A, count: max(0, bytes - page.count))
    }
}
