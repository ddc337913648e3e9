import AgentTestSupport
import CredentialFiles
import Foundation
import Synchronization
import Testing

/// A monotonic clock a test moves by hand.
final class ManualClock: Sendable {
    private let seconds = Mutex(1_000.0)
    func advance(_ by: Double) { seconds.withLock { $0 += by } }
    var now: @Sendable () -> Double { { [self] in seconds.withLock { $0 } } }
}

/// Paths the file was reported changed at, in order.
final class ChangeLog: Sendable {
    let paths = Mutex<[String]>([])
    var record: @Sendable (String) -> Void { { [self] path in paths.withLock { $0.append(path) } } }
    var count: Int { paths.withLock { $0.count } }
}

/// Credentials are replaced under the agent the ways Kubernetes and people replace them; each
/// way is seen by the next read, and a file that did not change is not read again.
@Suite struct WatchedFileTests {
    /// What the kubelet does to a Secret volume or a projected token: `token -> ..data/token`
    /// stays, `..data` is swapped to a new directory. `lstat` on the path sees no change at all.
    @Test func aKubeletDataSwapIsSeenByTheNextRead() throws {
        let volume = try MountedVolume(named: "secret", file: "token")
        try volume.publish("token-1\n")
        let changes = ChangeLog()
        let token = TokenFile(path: volume.file, onChange: changes.record)
        #expect(token.token() == "token-1")
        let link = try FileManager.default.attributesOfItem(atPath: volume.file)
        try volume.publish("token-2\n")
        // The symlink the agent was given is untouched by the swap...
        #expect(
            try FileManager.default.attributesOfItem(atPath: volume.file)[.modificationDate] as? Date
                == link[.modificationDate] as? Date)
        // ...and the token it leads to is the new one, read at once, the change told once.
        #expect(token.token() == "token-2")
        #expect(token.token() == "token-2")
        #expect(changes.paths.withLock { $0 } == [volume.file])
    }

    @Test func aRenameOverTheFileAndAnInPlaceWriteAreSeen() throws {
        let directory = NSTemporaryDirectory() + "fathom-watched-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/token"
        try "first".write(toFile: path, atomically: true, encoding: .utf8)
        let changes = ChangeLog()
        let file = WatchedFile(path: path, onChange: changes.record)
        #expect(file.content()?.bytes == Array("first".utf8))
        try "renamed".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(file.content()?.bytes == Array("renamed".utf8))
        // The same size, the same inode: the write changes the modification and change times.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.write(contentsOf: Data("RENAMED".utf8))
        try handle.close()
        #expect(file.content()?.bytes == Array("RENAMED".utf8))
        #expect(file.content()?.generation == 2)
        #expect(changes.count == 2)
    }

    /// Nothing changed: one `stat` per use, no read, until a minute has passed (as client-go
    /// re-reads its token file) or the server refused the credential.
    @Test func anUnchangedFileIsReadAgainOnlyAfterMaxAgeOrARefusal() throws {
        let volume = try MountedVolume(named: "secret", file: "token")
        try volume.publish("same\n")
        let clock = ManualClock()
        let changes = ChangeLog()
        let file = WatchedFile(path: volume.file, maxAge: 60, now: clock.now, onChange: changes.record)
        for _ in 0..<100 { _ = file.content() }
        #expect(file.reads == 1)
        clock.advance(59)
        _ = file.content()
        #expect(file.reads == 1)
        clock.advance(2)
        _ = file.content()
        #expect(file.reads == 2)
        file.invalidate()
        _ = file.content()
        #expect(file.reads == 3)
        // Read again, the same bytes: no change to tell.
        #expect(changes.count == 0)
        #expect(file.content()?.generation == 0)
    }

    @Test func aMissingFileIsNilAndItsReturnIsSeen() throws {
        let path = NSTemporaryDirectory() + "fathom-missing-\(UUID().uuidString)"
        let token = TokenFile(path: path)
        #expect(token.token() == nil)
        try "  late-token \n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(token.token() == "late-token")
        try FileManager.default.removeItem(atPath: path)
        #expect(token.token() == nil)
        try "   \n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(token.token() == nil, "a blank file holds no token")
    }

    /// A 401 reads the file again at once and says whether it now holds another token.
    @Test func aRefusedTokenIsReadAgainAtOnce() throws {
        let volume = try MountedVolume(named: "secret", file: "token")
        try volume.publish("old")
        let token = TokenFile(path: volume.file, maxAge: 3_600)
        #expect(token.token() == "old")
        #expect(!token.refused("old"), "the file still holds the token refused")
        try volume.publish("new")
        #expect(token.refused("old"))
        #expect(token.token() == "new")
    }
}
