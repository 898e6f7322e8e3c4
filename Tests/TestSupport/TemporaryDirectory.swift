import Foundation

/// The one way tests make temporary directories: a fresh directory under the system's temp
/// folder, named `linesight-<purpose>-<UUID>` so parallel tests and runs never collide and a
/// leftover says which test left it. `LINESIGHT_KEEP_TEMP=1` keeps them for a post-mortem.
public enum TemporaryDirectory {
    /// Creates the directory and returns its path. The caller removes it (`remove(_:)`), or
    /// uses `with(_:_:)`, which does.
    public static func make(_ purpose: String) throws -> String {
        let path = NSTemporaryDirectory() + "linesight-\(purpose)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Removes a directory `make` gave, unless LINESIGHT_KEEP_TEMP=1.
    public static func remove(_ path: String) {
        guard ProcessInfo.processInfo.environment["LINESIGHT_KEEP_TEMP"] != "1" else { return }
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Runs `body` with a fresh directory and removes it afterwards, also when `body` throws.
    public static func with<T>(_ purpose: String, _ body: (String) throws -> T) throws -> T {
        let path = try make(purpose)
        defer { remove(path) }
        return try body(path)
    }

    /// The async form of `with(_:_:)`.
    public static func with<T>(_ purpose: String, _ body: (String) async throws -> T) async throws -> T {
        let path = try make(purpose)
        defer { remove(path) }
        return try await body(path)
    }
}
