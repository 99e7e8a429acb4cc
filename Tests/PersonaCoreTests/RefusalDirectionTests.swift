// The refusal request set (validation with file, field and value) and the direction's arithmetic.
import Foundation
import XCTest
import PersonaTestSupport
@testable import PersonaCore

final class RefusalDirectionTests: XCTestCase {
    func testTheRepositorySetIsValid() throws {
        let path = TestPaths.root.appendingPathComponent(RequestContrastSet.defaultPath).path
        let set = try RequestContrastSet.load(path: path)
        XCTAssertEqual(set.name, "refusal")
        XCTAssertEqual(set.harmful.count, set.harmless.count, "the two sides are written as matched pairs")
        XCTAssertGreaterThanOrEqual(set.harmful.count, 12)
    }

    func testErrorsNameFileFieldAndValue() {
        let f = "set.json"
        func parse(_ json: String) throws -> RequestContrastSet { try RequestContrastSet.parse(Data(json.utf8), file: f) }
        let four = #"["a", "b", "c", "d"]"#
        assertThrows(ContrastSetError.notJSON(file: f, reason: "the top level is not an object")) { try parse("[1]") }
        assertThrows(ContrastSetError.missing(file: f, field: "name")) { try parse("{}") }
        assertThrows(ContrastSetError.wrongType(file: f, field: "name", expected: "a string")) { try parse(#"{"name": 3}"#) }
        assertThrows(ContrastSetError.badValue(file: f, field: "description", value: " ", problem: "must not be empty")) {
            try parse(#"{"name": "r", "description": " "}"#)
        }
        assertThrows(ContrastSetError.wrongType(file: f, field: "harmful[1]", expected: "a string")) {
            try parse(#"{"name": "r", "description": "d", "harmful": ["a", 2]}"#)
        }
        assertThrows(ContrastSetError.badValue(file: f, field: "harmful[2]", value: "a", problem: "appears twice")) {
            try parse(#"{"name": "r", "description": "d", "harmful": ["a", "b", "a"]}"#)
        }
        assertThrows(ContrastSetError.badValue(file: f, field: "harmful", value: "2 requests", problem: "needs at least 4")) {
            try parse(#"{"name": "r", "description": "d", "harmful": ["a", "b"]}"#)
        }
        assertThrows(ContrastSetError.badValue(file: f, field: "harmless", value: "c", problem: "also listed under \"harmful\"")) {
            try parse(#"{"name": "r", "description": "d", "harmful": \#(four), "harmless": ["c", "x", "y", "z"]}"#)
        }
        XCTAssertNoThrow(try parse(#"{"name": "r", "description": "d", "harmful": \#(four), "harmless": ["w", "x", "y", "z"]}"#))
    }

    func testDifferenceIsMeanMinusMeanPerLayer() {
        // [request][layer][hidden]
        let harmful: [[[Float]]] = [[[1, 0], [2, 2]], [[3, 0], [4, 2]]]
        let harmless: [[[Float]]] = [[[0, 1], [1, 1]], [[0, 3], [1, 1]], [[0, 2], [1, 1]]]
        XCTAssertEqual(RefusalDirection.difference(harmful: harmful, harmless: harmless), [[2, -2], [2, 1]])
    }
}
