// A created plugin instance (its opaque context) and the adapters that make instances look like the
// engine's own seams: `PluginAutorater` is an `Autorater`, `PluginLayerHook` a `LayerHook`,
// `PluginPairFilter` a `PairFilter`. Each call checks the plugin's status and turns a failure into
// a thrown PluginHostError carrying the plugin's message.
import Foundation
import PersonaABI
import PersonaModel

/// One instance of a plugin: destroyed when the last adapter holding it goes away.
public final class PluginInstance: @unchecked Sendable {
    public let record: PluginRecord
    let context: UnsafeMutableRawPointer?
    let services: HostServicesProvider
    /// Serializes calls into the instance (the ABI promises one thread at a time per context).
    let lock = NSLock()

    init(record: PluginRecord, services: HostServicesProvider, configurationJSON: String) throws {
        self.record = record
        self.services = services
        var context: UnsafeMutableRawPointer?
        var error = persona_error()
        let status = configurationJSON.withCString { config in
            withUnsafePointer(to: &services.table.pointee) { table in
                record.descriptor.create(record.descriptorPointer, table, config, &context, &error)
            }
        }
        guard status == Int32(PERSONA_OK.rawValue) else {
            throw PluginHostError.createFailed(name: record.name, code: status, message: errorMessage(error))
        }
        self.context = context
    }

    deinit { record.descriptor.destroy(context) }

    func check(_ status: Int32, _ error: persona_error, _ function: String) throws {
        guard status == Int32(PERSONA_OK.rawValue) else {
            throw PluginHostError.pluginFailed(name: record.name, function: function, code: status, message: errorMessage(error))
        }
    }
}

// MARK: Autorater

/// An autorater plugin as the engine's `Autorater`.
public final class PluginAutorater: Autorater {
    public let instance: PluginInstance
    private let functions: persona_autorater_functions
    public let cacheIdentity: String
    /// Items per call into the plugin (progress is reported between calls as well).
    public var batchSize = 64

    init(instance: PluginInstance) throws {
        self.instance = instance
        functions = instance.record.functionTable(persona_autorater_functions.self)
        guard let identity = functions.identity(instance.context) else {
            throw PluginHostError.badPlugin(name: instance.record.name, reason: "identity returned NULL")
        }
        cacheIdentity = String(cString: identity)
    }

    public var name: String { instance.record.name }

    public func score(_ requests: [JudgeRequest], progress: ((Int) -> Void)?) throws -> [JudgeResult] {
        var results: [JudgeResult] = []
        var start = 0
        while start < requests.count {
            let chunk = Array(requests[start..<min(start + batchSize, requests.count)])
            let base = start
            results += try scoreChunk(chunk) { done in progress?(base + done) }
            start += chunk.count
            progress?(start)
        }
        return results
    }

    private final class ProgressBox { let f: (Int) -> Void; init(_ f: @escaping (Int) -> Void) { self.f = f } }

    private func scoreChunk(_ requests: [JudgeRequest], progress: @escaping (Int) -> Void) throws -> [JudgeResult] {
        // Scores that depend only on this chunk's items, never on what earlier chunks left in the
        // host's prefix caches (float32 rounding differs with how a prompt was split into passes):
        // a run resumed after a kill scores every chunk as the uninterrupted run did, bit for bit.
        // Costs the shared beginning of the judge's prompts once per chunk.
        instance.services.models.forgetCachedSequences()
        // C copies of every string, alive for the call.
        var strings: [UnsafeMutablePointer<CChar>?] = []
        defer { strings.forEach { free($0) } }
        func c(_ s: String) -> UnsafePointer<CChar>? { let p = strdup(s); strings.append(p); return UnsafePointer(p) }
        let items = UnsafeMutablePointer<persona_judge_item>.allocate(capacity: max(requests.count, 1))
        let results = UnsafeMutablePointer<persona_judge_result>.allocate(capacity: max(requests.count, 1))
        defer { items.deallocate(); results.deallocate() }
        for (i, r) in requests.enumerated() {
            items[i] = persona_judge_item(
                struct_size: UInt32(MemoryLayout<persona_judge_item>.size), question: c(r.question),
                answer: c(r.answer), eval_prompt: c(r.evalPrompt), rendered_prompt: c(r.renderedPrompt))
            results[i] = persona_judge_result()
            results[i].struct_size = UInt32(MemoryLayout<persona_judge_result>.size)
        }
        var itemPointers: [UnsafePointer<persona_judge_item>?] = (0..<requests.count).map { UnsafePointer(items + $0) }
        var resultPointers: [UnsafeMutablePointer<persona_judge_result>?] = (0..<requests.count).map { results + $0 }
        var error = persona_error()
        let box = ProgressBox(progress)
        let status = withExtendedLifetime(box) { () -> Int32 in
            instance.lock.lock(); defer { instance.lock.unlock() }
            return functions.score(
                instance.context, &itemPointers, &resultPointers, requests.count,
                { ctx, done in ctx.map { Unmanaged<ProgressBox>.fromOpaque($0).takeUnretainedValue().f(done) } },
                Unmanaged.passUnretained(box).toOpaque(), &error)
        }
        try instance.check(status, error, "score")
        return (0..<requests.count).map { i in
            let r = results[i]
            var alternatives: [JudgeResult.Alternative] = []
            var altTuple = r.alternatives
            withUnsafeBytes(of: &altTuple) { raw in
                let slots = raw.bindMemory(to: persona_judge_alternative.self)
                for k in 0..<min(Int(r.alternative_count), slots.count) {
                    let p = slots[k].probability
                    alternatives.append(.init(text: readCString(slots[k].text), probability: p.isFinite ? p : 0))
                }
            }
            let valid = r.has_score != 0 && r.score.isFinite && (0...100).contains(r.score)
            var reason = r.has_score != 0 ? nil : readCString(r.no_score_reason)
            if r.has_score != 0 && !valid { reason = "plugin returned an invalid score \(r.score)" }
            if !valid && (reason ?? "").isEmpty { reason = "no score (the plugin gave no reason)" }
            return JudgeResult(
                score: valid ? r.score : nil, noScoreReason: valid ? nil : reason,
                numberMass: r.number_mass.isFinite ? r.number_mass : 0, alternatives: alternatives)
        }
    }
}

