import Crypto
import Foundation

/// SHA-256 as the store records it (64 lowercase hex digits): saved frames and model files.
/// swift-crypto computes it (BoringSSL on Linux, CryptoKit on Apple platforms); the tests
/// compare it with coreutils' sha256sum.
public enum Hashing {
    public static func sha256<D: DataProtocol>(_ data: D) -> String {
        hex(Crypto.SHA256.hash(data: data))
    }

    /// HMAC-SHA256 of `message` under `key`, as hex: a secret derived from another (the
    /// operator page's read-only cookie from the bearer token) that does not reveal it.
    public static func hmacSHA256(key: String, message: String) -> String {
        hex(Crypto.HMAC<Crypto.SHA256>.authenticationCode(for: Data(message.utf8), using: SymmetricKey(data: Data(key.utf8))))
    }

    /// The hash of a file, read in 1 MiB pieces.
    public static func sha256(file path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CoreError.io(path: path, detail: "cannot open") }
        defer { try? handle.close() }
        var h = Crypto.SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { h.update(data: chunk) }
        return hex(h.finalize())
    }

    private static let digits = Array("0123456789abcdef".utf8)

    static func hex<S: Sequence>(_ digest: S) -> String where S.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// What went wrong in the core, with what a person needs to act on it.
public enum CoreError: Error, CustomStringConvertible {
    case io(path: String, detail: String)

    public var description: String {
        switch self {
        case let .io(path, detail): "\(path): \(detail)"
        }
    }
}
