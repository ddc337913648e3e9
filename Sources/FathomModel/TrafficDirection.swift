/// Which way traffic flows through the proxy that reported it.
public enum TrafficDirection: String, Sendable, Hashable, CaseIterable {
    case inbound
    case outbound
}
