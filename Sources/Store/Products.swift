import Foundation
import GRDB
import LinesightCore

/// A product changeover as the store keeps it.
public struct ProductChange: Equatable, Sendable {
    public var at: Double
    public var product: String
    /// Who or what asked for it: "config", "api", "mqtt", a user.
    public var by: String
}

extension Store {
    /// Records that the line now makes `product`.
    public func recordProductChange(_ product: String, by: String, at: Double = Date().timeIntervalSince1970) throws {
        guard LineID.isValid(product) else { throw StoreError.invalid("'\(product.prefix(80))' is not a product id (\(LineID.rule))") }
        let who = String(by.prefix(200))
        try pool.write { db in
            try db.execute(sql: "INSERT INTO product_changes(at, product, by) VALUES (?, ?, ?)",
                           arguments: [at.isFinite ? at : 0, product, who.isEmpty ? "unknown" : who])
        }
    }

    /// The changeovers, newest first, at most `limit`.
    public func productChanges(limit: Int = 100) throws -> [ProductChange] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT at, product, by FROM product_changes ORDER BY id DESC LIMIT ?", arguments: [max(0, limit)])
                .map { ProductChange(at: $0[0], product: $0[1], by: $0[2]) }
        }
    }
}
