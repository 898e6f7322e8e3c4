import Config
import Foundation

extension ConfigSection {
    /// `key` as "HOST:PORT" (IPv6 in brackets: "[::1]:1883"), or the error naming the key.
    func hostAndPort(_ key: String, default value: String, example: String) throws -> (host: String, port: Int) {
        let text = try string(key, default: value)
        guard let colon = text.lastIndex(of: ":"), colon != text.startIndex,
              let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            throw bad(key, "'\(text)' is not HOST:PORT (e.g. \(example))")
        }
        return (String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
    }
}
