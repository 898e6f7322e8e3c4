import Foundation
import LinesightCore
import TestSupport
import Testing

@Suite("SHA-256")
struct HashingTests {
    /// Lengths around the 64-byte block and its 56-byte padding boundary, and a multi-block file.
    @Test(arguments: [0, 1, 55, 56, 63, 64, 65, 1000, 100_000])
    func matchesCoreutils(length: Int) throws {
        let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let dir = try TemporaryDirectory.make("sha256")
        defer { TemporaryDirectory.remove(dir) }
        let file = dir + "/data-\(length)"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let expected = try Self.sha256sum(file)
        #expect(Hashing.sha256(bytes) == expected)
        #expect(Hashing.sha256(Data(bytes)) == expected)
        #expect(try Hashing.sha256(file: file) == expected)
    }

    @Test func aMissingFileNamesItsPath() {
        #expect(throws: CoreError.self) { try Hashing.sha256(file: "/nonexistent/model.safetensors") }
    }

    @Test func decisionsKeepTheirStoredSpelling() {
        #expect(Decision.allCases.map(\.rawValue) == ["pass", "fail", "no_verdict"])
        #expect(FlagReason.allCases.map(\.rawValue) == ["uncertain", "low_stage2_confidence", "audit", "no_verdict", "suspect_label", "drift"])
    }

    static func sha256sum(_ file: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [file]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(String(decoding: data, as: UTF8.self).prefix(64))
    }
}
