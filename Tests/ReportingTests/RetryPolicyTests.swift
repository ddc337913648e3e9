import ProxySimulation
import Reporting
import Testing

@Suite struct RetryPolicyTests {
    let policy = RetryPolicy()

    func decide(_ outcome: RetryPolicy.Outcome, attempt: Int = 1, failingFor: Double = 0) -> RetryPolicy.Decision {
        var random = SeededRandom(seed: 1)
        return policy.decide(outcome, attempt: attempt, failingFor: failingFor, random: &random)
    }

    @Test(arguments: [200, 201, 202, 204])
    func successIsAcknowledged(code: Int) {
        #expect(decide(.status(code, retryAfter: nil)) == .acknowledged)
    }

    @Test(arguments: [400, 404, 409, 422])
    func otherClientErrorsArePermanent(code: Int) {
        #expect(decide(.status(code, retryAfter: nil)) == .drop(reason: "rejected"))
    }

    /// A batch too large for the collector is sent again in parts, not dropped.
    @Test func payloadTooLargeSplitsTheBatch() {
        #expect(decide(.status(413, retryAfter: nil)) == .split)
    }

    /// A redirect is never followed: retried with backoff at the configured endpoint.
    @Test(arguments: [301, 302, 303, 307, 308])
    func redirectsRetryWithBackoff(code: Int) {
        guard case .retry(let delay, let reason) = decide(.status(code, retryAfter: nil), attempt: 3) else {
            Issue.record("a \(code) must be retried")
            return
        }
        #expect(reason == "redirect")
        #expect(delay >= 2 && delay <= 4)
    }

    /// Wrong credentials are mended by rotating the Secret: retried for the grace period, then
    /// dropped, counted under their own reason.
    @Test(arguments: [(401, "unauthorized"), (403, "forbidden")])
    func credentialErrorsRetryForTheGracePeriodThenDrop(code: Int, reason: String) {
        guard case .retry(_, let retryReason) = decide(.status(code, retryAfter: nil), attempt: 30, failingFor: 3_599)
        else {
            Issue.record("a \(code) within the grace period must be retried")
            return
        }
        #expect(retryReason == reason)
        #expect(decide(.status(code, retryAfter: nil), attempt: 31, failingFor: 3_600) == .drop(reason: reason))
    }

    @Test(arguments: [
        (408, "http_4xx"), (429, "throttled"), (500, "http_5xx"), (502, "http_5xx"), (503, "http_5xx"),
        (504, "http_5xx"),
    ])
    func transientStatusesRetry(code: Int, reason: String) throws {
        guard case .retry(let delay, let actual) = decide(.status(code, retryAfter: nil)) else {
            Issue.record("expected a retry")
            return
        }
        #expect(actual == reason)
        // First attempt: between half and all of the 1 s initial backoff.
        #expect(delay >= 0.5 && delay <= 1)
    }

    @Test func backoffGrowsExponentiallyAndIsCapped() {
        func delay(_ attempt: Int) -> Double {
            guard case .retry(let delay, _) = decide(.transportError(reason: "refused"), attempt: attempt) else {
                return -1
            }
            return delay
        }
        // Attempt n waits within [b/2, b] where b = min(60, 2^(n-1)).
        for (attempt, backoff) in [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (7, 60.0), (30, 60.0)] {
            #expect(delay(attempt) >= backoff / 2 && delay(attempt) <= backoff, "attempt \(attempt)")
        }
    }

    @Test func retryAfterIsHonouredAndCapped() {
        #expect(decide(.status(429, retryAfter: 30)) == .retry(delay: 30, reason: "throttled"))
        #expect(decide(.status(503, retryAfter: 86_400)) == .retry(delay: 600, reason: "http_5xx"))
        // A Retry-After shorter than the backoff does not shorten it.
        let decision = decide(.status(503, retryAfter: 0.1), attempt: 4)
        guard case .retry(let delay, _) = decision else {
            Issue.record("a 503 is retried, not \(decision)")
            return
        }
        #expect(delay >= 4)
    }

    @Test func jitterSpreadsRetries() {
        var random = SeededRandom(seed: 7)
        let delays = (0..<50).map { _ -> Double in
            guard
                case .retry(let delay, _) = policy.decide(.transportError(reason: "reset"), attempt: 4, random: &random)
            else { return 0 }
            return delay
        }
        #expect(Set(delays).count > 40)
        #expect(delays.allSatisfy { $0 >= 4 && $0 <= 8 })
    }
}

@Suite struct RetryAfterTests {
    @Test func deltaSeconds() {
        #expect(RetryAfter.seconds("120", now: 0) == 120)
        #expect(RetryAfter.seconds(" 5 ", now: 0) == 5)
        #expect(RetryAfter.seconds("-5", now: 0) == nil)
        #expect(RetryAfter.seconds("soon", now: 0) == nil)
        #expect(RetryAfter.seconds("", now: 0) == nil)
    }

    @Test func httpDate() {
        // RFC 9110's example, 784111777 seconds after the epoch.
        #expect(RetryAfter.seconds("Sun, 06 Nov 1994 08:49:37 GMT", now: 784_111_777 - 30) == 30)
        #expect(RetryAfter.seconds("Sun, 06 Nov 1994 08:49:37 GMT", now: 784_111_777 + 30) == 0)
        // 2026-11-25 00:00:00 UTC = 20782 days after the epoch (checked with Python's datetime).
        #expect(RetryAfter.seconds("Wed, 25 Nov 2026 00:00:10 GMT", now: 20_782 * 86_400) == 10)
        #expect(RetryAfter.seconds("Sun, 06 Nov 1994 08:49:37 PST", now: 0) == nil)
        #expect(RetryAfter.seconds("Sunday, 06-Nov-94 08:49:37 GMT", now: 0) == nil)
    }
}
