// Small inline-SVG chart helpers for the report: linear scales with "nice" ticks, line charts,
// box plots, bar charts and a diverging heatmap. Every chart has axes, tick labels, axis titles
// and a legend where there is more than one series. Colours come from the Okabe–Ito palette
// (distinct for colour-blind readers) and series also differ by marker and dash so that a
// black-and-white print stays readable. Non-finite values are dropped before any coordinate is
// written: a NaN never reaches the SVG.
import Foundation

/// A marker shape for a series.
enum ChartMarker { case circle, square, triangle, diamond }

/// One series of a line chart; a nil or non-finite y leaves a gap.
struct ChartSeries {
    var name: String
    var color: String
    var dash: String? = nil
    var marker: ChartMarker = .circle
    var points: [(x: Double, y: Double?)]
}

/// A linear map from a data domain to pixels.
struct LinearScale {
    var domain: (Double, Double)
    var range: (Double, Double)

    init(domain: (Double, Double), range: (Double, Double)) {
        var (lo, hi) = domain
        if !lo.isFinite || !hi.isFinite { (lo, hi) = (0, 1) }
        if lo == hi { lo -= 1; hi += 1 }
        self.domain = (lo, hi)
        self.range = range
    }

    func callAsFunction(_ x: Double) -> Double {
        range.0 + (x - domain.0) / (domain.1 - domain.0) * (range.1 - range.0)
    }

    /// About `count` round tick values inside the domain.
    func ticks(_ count: Int = 5) -> [Double] {
        let span = domain.1 - domain.0
        let raw = span / Double(max(count, 1))
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        var out: [Double] = []
        var v = (domain.0 / step).rounded(.up) * step
        while v <= domain.1 + step * 1e-9 && out.count < 50 { out.append(abs(v) < step * 1e-9 ? 0 : v); v += step }
        return out
    }

    /// A domain widened to round numbers around the finite values (with a fallback).
    static func niceDomain(_ values: [Double], includeZero: Bool = false, fallback: (Double, Double) = (0, 1)) -> (Double, Double) {
        var finite = values.filter(\.isFinite)
        if includeZero { finite.append(0) }
        guard var lo = finite.min(), var hi = finite.max() else { return fallback }
        if lo == hi { lo -= 1; hi += 1 }
        let pad = (hi - lo) * 0.05
        return (lo - pad, hi + pad)
    }
}

enum SVGChart {
    static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
    static let markers: [ChartMarker] = [.circle, .square, .triangle, .diamond]
    static let dashes: [String?] = [nil, "6 3", "2 3", "8 3 2 3"]

    private static func c(_ x: Double) -> String { HTMLText.coordinate(x) }
    private static func e(_ s: String) -> String { HTMLText.escape(s) }

    private static func open(_ width: Int, _ height: Int, _ title: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 \(width) \(height)\" width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"\(e(title))\">"
            + "<rect x=\"0\" y=\"0\" width=\"\(width)\" height=\"\(height)\" fill=\"#ffffff\"/>"
            + "<text x=\"\(width / 2)\" y=\"18\" class=\"title\" text-anchor=\"middle\">\(e(title))</text>"
    }

    private static func marker(_ m: ChartMarker, x: Double, y: Double, color: String, title: String) -> String {
        let t = "<title>\(e(title))</title>"
        switch m {
        case .circle: return "<circle cx=\"\(c(x))\" cy=\"\(c(y))\" r=\"3.5\" fill=\"\(color)\">\(t)</circle>"
        case .square: return "<rect x=\"\(c(x - 3.5))\" y=\"\(c(y - 3.5))\" width=\"7\" height=\"7\" fill=\"\(color)\">\(t)</rect>"
        case .triangle:
            return "<polygon points=\"\(c(x)),\(c(y - 4.5)) \(c(x - 4)),\(c(y + 3)) \(c(x + 4)),\(c(y + 3))\" fill=\"\(color)\">\(t)</polygon>"
        case .diamond:
            return
                "<polygon points=\"\(c(x)),\(c(y - 4.5)) \(c(x + 4.5)),\(c(y)) \(c(x)),\(c(y + 4.5)) \(c(x - 4.5)),\(c(y))\" fill=\"\(color)\">\(t)</polygon>"
        }
    }

