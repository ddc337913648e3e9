import KubernetesAPI
import ServiceLifecycle

/// Daemonset mode's leader election as a service. It stops after the last window is closed (so
/// the leader's last batch still carries the inventory) and hands the Lease back.
struct LeaderElectionService: Service {
    let elector: LeaseElector

    func run() async {
        await cancelWhenGracefulShutdown { [elector] in await elector.run() }
        if Task.isShuttingDownGracefully { await elector.release() }
    }
}
