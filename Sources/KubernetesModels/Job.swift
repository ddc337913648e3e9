/// A `batch/v1` Job: pods that run to completion, made directly from its template (no
/// revisions), and often by a CronJob, whose workload it is then part of.
public typealias Job = KubernetesResource<JobDefinition>

/// What makes a `Job`: where the API serves it, its spec and its status.
public enum JobDefinition: ResourceDefinition {
    public static let resource = ResourceDescriptor(group: "batch", version: "v1", plural: "jobs", kind: "Job")
    public static let emptyStatus = Status()

    public struct Spec: Codable, Sendable, Equatable {
        /// Pods run at once (1 when unset).
        public var parallelism: Int?
        /// Pods that must succeed (unset: the Job is done when one does).
        public var completions: Int?
        public var template: PodTemplate
        public init(parallelism: Int? = nil, completions: Int? = nil, template: PodTemplate) {
            self.parallelism = parallelism
            self.completions = completions
            self.template = template
        }
    }

    public struct Status: Codable, Sendable, Equatable {
        public var active: Int?
        public var ready: Int?
        public var succeeded: Int?
        public var failed: Int?
        public init(active: Int? = nil, ready: Int? = nil, succeeded: Int? = nil, failed: Int? = nil) {
            self.active = active
            self.ready = ready
            self.succeeded = succeeded
            self.failed = failed
        }
    }
}

extension JobDefinition: WorkloadDefinition {
    public static let revisionsResource: ResourceDescriptor? = nil
    public static let podRevisionLabel: String? = nil
    public static func podTemplate(of job: Job) -> PodTemplate? { job.spec.template }
    /// The pods it runs now (none once it has finished), and those ready; every pod is of its
    /// one template. A CronJob's Jobs add up, so its finished ones count for nothing.
    public static func replicaCounts(of job: Job) -> ReplicaCounts {
        let active = job.status.active ?? 0
        let ready = job.status.ready ?? 0
        return ReplicaCounts(desired: active, ready: ready, updated: active, available: ready)
    }

    /// A CronJob's Job belongs to the CronJob's workload.
    public static func controllingWorkload(of job: Job) -> (kind: String, name: String)? {
        job.metadata.controller.flatMap { $0.kind == "CronJob" ? ($0.kind, $0.name) : nil }
    }

    /// A Job runs to its end; it does not roll out.
    public static func rolloutObservation(of job: Job, revisions: OwnedRevisions) -> RolloutObservation? { nil }
}
