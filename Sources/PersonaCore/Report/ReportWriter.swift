// Writes a run report: one self-contained HTML page (inline CSS and inline SVG, no scripts, fonts
// or images from anywhere: it opens offline and prints), the tables as CSV under `tables/`, and
// `report.json` (the ReportData itself). Every text on the page is HTML-escaped — answers come
// from a model — and missing or non-finite numbers show as "—", never as broken SVG.
import Foundation

public enum ReportError: Error, CustomStringConvertible, Equatable {
    case cannotWrite(path: String, reason: String)
    case badData(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotWrite(path, reason): return "\(path): cannot write the report: \(reason)"
        case let .badData(path, reason): return "\(path): not a report data file (ReportData JSON): \(reason)"
        }
    }
}

extension ReportData {
    /// The JSON encoder of report.json (sorted keys; NaN and infinities as strings).
    public static func jsonEncoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return e
    }

    public static func jsonDecoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return d
    }

    /// Reads a report.json file.
    public static func load(path: String) throws -> ReportData {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ReportError.badData(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
        do { return try jsonDecoder().decode(ReportData.self, from: data) } catch let DecodingError.keyNotFound(key, context) {
            throw ReportError.badData(path: path, reason: "missing field \(([key] + context.codingPath).map(\.stringValue).reversed().joined(separator: "."))")
        } catch let DecodingError.typeMismatch(type, context) {
            throw ReportError.badData(path: path, reason: "field \(context.codingPath.map(\.stringValue).joined(separator: ".")) is not \(type)")
        } catch {
            throw ReportError.badData(path: path, reason: "\(error)")
        }
    }
}

public enum ReportWriter {
    /// Writes `report.html`, `tables/*.csv` and `report.json` into `directory` (created if needed)
    /// and returns the HTML page's URL.
    @discardableResult
    public static func write(_ data: ReportData, to directory: URL) throws -> URL {
        let fm = FileManager.default
        let tables = directory.appendingPathComponent("tables")
        func attempt(_ path: String, _ body: () throws -> Void) throws {
            do { try body() } catch { throw ReportError.cannotWrite(path: path, reason: error.localizedDescription) }
        }
        try attempt(tables.path) { try fm.createDirectory(at: tables, withIntermediateDirectories: true) }
        for table in ReportCSV.tables(data) {
            let url = tables.appendingPathComponent(table.name + ".csv")
            try attempt(url.path) { try Data(table.text.utf8).write(to: url, options: .atomic) }
        }
        let json = directory.appendingPathComponent("report.json")
        try attempt(json.path) { try ReportData.jsonEncoder().encode(data).write(to: json, options: .atomic) }
        let html = directory.appendingPathComponent("report.html")
        try attempt(html.path) { try Data(page(data).utf8).write(to: html, options: .atomic) }
        return html
    }

    // MARK: The page

    private static func e(_ s: String) -> String { HTMLText.escape(s) }
    private static func n(_ x: Double?, _ digits: Int = 1) -> String { HTMLText.number(x, digits: digits) }

    /// The whole HTML page.
    public static func page(_ data: ReportData) -> String {
        var h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        h += "<title>Persona report · \(e(data.runName))</title>\n<style>\n\(css)</style>\n</head>\n<body>\n"
        h += header(data)
        h += overview(data)
        if data.traits.isEmpty { h += "<p class=\"empty\">This run has no trait results yet.</p>\n" }
        for trait in data.traits { h += traitSection(trait) }
        h +=
            "<footer>Written by persona. Tables: <code>tables/*.csv</code>; all data: <code>report.json</code>. Layers are 0-based block outputs (layer L = output of block L).</footer>\n"
        return h + "</body>\n</html>\n"
    }

