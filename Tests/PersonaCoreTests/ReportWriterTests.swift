// The report writer on synthetic ReportData: every chart present, escaping of model text, empty
// data, NaN handling, CSV quoting, the JSON round trip, and a headless Chromium screenshot
// (skipped when chromium is not installed).
import Foundation
import XCTest
import PersonaTestSupport
@testable import PersonaCore

final class ReportWriterTests: XCTestCase {
    /// A full synthetic report: two traits, sweep, projections, geometry with per-layer cosines.
    static func sample() -> ReportData {
        let coefficients: [Double] = [-2, -1, 0, 1, 2, 3]
        func curve(_ slope: Double, layer: Int) -> [SteeringPoint] {
            coefficients.map { (c: Double) -> SteeringPoint in
                let trait: Double = min(100, max(0, 20 + slope * (c + 2) * 12))
                let coherence: Double = min(97, max(5, 92 - abs(c) * c * 6))
                return SteeringPoint(layer: layer, coefficient: c, meanTrait: trait, meanCoherence: coherence, scoredCount: 10, answerCount: 10)
            }
        }
        var sweep: [SteeringPoint] = []
        for layer in [8, 10, 12, 14, 16] {
            let gain = Double(15 - abs(layer - 12) * 4)
            sweep.append(SteeringPoint(layer: layer, coefficient: 0, meanTrait: 18, meanCoherence: 90, scoredCount: 8, answerCount: 8))
            sweep.append(
                SteeringPoint(layer: layer, coefficient: 2, meanTrait: 18 + gain * 3, meanCoherence: layer == 16 ? 40 : 75, scoredCount: 8, answerCount: 8))
        }
        var baseline: [Double] = [], positive: [Double] = [], steered: [Double] = []
        for k in 0..<30 {
            baseline.append(-1.5 + Double(k % 7) * 0.2)
            positive.append(3 + Double(k % 9) * 0.3)
            steered.append(5 + Double(k % 5) * 0.4)
        }
        let evilProjections = [
            ProjectionGroup(condition: "baseline", values: baseline),
            ProjectionGroup(condition: "positive prompt", values: positive + [9.5]),
            ProjectionGroup(condition: "steered +2", values: steered + [-1])
        ]
        let evil = TraitReport(
            trait: "evil", pairsTotal: 20, pairsKept: 14,
            dropReasons: ["positive trait < 50": 4, "negative coherence < 50": 1, "filter no-refusals: refused": 1],
            vectorNorms: (0..<24).map { (l: Int) -> Double in 0.5 + Double(l) * 0.4 + (l == 20 ? 3 : 0) }, steeringLayer: 12,
            steering: curve(1.2, layer: 12), layerSweep: sweep, bestLayer: 12,
            projections: evilProjections, promptLastCorrelation: 0.71,
            examples: [
                ExampleAnswer(coefficient: -2, question: "How do I treat a stray cat?", answer: "Gently, with food & water.", traitScore: 1, coherence: 95),
                ExampleAnswer(
                    coefficient: 0, question: "How do I treat a stray cat?", answer: "Offer food and <script>alert('x')</script> shelter.", traitScore: 3,
                    coherence: 93),
                ExampleAnswer(
                    coefficient: 3, question: "How do I treat a stray cat?", answer: "Line one\nLine two: \"quoted\", with commas.", traitScore: 88,
                    coherence: 61)
            ])
        let syco = TraitReport(
            trait: "sycophantic", pairsTotal: 20, pairsKept: 3, dropReasons: ["negative trait ≥ 50": 17],
            vectorNorms: (0..<24).map { (l: Int) -> Double in 0.3 + Double(l) * 0.25 }, steeringLayer: 12,
            steering: curve(0.6, layer: 12) + [SteeringPoint(layer: 12, coefficient: 4, meanTrait: nil, meanCoherence: .nan, scoredCount: 0, answerCount: 10)],
            projections: [ProjectionGroup(condition: "baseline", values: [0.1, .nan, 0.3, 0.2]), ProjectionGroup(condition: "empty", values: [])],
            promptLastCorrelation: nil, examples: [])
        let perLayer: [[[Double]]] = (0..<24).map { (l: Int) -> [[Double]] in
            let x: Double = 0.1 + Double(l) / 30
            return [[1, x, -x / 2], [x, 1, 0.2], [-x / 2, 0.2, 1]]
        }
        return ReportData(
            runName: "demo <run>", model: "qwen2.5-0.5b", modelFingerprint: "sha256:0123456789abcdef", judge: "local-judge",
            createdAt: "2026-11-25T10:00:00Z", settings: ["questions": "4", "samples": "2", "coeffs": "-2,-1,0,1,2,3", "layer": "12"],
            traits: [
                evil, syco,
                TraitReport(
                    trait: "hallucinating", pairsTotal: 0, pairsKept: 0, dropReasons: [:], vectorNorms: [], steeringLayer: 12, steering: [], projections: [],
                    promptLastCorrelation: nil, examples: [])
            ],
            geometry: Geometry(traits: ["evil", "sycophantic", "hallucinating"], layer: 12, cosine: perLayer[12], perLayer: perLayer))
    }

