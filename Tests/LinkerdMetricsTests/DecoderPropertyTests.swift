import AgentTestSupport
import FathomModel
import LinkerdMetrics
import ProxySimulation
import Testing

/// The fast path (known series, value-only parse) must give exactly what a fresh decoder's full
/// parse gives, on every damaged variant of every real page.
@Suite struct DecoderPropertyTests {
    @Test func warmDecoderAgreesWithFreshDecoderOnDamagedPages() async throws {
        var random = SeededRandom(seed: 0xFA7_0003)
        let pages = try Fixtures.pageNames().map { try Fixtures.bytes($0) }
        var disagreements = 0
        var damagedWithBadLines = 0
        for round in 0..<3_000 {
            // Long synchronous loops would starve the other suites' async tasks.
            if round % 50 == 0 { await Task.yield() }
            let original = pages[round % pages.count]
            var warm = ProxyPageDecoder()
            _ = try warm.decode(original)
            let damaged = PageDamage.mutate(original, &random)
            let fast = try warm.decode(damaged)
            var fresh = ProxyPageDecoder()
            let slow = try fresh.decode(damaged)
            if fast.totals() != slow.totals() || fast.stats.badLines != slow.stats.badLines
                || fast.stats.samples != slow.stats.samples || fast.processStartTime != slow.processStartTime
            {
                disagreements += 1
            }
            if slow.stats.badLines > 0 { damagedWithBadLines += 1 }
        }
        #expect(disagreements == 0)
        #expect(damagedWithBadLines > 500)
    }
}
