import AgentTestSupport
import Foundation
import Testing

/// The layout DESIGN.md draws, read from the package graph itself (`swift package describe`):
/// the pure cores import no networking or lifecycle package, and the shipped executable links no
/// stand-in, simulation or test code.
@Suite struct PackageGraphTests {
    struct Target: Decodable {
        var name: String
        var targetDependencies: [String]?
        var productDependencies: [String]?
        var productMemberships: [String]?

        enum CodingKeys: String, CodingKey {
            case name
            case targetDependencies = "target_dependencies"
            case productDependencies = "product_dependencies"
            case productMemberships = "product_memberships"
        }
    }

    struct Description: Decodable {
        var targets: [Target]
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func describe() throws -> [String: Target] {
        let result = try runCommand(
            "swift", ["package", "--ignore-lock", "--package-path", packageRoot.path, "describe", "--type", "json"])
        #expect(result.status == 0, "\(result.errors)")
        let description = try JSONDecoder().decode(Description.self, from: result.output)
        return Dictionary(uniqueKeysWithValues: description.targets.map { ($0.name, $0) })
    }

    /// Every target and product a target depends on, directly or through other targets.
    static func closure(of name: String, in targets: [String: Target]) -> (targets: Set<String>, products: Set<String>)
    {
        var seen: Set<String> = []
        var products: Set<String> = []
        var pending = [name]
        while let next = pending.popLast() {
            guard seen.insert(next).inserted, let target = targets[next] else { continue }
            products.formUnion(target.productDependencies ?? [])
            pending += target.targetDependencies ?? []
        }
        seen.remove(name)
        return (seen, products)
    }

    @Test func pureCoresDependOnNoNetworkingOrLifecyclePackage() throws {
        let targets = try Self.describe()
        let forbidden: Set<String> = [
            "NIOCore", "NIOPosix", "NIOHTTP1", "NIOHTTP2", "NIOSSL", "NIOFoundationCompat", "AsyncHTTPClient",
            "ServiceLifecycle", "Logging", "Prometheus",
        ]
        let edge: Set<String> = [
            "KubernetesAPI", "Scraping", "Reporting", "HTTPServing", "AgentApp", "LocalServers", "ClusterDiscovery",
            "ReportWindows",
        ]
        for core in [
            "PrometheusText", "FathomModel", "LinkerdMetrics", "RouteAggregation", "KubernetesModels", "Inventory",
            "LogWhenChanged", "MeshHealth",
        ] {
            #expect(targets[core] != nil, "\(core) is a target")
            let (dependencies, products) = Self.closure(of: core, in: targets)
            #expect(products.isDisjoint(with: forbidden), "\(core) reaches \(products.intersection(forbidden))")
            #expect(dependencies.isDisjoint(with: edge), "\(core) depends on \(dependencies.intersection(edge))")
        }
        // The report encoding is an edge target (it links the system zlib) without networking.
        let (_, encodingProducts) = Self.closure(of: "ReportEncoding", in: targets)
        #expect(encodingProducts.isDisjoint(with: forbidden), "\(encodingProducts.intersection(forbidden))")
        // Inventory reads the Kubernetes models, not the client.
        #expect(targets["Inventory"]?.targetDependencies?.contains("KubernetesAPI") == false)
    }

    /// The groups, innermost first: a target may depend on its own group and those before it;
    /// stage may depend on anything, and nothing outside stage on stage.
    static let groups = ["core", "edge", "shipped", "stage"]

    /// The README layout table's group of each target it names (in backquotes).
    static func layoutGroups() throws -> [String: String] {
        let readme = try String(contentsOf: Self.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let layout =
            try #require(readme.components(separatedBy: "## Layout").dropFirst().first)
            .components(separatedBy: "\n## ").first ?? ""
        var group: [String: String] = [:]
        for row in layout.split(separator: "\n") where row.hasPrefix("|") {
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 2, groups.contains(cells[0]) else { continue }
            for part in cells[1].split(separator: "`", omittingEmptySubsequences: false).enumerated()
            where part.offset % 2 == 1 {
                group[String(part.element)] = cells[0]
            }
        }
        return group
    }

    @Test func theReadmeLayoutTableNamesEveryTarget() throws {
        let targets = try Self.describe().keys.filter { !$0.hasSuffix("Tests") }
        let named = Set(try Self.layoutGroups().keys)
        #expect(
            named == Set(targets),
            "README layout lacks \(Set(targets).subtracting(named)), names \(named.subtracting(targets))")
    }

    /// Dependencies point only inward: core on core, edge on core and edge, shipped on those and
    /// shipped; only stage (and tests) on stage.
    @Test func everyTargetDependsOnlyOnItsGroupAndThoseInside() throws {
        let targets = try Self.describe()
        let group = try Self.layoutGroups()
        #expect(group.count > 20)
        var outward: [String] = []
        for (name, target) in targets where !name.hasSuffix("Tests") {
            let depth = try #require(group[name].flatMap(Self.groups.firstIndex(of:)), "\(name) has a group")
            for dependency in target.targetDependencies ?? [] {
                let inner = try #require(
                    group[dependency].flatMap(Self.groups.firstIndex(of:)), "\(dependency) has a group")
                if inner > depth {
                    outward.append("\(name) (\(Self.groups[depth])) → \(dependency) (\(Self.groups[inner]))")
                }
            }
        }
        #expect(outward.isEmpty, "dependencies pointing outward: \(outward.sorted())")
    }

    @Test func theShippedAgentLinksNoStandInSimulationOrTestCode() throws {
        let targets = try Self.describe()
        let stage = ["LocalServers", "ProxySimulation", "FathomDemo", "AgentTestSupport", "AllocationCounter"]
        let (linked, _) = Self.closure(of: "fathom-agent", in: targets)
        #expect(linked.isDisjoint(with: stage), "fathom-agent links \(linked.intersection(stage))")
        for name in stage {
            #expect(targets[name]?.productMemberships?.contains("fathom-agent") == false, "\(name)")
        }
        // The demo is its own executable, built from the agent's own service graph.
        #expect(Self.closure(of: "fathom-demo", in: targets).targets.isSuperset(of: ["AgentApp", "LocalServers"]))
    }

    /// Every task the code starts is a child of a task group or a service, so cancellation and
    /// shutdown reach it: no `Task {` or `Task.detached` anywhere in Sources (comments aside).
    @Test func sourcesStartNoUnstructuredTask() throws {
        let sources = Self.packageRoot.appendingPathComponent("Sources")
        let files = try #require(FileManager.default.enumerator(atPath: sources.path)).compactMap { $0 as? String }
            .filter { $0.hasSuffix(".swift") }
        #expect(files.count > 50)
        // `Task {`, `Task(priority:)`, `Task.detached`, but not `addTask {` or `scheduleTask(`.
        let unstructured = try NSRegularExpression(pattern: #"(?<![A-Za-z0-9_.])Task\s*(\{|\(|\.detached)"#)
        var found: [String] = []
        for file in files {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = String(
                    line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                let range = NSRange(code.startIndex..., in: code)
                if unstructured.firstMatch(in: code, range: range) != nil {
                    found.append("\(file):\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        #expect(found.isEmpty, "unstructured tasks: \(found)")
    }
}
