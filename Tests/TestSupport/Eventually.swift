/// A failure in a test's harness (a process that did not start, a tool that is missing), as
/// opposed to an assertion about the code under test.
package struct TestFailure: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// Polls `condition` every few milliseconds until it holds, up to `timeout`: a bounded wait for
/// a condition no event announces (a process's descriptors, a log line), never a fixed delay.
package func eventually(
    _ what: @autoclosure () -> String,
    timeout: Duration = .seconds(30),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return }
        if ContinuousClock.now > deadline { throw TestFailure("timed out waiting for: \(what())") }
        try await Task.sleep(for: .milliseconds(5))
    }
}
