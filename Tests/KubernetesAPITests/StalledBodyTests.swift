import AgentTestSupport
import HTTPServing
import KubernetesAPI
import KubernetesModels
import Testing
import TransportErrors

/// A LIST whose answer stops half way (a proxy in front of the API server stalls): the request's
/// time limit covers the body too, so the reflector retries instead of waiting for ever.
@Suite struct StalledBodyTests {
    @Test func aListBodyThatStallsFailsAtTheRequestsTimeout() async throws {
        let server = try await SimpleHTTPServer.start { _ in
            .stream(status: 200, headers: [("Content-Type", "application/json"), ("Content-Length", "4096")]) {
                stream in
                stream.write(Array(#"{"kind":"PodList","metadata":{"resourceVersion":"1"},"items":["#.utf8))
            }
        }
        let client = try KubernetesClient(connection: ClusterConnection(server: "http://127.0.0.1:\(server.port)"))
        let started = ContinuousClock.now
        do {
            _ = try await client.list(Pod.self, timeout: .seconds(2))
            Issue.record("a body that never ends must fail the list")
        } catch let error as KubernetesAPIError {
            #expect(error.reason == "transport", "\(error)")
            #expect(error == .transport(.timeout, "the response's body was not complete within 2 s"), "\(error)")
        }
        #expect(ContinuousClock.now - started < .seconds(30))
        try await client.shutdown()
        try await server.shutdown()
    }

    @Test func aRefusedConnectionIsATransportFailureOfThatKind() async throws {
        // A port nothing listens on: bind one, then close it.
        let server = try await SimpleHTTPServer.start { _ in .reply(status: 200, headers: [], body: []) }
        let port = server.port
        try await server.shutdown()
        let client = try KubernetesClient(connection: ClusterConnection(server: "http://127.0.0.1:\(port)"))
        do {
            _ = try await client.list(Pod.self, timeout: .seconds(5))
            Issue.record("nothing listens there")
        } catch let error as KubernetesAPIError {
            guard case .transport(let failure, _) = error else {
                Issue.record("\(error)")
                try await client.shutdown()
                return
            }
            #expect(failure == .refused, "\(error)")
            #expect("\(error)".hasPrefix("transport (refused): list pods"), "\(error)")
        }
        try await client.shutdown()
    }
}
