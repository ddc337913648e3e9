import FathomModel

extension SimulatedProxy {
    /// Whether the proxy is recent enough to append the prometheus-client block (proxy v2.215+):
    /// it has (or had) modern route traffic. A proxy whose traffic stopped keeps the block.
    var hasModernBlock: Bool {
        store.families.contains { Self.isModern($0.name) && !$0.labels.isEmpty }
            || traffic.contains {
                if case .modernRoute = $0.shape { return true }
                return false
            }
    }

    /// Whether a family is in the prometheus-client block (the route families), not the legacy
    /// one (where `outbound_http_errors_total` is, despite its prefix).
    static func isModern(_ family: String) -> Bool {
        family.hasPrefix("outbound_http_route_") || family.hasPrefix("outbound_grpc_route_")
    }

    mutating func declareFamilies() {
        store.declare(
            "response_latency_ms",
            help: "Elapsed times between a request's headers being received and its response stream completing",
            kind: .legacyHistogram, bounds: legacyBounds)
        store.declare("response_total", help: "Total count of HTTP responses.", kind: .counter)
        store.declare(
            "route_response_latency_ms",
            help: "Elapsed times between a request's headers being received and its response stream completing",
            kind: .legacyHistogram, bounds: legacyBounds)
        store.declare("route_response_total", help: "Total count of HTTP responses.", kind: .counter)
        for proto in ["http", "grpc"] {
            store.declare(
                "outbound_\(proto)_route_request_duration_seconds",
                help: "The time between request initialization and response completion.", kind: .modernHistogram,
                unit: "seconds", bounds: Self.routeBoundsSeconds)
            store.declare(
                "outbound_\(proto)_route_request_statuses_total", help: "Completed request-response streams.",
                kind: .counter)
            store.declare(
                "outbound_\(proto)_route_backend_response_duration_seconds",
                help: "The time between request completion and response completion.", kind: .modernHistogram,
                unit: "seconds", bounds: Self.backendBoundsSeconds)
            store.declare(
                "outbound_\(proto)_route_backend_response_statuses_total", help: "Completed responses.", kind: .counter)
            for (counter, help) in [
                ("requests", "Retry requests emitted."), ("successes", "Successful responses to retry requests."),
                ("limit_exceeded", "Retryable requests not sent due to retry limits."),
                ("overflow", "Retryable requests not sent due to circuit breakers."),
            ] {
                store.declare("outbound_\(proto)_route_retry_\(counter)_total", help: help, kind: .counter)
            }
        }
        store.declare(
            "inbound_http_errors_total", help: "The total number of inbound HTTP requests that could not be processed",
            kind: .counter)
        store.declare(
            "outbound_http_errors_total",
            help: "The total number of outbound HTTP requests that could not be processed",
            kind: .counter)
        store.declare("tcp_open_total", help: "Total count of opened connections", kind: .counter)
        store.declare("tcp_close_total", help: "Total count of closed connections", kind: .counter)
        store.declare("tcp_open_connections", help: "Number of currently-open connections", kind: .gauge)
        store.declare("tcp_read_bytes_total", help: "Total count of bytes read from peers", kind: .counter)
        store.declare("tcp_write_bytes_total", help: "Total count of bytes written to peers", kind: .counter)
        store.declare(
            "inbound_tcp_authz_allow_total", help: "The total number of inbound TCP connections that were authorized",
            kind: .counter)
        store.declare(
            "inbound_tcp_authz_deny_total", help: "The total number of inbound TCP connections that were denied",
            kind: .counter)
    }