    /// Axes with ticks, grid lines and titles around the plot area.
    private static func axes(
        x: LinearScale, y: LinearScale, xTicks: [Double], yTicks: [Double], xLabel: String, yLabel: String,
        xTickLabel: (Double) -> String = HTMLText.tick
    ) -> String {
        var s = "<g class=\"axes\">"
        let (left, right) = x.range, (bottom, top) = y.range
        for t in yTicks {
            let py = y(t)
            s += "<line x1=\"\(c(left))\" y1=\"\(c(py))\" x2=\"\(c(right))\" y2=\"\(c(py))\" class=\"grid\"/>"
            s += "<text x=\"\(c(left - 6))\" y=\"\(c(py + 4))\" text-anchor=\"end\">\(e(HTMLText.tick(t)))</text>"
        }
        for t in xTicks {
            let px = x(t)
            s += "<line x1=\"\(c(px))\" y1=\"\(c(bottom))\" x2=\"\(c(px))\" y2=\"\(c(bottom + 5))\" class=\"axis\"/>"
            s += "<text x=\"\(c(px))\" y=\"\(c(bottom + 18))\" text-anchor=\"middle\">\(e(xTickLabel(t)))</text>"
        }
        s += "<line x1=\"\(c(left))\" y1=\"\(c(bottom))\" x2=\"\(c(right))\" y2=\"\(c(bottom))\" class=\"axis\"/>"
        s += "<line x1=\"\(c(left))\" y1=\"\(c(top))\" x2=\"\(c(left))\" y2=\"\(c(bottom))\" class=\"axis\"/>"
        s += "<text x=\"\(c((left + right) / 2))\" y=\"\(c(bottom + 36))\" text-anchor=\"middle\" class=\"label\">\(e(xLabel))</text>"
        let midY = (top + bottom) / 2
        s += "<text x=\"14\" y=\"\(c(midY))\" text-anchor=\"middle\" class=\"label\" transform=\"rotate(-90 14 \(c(midY)))\">\(e(yLabel))</text>"
        return s + "</g>"
    }

    /// Where each legend item goes: items flow left to right and wrap at `maxX`, rows 16 px apart.
    private static func legendLayout(_ names: [String], x: Double, maxX: Double) -> (positions: [(x: Double, row: Int)], rows: Int) {
        var positions: [(x: Double, row: Int)] = []
        var px = x, row = 0
        for name in names {
            let w = 27 + Double(name.count) * 6.5 + 16
            if px > x && px + w > maxX { px = x; row += 1 }
            positions.append((px, row))
            px += w
        }
        return (positions, names.isEmpty ? 0 : row + 1)
    }

    private static func legend(_ items: [(name: String, color: String, dash: String?, marker: ChartMarker)], x: Double, y: Double, maxX: Double) -> String {
        var s = "<g class=\"legend\">"
        let layout = legendLayout(items.map(\.name), x: x, maxX: maxX)
        for (item, at) in zip(items, layout.positions) {
            let px = at.x, py = y + Double(at.row) * 16
            let dash = item.dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
            s += "<line x1=\"\(c(px))\" y1=\"\(c(py))\" x2=\"\(c(px + 22))\" y2=\"\(c(py))\" stroke=\"\(item.color)\" stroke-width=\"2\"\(dash)/>"
            s += marker(item.marker, x: px + 11, y: py, color: item.color, title: item.name)
            s += "<text x=\"\(c(px + 27))\" y=\"\(c(py + 4))\">\(e(item.name))</text>"
        }
        return s + "</g>"
    }

