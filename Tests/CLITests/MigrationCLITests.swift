import Foundation
import TestSupport
import Testing
@testable import Store

/// A newer CLI never migrates a database an older daemon may be writing.
@Suite("schema migrations from the CLI")
struct MigrationCLITests {
    @Test func commandsRefuseAnOlderSchemaAndDbMigrateWaitsForTheDatabaseToBeFree() throws {
        let dir = try TemporaryDirectory.make("migrate")
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "[store]\ndatabase = \"db.sqlite\"\n[[cameras]]\nid = \"a\"\n".write(toFile: dir + "/l.toml", atomically: true, encoding: .utf8)
        var old: Store? = try Store(path: dir + "/db.sqlite", busyTimeout: 5, schemaUpTo: "v3-review-stats")
        let stats = try CLI.run(["stats", "--config", dir + "/l.toml"])
        #expect(stats.status != 0 && stats.err.contains("written by an older Linesight (it lacks v4-frame-roi, v5-parts, v6-frame-defect-map, v7-defect-kinds, v8-drift-flag, v9-review-order, v10-products, v11-models-per-product)"), "\(stats.err)")
        let models = try CLI.run(["models", "list", "--config", dir + "/l.toml"])
        #expect(models.status != 0 && models.err.contains("older Linesight"), "\(models.err)")
        let busy = try CLI.run(["db", "migrate", "--config", dir + "/l.toml"])
        #expect(busy.status != 0 && busy.err.contains("\(getpid())") && busy.err.contains("have \(dir)/db.sqlite open"), "\(busy.err)")
        let applied = try old!.pool.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
        #expect(!applied.contains("v4-frame-roi"), "nothing was migrated under the open connection")
        old = nil
        let ok = try CLI.run(["db", "migrate", "--config", dir + "/l.toml"])
        #expect(ok.status == 0 && ok.out.contains("schema up to date"), "\(ok.err)")
        #expect(try CLI.run(["stats", "--config", dir + "/l.toml"]).status == 0)
    }
}
