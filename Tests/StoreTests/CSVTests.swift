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
        for bad in ["", "..", "a/b", "a,b", "a+b", "a\"b", "x\u{0}", "good", "Good", "OK", "pass", String(repeating: "a", count: 65), "ü"] {
            #expect(!DefectKind.isValid(bad), "\(bad)")
        }
    }

    @Test func labelStudioExportsGiveTheLastAnnotationThatWasNotCancelled() throws {
        let json = """
        [{"id": 7, "data": {"image": "/data/local-files/?d=images/1.jpg", "frame_id": 1},
          "annotations": [{"result": [{"type": "choices", "from_name": "defects", "to_name": "image", "value": {"choices": ["scratch"]}}]},
                          {"result": [{"type": "choices", "value": {"choices": ["scratch", "dent"]}}]},
                          {"was_cancelled": true, "result": [{"type": "choices", "value": {"choices": ["good"]}}]}],
          "predictions": [{"result": [{"type": "choices", "value": {"choices": ["stain"]}}]}]},
         {"id": 8, "data": {"image": "/data/local-files/?d=images/2.jpg"}, "annotations": [{"result": [{"type": "choices", "value": {"choices": ["good"]}}]}]},
         {"id": 9, "data": {"image": "images/3.jpg", "frame_id": 3}, "predictions": [{"result": [{"type": "choices", "value": {"choices": ["dent"]}}]}]},
         {"id": 10, "data": {"frame_id": "4"}, "annotations": [{"result": [{"type": "choices", "value": {"choices": ["good", "dent"]}}]}]},
         {"id": 11, "data": {"frame_id": 99}, "annotations": [{"result": [{"type": "choices", "value": {"choices": ["dent"]}}]}]},
         {"id": 12, "data": {"frame_id": 5}, "annotations": [{"result": [{"type": "choices", "value": {"choices": ["wobble"]}}]}]},
         "not a task"]
        """
        let r = LabelImport.parse(Data(json.utf8), format: .labelstudio, frames: [1, 2, 3, 4, 5], kinds: ["scratch", "dent"])
        #expect(r.rows == [LabelImport.Row(frame: 1, defects: ["scratch", "dent"]), LabelImport.Row(frame: 2, defects: [])])
        #expect(r.unlabelled == 1, "task 9 has only the model's prediction")
        #expect(r.problems.count == 4, "\(r.problems)")
        #expect(r.problems[0] == "task 4 (id 10): frame 4 is labelled both good and dent")
        #expect(r.problems[1].contains("frame 99 does not exist") && r.problems[2].contains("unknown defect kind 'wobble'"))
        #expect(r.problems[3].hasPrefix("task 7:"))
        for bad in ["{\"tasks\": []}", "[1, 2", ""] {
            let p = LabelImport.parse(Data(bad.utf8), format: .labelstudio, frames: [1], kinds: nil)
            #expect(p.rows.isEmpty && p.problems.count == 1 && p.problems[0].contains("list of tasks"), "\(bad): \(p.problems)")
        }
    }

    @Test func cvatXMLGivesEachImagesTags() throws {
        let xml = """
        <?xml version="1.0" encoding="utf-8"?>
        <!-- exported by CVAT -->
        <annotations>
          <version>1.1</version>
          <meta><task><labels><label><name>good</name></label></labels></task></meta>
          <image id="0" name="images/1.jpg" width="48" height="40"><tag label="scratch" source="manual"></tag><tag label='dent' source="manual"/></image>
          <image id="1" name="2.jpg" width="48" height="40">
            <tag label="good" source="manual"></tag>
          </image>
          <image id="2" name="3.jpg" width="48" height="40"></image>
          <image id="3" name="4.jpg" width="48" height="40"><tag label="sc&amp;r" source="manual"/></image>
        </annotations>
        """
        let r = LabelImport.parse(Data(xml.utf8), format: .cvat, frames: [1, 2, 3, 4], kinds: nil)
        #expect(r.rows == [LabelImport.Row(frame: 1, defects: ["scratch", "dent"]), LabelImport.Row(frame: 2, defects: [])])
        #expect(r.unlabelled == 1 && r.problems == ["image 3 (4.jpg): defect kind 'sc&r' is not a valid name (1-64 letters, digits, '_' or '-'; not good, ok or pass)"], "\(r.problems)")
        let hostile = [
            ("<!DOCTYPE x [<!ENTITY a \"aaaa\">]><annotations/>", "document type declarations are not accepted"),
            ("<annotations><image name=\"1.jpg\"><tag label=\"&a;\"/></image></annotations>", "unknown entity"),
            ("<annotations><image name=\"1.jpg\">", "is never closed"),
            ("<annotations></image></annotations>", "closes nothing open"),
            ("<annotations><image name=1.jpg/></annotations>", "not quoted"),
            ("<labels/>", "root element must be <annotations>"),
            ("<annotations><image name=\"1.jpg\" name=\"2.jpg\"/></annotations>", "given twice"),
            ("<annotations><image name=\"1.jpg", "is not closed"),
            ("<annotations><image name=\"1.jpg\"", "unterminated tag"),
            ("<annotations><!-- never ends", "unterminated markup"),
        ]
        for (text, words) in hostile {
            let p = LabelImport.parse(Data(text.utf8), format: .cvat, frames: [1], kinds: nil)
            #expect(p.rows.isEmpty && p.problems.count == 1 && p.problems[0].contains(words), "\(text): \(p.problems)")
        }
        #expect(try XMLScanner.unescape("a&lt;b&#x41;&#66;&quot;", 1) == "a<bAB\"")
        #expect(LabelImport.Format(file: "x.JSON") == .labelstudio && LabelImport.Format(file: "a.xml") == .cvat && LabelImport.Format(file: "a.txt") == .csv)
    }
}