    /// A line chart. `yDomain` fixes the y axis (e.g. 0…100); `xTicksAtData` puts a tick at every
    /// x value that occurs (coefficients, layers); `mark` draws a labelled vertical line.
    static func line(
        title: String, xLabel: String, yLabel: String, series: [ChartSeries], yDomain: (Double, Double)? = nil,
        xTicksAtData: Bool = true, mark: (x: Double, label: String)? = nil, width: Int = 560, height: Int = 300
    ) -> String {
        let xs = series.flatMap { $0.points.map(\.x) }.filter(\.isFinite)
        let ys = series.flatMap { $0.points.compactMap(\.y) }.filter(\.isFinite)
        let hasLegend = series.count > 1
        let legendRows = hasLegend ? legendLayout(series.map(\.name), x: 60, maxX: Double(width) - 10).rows : 0
        let height = height + max(0, legendRows - 1) * 16
        let top = hasLegend ? 34.0 + Double(legendRows) * 16 : 32.0
        let x = LinearScale(domain: LinearScale.niceDomain(xs), range: (58, Double(width) - 18))
        // A fixed domain (0–100 for scores) widens when data fall outside it, so no point leaves the plot.
        var domain = yDomain ?? LinearScale.niceDomain(ys)
        if let fixed = yDomain, let lo = ys.min(), let hi = ys.max(), lo < fixed.0 || hi > fixed.1 {
            let wide = LinearScale.niceDomain(ys + [fixed.0, fixed.1])
            domain = (min(fixed.0, wide.0), max(fixed.1, wide.1))
        }
        let y = LinearScale(domain: domain, range: (Double(height) - 46, top))
        var xTicks = x.ticks(8)
        if xTicksAtData {
            let distinct = Array(Set(xs)).sorted()
            if distinct.count <= 16 {
                xTicks = distinct
            } else {
                let step = Int((Double(distinct.count) / 12).rounded(.up))
                xTicks = stride(from: 0, to: distinct.count, by: step).map { distinct[$0] }
            }
        }
        var s = open(width, height, title)
        s += axes(x: x, y: y, xTicks: xTicks, yTicks: y.ticks(5), xLabel: xLabel, yLabel: yLabel)
        if let mark, mark.x.isFinite {
            let px = x(mark.x)
            s += "<line x1=\"\(c(px))\" y1=\"\(c(top))\" x2=\"\(c(px))\" y2=\"\(c(y.range.0))\" class=\"mark\"/>"
            s += "<text x=\"\(c(px + 4))\" y=\"\(c(top + 10))\" class=\"marklabel\">\(e(mark.label))</text>"
        }
        for series in series {
            // Split into runs of finite points: a missing value is a gap.
            var runs: [[(Double, Double)]] = [[]]
            for p in series.points.sorted(by: { $0.x < $1.x }) {
                if let v = p.y, v.isFinite, p.x.isFinite {
                    runs[runs.count - 1].append((x(p.x), y(v)))
                } else if !runs[runs.count - 1].isEmpty {
                    runs.append([])
                }
            }
            let dash = series.dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
            for run in runs where run.count > 1 {
                let points = run.map { "\(c($0.0)),\(c($0.1))" }.joined(separator: " ")
                s += "<polyline points=\"\(points)\" fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"2\"\(dash)/>"
            }
            for p in series.points {
                guard let v = p.y, v.isFinite, p.x.isFinite else { continue }
                s += marker(
                    series.marker, x: x(p.x), y: y(v), color: series.color,
                    title: "\(series.name): \(HTMLText.tick(p.x)) → \(HTMLText.number(v))")
            }
        }
        if hasLegend {
            s += legend(series.map { ($0.name, $0.color, $0.dash, $0.marker) }, x: 60, y: 36, maxX: Double(width) - 10)
        }
        if ys.isEmpty { s += "<text x=\"\(width / 2)\" y=\"\(height / 2)\" text-anchor=\"middle\" class=\"empty\">no data</text>" }
        return s + "</svg>"
    }

    /// Five-number summary of a box plot: quartiles by linear interpolation (numpy's default),
    /// whiskers at the most extreme values within 1.5 IQR of the box, outliers beyond.
    struct BoxStats: Equatable {
        var count: Int
        var median: Double, q1: Double, q3: Double
        var whiskerLow: Double, whiskerHigh: Double
        var outliers: [Double]

