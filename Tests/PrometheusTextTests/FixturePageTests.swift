import AgentTestSupport
import PrometheusText
import Testing

/// Every real linkerd-proxy page parses without a single bad line, with the sample counts that
/// SOURCES.md gives (counted there as non-comment, non-blank lines).
@Suite struct FixturePageTests {
    static let expectedSampleCounts: [String: Int] = [
        "datadog_integrations-core_linkerd_v2_linkerd-2.3-era_controller-pod.txt": 1328,
        "linkerd2_prommatch_sampleMetrics.txt": 199,
        "linkerd2_obfuscate-diagnostics-proxy-metrics.input.txt": 4,
        "linkerd2_obfuscate-diagnostics-proxy-metrics.golden.txt": 4,
        "linkerd2-proxy_pr4300_outbound_route_metrics_main_v2.329.txt": 19,
        "linkerd2-proxy_pr4300_outbound_route_metrics_patched.txt": 19,
        "linkerd2-proxy_pr3856_request_statuses_proxy-v2.288.0_bug.txt": 3,
        "linkerd2-proxy_pr3856_request_statuses_before_v2.288.0.txt": 3,
        "linkerd2-proxy_pr187_legacy_tls_disabled_2019.txt": 6,
        "linkerd2-proxy_pr600_proxy_build_info_2020.txt": 1,
        "linkerd2-proxy_rustls_info_2025.txt": 1,
        "sma_2-17-features_egress_route_request_statuses.txt": 12,
        "sma_2-15_hazl_request_total_and_balancer_examples.txt": 2,
        "playground-lab_05_response_total_app_503.txt": 3,
        "playground-lab_04_failfast_balancer_endpoints.txt": 3,
    ]

    @Test func everyFixtureIsCovered() throws {
        #expect(Set(try Fixtures.pageNames()) == Set(Self.expectedSampleCounts.keys))
    }

    @Test(arguments: expectedSampleCounts.keys.sorted())
    func fixtureParsesCompletely(name: String) throws {
        let page = try ParsedPage.parse(try Fixtures.bytes(name), policy: .rejectPage)
        #expect(page.samples.count == Self.expectedSampleCounts[name])
        #expect(page.errors.isEmpty)
    }

    @Test func datadogPageValues() throws {
        let page = try ParsedPage.parse(
            try Fixtures.bytes("datadog_integrations-core_linkerd_v2_linkerd-2.3-era_controller-pod.txt"))
        let first = try #require(page.samples.first)
        #expect(first.name == "request_total")
        #expect(
            first.labels == [
                .init("direction", "inbound"), .init("tls", "no_identity"),
                .init("no_tls_reason", "not_provided_by_remote"),
            ])
        #expect(first.value == 852)
        // Families declared with HELP/TYPE and no samples still register their type.
        #expect(page.types["route_retry_skipped_total"] == .counter)
        #expect(page.types["response_latency_ms"] == .histogram)
        #expect(page.help["request_total"] == "Total count of HTTP requests.")
        // 44 histograms with 26 buckets each.
        #expect(page.samples.filter { $0.name.hasSuffix("_bucket") }.count == 44 * 26)
        let infinite = page.samples.filter { $0.label("le") == "+Inf" }
        #expect(infinite.count == 44)
    }

    @Test func modernOpenMetricsBlock() throws {
        let page = try ParsedPage.parse(
            try Fixtures.bytes("linkerd2-proxy_pr4300_outbound_route_metrics_main_v2.329.txt"))
        let sum = try #require(page.samples.first { $0.name == "outbound_http_route_request_duration_seconds_sum" })
        #expect(sum.value == 0.5594713199999999)
        #expect(sum.label("parent_name") == "simple-app-v1")
        #expect(sum.label("hostname") == "")
        let buckets = page.samples.filter { $0.name == "outbound_http_route_request_duration_seconds_bucket" }
        // `le` comes first and is written as a float.
        #expect(buckets.map { $0.labels.first?.name } == Array(repeating: "le", count: 5))
        #expect(buckets.map { $0.label("le") } == ["0.05", "0.5", "1.0", "10.0", "+Inf"])
        #expect(page.units["outbound_http_route_request_duration_seconds"] == "seconds")
        // Counters are declared without `_total` in the OpenMetrics block.
        #expect(page.types["outbound_http_route_request_statuses"] == .counter)
        #expect(page.help["outbound_http_route_request_statuses"] == "Completed request-response streams.")
    }

    @Test func trailingCommaAndCommasInValues() throws {
        let build = try ParsedPage.parse(try Fixtures.bytes("linkerd2-proxy_pr600_proxy_build_info_2020.txt"))
        #expect(build.samples.first?.label("rust_version") == "rustc 1.44.1 (c7087fe00 2020-06-17)")
        #expect(build.samples.first?.labels.count == 3)
        let rustls = try ParsedPage.parse(try Fixtures.bytes("linkerd2-proxy_rustls_info_2025.txt"))
        #expect(
            rustls.samples.first?.label("tls_suites")
                == "TLS13_AES_128_GCM_SHA256,TLS13_AES_256_GCM_SHA384,TLS13_CHACHA20_POLY1305_SHA256,")
        #expect(rustls.samples.first?.label("tls_fips") == "false")
    }
}
