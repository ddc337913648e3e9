import Foundation
import Synchronization

/// A directory laid out like a volume the kubelet mounts from a ConfigMap, a Secret or a
/// projected ServiceAccount token: each file is a symlink `name -> ..data/name`, and `..data` a
/// symlink to a versioned directory that the kubelet's AtomicWriter replaces in one rename when
/// the object changes. The files' own paths never change, only where `..data` leads.
public final class MountedVolume: Sendable {
    public let directory: String
    /// The file most tests read (`config.yaml`, `token`).
    public let fileName: String
    private let published = Mutex(0)
    /// How many times the volume was published.
    public var generation: Int { published.withLock { $0 } }
    public var file: String { directory + "/" + fileName }

    /// An empty volume directory `name` in `parent` (a new temporary directory without one).
    public init(in parent: String? = nil, named name: String = "volume", file: String) throws {
        let parent = parent ?? NSTemporaryDirectory() + "fathom-volume-\(UUID().uuidString)"
        directory = parent + "/" + name
        fileName = file
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// What the kubelet does on an update: a new versioned directory with the files, then
    /// `..data` swapped to it in one rename; the old version is removed afterwards.
    public func publish(_ content: String) throws {
        try publish(files: [fileName: content])
    }

    public func publish(files: [String: String]) throws {
        let generation = published.withLock { count in
            count += 1
            return count
        }
        let previous = generation > 1 ? "..2026_12_01_\(generation - 1)" : nil
        let version = "..2026_12_01_\(generation)"
        try FileManager.default.createDirectory(atPath: directory + "/" + version, withIntermediateDirectories: true)
        for (name, content) in files {
            try content.write(toFile: directory + "/\(version)/\(name)", atomically: false, encoding: .utf8)
        }
        try? FileManager.default.removeItem(atPath: directory + "/..data_tmp")
        try FileManager.default.createSymbolicLink(atPath: directory + "/..data_tmp", withDestinationPath: version)
        guard rename(directory + "/..data_tmp", directory + "/..data") == 0 else { throw CocoaError(.fileWriteUnknown) }
        for name in files.keys where (try? FileManager.default.destinationOfSymbolicLink(atPath: path(name))) == nil {
            try FileManager.default.createSymbolicLink(atPath: path(name), withDestinationPath: "..data/" + name)
        }
        if let previous { try? FileManager.default.removeItem(atPath: directory + "/" + previous) }
    }

    /// The path of a file in the volume (the symlink the pod reads).
    public func path(_ name: String) -> String { directory + "/" + name }

    /// An edit in place of the file the symlinks lead to (as a user editing it by hand would).
    public func editInPlace(_ content: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data(content.utf8))
        try handle.close()
    }
}
