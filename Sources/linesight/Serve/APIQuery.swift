import Foundation
import Hummingbird

/// A request the API refuses, with the status and the parameter it is about; rendered as
/// `{"error": "...", "parameter": "..."}` by `JSONErrorMiddleware`.
struct APIError: Error, CustomStringConvertible {
    var status: HTTPResponse.Status
    var message: String
    var parameter: String?
    var headers: HTTPFields = [:]

    static func bad(_ parameter: String, _ message: String) -> APIError {
        APIError(status: .badRequest, message: "\(parameter): \(message)", parameter: parameter)
    }

    var description: String { message }
}

/// The query string of one request, read strictly: a parameter the route does not take, one
/// given twice, or a value that is not what the route takes is a 400 naming the parameter,
/// never silently ignored (`limit=abc` once meant 100, `since=yesterday` meant "all").
struct APIQuery {
    /// Unix seconds the API takes for `since`/`until`: 1970 to the end of year 9999.
    static let times: ClosedRange<Double> = 0...253_402_300_799
    static let maxStringLength = 128

    private var values: [String: String] = [:]

    init(_ request: Request, allowed: [String]) throws {
        for (key, value) in request.uri.queryParameters {
            let name = String(key)
            guard allowed.contains(name) else {
                let list = allowed.isEmpty ? "this route takes no parameters" : "takes " + allowed.joined(separator: ", ")
                throw APIError.bad(Self.printable(name), "unknown parameter (\(list))")
            }
            guard values[name] == nil else { throw APIError.bad(name, "given more than once") }
            values[name] = String(value)
        }
    }

    /// A short text: printable, no control characters (NUL included), at most 128 characters.
    func string(_ name: String) throws -> String? {
        guard let v = values[name] else { return nil }
        guard !v.isEmpty else { throw APIError.bad(name, "empty") }
        guard v.count <= Self.maxStringLength else { throw APIError.bad(name, "longer than \(Self.maxStringLength) characters") }
        guard !v.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw APIError.bad(name, "contains control characters")
        }
        return v
    }

    /// A time in Unix seconds (UTC): a finite number from 0 to 253402300799.
    func time(_ name: String) throws -> Double? {
        guard let text = values[name] else { return nil }
        guard let v = Double(text), v.isFinite else { throw APIError.bad(name, "expected Unix seconds (a finite number), got '\(Self.printable(text))'") }
        guard Self.times.contains(v) else { throw APIError.bad(name, "Unix seconds must lie in 0...253402300799, got \(text)") }
        return v
    }

    /// A whole number in `range`.
    func int(_ name: String, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let text = values[name] else { return nil }
        guard let v = Int64(text) else { throw APIError.bad(name, "expected a whole number, got '\(Self.printable(text))'") }
        guard range.contains(v) else { throw APIError.bad(name, "must lie in \(range.lowerBound)...\(range.upperBound), got \(v)") }
        return v
    }

    /// `true` or `false`.
    func bool(_ name: String) throws -> Bool? {
        guard let text = values[name] else { return nil }
        switch text {
        case "true": return true
        case "false": return false
        default: throw APIError.bad(name, "expected true or false, got '\(Self.printable(text))'")
        }
    }

    /// A value fit to quote back in an error: at most 40 characters, control characters escaped.
    static func printable(_ s: String) -> String {
        let cut = s.count > 40 ? String(s.prefix(40)) + "..." : s
        return String(cut.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : Character($0) })
    }
}
