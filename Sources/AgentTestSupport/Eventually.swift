/// Polls `condition` every 10 ms until it holds or `seconds` pass, and returns the last answer:
/// tests wait on a condition with a deadline, never on a fixed sleep. The default deadline is
/// roomy: a condition that holds returns at once, and with the whole suite starting beside
/// `stress-ng --cpu 2` a test's tasks can wait more than 10 s for a thread.
public func eventually(within seconds: Double = 30, _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}