    /// The proxy's `/metrics` page as it is now. With `timestampMilliseconds`, every sample
    /// carries that timestamp (Prometheus then stores the samples at that time, not its scrape's).
    public func page(timestampMilliseconds: Int64? = nil) -> String {
        var text = ""
        text.reserveCapacity(64 * 1024)
        let stamp = timestampMilliseconds.map { " \($0)" } ?? ""
        let modern = hasModernBlock
        for family in store.families where !Self.isModern(family.name) {
            render(family, into: &text, modern: false, stamp: stamp)
        }
        if modern {
            for family in store.families where Self.isModern(family.name) {
                render(family, into: &text, modern: true, stamp: stamp)
            }
        }
        text += "# HELP process_start_time_seconds Time that the process started (in seconds since the UNIX epoch).\n"
        text += "# TYPE process_start_time_seconds gauge\n"
        text += "process_start_time_seconds \(Int(processStartTime))\(stamp)\n"
        // The identity certificate, as 2.16+ proxies spell it.
        let refreshes = modern ? "control_identity_cert_refreshes" : "control_identity_cert_refreshes_total"
        text += "# TYPE control_identity_cert_expiration_timestamp_seconds gauge\n"
        text += "control_identity_cert_expiration_timestamp_seconds \(Int(certificate.expiresAt ?? 0))\(stamp)\n"
        text += "# TYPE control_identity_cert_refresh_timestamp_seconds gauge\n"
        text += "control_identity_cert_refresh_timestamp_seconds \(Int(certificate.refreshedAt ?? 0))\(stamp)\n"
        text += "# TYPE \(refreshes) counter\n"
        text +=
            "control_identity_cert_refreshes_total{result=\"ok\"} \(Int(certificate.refreshesSucceeded ?? 0))\(stamp)\n"
        text +=
            "control_identity_cert_refreshes_total{result=\"error\"} \(Int(certificate.refreshesFailed ?? 0))\(stamp)\n"
        text += "# HELP proxy_build_info Proxy build info.\n# TYPE proxy_build_info gauge\n"
        text +=
            "proxy_build_info{date=\"2025-11-12T00:00:00Z\",git_sha=\"f4e7b83\",profile=\"release\",vendor=\"linkerd\",version=\"\(proxyVersion)\"} 1\(stamp)\n"
        if modern { text += "# EOF\n" }
        return text
    }

    private func render(_ family: SeriesStore.Family, into text: inout String, modern: Bool, stamp: String) {
        guard !family.labels.isEmpty else { return }
        // The prometheus-client block declares counters without `_total` and appends a period.
        let declared = modern && family.kind == .counter ? String(family.name.dropLast(6)) : family.name
        let type =
            switch family.kind {
            case .counter: "counter"
            case .gauge: "gauge"
            case .legacyHistogram, .modernHistogram: "histogram"
            }
        text += "# HELP \(declared) \(family.help)\n# TYPE \(declared) \(type)\n"
        if let unit = family.unit { text += "# UNIT \(declared) \(unit)\n" }
        for (position, labels) in family.labels.enumerated() {
            let value = family.values[position]
            switch family.kind {
            case .counter, .gauge:
                text += "\(family.name){\(labels)} \(Int(value))\(stamp)\n"
            case .legacyHistogram:
                var cumulative = 0.0
                for (bucket, bound) in family.bounds.enumerated() {
                    cumulative += family.buckets[position][bucket]
                    text += "\(family.name)_bucket{\(labels),le=\"\(Int(bound))\"} \(Int(cumulative))\(stamp)\n"
                }
                cumulative += family.buckets[position][family.bounds.count]
                text += "\(family.name)_bucket{\(labels),le=\"+Inf\"} \(Int(cumulative))\(stamp)\n"
                text += "\(family.name)_count{\(labels)} \(Int(cumulative))\(stamp)\n"
                text += "\(family.name)_sum{\(labels)} \(Int(value))\(stamp)\n"
            case .modernHistogram:
                let count = family.buckets[position].reduce(0, +)
                text += "\(family.name)_sum{\(labels)} \(value)\(stamp)\n"
                text += "\(family.name)_count{\(labels)} \(Int(count))\(stamp)\n"
                var cumulative = 0.0
                for (bucket, bound) in family.bounds.enumerated() {
                    cumulative += family.buckets[position][bucket]
                    text += "\(family.name)_bucket{le=\"\(bound)\",\(labels)} \(Int(cumulative))\(stamp)\n"
                }
                text += "\(family.name)_bucket{le=\"+Inf\",\(labels)} \(Int(count))\(stamp)\n"
            }
        }
    }
}