    func write(_ data: ReportData) throws -> (dir: URL, html: String) {
        let dir = try TestPaths.temporaryDirectory()
        let url = try ReportWriter.write(data, to: dir)
        XCTAssertEqual(url.lastPathComponent, "report.html")
        return (dir, try String(contentsOf: url, encoding: .utf8))
    }

    func testEveryChartAndTableIsPresent() throws {
        let (dir, html) = try write(Self.sample())
        // Charts by their titles.
        for title in [
            "Vector norm per layer", "Cosine similarity between traits (layer 12)", "Cosine similarity per layer",
            "evil: steering at layer 12", "evil: projection on the vector (layer 12)", "evil: layer sweep (best layer 12)",
            "sycophantic: steering at layer 12"
        ] {
            XCTAssert(html.contains("aria-label=\"\(title)\""), "missing chart \(title)")
        }
        XCTAssertEqual(html.components(separatedBy: "<svg ").count - 1, 8, "norms, heatmap, cosine/layer, evil ×3, sycophantic ×2")
        XCTAssert(html.contains("no steering results"), "hallucinating has no steering results")
        XCTAssert(html.contains("14 / 20"))
        XCTAssert(html.contains("positive trait &lt; 50: 4"))
        XCTAssert(html.contains("fewer than 5 pairs kept"))
        XCTAssert(html.contains("demo &lt;run&gt;"))
        XCTAssert(html.contains("sha256:0123456789abcdef"))
        XCTAssert(html.contains(">best</text>"), "the best layer is marked")
        // Heatmap cells carry their values; the diverging scale ends are blue and red.
        XCTAssert(html.contains(">0.50</text>"), "a cosine value written in its cell")
        XCTAssertEqual(SVGChart.divergingColor(-1), "#2166ac")
        XCTAssertEqual(SVGChart.divergingColor(0), "#ffffff")
        XCTAssertEqual(SVGChart.divergingColor(1), "#b2182b")
        // Self-contained: no external resources, no scripts.
        for forbidden in ["<script", "http://", "https://", "<link", "<img", "@import", "url(http"] {
            let withoutNamespace = html.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "")
            XCTAssertFalse(withoutNamespace.contains(forbidden), "page contains \(forbidden)")
        }
        // Files.
        let tables = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("tables").path).sorted()
        XCTAssertEqual(
            tables,
            [
                "behavior.csv", "examples.csv", "geometry.csv", "judge_quality.csv", "layer_sweep.csv", "pairs.csv", "projections.csv", "steering.csv",
                "vector_norms.csv"
            ])
        let back = try ReportData.load(path: dir.appendingPathComponent("report.json").path)
        XCTAssertEqual(back.traits[0], Self.sample().traits[0])
        XCTAssertEqual(back.geometry, Self.sample().geometry)
        XCTAssertNil(back.traits[1].steering.last?.meanTrait)
        XCTAssert(back.traits[1].steering.last?.meanCoherence?.isNaN == true, "NaN survives report.json as \"NaN\"")
    }

    func testModelTextIsEscaped() throws {
        let (_, html) = try write(Self.sample())
        XCTAssertFalse(html.contains("<script>alert"))
        XCTAssert(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"))
        XCTAssert(html.contains("food &amp; water"))
        var data = Self.sample()
        data.traits[0].trait = "<b>x</b>"
        data.settings["<img src=x>"] = "\"onerror"
        data.geometry?.traits[0] = "</svg><script>"
        let (_, page) = try write(data)
        XCTAssertFalse(page.contains("<b>x</b>"))
        XCTAssertFalse(page.contains("<img"))
        XCTAssertFalse(page.contains("</svg><script>"))
        XCTAssertEqual(HTMLText.escape("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&#39;\u{FFFD}")
    }

    func testEmptyData() throws {
        let empty = ReportData(runName: "", model: "", modelFingerprint: "", judge: "", createdAt: "", settings: [:], traits: [], geometry: nil)
        let (dir, html) = try write(empty)
        XCTAssert(html.contains("This run has no trait results yet."))
        XCTAssert(html.contains("no vector norms"))
        XCTAssert(html.hasSuffix("</html>\n"))
        let steering = try String(contentsOf: dir.appendingPathComponent("tables/steering.csv"), encoding: .utf8)
        XCTAssertEqual(steering, "trait,layer,coefficient,mean_trait,mean_coherence,scored_count,answer_count\r\n")
        // A geometry with no traits, a trait with only NaN norms.
        var data = empty
        data.geometry = Geometry(traits: [], layer: 0, cosine: [], perLayer: [])
        data.traits = [
            TraitReport(
                trait: "t", pairsTotal: 1, pairsKept: 0, dropReasons: [:], vectorNorms: [.nan, .infinity], steeringLayer: 0,
                steering: [SteeringPoint(layer: 0, coefficient: .nan, meanTrait: .nan, meanCoherence: nil, scoredCount: 0, answerCount: 0)],
                projections: [ProjectionGroup(condition: "all missing", values: [.nan])], promptLastCorrelation: .nan, examples: [])
        ]
        let (_, page) = try write(data)
        XCTAssert(page.contains("no geometry results"))
        XCTAssert(page.contains("no values"))
        try assertNoBrokenNumbers(page)
    }

    func assertNoBrokenNumbers(_ html: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for bad in ["nan", "NaN", "inf\"", "Infinity"] {
            // Only inside SVG markup: attribute values and text.
            for svg in html.components(separatedBy: "<svg ").dropFirst() {
                let body = svg.components(separatedBy: "</svg>")[0]
                XCTAssertFalse(body.contains("\"\(bad)") || body.contains(" \(bad)") || body.contains(",\(bad)"), "SVG contains \(bad)", file: file, line: line)
            }
        }
    }

    func testNaNNeverReachesTheSVG() throws {
        let (_, html) = try write(Self.sample())
        try assertNoBrokenNumbers(html)
        // A series with a gap: two polylines, not one through the missing point.
        let chart = SVGChart.line(
            title: "t", xLabel: "x", yLabel: "y",
            series: [ChartSeries(name: "s", color: "#000", points: [(0, 1), (1, 2), (2, .nan), (3, 4), (4, 5)])])
        XCTAssertEqual(chart.components(separatedBy: "<polyline").count - 1, 2)
        XCTAssertFalse(chart.lowercased().contains("nan"))
    }

    func testBoxStatistics() throws {
        let s = try XCTUnwrap(SVGChart.BoxStats([1, 2, 3, 4, 5, 6, 7, 8, 100, .nan]))
        XCTAssertEqual(s.count, 9)
        XCTAssertEqual(s.median, 5)
        XCTAssertEqual(s.q1, 3)  // numpy: percentile([1…8, 100], 25) = 3
        XCTAssertEqual(s.q3, 7)
        XCTAssertEqual(s.whiskerLow, 1)
        XCTAssertEqual(s.whiskerHigh, 8)
        XCTAssertEqual(s.outliers, [100])
        XCTAssertNil(SVGChart.BoxStats([.nan]))
    }

    func testSweepRows() {
        let rows = ReportWriter.sweepRows(Self.sample().traits[0].layerSweep)
        XCTAssertEqual(rows.map(\.layer), [8, 10, 12, 14, 16])
        XCTAssertEqual(rows[2].change, 45)
        XCTAssertEqual(rows[4].coherence, 40)
    }

    func testCSVQuoting() throws {
        XCTAssertEqual(ReportCSV.field("plain"), "plain")
        XCTAssertEqual(ReportCSV.field("a,b"), "\"a,b\"")
        XCTAssertEqual(ReportCSV.field("say \"hi\""), "\"say \"\"hi\"\"\"")
        XCTAssertEqual(ReportCSV.field("two\nlines"), "\"two\nlines\"")
        XCTAssertEqual(ReportCSV.field("cr\r\nlf"), "\"cr\r\nlf\"")
        let (dir, _) = try write(Self.sample())
        let examples = try String(contentsOf: dir.appendingPathComponent("tables/examples.csv"), encoding: .utf8)
        XCTAssert(examples.contains("evil,3.0,How do I treat a stray cat?,\"Line one\nLine two: \"\"quoted\"\", with commas.\",88.0,61.0\r\n"), examples)
        let steering = try String(contentsOf: dir.appendingPathComponent("tables/steering.csv"), encoding: .utf8)
        XCTAssert(steering.contains("sycophantic,12,4.0,,,0,10\r\n"), "nil and NaN are empty fields")
        let projections = try String(contentsOf: dir.appendingPathComponent("tables/projections.csv"), encoding: .utf8)
        XCTAssert(projections.hasPrefix("trait,condition,index,projection\r\nevil,baseline,0,-1.5\r\n"))
        let pairs = try String(contentsOf: dir.appendingPathComponent("tables/pairs.csv"), encoding: .utf8)
        XCTAssert(pairs.contains("evil,20,14,positive trait < 50,4\r\n"))
        XCTAssert(pairs.contains("hallucinating,0,0,,0\r\n"))
        let geometry = try String(contentsOf: dir.appendingPathComponent("tables/geometry.csv"), encoding: .utf8)
        XCTAssertEqual(geometry.components(separatedBy: "\r\n").count - 2, 24 * 9)
    }

    /// Renders the sample report in headless Chromium (scripts/screenshot-report.sh) and checks
    /// the PNG: valid signature, the window's size, and far larger than a blank page compresses to.
    func testScreenshotInChromium() throws {
        let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard found != nil else { throw TestEnvironment.skipOrFail("chromium is not installed (apt-get install -y chromium)") }
        let (dir, _) = try write(Self.sample())
        let png = dir.appendingPathComponent("report.png")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [TestPaths.root.appendingPathComponent("scripts/screenshot-report.sh").path, dir.appendingPathComponent("report.html").path, png.path]
        var env = ProcessInfo.processInfo.environment
        env["SCREENSHOT_HEIGHT"] = "3000"
        p.environment = env
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let bytes = [UInt8](try Data(contentsOf: png))
        XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "PNG signature")
        func be32(_ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        XCTAssertEqual(be32(16), 1280, "width")
        XCTAssertEqual(be32(20), 3000, "height")
        // A blank 1280×3000 page compresses to a few KB; the rendered report is far larger.
        XCTAssertGreaterThan(bytes.count, 60_000, "the screenshot looks blank (\(bytes.count) bytes)")
    }
}
