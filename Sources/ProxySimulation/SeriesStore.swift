/// The cumulative series of a simulated proxy, kept in the order a proxy prints them.
struct SeriesStore {
    enum Kind {
        case counter
        /// A value that goes up and down (`tcp_open_connections`).
        case gauge
        /// `le` last, integer bounds, lines `_bucket`, `_count`, `_sum` (legacy text families).
        case legacyHistogram
        /// `le` first, float bounds, lines `_sum`, `_count`, `_bucket` (prometheus-client block).
        case modernHistogram
    }

    struct Family {
        var name: String
        var help: String
        var kind: Kind
        var unit: String?
        /// Finite bucket bounds in the family's unit (histograms only).
        var bounds: [Double]
        var series: [String: Int] = [:]
        var labels: [String] = []
        var values: [Double] = []
        /// Per series: per-bucket (non-cumulative) counts, the last for +Inf.
        var buckets: [[Double]] = []
    }

    private(set) var families: [Family] = []
    private var index: [String: Int] = [:]

    mutating func declare(_ name: String, help: String, kind: Kind, unit: String? = nil, bounds: [Double] = []) {
        guard index[name] == nil else { return }
        index[name] = families.count
        families.append(Family(name: name, help: help, kind: kind, unit: unit, bounds: bounds))
    }

    private mutating func slot(_ family: String, _ labels: String) -> (Int, Int) {
        let familyIndex = index[family]!
        if let known = families[familyIndex].series[labels] { return (familyIndex, known) }
        let position = families[familyIndex].labels.count
        families[familyIndex].series[labels] = position
        families[familyIndex].labels.append(labels)
        families[familyIndex].values.append(0)
        families[familyIndex].buckets.append(Array(repeating: 0, count: families[familyIndex].bounds.count + 1))
        return (familyIndex, position)
    }

    mutating func increment(_ family: String, _ labels: String, by amount: Double = 1) {
        let (familyIndex, position) = slot(family, labels)
        families[familyIndex].values[position] += amount
    }

    /// Records one observation (in the family's unit) into a histogram.
    mutating func observe(_ family: String, _ labels: String, _ value: Double) {
        let (familyIndex, position) = slot(family, labels)
        let bounds = families[familyIndex].bounds
        let bucket = bounds.firstIndex { value <= $0 } ?? bounds.count
        families[familyIndex].buckets[position][bucket] += 1
        families[familyIndex].values[position] += value
    }

    /// Forgets the series of the families whose name and labels match.
    mutating func drop(where matches: (String, String) -> Bool) {
        for familyIndex in families.indices {
            let family = families[familyIndex]
            let kept = family.labels.indices.filter { !matches(family.name, family.labels[$0]) }
            guard kept.count != family.labels.count else { continue }
            families[familyIndex].labels = kept.map { family.labels[$0] }
            families[familyIndex].values = kept.map { family.values[$0] }
            families[familyIndex].buckets = kept.map { family.buckets[$0] }
            families[familyIndex].series = Dictionary(
                uniqueKeysWithValues: kept.enumerated().map { (family.labels[$0.element], $0.offset) })
        }
    }

    /// Forgets every series: what a proxy restart does.
    mutating func reset() {
        for familyIndex in families.indices {
            families[familyIndex].series = [:]
            families[familyIndex].labels = []
            families[familyIndex].values = []
            families[familyIndex].buckets = []
        }
    }
}