        init?(_ values: [Double]) {
            let v = values.filter(\.isFinite).sorted()
            guard !v.isEmpty else { return nil }
            func quantile(_ q: Double) -> Double {
                let h = Double(v.count - 1) * q
                let lo = Int(h.rounded(.down)), hi = min(lo + 1, v.count - 1)
                return v[lo] + (h - Double(lo)) * (v[hi] - v[lo])
            }
            count = v.count
            q1 = quantile(0.25); median = quantile(0.5); q3 = quantile(0.75)
            let iqr = q3 - q1
            let lowFence = q1 - 1.5 * iqr, highFence = q3 + 1.5 * iqr
            whiskerLow = v.first { $0 >= lowFence } ?? q1
            whiskerHigh = v.last { $0 <= highFence } ?? q3
            outliers = v.filter { $0 < lowFence || $0 > highFence }
        }
    }

    /// Box plots, one per group, on a shared y axis.
    static func boxPlot(title: String, yLabel: String, groups: [(label: String, values: [Double])], width: Int = 560, height: Int = 300) -> String {
        let stats = groups.map { BoxStats($0.values) }
        let all = groups.flatMap(\.values).filter(\.isFinite)
        let x = LinearScale(domain: (0, Double(max(groups.count, 1))), range: (58, Double(width) - 18))
        let y = LinearScale(domain: LinearScale.niceDomain(all), range: (Double(height) - 46, 32))
        var s = open(width, height, title)
        s += axes(
            x: x, y: y, xTicks: groups.indices.map { Double($0) + 0.5 }, yTicks: y.ticks(5), xLabel: "condition", yLabel: yLabel,
            xTickLabel: { t in
                let i = Int(t); return groups.indices.contains(i) ? groups[i].label : ""
            })
        let band = (x.range.1 - x.range.0) / Double(max(groups.count, 1))
        let boxWidth = min(band * 0.5, 60)
        for (i, st) in stats.enumerated() {
            let cx = x(Double(i) + 0.5)
            let color = palette[i % palette.count]
            guard let st else {
                s += "<text x=\"\(c(cx))\" y=\"\(c((y.range.0 + y.range.1) / 2))\" text-anchor=\"middle\" class=\"empty\">no values</text>"
                continue
            }
            let tip =
                "<title>\(e(groups[i].label)): n=\(st.count), median \(HTMLText.number(st.median, digits: 2)), Q1 \(HTMLText.number(st.q1, digits: 2)), Q3 \(HTMLText.number(st.q3, digits: 2))</title>"
            s += "<g>\(tip)"
            s += "<line x1=\"\(c(cx))\" y1=\"\(c(y(st.whiskerLow)))\" x2=\"\(c(cx))\" y2=\"\(c(y(st.q1)))\" class=\"whisker\"/>"
            s += "<line x1=\"\(c(cx))\" y1=\"\(c(y(st.q3)))\" x2=\"\(c(cx))\" y2=\"\(c(y(st.whiskerHigh)))\" class=\"whisker\"/>"
            for w in [st.whiskerLow, st.whiskerHigh] {
                s += "<line x1=\"\(c(cx - boxWidth / 4))\" y1=\"\(c(y(w)))\" x2=\"\(c(cx + boxWidth / 4))\" y2=\"\(c(y(w)))\" class=\"whisker\"/>"
            }
            let top = y(st.q3), bottom = y(st.q1)
            s +=
                "<rect x=\"\(c(cx - boxWidth / 2))\" y=\"\(c(top))\" width=\"\(c(boxWidth))\" height=\"\(c(max(bottom - top, 1)))\" fill=\"\(color)\" fill-opacity=\"0.35\" stroke=\"\(color)\" stroke-width=\"1.5\"/>"
            s +=
                "<line x1=\"\(c(cx - boxWidth / 2))\" y1=\"\(c(y(st.median)))\" x2=\"\(c(cx + boxWidth / 2))\" y2=\"\(c(y(st.median)))\" stroke=\"#000\" stroke-width=\"2.5\"/>"
            for o in st.outliers {
                s += "<circle cx=\"\(c(cx))\" cy=\"\(c(y(o)))\" r=\"3\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\"/>"
            }
            s += "<text x=\"\(c(cx + boxWidth / 2 + 3))\" y=\"\(c(y(st.median) - 3))\" class=\"small\">n=\(st.count)</text>"
            s += "</g>"
        }
        if all.isEmpty { s += "<text x=\"\(width / 2)\" y=\"\(height / 2)\" text-anchor=\"middle\" class=\"empty\">no data</text>" }
        return s + "</svg>"
    }