    static let css = """
        body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #111; background: #fff; margin: 24px auto; max-width: 1200px; padding: 0 16px; line-height: 1.4; }
        h1 { font-size: 1.6em; margin: 0 0 .3em; } h2 { font-size: 1.3em; border-bottom: 2px solid #0072B2; padding-bottom: 3px; margin-top: 1.6em; } h3 { font-size: 1.05em; margin: 1em 0 .4em; }
        table { border-collapse: collapse; margin: .5em 0 1em; font-size: .9em; } th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: left; vertical-align: top; } th { background: #eef3f8; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: .6em 0; } dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0; word-break: break-all; }
        .charts { display: flex; flex-wrap: wrap; gap: 14px; } .charts > div { flex: 0 1 auto; max-width: 100%; }
        svg.chart { max-width: 100%; height: auto; border: 1px solid #ddd; font-size: 11px; }
        svg .title { font-size: 13px; font-weight: 600; } svg .label { font-size: 11px; fill: #333; } svg .small { font-size: 9px; fill: #333; }
        svg .grid { stroke: #e4e4e4; stroke-width: 1; } svg .axis { stroke: #333; stroke-width: 1; } svg .whisker { stroke: #333; stroke-width: 1.2; }
        svg .mark { stroke: #D55E00; stroke-width: 1.5; stroke-dasharray: 4 3; } svg .marklabel { font-size: 10px; fill: #D55E00; font-weight: 600; }
        svg .empty { font-size: 13px; fill: #777; } svg .cell { font-size: 11px; }
        .empty { color: #777; font-style: italic; } .warn { color: #a33; font-weight: 600; }
        .examples { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 10px; }
        .example { border: 1px solid #ccc; border-left: 4px solid #0072B2; padding: 6px 10px; background: #fafafa; }
        .example.low { border-left-color: #0072B2; } .example.zero { border-left-color: #777; } .example.high { border-left-color: #D55E00; }
        .example .c { font-size: .8em; font-weight: 700; text-transform: uppercase; letter-spacing: .04em; color: #333; }
        .example .q { font-weight: 600; margin-bottom: 4px; } .example .a { white-space: pre-wrap; word-break: break-word; font-size: .92em; }
        .example .s { font-size: .85em; color: #444; margin-top: 4px; }
        footer { margin-top: 2em; font-size: .85em; color: #555; border-top: 1px solid #ccc; padding-top: 6px; }
        @media print { body { margin: 0; max-width: none; } section, .example, svg { break-inside: avoid; } h2 { break-after: avoid; } }

        """

    private static func header(_ d: ReportData) -> String {
        var h = "<header>\n<h1>Persona run report: \(e(d.runName))</h1>\n<dl class=\"meta\">"
        for (k, v) in [("Model", d.model), ("Fingerprint", d.modelFingerprint), ("Judge", d.judge), ("Date", d.createdAt)] {
            h += "<dt>\(k)</dt><dd>\(v.isEmpty ? "—" : e(v))</dd>"
        }
        h += "</dl>\n"
        if d.settings.isEmpty {
            h += "<p class=\"empty\">no settings recorded</p>\n"
        } else {
            h += "<h3>Settings</h3>\n<table class=\"settings\"><tr><th>setting</th><th>value</th></tr>"
            for key in d.settings.keys.sorted() { h += "<tr><td>\(e(key))</td><td>\(e(d.settings[key] ?? ""))</td></tr>" }
            h += "</table>\n"
        }
        return h + "</header>\n"
    }

