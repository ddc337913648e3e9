import ReportWindows
import Testing

/// When the window clock closes the next window: on the beat, and once for a pause that missed
/// several beats.
@Suite struct WindowScheduleTests {
    @Test func onTimeTheNextCloseIsOneIntervalLater() {
        #expect(WindowSchedule.nextClose(after: 100, interval: 10, now: 100.2) == 110)
        // Late by less than an interval: the beat is kept, the next window is a little shorter.
        #expect(WindowSchedule.nextClose(after: 100, interval: 10, now: 109.9) == 110)
    }

    @Test func aPausePastSeveralClosesSkipsThemAndKeepsTheBeat() {
        // Resumed at 137 after a close due at 100: the closes due at 110, 120 and 130 were missed,
        // and the window that closed on resuming spans all of them.
        #expect(WindowSchedule.nextClose(after: 100, interval: 10, now: 137) == 140)
        // Exactly on a missed beat: that beat is the close just made.
        #expect(WindowSchedule.nextClose(after: 100, interval: 10, now: 110) == 120)
        #expect(WindowSchedule.nextClose(after: 100, interval: 10, now: 130) == 140)
    }
}