    /// One bar of a bar chart.
    struct Bar { var label: String; var value: Double?; var muted: Bool = false; var highlight: Bool = false; var note: String = "" }

    /// Vertical bars from zero (values may be negative); muted bars are hatched, highlighted ones outlined.
    static func bars(title: String, xLabel: String, yLabel: String, bars: [Bar], legend: [String] = [], width: Int = 560, height: Int = 300) -> String {
        let values = bars.compactMap(\.value).filter(\.isFinite)
        let top = legend.isEmpty ? 32.0 : 50.0
        let x = LinearScale(domain: (0, Double(max(bars.count, 1))), range: (58, Double(width) - 18))
        let y = LinearScale(domain: LinearScale.niceDomain(values, includeZero: true), range: (Double(height) - 46, top))
        var xTicks = bars.indices.map { Double($0) + 0.5 }
        if bars.count > 16 {
            let step = Int((Double(bars.count) / 12).rounded(.up)); xTicks = stride(from: 0, to: bars.count, by: step).map { Double($0) + 0.5 }
        }
        var s = open(width, height, title)
        s +=
            "<defs><pattern id=\"hatch\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\"><path d=\"M0,6 L6,0\" stroke=\"#777\" stroke-width=\"1.2\"/></pattern></defs>"
        s += axes(
            x: x, y: y, xTicks: xTicks, yTicks: y.ticks(5), xLabel: xLabel, yLabel: yLabel,
            xTickLabel: { t in
                let i = Int(t); return bars.indices.contains(i) ? bars[i].label : ""
            })
        let band = (x.range.1 - x.range.0) / Double(max(bars.count, 1))
        let zero = y(0)
        s += "<line x1=\"\(c(x.range.0))\" y1=\"\(c(zero))\" x2=\"\(c(x.range.1))\" y2=\"\(c(zero))\" class=\"axis\"/>"
        for (i, bar) in bars.enumerated() {
            guard let v = bar.value, v.isFinite else { continue }
            let left = x(Double(i)) + band * 0.15, w = band * 0.7
            let py = y(v)
            let fill = bar.muted ? "url(#hatch)" : palette[0]
            let stroke = bar.highlight ? " stroke=\"#D55E00\" stroke-width=\"3\"" : " stroke=\"\(palette[0])\" stroke-width=\"1\""
            s +=
                "<rect x=\"\(c(left))\" y=\"\(c(min(py, zero)))\" width=\"\(c(w))\" height=\"\(c(max(abs(zero - py), 1)))\" fill=\"\(fill)\"\(stroke)><title>\(e(bar.label)): \(HTMLText.number(v)) \(e(bar.note))</title></rect>"
            if bar.highlight {
                s += "<text x=\"\(c(left + w / 2))\" y=\"\(c(min(py, zero) - 5))\" text-anchor=\"middle\" class=\"marklabel\">best</text>"
            }
        }
        if !legend.isEmpty {
            s += "<g class=\"legend\"><rect x=\"60\" y=\"30\" width=\"14\" height=\"10\" fill=\"\(palette[0])\"/><text x=\"78\" y=\"39\">\(e(legend[0]))</text>"
            if legend.count > 1 {
                s += "<rect x=\"250\" y=\"30\" width=\"14\" height=\"10\" fill=\"url(#hatch)\" stroke=\"#777\"/><text x=\"268\" y=\"39\">\(e(legend[1]))</text>"
            }
            if legend.count > 2 {
                s +=
                    "<rect x=\"440\" y=\"30\" width=\"14\" height=\"10\" fill=\"none\" stroke=\"#D55E00\" stroke-width=\"3\"/><text x=\"458\" y=\"39\">\(e(legend[2]))</text>"
            }
            s += "</g>"
        }
        if values.isEmpty { s += "<text x=\"\(width / 2)\" y=\"\(height / 2)\" text-anchor=\"middle\" class=\"empty\">no data</text>" }
        return s + "</svg>"
    }

