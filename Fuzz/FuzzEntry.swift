// libFuzzer entry point for the page parser and the Linkerd decoder. Built by scripts/fuzz.sh,
// which compiles this file together with the PrometheusText, FathomModel and LinkerdMetrics
// sources into one module with -sanitize=fuzzer,address.
//
// For every input it checks more than "no crash":
// - the parser terminates and every error names a line and column inside the input;
// - a decoder that has seen the input before (fast path) agrees with a fresh one (full parse).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let lineCount = bytes.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }

    bytes.withUnsafeBytes { buffer in
        var parser = ExpositionParser(buffer)
        var entries = 0
        while true {
            do throws(ParseError) {
                guard try parser.next() != nil else { break }
                entries += 1
            } catch {
                precondition(error.line >= 1 && error.line <= lineCount, "error line outside the input")
                precondition(error.column >= 1, "error column before the line")
            }
            precondition(entries <= size, "more entries than bytes")
        }
    }

    var warm = ProxyPageDecoder()
    _ = try? warm.decode(bytes)
    var fresh = ProxyPageDecoder()
    guard let fast = try? warm.decode(bytes), let slow = try? fresh.decode(bytes) else { return 0 }
    precondition(fast.stats.samples == slow.stats.samples, "fast and full paths count different samples")
    precondition(fast.stats.badLines == slow.stats.badLines, "fast and full paths disagree on bad lines")
    precondition(fast.routes.count >= slow.routes.count, "fast path lost a route")
    precondition(totals(fast) == totals(slow), "fast and full paths read different series or values")
    return 0
}

private struct SeriesKey: Hashable {
    var route: RouteIdentity
    var role: SeriesRole
}

/// Values summed per route and role; NaN sums compare equal to each other.
private func totals(_ snapshot: ProxySnapshot) -> [SeriesKey: Double] {
    var result: [SeriesKey: Double] = [:]
    for (index, descriptor) in snapshot.series.enumerated() where !snapshot.values[index].isNaN {
        let key = SeriesKey(route: snapshot.routes[Int(descriptor.route)], role: snapshot.role(of: descriptor))
        result[key, default: 0] += snapshot.values[index]
    }
    return result.mapValues { $0.isNaN ? -0.0 : $0 }
}
