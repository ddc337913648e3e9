import Logging
import Reporting
import ServiceLifecycle

/// The uploader as a service. Its graceful shutdown comes after the last window is queued: the
/// same send loop then drains the queue, retrying through the whole grace period, and what is
/// left stays in the spool for the next start.
struct UploadService: Service {
    let uploader: Uploader
    let graceSeconds: Double
    let spoolDirectory: String?
    let logger: Logger

    func run() async {
        await withGracefulShutdownHandler {
            await uploader.run()
        } onGracefulShutdown: { [uploader, graceSeconds] in
            uploader.drain(within: graceSeconds)
        }
        guard Task.isShuttingDownGracefully else { return }
        let stats = await uploader.currentStats
        let dropped = stats.dropped.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        if stats.queuedBatches > 0 {
            logger.warning(
                "shutdown: batches not delivered within the grace period",
                metadata: [
                    "report.queued": "\(stats.queuedBatches)",
                    "report.spool": "\(spoolDirectory ?? "disabled: they are lost")",
                    "report.dropped": "\(dropped.isEmpty ? "none" : dropped.joined(separator: ","))",
                ])
        } else if !dropped.isEmpty {
            logger.warning(
                "shutdown: the queue is empty, but batches were dropped while running",
                metadata: [
                    "report.dropped": "\(dropped.joined(separator: ","))", "report.sent": "\(stats.batchesSent)",
                ])
        } else {
            logger.info("shutdown complete: every batch delivered", metadata: ["report.sent": "\(stats.batchesSent)"])
        }
    }
}
