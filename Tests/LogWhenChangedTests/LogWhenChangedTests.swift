import LogWhenChanged
import Testing

@Suite struct LogWhenChangedTests {
    @Test func aStateIsReportedWhenItStartsChangesAndEndsOnly() {
        var failing = LoggedState<String?>(nil)
        let seen = [nil, "timeout", "timeout", "refused", "refused", nil, nil, "timeout"].map { failing.record($0) }
        #expect(seen.map { $0 != nil } == [false, true, false, true, false, true, false, true])
        #expect(seen[3]?.from == "timeout" && seen[3]?.to == "refused")
        #expect(seen[5]?.from == "refused" && seen[5]?.to == nil)
        #expect(failing.value == "timeout")
    }

    @Test func aRunIsReportedFirstThenEveryNthAndItsLengthAtTheEnd() {
        var outage = LoggedRun(every: 20)
        #expect(outage.end() == 0, "no run under way: nothing to log")
        let logged = (1...45).filter { _ in outage.occurred() }
        #expect(logged.count == 3)
        #expect(outage.length == 45)
        #expect(outage.end() == 45)
        #expect(outage.length == 0)
        let first = outage.occurred()
        #expect(first, "a new run's first occurrence is logged")
    }
}