    /// The diverging colour of v in −1…1: blue (−1), white (0), red (+1); grey when not finite.
    static func divergingColor(_ v: Double) -> String {
        guard v.isFinite else { return "#dddddd" }
        let t = max(-1, min(1, v))
        let end: (Double, Double, Double) = t < 0 ? (33, 102, 172) : (178, 24, 43)
        let a = abs(t)
        let r = 255 + (end.0 - 255) * a, g = 255 + (end.1 - 255) * a, b = 255 + (end.2 - 255) * a
        return String(format: "#%02x%02x%02x", Int(r.rounded()), Int(g.rounded()), Int(b.rounded()))
    }

    /// A square heatmap of values in −1…1 with the value written in every cell and a colour legend.
    static func heatmap(title: String, labels: [String], matrix: [[Double]]) -> String {
        let n = labels.count
        let cell = Double(max(28, min(64, 420 / max(n, 1))))
        let labelWidth = Double(min(150, 20 + 7 * (labels.map(\.count).max() ?? 4)))
        let left = labelWidth, top = 40.0 + labelWidth * 0.6
        let width = Int(left + cell * Double(n) + 90), height = Int(top + cell * Double(n) + 20)
        var s = open(max(width, 260), max(height, 120), title)
        for (i, label) in labels.enumerated() {
            let cy = top + cell * (Double(i) + 0.5)
            s += "<text x=\"\(c(left - 6))\" y=\"\(c(cy + 4))\" text-anchor=\"end\">\(e(label))</text>"
            let cx = left + cell * (Double(i) + 0.5)
            s += "<text x=\"\(c(cx))\" y=\"\(c(top - 6))\" text-anchor=\"start\" transform=\"rotate(-35 \(c(cx)) \(c(top - 6)))\">\(e(label))</text>"
        }
        for i in 0..<n {
            for j in 0..<n {
                let v = (i < matrix.count && j < matrix[i].count) ? matrix[i][j] : .nan
                let x = left + cell * Double(j), y = top + cell * Double(i)
                s +=
                    "<rect x=\"\(c(x))\" y=\"\(c(y))\" width=\"\(c(cell))\" height=\"\(c(cell))\" fill=\"\(divergingColor(v))\" stroke=\"#ffffff\"><title>\(e(labels[i])) · \(e(labels[j])): \(HTMLText.number(v, digits: 3))</title></rect>"
                let ink = v.isFinite && abs(v) > 0.55 ? "#ffffff" : "#000000"
                s +=
                    "<text x=\"\(c(x + cell / 2))\" y=\"\(c(y + cell / 2 + 4))\" text-anchor=\"middle\" fill=\"\(ink)\" class=\"cell\">\(HTMLText.number(v, digits: 2))</text>"
            }
        }
        // Colour legend: −1 … 1 in 20 steps.
        let lx = left + cell * Double(n) + 24, steps = 20
        let lh = max(cell * Double(n), 100) / Double(steps)
        for k in 0..<steps {
            let v = 1 - 2 * (Double(k) + 0.5) / Double(steps)
            s += "<rect x=\"\(c(lx))\" y=\"\(c(top + lh * Double(k)))\" width=\"14\" height=\"\(c(lh + 0.5))\" fill=\"\(divergingColor(v))\"/>"
        }
        s += "<rect x=\"\(c(lx))\" y=\"\(c(top))\" width=\"14\" height=\"\(c(lh * Double(steps)))\" fill=\"none\" stroke=\"#555\"/>"
        for (v, label) in [(1.0, "+1"), (0.0, "0"), (-1.0, "−1")] {
            let ly = top + (1 - v) / 2 * lh * Double(steps)
            s += "<text x=\"\(c(lx + 18))\" y=\"\(c(ly + 4))\">\(label)</text>"
        }
        return s + "</svg>"
    }
}
