/// The agent's version, reported in `fathom-agent version` and (later) in every report batch.
public enum AgentVersion {
    public static let current = "0.1.0"
}