// MARK: Hook

/// A hook plugin as an in-process `LayerHook`.
public final class PluginLayerHook: LayerHook {
    public let instance: PluginInstance
    private let functions: persona_hook_functions
    public let layers: Set<Int>?

    init(instance: PluginInstance) throws {
        self.instance = instance
        functions = instance.record.functionTable(persona_hook_functions.self)
        var buffer = [Int32](repeating: 0, count: 256)
        var n = functions.layers(instance.context, &buffer, UInt32(buffer.count))
        if n > Int32(buffer.count) && n <= 1 << 16 {
            buffer = [Int32](repeating: 0, count: Int(n))
            n = functions.layers(instance.context, &buffer, UInt32(buffer.count))
        }
        if n < 0 {
            layers = nil
        } else {
            guard Int(n) <= buffer.count else { throw PluginHostError.badPlugin(name: instance.record.name, reason: "layers returned \(n) layers") }
            layers = Set(buffer[..<Int(n)].map(Int.init))
        }
    }

    public func process(_ stream: ResidualStream) throws {
        let spans = stream.spans.map {
            persona_sequence_span(
                sequence_id: Int64($0.id), first_row: UInt32($0.rowStart), row_count: UInt32($0.rowCount),
                start_position: UInt64($0.startPosition),
                pass_kind: Int32(($0.kind == .prefill ? PERSONA_PASS_PREFILL : PERSONA_PASS_DECODE).rawValue))
        }
        var error = persona_error()
        let status = spans.withUnsafeBufferPointer { spanBuffer -> Int32 in
            var s = persona_residual_stream(
                struct_size: UInt32(MemoryLayout<persona_residual_stream>.size), layer: Int32(stream.layer),
                hidden_size: UInt32(stream.hiddenSize), row_count: UInt32(stream.rowCount), data: stream.data,
                spans: spanBuffer.baseAddress, span_count: UInt32(spanBuffer.count),
                span_struct_size: UInt32(MemoryLayout<persona_sequence_span>.stride))
            instance.lock.lock(); defer { instance.lock.unlock() }
            return functions.process(instance.context, &s, &error)
        }
        try instance.check(status, error, "process (layer \(stream.layer))")
    }
}

// MARK: Trait-pack filters

/// One custom filter of a pack library, as a `PairFilter`.
public final class PluginPairFilter: PairFilter {
    public let instance: PluginInstance
    public let index: UInt32
    public let name: String
    private let functions: persona_trait_pack_functions

    init(instance: PluginInstance, index: UInt32, name: String) {
        self.instance = instance; self.index = index; self.name = name
        functions = instance.record.functionTable(persona_trait_pack_functions.self)
    }

    public func dropReason(for pair: CandidatePair) throws -> String? {
        guard let filter = functions.filter else { return nil }
        var strings: [UnsafeMutablePointer<CChar>?] = []
        defer { strings.forEach { free($0) } }
        func c(_ s: String) -> UnsafePointer<CChar>? { let p = strdup(s); strings.append(p); return UnsafePointer(p) }
        var p = persona_candidate_pair(
            struct_size: UInt32(MemoryLayout<persona_candidate_pair>.size), question: c(pair.question),
            instruction_index: Int32(clamping: pair.instructionIndex), sample_index: Int32(clamping: pair.sampleIndex),
            positive_answer: c(pair.positiveAnswer), negative_answer: c(pair.negativeAnswer),
            has_positive_trait: pair.positiveTrait == nil ? 0 : 1, positive_trait: pair.positiveTrait ?? 0,
            has_negative_trait: pair.negativeTrait == nil ? 0 : 1, negative_trait: pair.negativeTrait ?? 0,
            has_positive_coherence: pair.positiveCoherence == nil ? 0 : 1, positive_coherence: pair.positiveCoherence ?? 0,
            has_negative_coherence: pair.negativeCoherence == nil ? 0 : 1, negative_coherence: pair.negativeCoherence ?? 0)
        var drop: Int32 = 0
        var reason = [CChar](repeating: 0, count: 512)
        var error = persona_error()
        let status: Int32 = reason.withUnsafeMutableBufferPointer { buffer in
            instance.lock.lock(); defer { instance.lock.unlock() }
            return filter(instance.context, index, &p, &drop, buffer.baseAddress, buffer.count, &error)
        }
        try instance.check(status, error, "filter \(name)")
        guard drop != 0 else { return nil }
        reason[reason.count - 1] = 0
        let text = String(cString: reason)
        return text.isEmpty ? "dropped by \(name)" : text
    }
}