    private static func overview(_ d: ReportData) -> String {
        var h = "<section id=\"overview\">\n<h2>Overview</h2>\n"
        if !d.traits.isEmpty {
            h +=
                "<table class=\"summary\"><tr><th>trait</th><th>pairs kept / total</th><th>drop reasons</th><th>steering layer</th><th>best layer (sweep)</th><th>largest ‖v‖ (layer)</th><th>prompt-last r</th><th>judge AUC (gap)</th><th>trait score: low / 0 / high coefficient</th><th>P(trait answer): low / 0 / high</th></tr>"
            for t in d.traits {
                let warn = t.pairsKept < 5 ? " class=\"warn\" title=\"fewer than 5 pairs kept\"" : ""
                let reasons =
                    t.dropReasons.isEmpty
                    ? "—"
                    : t.dropReasons.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                        .map { "\(e($0.key)): \($0.value)" }.joined(separator: "<br>")
                let peak = t.vectorNorms.enumerated().filter { $0.element.isFinite }.max { $0.element < $1.element }
                let curve = t.steering.sorted { $0.coefficient < $1.coefficient }
                let zero = curve.first { $0.coefficient == 0 }
                let score = curve.isEmpty ? "no steering results" : "\(n(curve.first?.meanTrait)) / \(n(zero?.meanTrait)) / \(n(curve.last?.meanTrait))"
                h +=
                    "<tr><td><a href=\"#trait-\(anchor(t.trait))\">\(e(t.trait))</a></td><td\(warn) class=\"num\">\(t.pairsKept) / \(t.pairsTotal)</td><td>\(reasons)</td>"
                h += "<td class=\"num\">\(t.steeringLayer)</td><td class=\"num\">\(t.bestLayer.map(String.init) ?? "—")</td>"
                let behavior = (t.behavior ?? []).sorted { $0.coefficient < $1.coefficient }
                let behaviorCell =
                    behavior.isEmpty
                    ? "—"
                    : "\(n(behavior.first?.meanTraitProbability, 3)) / \(n(behavior.first { $0.coefficient == 0 }?.meanTraitProbability, 3)) / \(n(behavior.last?.meanTraitProbability, 3))"
                let auc = t.judgeQuality?.auc
                let aucWarn = (auc ?? 1) < JudgeQuality.warningAUC ? " class=\"warn num\" title=\"the judge cannot separate this trait\"" : " class=\"num\""
                h += "<td class=\"num\">\(peak.map { "\(n($0.element, 2)) (\($0.offset))" } ?? "—")</td><td class=\"num\">\(n(t.promptLastCorrelation, 3))</td>"
                h += "<td\(aucWarn)>\(n(auc, 2)) (\(n(t.judgeQuality?.meanGap)))</td><td>\(score)</td><td>\(behaviorCell)</td></tr>"
            }
            h += "</table>\n"
        }
        h += "<div class=\"charts\">"
        // Vector norm per layer, every trait on one chart.
        let normSeries = d.traits.enumerated().map { i, t in
            ChartSeries(
                name: t.trait, color: SVGChart.palette[i % SVGChart.palette.count], dash: SVGChart.dashes[i % SVGChart.dashes.count],
                marker: SVGChart.markers[i % SVGChart.markers.count], points: t.vectorNorms.enumerated().map { (Double($0.offset), $0.element) })
        }
        if normSeries.contains(where: { !$0.points.isEmpty }) {
            h += "<div>" + SVGChart.line(title: "Vector norm per layer", xLabel: "layer (block output)", yLabel: "‖v‖", series: normSeries) + "</div>"
        } else {
            h += "<div><p class=\"empty\">no vector norms</p></div>"
        }
        if let g = d.geometry { h += geometry(g) } else if d.traits.count > 1 { h += "<div><p class=\"empty\">no geometry results</p></div>" }
        return h + "</div>\n</section>\n"
    }

    private static func geometry(_ g: Geometry) -> String {
        var h = ""
        if g.traits.isEmpty { return "<div><p class=\"empty\">no geometry results</p></div>" }
        h += "<div>" + SVGChart.heatmap(title: "Cosine similarity between traits (layer \(g.layer))", labels: g.traits, matrix: g.cosine) + "</div>"
        if !g.perLayer.isEmpty && g.traits.count > 1 {
            var series: [ChartSeries] = []
            for i in 0..<g.traits.count {
                for j in (i + 1)..<g.traits.count {
                    let k = series.count
                    let points = g.perLayer.enumerated().map { layer, m -> (x: Double, y: Double?) in
                        (Double(layer), i < m.count && j < m[i].count ? m[i][j] : nil)
                    }
                    series.append(
                        ChartSeries(
                            name: "\(g.traits[i]) · \(g.traits[j])", color: SVGChart.palette[k % SVGChart.palette.count],
                            dash: SVGChart.dashes[k % SVGChart.dashes.count], marker: SVGChart.markers[k % SVGChart.markers.count], points: points))
                }
            }
            h +=
                "<div>"
                + SVGChart.line(
                    title: "Cosine similarity per layer", xLabel: "layer (block output)", yLabel: "cosine", series: series,
                    yDomain: (-1, 1), mark: (Double(g.layer), "layer \(g.layer)")) + "</div>"
        }
        return h
    }

