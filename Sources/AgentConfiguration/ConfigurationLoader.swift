import Foundation
import Yams

/// Reads the configuration: the YAML file (mounted from a ConfigMap), then `FATHOM_*` environment
/// variables over it, then defaults; checks every key and reports all problems at once.
public enum ConfigurationLoader {
    /// The largest file accepted: a ConfigMap holds at most 1 MiB.
    public static let maxFileBytes = 1 << 20

    /// Reads and validates the file at `path` with `environment` overrides. A file that is
    /// missing, unreadable, a directory or too large is one problem naming the file, not a list
    /// of "required" keys.
    public static func load(file path: String, environment: [String: String] = [:]) throws(ConfigurationError)
        -> AgentConfiguration
    {
        try load(yaml: try text(ofFile: path), environment: environment)
    }

    /// The file's text, or the reason it cannot be read.
    public static func text(ofFile path: String) throws(ConfigurationError) -> String {
        func failure(_ message: String) -> ConfigurationError {
            ConfigurationError(problems: [ConfigurationProblem(key: "(file)", message: "\(path): \(message)")])
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw failure("no such file (pass --config with the path of the mounted ConfigMap's config.yaml)")
        }
        guard !isDirectory.boolValue else { throw failure("is a directory, not a file") }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw failure("cannot be read (permission denied)")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: maxFileBytes + 1) ?? Data()
        } catch {
            throw failure("cannot be read: \(error)")
        }
        guard data.count <= maxFileBytes else { throw failure("larger than \(maxFileBytes) bytes") }
        guard let text = String(data: data, encoding: .utf8) else { throw failure("is not UTF-8 text") }
        return text
    }

    /// Values (scalars, mappings, lists) a file may expand to, its aliases expanded: a real
    /// configuration has well under a hundred.
    public static let maxExpandedValues = 10_000

    /// The number of values `node` holds with every alias expanded, counted up to just past `limit`.
    static func expandedSize(of node: Node, limit: Int) -> Int {
        var count = 0
        var pending = [node]
        while let next = pending.popLast() {
            count += 1
            if count > limit { return count }
            switch next {
            case .mapping(let mapping):
                for (key, value) in mapping {
                    pending.append(key)
                    pending.append(value)
                }
            case .sequence(let sequence): pending.append(contentsOf: sequence)
            case .scalar, .alias: break
            }
        }
        return count
    }

    /// Parses and validates `yaml` with `environment` overrides.
    public static func load(yaml: String, environment: [String: String] = [:]) throws(ConfigurationError)
        -> AgentConfiguration
    {
        var problems: [ConfigurationProblem] = []
        var raw: [String: RawValue] = [:]

        // 1. The file.
        let tree: Any?
        do {
            // Composed first, with aliases as shared subtrees, and measured as if expanded: nine
            // anchors of nine aliases each (a few hundred bytes) expand to billions of values,
            // which building the values would try.
            let node = try Yams.compose(yaml: yaml)
            if let node, Self.expandedSize(of: node, limit: maxExpandedValues) > maxExpandedValues {
                throw ConfigurationError(problems: [
                    ConfigurationProblem(
                        key: "(file)",
                        message: "expands to more than \(maxExpandedValues) values through YAML aliases (*name)")
                ])
            }
            tree = node.map { Constructor.default.any(from: $0) }
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError(problems: [
                ConfigurationProblem(key: "(file)", message: "not valid YAML: \(error)")
            ])
        }
        if let tree {
            if let mapping = tree as? [String: Any] {
                flatten(mapping, prefix: "", into: &raw, problems: &problems)
            } else {
                problems.append(ConfigurationProblem(key: "(file)", message: "must be a mapping of keys to values"))
            }
        }
        // 2. The environment, over the file.
        for key in ConfigurationKey.all {
            if let value = environment[key.environmentVariable] {
                raw[key.path] = RawValue(value: value, source: key.environmentVariable)
            }
        }
        // 3. Typed values, defaults, checks: each key of the table sets its own field.
        var parser = ConfigurationValues(raw: raw)
        var configuration = AgentConfiguration(unset: ())
        for key in ConfigurationKey.all { key.assign(&configuration, &parser) }
        problems += parser.problems
        if configuration.scrapeTimeout >= configuration.scrapeInterval, !parser.failed("scrape.timeout"),
            !parser.failed("scrape.interval")
        {
            problems.append(
                ConfigurationProblem(
                    key: "scrape.timeout",
                    message: "must be below scrape.interval (\(configuration.scrapeInterval)s)"))
        }
        if configuration.maxBytesInFlight < 2 * configuration.maxPageBytes, !parser.failed("scrape.maxBytesInFlight"),
            !parser.failed("scrape.maxPageBytes")
        {
            // A gzip page of the largest size is held twice while it is inflated.
            problems.append(
                ConfigurationProblem(
                    key: "scrape.maxBytesInFlight",
                    message: "must be at least twice scrape.maxPageBytes (\(configuration.maxPageBytes) bytes)"))
        }
        guard problems.isEmpty else { throw ConfigurationError(problems: problems) }
        return configuration
    }

    /// A value as written, and where it came from (for messages).
    struct RawValue {
        var value: Any
        var source: String
    }

    private static let leafPaths = Set(ConfigurationKey.all.map(\.path))
    /// Every section path (`scrape`, `scrape.namespaces`, ...).
    private static let sectionPaths: Set<String> = {
        var sections = Set<String>()
        for path in leafPaths {
            var parts = path.split(separator: ".")
            parts.removeLast()
            while !parts.isEmpty {
                sections.insert(parts.joined(separator: "."))
                parts.removeLast()
            }
        }
        return sections
    }()

    private static func flatten(
        _ mapping: [String: Any], prefix: String, into raw: inout [String: RawValue],
        problems: inout [ConfigurationProblem]
    ) {
        for (name, value) in mapping.sorted(by: { $0.key < $1.key }) {
            let path = prefix.isEmpty ? name : prefix + "." + name
            if leafPaths.contains(path) {
                raw[path] = RawValue(value: value, source: path)
            } else if sectionPaths.contains(path) {
                if let section = value as? [String: Any] {
                    flatten(section, prefix: path, into: &raw, problems: &problems)
                } else if !(value is NSNull) {  // An empty section (`scrape:` alone) is fine.
                    problems.append(ConfigurationProblem(key: path, message: "must be a mapping"))
                }
            } else {
                var message = "unknown key"
                if let guess = ValueParsing.suggestion(for: path, among: Array(leafPaths) + Array(sectionPaths)) {
                    message += " (did you mean \(guess)?)"
                }
                problems.append(ConfigurationProblem(key: path, message: message))
            }
        }
    }
}

