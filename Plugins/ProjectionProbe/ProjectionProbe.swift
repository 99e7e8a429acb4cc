// `projection-probe`: a hook plugin for live monitoring. For every token of every pass at the
// chosen layers it writes one JSONL line with the projection of the residual stream on a vector,
// (a·v)/‖v‖, without changing the stream:
//   {"sequence":0,"position":12,"layer":20,"pass":"decode","projection":3.71}
//
// Configuration (JSON): {"vector": "FILE.safetensors", "output": "FILE.jsonl", "layers": [20, 21]}
//   vector  a vector file (DESIGN.md "Vector files"): `vectors` [numLayers, hidden] float32 (row L
//           for layer L) or a single `vector` [hidden] (then "layers" is required). Read here with
//           a small safetensors parser (plugins may use only Foundation and the plugin kit).
//   output  the JSONL file (created or truncated).
//   layers  the layers to record (default: every row of `vectors`).
import Foundation
import PersonaABI
import PersonaPluginKit

final class ProjectionProbe: HookPlugin {
    let layers: [Int]?
    private let directions: [Int: [Float]]  // layer → unit vector
    private let output: FileHandle
    private let outputPath: String

    init(host: HostServices, configurationJSON: String) throws {
        guard let config = (try? JSONSerialization.jsonObject(with: Data(configurationJSON.utf8))) as? [String: Any] else {
            throw PluginError.configuration("projection-probe: the configuration is not a JSON object: \(configurationJSON.prefix(200))")
        }
        guard let vectorPath = config["vector"] as? String else {
            throw PluginError.configuration("projection-probe: configuration needs \"vector\": the path of a vector file (safetensors)")
        }
        guard let outputPath = config["output"] as? String else {
            throw PluginError.configuration("projection-probe: configuration needs \"output\": the path of the JSONL file to write")
        }
        var requested: [Int]?
        if let list = config["layers"] {
            guard let ints = list as? [Int] else { throw PluginError.configuration("projection-probe: \"layers\" must be a list of integers") }
            requested = ints
        } else if let single = config["layer"] as? Int {
            requested = [single]
        }
        let file = try SafetensorsVectors(path: vectorPath)
        var directions: [Int: [Float]] = [:]
        if let rows = file.rows {
            let chosen = requested ?? Array(0..<rows.count)
            for layer in chosen {
                guard rows.indices.contains(layer) else {
                    throw PluginError.configuration("projection-probe: layer \(layer) is out of range: \(vectorPath) holds layers 0…\(rows.count - 1)")
                }
                directions[layer] = try Self.unit(rows[layer], what: "\(vectorPath) row \(layer)")
            }
        } else if let single = file.single {
            guard let chosen = requested, !chosen.isEmpty else {
                throw PluginError.configuration("projection-probe: \(vectorPath) holds a single vector: name the layers (\"layers\": [L])")
            }
            let u = try Self.unit(single, what: vectorPath)
            for layer in chosen { directions[layer] = u }
        }
        self.directions = directions
        self.layers = directions.keys.sorted()
        guard FileManager.default.createFile(atPath: outputPath, contents: nil), let handle = FileHandle(forWritingAtPath: outputPath) else {
            throw PluginError.io("projection-probe: cannot create \(outputPath)")
        }
        self.output = handle
        self.outputPath = outputPath
        host.log(.info, "projection-probe: layers \(self.layers ?? []) of \(vectorPath) → \(outputPath)")
    }

    deinit { try? output.close() }

    static func unit(_ v: [Float], what: String) throws -> [Float] {
        var norm: Double = 0
        for x in v { norm += Double(x) * Double(x) }
        norm = norm.squareRoot()
        guard norm.isFinite, norm > 0 else { throw PluginError.configuration("projection-probe: \(what) is zero or not finite") }
        return v.map { Float(Double($0) / norm) }
    }

