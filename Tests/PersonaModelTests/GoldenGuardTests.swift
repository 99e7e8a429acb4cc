// The guards that keep golden tests from passing empty: a reference without cases, a step without
// its logits, and a skip that hides a failure under CI=true.
import Foundation
import XCTest
import PersonaTestSupport

final class GoldenGuardTests: XCTestCase {
    func testReferenceWithoutCasesFails() {
        let empty: [String: Any] = [:]
        XCTAssertThrowsError(try empty.cases("cases", in: "tokenize")) { XCTAssert("\($0)".contains("no list \"cases\""), "\($0)") }
        let none: [String: Any] = ["cases": [Any]()]
        XCTAssertThrowsError(try none.cases("cases", in: "tokenize")) { XCTAssert("\($0)".contains("0 cases"), "\($0)") }
        let malformed: [String: Any] = ["cases": [["text": "a"], 3]]
        XCTAssertThrowsError(try malformed.cases("cases", in: "tokenize")) { XCTAssert("\($0)".contains("1 cases of 2"), "\($0)") }
        let good: [String: Any] = ["cases": [["text": "a"]]]
        XCTAssertEqual(try good.cases("cases", in: "tokenize").count, 1)
    }

    func testMissingLogitFailsInsteadOfReadingZero() {
        let step: [String: Any] = ["logit": 12.5]
        XCTAssertEqual(try step.number("logit", in: "step 3"), 12.5)
        XCTAssertThrowsError(try step.number("runner_up_logit", in: "step 3")) { XCTAssert("\($0)".contains("step 3: no number \"runner_up_logit\""), "\($0)") }
    }

    func testSkipsThatHideFailuresFailUnderCI() {
        XCTAssert(TestEnvironment.skipOrFail("the server did not start", environment: [:]) is XCTSkip)
        XCTAssert(TestEnvironment.skipOrFail("the server did not start", environment: ["CI": "false"]) is XCTSkip)
        let failure = TestEnvironment.skipOrFail("the server did not start", environment: ["CI": "true"])
        XCTAssertFalse(failure is XCTSkip)
        XCTAssert("\(failure)".contains("the server did not start (CI=true"), "\(failure)")
    }
}
