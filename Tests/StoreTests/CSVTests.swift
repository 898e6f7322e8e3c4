import Foundation
import Testing
@testable import Store

@Suite("RFC 4180 CSV and label import")
struct CSVTests {
    @Test func quotesCommasAndLineBreaksInsideFields() throws {
        let text = "frame_id,defects,note\r\n12,\"scratch+dent\",\"a, b\"\n13,,\"two\nlines and \"\"quotes\"\"\"\n\n14,stain,x"
        let r = try CSV.parse(text)
        #expect(r.map(\.fields) == [["frame_id", "defects", "note"], ["12", "scratch+dent", "a, b"], ["13", "", "two\nlines and \"quotes\""], ["14", "stain", "x"]])
        #expect(r.map(\.line) == [1, 2, 3, 6], "each record names the line it starts on")
    }

    @Test(arguments: [("a,\"b\nc", "never closed"), ("a,\"b\"c\n", "after a closing quote"), ("a,b\"c\n", "inside an unquoted field")])
    func malformedQuotingIsRefusedWithItsLine(text: String, words: String) {
        #expect { _ = try CSV.parse(text) } throws: { "\($0)".contains(words) && "\($0)".hasPrefix("line 1") }
    }

    @Test func rowsRoundTrip() throws {
        // "\"\u{06EC}": a quote and a combining mark are one Character (the fuzzer's find).
        let fields = ["plain", "with,comma", "with \"quote\"", "two\nlines", "", "\"\u{06EC}", "cr\ronly"]
        #expect(try CSV.parse(CSV.row(fields)).map(\.fields) == [fields])
    }

    @Test func importChecksKindsForSafetyEvenWithoutAStage2Model() {
        let text = "frame_id,defects\n1,\"scratch+dent\"\n2,../../etc\n3,\"sc\"\"r\"\n4,good\n5,a/b\n"
        let (rows, problems) = LabelImport.parse(text, frames: [1, 2, 3, 4, 5], kinds: nil)
        #expect(rows == [LabelImport.Row(frame: 1, defects: ["scratch", "dent"]), LabelImport.Row(frame: 4, defects: [])])
        #expect(problems.count == 3 && problems.allSatisfy { $0.contains("is not a valid name") }, "\(problems)")
        #expect(problems.first?.hasPrefix("line 3:") == true)
    }

    @Test func defectKindNames() {
        for ok in ["scratch", "missing_feature", "Crack-2"] { #expect(DefectKind.isValid(ok)) }
        for bad in ["", "..", "a/b", "a,b", "a+b", "a\"b", "x\u{0}", "good", "Good", String(repeating: "a", count: 65), "ü"] {
            #expect(!DefectKind.isValid(bad), "\(bad)")
        }
    }
}
