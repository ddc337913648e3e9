import FathomModel
import Testing

@testable import Scraping

@Suite struct EndpointTests {
    typealias Endpoint = ScrapeConnection.Endpoint

    @Test func parsesTheURLsTheInventoryBuilds() throws {
        let v4 = try #require(Endpoint("http://10.42.0.7:4191/metrics"))
        #expect(v4.host == "10.42.0.7" && v4.port == 4191 && v4.path == "/metrics")
        #expect(v4.hostHeader == "10.42.0.7:4191")
        let v6 = try #require(Endpoint("http://[fd00:10:244::5]:4191/metrics"))
        #expect(v6.host == "fd00:10:244::5" && v6.port == 4191 && v6.path == "/metrics")
        #expect(v6.hostHeader == "[fd00:10:244::5]:4191")
        let bare = try #require(Endpoint("http://proxy.local"))
        #expect(bare.host == "proxy.local" && bare.port == 80 && bare.path == "/")
        // The admin port a target's decoder takes for the proxy's own traffic.
        let moved = ScrapeTarget(
            proxy: ProxyID("shop/web-1"), workload: WorkloadRef(kind: "Deployment", namespace: "shop", name: "web"),
            url: "http://[fd00:10:244::5]:9995/metrics")
        #expect(moved.adminPort == 9995)
    }

    @Test func rejectsWhatItCannotScrape() {
        for url in [
            "https://10.0.0.1:4191/metrics", "10.0.0.1:4191", "http://:4191/", "http://10.0.0.1:0/",
            "http://10.0.0.1:99999/", "http://[fd00::1/metrics", "http://10.0.0.1:port/",
        ] {
            #expect(Endpoint(url) == nil, "\(url)")
        }
    }
}
