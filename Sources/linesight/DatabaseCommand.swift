import ArgumentParser
import Config
import Foundation
import Inspection
import Store

struct DatabaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "The line's database: bring its schema up to this version.",
        subcommands: [Migrate.self])

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply this version's schema migrations, with no other process using the database.",
            discussion: """
            Other commands never migrate: a daemon of the older version may be writing the file. \
            `linesight serve` migrates at start; for the CLI alone, stop the daemon first:
              sudo systemctl stop linesight && sudo -u linesight linesight db migrate --config /etc/linesight/linesight.toml
            """)
        @Option(help: "The line config (its database).") var config: String = "/etc/linesight/linesight.toml"

        func run() throws {
            let cfg: LineConfig
            cfg = try ConfigFile.forCommand(path: config).line
            guard FileManager.default.fileExists(atPath: cfg.database) else { throw CommandFailure("no database at \(cfg.database)") }
            let users = DatabaseUsers.others(of: cfg.database)
            guard users.isEmpty else {
                throw CommandFailure("processes \(users.map(String.init).joined(separator: ", ")) have \(cfg.database) open (a running daemon?); stop them first")
            }
            _ = try Store(path: cfg.database, quickCheck: true, migrate: true)
            print("\(cfg.database): schema up to date")
        }
    }
}

/// Which other processes have a file (or its -wal/-shm) open, from /proc/*/fd (processes
/// of other users are invisible without the rights to see them).
enum DatabaseUsers {
    static func others(of path: String) -> [Int32] {
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let targets: Set<String> = [real, real + "-wal", real + "-shm"]
        let me = getpid()
        let fm = FileManager.default
        var found: [Int32] = []
        for entry in (try? fm.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != me, let fds = try? fm.contentsOfDirectory(atPath: "/proc/\(entry)/fd") else { continue }
            if fds.contains(where: { (try? fm.destinationOfSymbolicLink(atPath: "/proc/\(entry)/fd/\($0)")).map(targets.contains) == true }) {
                found.append(pid)
            }
        }
        return found.sorted()
    }
}