    private static func anchor(_ s: String) -> String {
        String(s.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) ? Character($0) : "-" })
    }

    private static func traitSection(_ t: TraitReport) -> String {
        var h = "<section id=\"trait-\(anchor(t.trait))\" class=\"trait\">\n<h2>Trait: \(e(t.trait))</h2>\n"
        let warn = t.pairsKept < 5 ? " <span class=\"warn\">(fewer than 5 pairs kept: the vector is noisy)</span>" : ""
        h += "<p>Pairs kept: <b>\(t.pairsKept)</b> of \(t.pairsTotal)\(warn). Steering layer: \(t.steeringLayer)."
        if let r = t.promptLastCorrelation { h += " Last-prompt-token projection vs trait score: r = \(n(r, 3))." }
        h += "</p>\n"
        if let q = t.judgeQuality {
            let bad = (q.auc ?? 1) < JudgeQuality.warningAUC
            h += "<p\(bad ? " class=\"warn\"" : "")>Judge separation on the extraction answers: AUC <b>\(n(q.auc, 2))</b> "
            h +=
                "(\(q.positiveCount) trait-prompted vs \(q.negativeCount) helpful-prompted answers; mean trait score \(n(q.positiveMean)) vs \(n(q.negativeMean)), gap \(n(q.meanGap)); mean coherence \(n(q.coherenceMean)))."
            if bad { h += " The judge cannot tell these answers apart: its steering scores mean little; read the behavioural measure and the answers." }
            h += "</p>\n"
        }
        if let d = t.diagnostics {
            h +=
                "<p>Steerability diagnostics at layer \(d.layer): \(e(d.summaryText)). (Anti-steerable: share of two-choice items whose log-ratio falls as the coefficient rises; consistency: mean pairwise cosine of the kept pairs' activation differences; d: Cohen's d of positive vs negative projections.)</p>\n"
        }
        if !t.dropReasons.isEmpty {
            h += "<table><tr><th>drop reason</th><th>pairs</th></tr>"
            for (reason, count) in t.dropReasons.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
                h += "<tr><td>\(e(reason))</td><td class=\"num\">\(count)</td></tr>"
            }
            h += "</table>\n"
        }
        h += "<div class=\"charts\">"
        // Steering curve.
        if t.steering.isEmpty {
            h += "<div><p class=\"empty\">no steering results</p></div>"
        } else {
            let pts = t.steering.sorted { $0.coefficient < $1.coefficient }
            let series = [
                ChartSeries(name: "trait score", color: SVGChart.palette[0], marker: .circle, points: pts.map { ($0.coefficient, $0.meanTrait) }),
                ChartSeries(name: "coherence", color: SVGChart.palette[1], dash: "6 3", marker: .square, points: pts.map { ($0.coefficient, $0.meanCoherence) })
            ]
            h +=
                "<div>"
                + SVGChart.line(
                    title: "\(t.trait): steering at layer \(t.steeringLayer)", xLabel: "steering coefficient", yLabel: "mean score (0–100)",
                    series: series, yDomain: (0, 100)) + "</div>"
        }
        // Behavioural measure (judge-free).
        if let behavior = t.behavior, !behavior.isEmpty {
            let pts = behavior.sorted { $0.coefficient < $1.coefficient }
            let series = [
                ChartSeries(
                    name: "P(trait answer)", color: SVGChart.palette[2], marker: .diamond,
                    points: pts.map { ($0.coefficient, $0.meanTraitProbability) })
            ]
            h +=
                "<div>"
                + SVGChart.line(
                    title: "\(t.trait): behavioural measure (\(pts[0].itemCount) two-choice items, no judge)", xLabel: "steering coefficient",
                    yLabel: "mean P(trait answer)", series: series, yDomain: (0, 1)) + "</div>"
        }
        // Projections.
        if t.projections.isEmpty {
            h += "<div><p class=\"empty\">no projections</p></div>"
        } else {
            h +=
                "<div>"
                + SVGChart.boxPlot(
                    title: "\(t.trait): projection on the vector (layer \(t.steeringLayer))", yLabel: "(a·v)/‖v‖",
                    groups: t.projections.map { ($0.condition, $0.values) }) + "</div>"
        }
        // Layer sweep.
        if !t.layerSweep.isEmpty { h += "<div>" + layerSweep(t) + "</div>" }
        h += "</div>\n"
        h += steeringTable(t)
        h += searchSection(t)
        h += examples(t)
        return h + "</section>\n"
    }

    private static func steeringTable(_ t: TraitReport) -> String {
        guard !t.steering.isEmpty else { return "" }
        // Both units when the layer's mean residual norm is known (raw = norm × meanNorm_L / ‖v_L‖).
        let units = t.meanResidualNorms != nil
        let unit = t.coefficientUnit ?? "raw"
        var h =
            "<table><tr><th>coefficient (\(unit))</th>" + (units ? "<th>raw</th><th>norm units</th>" : "")
            + "<th>mean trait</th><th>mean coherence</th><th>scored / answers</th><th>P(trait answer)</th></tr>"
        for p in t.steering.sorted(by: { $0.coefficient < $1.coefficient }) {
            let b = t.behavior?.first { $0.coefficient == p.coefficient }?.meanTraitProbability
            let both = units ? t.bothUnits(p.coefficient, layer: p.layer) : nil
            h +=
                "<tr><td class=\"num\">\(HTMLText.tick(p.coefficient))</td>"
                + (units ? "<td class=\"num\">\(n(both?.raw, 2))</td><td class=\"num\">\(n(both?.norm, 3))</td>" : "")
                + "<td class=\"num\">\(n(p.meanTrait))</td><td class=\"num\">\(n(p.meanCoherence))</td><td class=\"num\">\(p.scoredCount) / \(p.answerCount)</td><td class=\"num\">\(n(b, 3))</td></tr>"
        }
        return h + "</table>\n"
    }

    /// Per swept layer: trait change from the smallest to the largest |coefficient| (coefficient 0
    /// when present), and whether coherence stayed ≥ 50 at the largest coefficient.
    struct SweepRow: Equatable { var layer: Int; var change: Double?; var coherence: Double?; var coefficient: Double }

    static func sweepRows(_ points: [SteeringPoint]) -> [SweepRow] {
        Dictionary(grouping: points, by: \.layer).keys.sorted().compactMap { layer in
            let pts = points.filter { $0.layer == layer }.sorted { $0.coefficient < $1.coefficient }
            guard let high = pts.max(by: { $0.coefficient < $1.coefficient }) else { return nil }
            let base = pts.first { $0.coefficient == 0 } ?? pts.min { abs($0.coefficient) < abs($1.coefficient) }
            var change: Double? = nil
            if let b = base?.meanTrait, let v = high.meanTrait, b.isFinite, v.isFinite, base?.coefficient != high.coefficient {
                change = v - b
            } else if pts.count == 1, let v = high.meanTrait, v.isFinite {
                change = v
            }
            return SweepRow(layer: layer, change: change, coherence: high.meanCoherence, coefficient: high.coefficient)
        }
    }

    private static func layerSweep(_ t: TraitReport) -> String {
        let rows = sweepRows(t.layerSweep)
        let single = Set(t.layerSweep.map(\.coefficient)).count == 1
        let bars = rows.map { r in
            SVGChart.Bar(
                label: String(r.layer), value: r.change, muted: !((r.coherence ?? 0) >= 50), highlight: r.layer == t.bestLayer,
                note: "coherence \(HTMLText.number(r.coherence)) at coefficient \(HTMLText.tick(r.coefficient))")
        }
        let coefficient = rows.first.map { HTMLText.tick($0.coefficient) } ?? ""
        let yLabel = single ? "mean trait score" : "trait change (coef. \(coefficient) vs 0)"
        return SVGChart.bars(
            title: "\(t.trait): layer sweep" + (t.bestLayer.map { " (best layer \($0))" } ?? ""),
            xLabel: "layer (block output)", yLabel: yLabel, bars: bars,
            legend: ["coherence ≥ 50", "coherence < 50", "best layer"])
    }

    /// The search: the choice and the judged answers there beside c = 0 and prompting, then one
    /// heatmap per source (rows layers, columns coefficients; colour: change of P(trait answer);
    /// hatched grey: over the coherence floor; outlined: chosen).
    private static func searchSection(_ t: TraitReport) -> String {
        guard let results = t.search, !results.isEmpty else { return "" }
        var h = "<h3>Steering search</h3>\n"
        let base = t.steering.first { $0.coefficient == 0 }
        if let c = t.searchChoice {
            h +=
                "<p>Chosen: <b>\(e(c.source))</b> vector at layer <b>\(c.layer)</b>, c = <b>\(e(HTMLText.tick(c.coefficient)))</b> \(e(c.coefficientUnit)) units "
                + "(raw \(n(c.rawCoefficient, 2))): P(trait answer) \(n(c.baselineTraitProbability, 3)) → <b>\(n(c.traitProbability, 3))</b>, "
                + "KL \(n(c.coherenceCost, 3)) nats/token. \(e(c.reason))</p>\n"
            h += "<table><tr><th>condition</th><th>mean trait</th><th>mean coherence</th><th>answers</th></tr>"
            h +=
                "<tr><td>unsteered (c = 0)</td><td class=\"num\">\(n(base?.meanTrait))</td><td class=\"num\">\(n(base?.meanCoherence))</td><td class=\"num\">\(base?.answerCount ?? 0)</td></tr>"
            if let p = t.chosen {
                h +=
                    "<tr><td>steered at the search's choice</td><td class=\"num\"><b>\(n(p.meanTrait))</b></td><td class=\"num\">\(n(p.meanCoherence))</td><td class=\"num\">\(p.answerCount)</td></tr>"
            }
            if let b = t.promptingBaseline {
                h +=
                    "<tr><td>prompted (positive system prompt)</td><td class=\"num\">\(n(b.meanTrait))</td><td class=\"num\">\(n(b.meanCoherence))</td><td class=\"num\">\(b.answerCount)</td></tr>"
            }
            h += "</table>\n"
        } else if let b = t.promptingBaseline {
            h +=
                "<p>Prompting baseline (positive system prompt): mean trait \(n(b.meanTrait)), coherence \(n(b.meanCoherence)) over \(b.answerCount) answers.</p>\n"
        }
        for r in results {
            h += heatmap(r)
        }
        return h
    }

    static func heatmap(_ r: SearchResult) -> String {
        let layers = Array(Set(r.points.map(\.layer))).sorted()
        let coefficients = Array(Set(r.points.map(\.coefficient))).sorted()
        let scale = max(r.points.map { abs($0.effect) }.max() ?? 0, 1e-9)
        var h =
            "<table class=\"heatmap\"><caption>\(e(r.trait)), \(e(r.source)) vector: change of P(trait answer) on \(r.measurementItems) measurement items "
            + "(unsteered \(n(r.baselineTraitProbability, 3))) and KL per token; coefficients in \(e(r.coefficientUnit)) units; "
            + "grey: KL over the floor \(n(r.maxKL, 2)); outlined: chosen</caption><tr><th>layer</th>"
        for c in coefficients { h += "<th>c = \(e(HTMLText.tick(c)))</th>" }
        h += "</tr>"
        for l in layers {
            h += "<tr><th>\(l)</th>"
            for c in coefficients {
                guard let p = r.points.first(where: { $0.layer == l && $0.coefficient == c }) else { h += "<td>-</td>"; continue }
                let over = p.coherenceCost > r.maxKL
                let a = min(abs(p.effect) / scale, 1)
                let colour =
                    over
                    ? "background:#ddd;color:#777"
                    : (p.effect >= 0
                        ? String(format: "background:rgba(214,39,40,%.2f)", a * 0.8)
                        : String(format: "background:rgba(31,119,180,%.2f)", a * 0.8))
                let chosen = p == r.chosen ? ";outline:3px solid #000" : ""
                h += "<td class=\"num\" style=\"\(colour)\(chosen)\">\(String(format: "%+.3f", p.effect))<br><small>KL \(n(p.coherenceCost, 2))</small></td>"
            }
            h += "</tr>"
        }
        let anti =
            r.antiSteerableFraction.map {
                "; anti-steerable at the chosen layer: \(n($0, 2)) of \(r.measurementItems) measurement items (log-ratio falling as c rises)"
            } ?? ""
        h += "</table>\n<p>\(e(r.source)): \(e(r.reason))\(e(anti))</p>\n"
        return h
    }

    private static func examples(_ t: TraitReport) -> String {
        guard !t.examples.isEmpty else { return "<p class=\"empty\">no example answers</p>\n" }
        let coefficients = Array(Set(t.examples.map(\.coefficient))).sorted()
        var h = "<h3>Example answers</h3>\n<div class=\"examples\">"
        var more: [String] = []
        for coefficient in coefficients {
            let kind = coefficient < 0 ? "low" : coefficient > 0 ? "high" : "zero"
            let group = t.examples.filter { $0.coefficient == coefficient }
            for ex in group.prefix(4) {
                var answer = ex.answer
                var cut = ""
                if answer.count > 2_000 {
                    answer = String(answer.prefix(2_000)); cut = " <span class=\"empty\">[… cut; full text in tables/examples.csv]</span>"
                }
                let title = ex.label ?? "coefficient \(HTMLText.tick(coefficient))"
                h +=
                    "<div class=\"example \(kind)\"><div class=\"c\">\(e(title))</div><div class=\"q\">\(e(ex.question))</div><div class=\"a\">\(e(answer))\(cut)</div>"
                h += "<div class=\"s\">trait \(n(ex.traitScore)) · coherence \(n(ex.coherence))</div></div>"
            }
            if group.count > 4 { more.append("\(group.count - 4) more at coefficient \(HTMLText.tick(coefficient))") }
        }
        h += "</div>\n"
        if !more.isEmpty { h += "<p class=\"empty\">\(e(more.joined(separator: "; "))) in tables/examples.csv</p>\n" }
        return h
    }
}