/// Converts raw values (or the table's defaults) to typed ones, collecting problems per key.
struct ConfigurationValues {
    let raw: [String: ConfigurationLoader.RawValue]
    var problems: [ConfigurationProblem] = []
    private var failedKeys = Set<String>()

    init(raw: [String: ConfigurationLoader.RawValue]) {
        self.raw = raw
    }

    func failed(_ path: String) -> Bool { failedKeys.contains(path) }

    private static let keys = Dictionary(uniqueKeysWithValues: ConfigurationKey.all.map { ($0.path, $0) })

    private mutating func problem(_ path: String, _ message: String) {
        let source = raw[path]?.source ?? path
        problems.append(ConfigurationProblem(key: source == path ? path : "\(source) (\(path))", message: message))
        failedKeys.insert(path)
    }

    /// The scalar text of a key (value or default); nil when missing and required.
    private mutating func text(_ path: String) -> String? {
        let key = Self.keys[path]!
        guard let value = raw[path]?.value else {
            if key.defaultValue == nil { problem(path, "required") }
            return key.defaultValue
        }
        switch value {
        case let text as String: return text
        case let number as Int: return String(number)
        case let number as Double: return String(number)
        case let flag as Bool: return String(flag)
        default:
            problem(path, "must be a \(key.kind.typeName), not a list or mapping")
            return nil
        }
    }

    mutating func string(_ path: String) -> String {
        guard let text = text(path) else { return "" }
        switch Self.keys[path]!.kind {
        case .url:
            if let message = ValueParsing.endpointProblem(text) {
                problem(path, message)
                return text
            }
        case .choice(let options):
            guard options.contains(text) else {
                problem(path, "must be one of \(options.joined(separator: ", ")), got \"\(text)\"")
                return options[0]
            }
        case .address:
            guard ValueParsing.isIPAddress(text) else {
                problem(path, "must be an IPv4 or IPv6 address such as 0.0.0.0, 127.0.0.1 or ::, got \"\(text)\"")
                return Self.keys[path]!.defaultValue ?? ""
            }
        default:
            if Self.keys[path]!.defaultValue == nil && text.isEmpty { problem(path, "required") }
        }
        return text
    }

    mutating func duration(_ path: String) -> Double {
        guard case .duration(let minimum, let maximum) = Self.keys[path]!.kind else { return 0 }
        return ranged(
            path, minimum...maximum, parse: ValueParsing.duration,
            malformed: "must be a duration such as 10s, 1m30s or 500ms",
            outOfRange: { "must be between \(minimum)s and \(maximum)s, got \"\($0)\"" })
    }

    mutating func bytes(_ path: String) -> Int {
        guard case .bytes(let minimum, let maximum) = Self.keys[path]!.kind else { return 0 }
        return ranged(
            path, minimum...maximum, parse: ValueParsing.bytes, malformed: "must be a size such as 64Mi, 1Gi or 500000",
            outOfRange: { "must be between \(minimum) and \(maximum) bytes, got \"\($0)\"" })
    }

    mutating func integer(_ path: String) -> Int {
        guard case .integer(let minimum, let maximum) = Self.keys[path]!.kind else { return 0 }
        return ranged(
            path, minimum...maximum, parse: { Int($0) }, malformed: "must be a whole number",
            outOfRange: { "must be between \(minimum) and \(maximum), got \($0)" })
    }

    /// A key's value parsed and checked against its range; on a problem, the default (which is
    /// always valid), so one bad key does not hide the problems of the others.
    private mutating func ranged<Value: Comparable>(
        _ path: String, _ range: ClosedRange<Value>, parse: (String) -> Value?, malformed: String,
        outOfRange: (String) -> String
    ) -> Value {
        let fallback = parse(Self.keys[path]!.defaultValue ?? "") ?? range.lowerBound
        guard let text = text(path) else { return fallback }
        guard let value = parse(text) else {
            problem(path, "\(malformed), got \"\(text)\"")
            return fallback
        }
        guard range.contains(value) else {
            problem(path, outOfRange(text))
            return fallback
        }
        return value
    }

    mutating func list(_ path: String) -> [String] {
        guard let value = raw[path]?.value else { return [] }
        if let items = value as? [Any] {
            var strings: [String] = []
            for item in items {
                guard let string = item as? String else {
                    problem(path, "must be a list of strings")
                    return []
                }
                strings.append(string)
            }
            return strings
        }
        if let text = value as? String {
            // From the environment: comma-separated.
            return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        problem(path, "must be a list of strings")
        return []
    }
}
