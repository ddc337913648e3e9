import GzipCodec
import ReportProtos
import SwiftProtobuf

/// Splits a batch the collector refused as too large (413) into two parts that together hold
/// what it held (`BatchPart` in the protocol says how a receiver puts them back together).
///
/// The batch's lists (route metrics, inventory upserts and deletions, rollout events, the mesh's
/// checks, in that order) are cut in the middle of their items; the first part keeps everything
/// else. Each part
/// keeps the batch's sequence and window and is named by its path of halvings, in the
/// idempotency key too, so a part is retried, acknowledged and spooled like any batch.
public enum BatchSplitter {
    /// A batch that cannot be split: one item, or a body that does not decode.
    public enum Failure: Error, Equatable {
        case singleItem
        case undecodable
    }

    /// The two halves of `batch`, first half first.
    public static func split(_ batch: EncodedBatch) throws(Failure) -> (EncodedBatch, EncodedBatch) {
        let message: Fathom_Agent_V1_ReportBatch
        do {
            // A batch the agent encoded itself: its inflated size is bounded like its queue.
            message = try Fathom_Agent_V1_ReportBatch(serializedBytes: try Gzip.decompress(batch.body, limit: 1 << 30))
        } catch {
            throw .undecodable
        }
        let (first, second) = try halves(message)
        do {
            return (try encoded(first, like: batch), try encoded(second, like: batch))
        } catch {
            throw .undecodable
        }
    }

    /// The halves of a decoded batch.
    static func halves(_ batch: Fathom_Agent_V1_ReportBatch) throws(Failure) -> (
        Fathom_Agent_V1_ReportBatch, Fathom_Agent_V1_ReportBatch
    ) {
        let counts = [
            batch.routeMetrics.count, batch.inventory.upserted.count, batch.inventory.deleted.count,
            batch.rolloutEvents.count, batch.meshHealth.checks.count,
        ]
        let total = counts.reduce(0, +)
        guard total >= 2 else { throw .singleItem }
        // The first `cut` items, counted across the lists in their order, go to the first half.
        var left = total / 2
        var taken: [Int] = []
        for count in counts {
            taken.append(min(count, left))
            left -= taken.last!
        }
        let path = batch.hasPart ? batch.part.path : ""
        var first = batch
        first.routeMetrics = Array(batch.routeMetrics.prefix(taken[0]))
        first.inventory.upserted = Array(batch.inventory.upserted.prefix(taken[1]))
        first.inventory.deleted = Array(batch.inventory.deleted.prefix(taken[2]))
        first.rolloutEvents = Array(batch.rolloutEvents.prefix(taken[3]))
        first.meshHealth.checks = Array(batch.meshHealth.checks.prefix(taken[4]))
        if first.meshHealth.checks.isEmpty { first.clearMeshHealth() }
        first.part = .with { $0.path = path + "0" }

        var second = Fathom_Agent_V1_ReportBatch()
        second.agent = batch.agent
        second.sequence = batch.sequence
        second.windowStartUnixMs = batch.windowStartUnixMs
        second.windowEndUnixMs = batch.windowEndUnixMs
        second.routeMetrics = Array(batch.routeMetrics.dropFirst(taken[0]))
        let upserted = Array(batch.inventory.upserted.dropFirst(taken[1]))
        let deleted = Array(batch.inventory.deleted.dropFirst(taken[2]))
        if !upserted.isEmpty || !deleted.isEmpty {
            second.inventory.kind = batch.inventory.kind
            second.inventory.upserted = upserted
            second.inventory.deleted = deleted
        }
        second.rolloutEvents = Array(batch.rolloutEvents.dropFirst(taken[3]))
        let checks = Array(batch.meshHealth.checks.dropFirst(taken[4]))
        if !checks.isEmpty { second.meshHealth.checks = checks }
        second.part = .with { $0.path = path + "1" }
        return (first, second)
    }

    private static func encoded(_ part: Fathom_Agent_V1_ReportBatch, like batch: EncodedBatch) throws
        -> EncodedBatch
    {
        EncodedBatch(
            idempotencyKey: EncodedBatch.key(
                instance: part.agent.instanceID, sequence: part.sequence, part: part.part.path),
            sequence: part.sequence, windowEndUnixMilliseconds: batch.windowEndUnixMilliseconds,
            body: try Gzip.compress(try part.serializedBytes()))
    }
}
