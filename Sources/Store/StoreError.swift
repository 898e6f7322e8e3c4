/// What can go wrong with the inspection database. Every case names the file.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    /// The file is not a database or fails SQLite's quick_check. Never recreated silently.
    case corrupt(path: String, detail: String)
    /// The database was written by a newer Linesight (an unknown migration).
    case newerSchema(path: String, migrations: [String])
    /// The database lacks migrations this version needs, and this command does not migrate
    /// (a daemon of the older version may be writing it).
    case olderSchema(path: String, pending: [String])
    /// Opening, reading or writing failed (permissions, disk full, locked too long).
    case io(path: String, detail: String)
    /// A record that breaks the schema's rules (unknown camera, bad decision...).
    case invalid(String)
    case notFound(String)
    /// The change would overwrite someone else's newer change.
    case conflict(String)

    public var description: String {
        switch self {
        case .corrupt(let p, let d):
            return "database \(p) is damaged (\(d)). Linesight will not overwrite it: move it aside, restore a backup, or run `sqlite3 \(p) .recover` and start again."
        case .newerSchema(let p, let m):
            return "database \(p) was written by a newer Linesight (unknown migrations: \(m.joined(separator: ", "))); upgrade Linesight"
        case .olderSchema(let p, let m):
            return "database \(p) was written by an older Linesight (it lacks \(m.joined(separator: ", "))); a daemon of that version may be using it, "
                + "so this command leaves it alone. Restart the service on this version (it migrates at start), or stop the daemon and run `linesight db migrate`"
        case .io(let p, let d): return "database \(p): \(d)"
        case .invalid(let why): return "invalid record: \(why)"
        case .notFound(let what): return "\(what) not found"
        case .conflict(let why): return why
        }
    }
}
