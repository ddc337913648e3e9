import ProxySimulation

/// Random damage to a page, as a flaky network or a buggy exporter would do it: flipped and
/// inserted bytes (quotes, backslashes, braces, line breaks, NUL, invalid UTF-8), deleted
/// stretches, truncation and duplicated stretches.
public enum PageDamage {
    static let damage: [UInt8] = Array("\"\\{}=, #\n\r\t0aé".utf8) + [0, 0xFF]

    /// `bytes` with one to four random mutations.
    public static func mutate(_ bytes: [UInt8], _ random: inout SeededRandom) -> [UInt8] {
        var bytes = bytes
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            guard !bytes.isEmpty else {
                bytes = [damage.randomElement(using: &random)!]
                continue
            }
            let index = Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<6, using: &random) {
            case 0: bytes[index] = damage.randomElement(using: &random)!
            case 1: bytes.insert(damage.randomElement(using: &random)!, at: index)
            case 2: bytes.removeSubrange(index..<min(bytes.count, index + Int.random(in: 1...40, using: &random)))
            case 3: bytes.removeSubrange(index...)
            case 4: bytes[index] = UInt8.random(in: 0...255, using: &random)
            default:
                let end = min(bytes.count, index + Int.random(in: 1...80, using: &random))
                bytes.insert(contentsOf: bytes[index..<end], at: Int.random(in: 0...bytes.count, using: &random))
            }
        }
        return bytes
    }
}