    func process(_ stream: HookStream) throws {
        guard let u = directions[stream.layer] else { return }
        guard u.count == stream.hiddenSize else {
            throw PluginError.invalid("projection-probe: the vector has \(u.count) values but the model's hidden size is \(stream.hiddenSize)")
        }
        var text = ""
        for span in stream.spans {
            for r in 0..<span.rowCount {
                let row = stream.row(span.firstRow + r)
                var dot: Float = 0
                for i in 0..<u.count { dot += row[i] * u[i] }
                text +=
                    "{\"sequence\":\(span.sequenceID),\"position\":\(span.startPosition + r),\"layer\":\(stream.layer),"
                    + "\"pass\":\"\(span.isPrefill ? "prefill" : "decode")\",\"projection\":\(dot)}\n"
            }
        }
        do { try output.write(contentsOf: Data(text.utf8)) } catch {
            throw PluginError.io("projection-probe: writing \(outputPath) failed: \(error.localizedDescription)")
        }
    }
}

/// The float32 tensor `vectors` [layers, hidden] or `vector` [hidden] of a safetensors file:
/// 8-byte little-endian header length, JSON header, data. Every offset is checked.
struct SafetensorsVectors {
    var rows: [[Float]]?
    var single: [Float]?

    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw PluginError.io("projection-probe: cannot read \(path)") }
        guard data.count >= 8 else { throw PluginError.invalid("\(path): \(data.count) bytes, too short for safetensors") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(data.count - 8), headerLength <= 100 << 20 else {
            throw PluginError.invalid("\(path): header length \(headerLength) exceeds the file (\(data.count) bytes)")
        }
        let headerEnd = 8 + Int(headerLength)
        guard let header = (try? JSONSerialization.jsonObject(with: data.subdata(in: 8..<headerEnd))) as? [String: Any] else {
            throw PluginError.invalid("\(path): the safetensors header is not a JSON object")
        }
        let name = header["vectors"] != nil ? "vectors" : "vector"
        guard let entry = header[name] as? [String: Any] else {
            throw PluginError.invalid("\(path): no tensor named \"vectors\" or \"vector\"")
        }
        guard (entry["dtype"] as? String) == "F32" else {
            throw PluginError.invalid("\(path): tensor \(name) has dtype \(entry["dtype"] ?? "?"), expected F32")
        }
        guard let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
            throw PluginError.invalid("\(path): tensor \(name) lacks shape or data_offsets")
        }
        guard shape.allSatisfy({ $0 > 0 && $0 < 1 << 24 }), (name == "vectors" ? shape.count == 2 : shape.count == 1) else {
            throw PluginError.invalid("\(path): tensor \(name) has shape \(shape)")
        }
        let count = shape.reduce(1, *)
        let start = headerEnd + offsets[0], end = headerEnd + offsets[1]
        guard offsets[0] >= 0, offsets[1] - offsets[0] == count * 4, end <= data.count else {
            throw PluginError.invalid("\(path): tensor \(name) data_offsets \(offsets) do not match shape \(shape) and file size \(data.count)")
        }
        var floats = [Float](repeating: 0, count: count)
        floats.withUnsafeMutableBytes { dst in data.copyBytes(to: dst, from: start..<end) }  // little-endian hosts
        if name == "vectors" {
            rows = (0..<shape[0]).map { Array(floats[($0 * shape[1])..<(($0 + 1) * shape[1])]) }
        } else {
            single = floats
        }
    }
}

let exports = PluginExports([
    .hook(
        name: "projection-probe", version: "1.0.0",
        description: "Writes per-token projections of the residual stream on a vector to a JSONL file (live monitoring)"
    ) { host, config in
        try ProjectionProbe(host: host, configurationJSON: config)
    }
])

@_cdecl("persona_plugin_entry")
public func personaPluginEntry(_ hostVersion: UInt32, _ index: UInt32) -> UnsafePointer<persona_plugin_descriptor>? {
    exports.descriptor(at: index, hostVersion: hostVersion)
}
