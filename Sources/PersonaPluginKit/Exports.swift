// Turns Swift plugin types into the C descriptors of persona_abi.h. A Swift plugin library is:
//
//     import PersonaPluginKit
//     import PersonaABI
//
//     let exports = PluginExports([
//         .autorater(name: "my-judge", version: "1.0.0", description: "…") { host, config in try MyJudge(host, config) },
//     ])
//
//     @_cdecl("persona_plugin_entry")
//     public func personaPluginEntry(_ hostVersion: UInt32, _ index: UInt32) -> UnsafePointer<persona_plugin_descriptor>? {
//         exports.descriptor(at: index, hostVersion: hostVersion)
//     }
//
// This module is linked statically into every plugin (each library has its own copy, which is
// fine: only C types cross the boundary). Descriptors and their strings are allocated once and
// never freed (libraries are never unloaded).
import PersonaABI
import Foundation

/// One plugin of a library: its metadata and how to make an instance.
public struct PluginDefinition {
    enum Factory {
        case autorater((HostServices, String) throws -> AutoraterPlugin)
        case hook((HostServices, String) throws -> HookPlugin)
        case traitPack((HostServices, String) throws -> TraitPackPlugin)
    }
    let name: String
    let version: String
    let description: String
    let factory: Factory

    public static func autorater(
        name: String, version: String, description: String,
        make: @escaping (HostServices, _ configurationJSON: String) throws -> AutoraterPlugin
    ) -> PluginDefinition {
        PluginDefinition(name: name, version: version, description: description, factory: .autorater(make))
    }
    public static func hook(
        name: String, version: String, description: String,
        make: @escaping (HostServices, _ configurationJSON: String) throws -> HookPlugin
    ) -> PluginDefinition {
        PluginDefinition(name: name, version: version, description: description, factory: .hook(make))
    }
    public static func traitPack(
        name: String, version: String, description: String,
        make: @escaping (HostServices, _ configurationJSON: String) throws -> TraitPackPlugin
    ) -> PluginDefinition {
        PluginDefinition(name: name, version: version, description: description, factory: .traitPack(make))
    }
}

/// The plugins of one library, as C descriptors.
public final class PluginExports: @unchecked Sendable {
    private let descriptors: [UnsafeMutablePointer<persona_plugin_descriptor>]

    public init(_ definitions: [PluginDefinition]) {
        descriptors = definitions.map { definition in
            let d = UnsafeMutablePointer<persona_plugin_descriptor>.allocate(capacity: 1)
            let kind: persona_plugin_kind
            let functions: UnsafeRawPointer
            switch definition.factory {
            case .autorater: kind = PERSONA_KIND_AUTORATER; functions = UnsafeRawPointer(Thunks.autorater)
            case .hook: kind = PERSONA_KIND_HOOK; functions = UnsafeRawPointer(Thunks.hook)
            case .traitPack: kind = PERSONA_KIND_TRAIT_PACK; functions = UnsafeRawPointer(Thunks.traitPack)
            }
            d.initialize(
                to: persona_plugin_descriptor(
                    abi_version: PERSONA_ABI_VERSION,
                    struct_size: UInt32(MemoryLayout<persona_plugin_descriptor>.size),
                    name: UnsafePointer(strdup(definition.name)),
                    version: UnsafePointer(strdup(definition.version)),
                    kind: Int32(kind.rawValue),
                    description: UnsafePointer(strdup(definition.description)),
                    create: Thunks.create,
                    destroy: Thunks.destroy,
                    functions: functions))
            Registry.shared.register(UnsafeRawPointer(d), definition.factory)
            return d
        }
    }

    /// The descriptor of plugin `index`, nil past the last (or for a host of another ABI version).
    public func descriptor(at index: UInt32, hostVersion: UInt32) -> UnsafePointer<persona_plugin_descriptor>? {
        guard hostVersion == PERSONA_ABI_VERSION, Int(index) < descriptors.count else { return nil }
        return UnsafePointer(descriptors[Int(index)])
    }
}

/// Descriptor address → factory (create receives its descriptor).
final class Registry: @unchecked Sendable {
    static let shared = Registry()
    private var factories: [UnsafeRawPointer: PluginDefinition.Factory] = [:]
    private let lock = NSLock()
    func register(_ d: UnsafeRawPointer, _ f: PluginDefinition.Factory) { lock.lock(); factories[d] = f; lock.unlock() }
    func factory(_ d: UnsafeRawPointer) -> PluginDefinition.Factory? { lock.lock(); defer { lock.unlock() }; return factories[d] }
}

/// A plugin instance behind the opaque context pointer.
final class Instance {
    let host: HostServices
    let autorater: AutoraterPlugin?
    let hook: HookPlugin?
    let pack: TraitPackPlugin?
    /// C strings the plugin hands out, kept until destroy.
    var identityCString: UnsafeMutablePointer<CChar>?
    var packCString: UnsafeMutablePointer<CChar>?
    var filterNames: [UnsafeMutablePointer<CChar>?] = []
    init(host: HostServices, autorater: AutoraterPlugin? = nil, hook: HookPlugin? = nil, pack: TraitPackPlugin? = nil) {
        self.host = host; self.autorater = autorater; self.hook = hook; self.pack = pack
        if let autorater { identityCString = strdup(autorater.identity) }
        if let pack { packCString = strdup(pack.packJSON); filterNames = pack.filters.map { strdup($0.name) } }
    }
    deinit {
        free(identityCString); free(packCString); filterNames.forEach { free($0) }
    }
    static func from(_ context: UnsafeMutableRawPointer?) -> Instance? {
        context.map { Unmanaged<Instance>.fromOpaque($0).takeUnretainedValue() }
    }
}

/// The C functions every Swift plugin shares.
enum Thunks {
    static let ok = Int32(PERSONA_OK.rawValue)

    static let create: persona_create_fn = { descriptor, host, config, outContext, error in
        guard let descriptor, let host, let outContext else {
            return report(PluginError.invalid("create called with a NULL argument"), to: error)
        }
        guard let factory = Registry.shared.factory(UnsafeRawPointer(descriptor)) else {
            return report(PluginError.invalid("unknown descriptor"), to: error)
        }
        do {
            let services = try HostServices(host)
            let configuration = config.map { String(cString: $0) } ?? "{}"
            let instance: Instance
            switch factory {
            case .autorater(let make): instance = Instance(host: services, autorater: try make(services, configuration))
            case .hook(let make): instance = Instance(host: services, hook: try make(services, configuration))
            case .traitPack(let make): instance = Instance(host: services, pack: try make(services, configuration))
            }
            outContext.pointee = Unmanaged.passRetained(instance).toOpaque()
            return ok
        } catch let thrown {
            return report(thrown, to: error)
        }
    }

    static let destroy: persona_destroy_fn = { context in
        guard let context else { return }
        Unmanaged<Instance>.fromOpaque(context).release()
    }

    // MARK: Autorater

    static let autorater: UnsafeMutablePointer<persona_autorater_functions> = {
        let t = UnsafeMutablePointer<persona_autorater_functions>.allocate(capacity: 1)
        t.initialize(
            to: persona_autorater_functions(
                struct_size: UInt32(MemoryLayout<persona_autorater_functions>.size),
                score: { context, items, results, count, progress, progressContext, error in
                    guard let instance = Instance.from(context), let plugin = instance.autorater else {
                        return report(PluginError.invalid("not an autorater context"), to: error)
                    }
                    guard count == 0 || (items != nil && results != nil) else { return report(PluginError.invalid("NULL items or results"), to: error) }
                    // Every result is checked before anything is scored or written: a result smaller
                    // than version 1 fails the batch and nothing is written into it.
                    var resultSizes: [UInt32] = []
                    for i in 0..<count {
                        guard let r = results![i] else { return report(PluginError.invalid("result \(i) is NULL"), to: error) }
                        let size = persona_struct_read_u32(r, 0)
                        guard persona_struct_size_accepted(size, PERSONA_JUDGE_RESULT_V1_SIZE) != 0 else {
                            return report(
                                PluginError.invalid("result \(i) struct_size is \(size) bytes, ABI version 1 needs at least \(PERSONA_JUDGE_RESULT_V1_SIZE)"),
                                to: error)
                        }
                        resultSizes.append(size)
                    }
                    var swiftItems: [JudgeItem] = []
                    for i in 0..<count {
                        guard let p = items![i] else { return report(PluginError.invalid("item \(i) is NULL"), to: error) }
                        let itemSize = persona_struct_read_u32(p, 0)
                        guard persona_struct_size_accepted(itemSize, PERSONA_JUDGE_ITEM_V1_SIZE) != 0 else {
                            return report(
                                PluginError.invalid("item \(i) struct_size is \(itemSize) bytes, ABI version 1 needs at least \(PERSONA_JUDGE_ITEM_V1_SIZE)"),
                                to: error)
                        }
                        let item = readDeclared(UnsafeRawPointer(p), declaredSize: itemSize, as: persona_judge_item.self)
                        func s(_ c: UnsafePointer<CChar>?) -> String { c.map { String(cString: $0) } ?? "" }
                        let evalPrompt = s(item.eval_prompt)
                        let rendered =
                            item.rendered_prompt.map { String(cString: $0) }
                            ?? evalPrompt.replacingOccurrences(of: "{question}", with: s(item.question)).replacingOccurrences(
                                of: "{answer}", with: s(item.answer))
                        swiftItems.append(JudgeItem(question: s(item.question), answer: s(item.answer), evalPrompt: evalPrompt, renderedPrompt: rendered))
                    }
                    do {
                        let verdicts = try plugin.score(swiftItems) { done in progress?(progressContext, done) }
                        guard verdicts.count == count else {
                            return report(PluginError(PERSONA_ERROR_INTERNAL, "plugin returned \(verdicts.count) verdicts for \(count) items"), to: error)
                        }
                        for (i, v) in verdicts.enumerated() {
                            guard let r = results![i] else { continue }
                            // Filled in the plugin's own copy, then written within the host's declared size.
                            var result = persona_judge_result()
                            result.struct_size = resultSizes[i]
                            result.has_score = v.score == nil ? 0 : 1
                            result.score = v.score ?? 0
                            result.number_mass = v.numberMass
                            copyCString(v.noScoreReason ?? "", into: &result.no_score_reason)
                            let alternatives = v.alternatives.prefix(Int(PERSONA_MAX_ALTERNATIVES))
                            result.alternative_count = UInt32(alternatives.count)
                            withUnsafeMutableBytes(of: &result.alternatives) { raw in
                                let slots = raw.bindMemory(to: persona_judge_alternative.self)
                                for (k, a) in alternatives.enumerated() {
                                    var alt = persona_judge_alternative()
                                    copyCString(a.text, into: &alt.text)
                                    alt.probability = a.probability
                                    slots[k] = alt
                                }
                            }
                            withUnsafeBytes(of: &result) { persona_struct_write(r, resultSizes[i], $0.baseAddress, $0.count) }
                        }
                        return ok
                    } catch let thrown {
                        return report(thrown, to: error)
                    }
                },
                identity: { context in
                    UnsafePointer(Instance.from(context)?.identityCString)
                }))
        return t
    }()

    // MARK: Hook

    static let hook: UnsafeMutablePointer<persona_hook_functions> = {
        let t = UnsafeMutablePointer<persona_hook_functions>.allocate(capacity: 1)
        t.initialize(
            to: persona_hook_functions(
                struct_size: UInt32(MemoryLayout<persona_hook_functions>.size),
                layers: { context, out, capacity in
                    guard let plugin = Instance.from(context)?.hook else { return 0 }
                    guard let layers = plugin.layers else { return -1 }
                    for (i, l) in layers.prefix(Int(capacity)).enumerated() { out?[i] = Int32(truncatingIfNeeded: l) }
                    return Int32(layers.count)
                },
                process: { context, stream, error in
                    guard let plugin = Instance.from(context)?.hook, let stream else {
                        return report(PluginError.invalid("not a hook context or NULL stream"), to: error)
                    }
                    let streamSize = persona_struct_read_u32(stream, 0)
                    guard persona_struct_size_accepted(streamSize, PERSONA_RESIDUAL_STREAM_V1_SIZE) != 0 else {
                        return report(
                            PluginError.invalid(
                                "residual stream struct_size is \(streamSize) bytes, ABI version 1 needs at least \(PERSONA_RESIDUAL_STREAM_V1_SIZE)"),
                            to: error)
                    }
                    let s = readDeclared(UnsafeRawPointer(stream), declaredSize: streamSize, as: persona_residual_stream.self)
                    guard let data = s.data else { return report(PluginError.invalid("NULL stream data"), to: error) }
                    var spans: [HookSpan] = []
                    let stride = Int(s.span_struct_size)
                    if let base = s.spans, s.span_count > 0 {
                        guard persona_struct_size_accepted(s.span_struct_size, PERSONA_SEQUENCE_SPAN_V1_SIZE) != 0 else {
                            return report(
                                PluginError.invalid(
                                    "residual stream span_struct_size is \(s.span_struct_size) bytes, ABI version 1 needs at least \(PERSONA_SEQUENCE_SPAN_V1_SIZE)"
                                ), to: error)
                        }
                        let raw = UnsafeRawPointer(base)
                        for i in 0..<Int(s.span_count) {
                            let span = readDeclared(raw + i * stride, declaredSize: s.span_struct_size, as: persona_sequence_span.self)
                            spans.append(
                                HookSpan(
                                    sequenceID: span.sequence_id, firstRow: Int(span.first_row), rowCount: Int(span.row_count),
                                    startPosition: Int(span.start_position), isPrefill: span.pass_kind == Int32(PERSONA_PASS_PREFILL.rawValue)))
                        }
                    }
                    do {
                        try plugin.process(
                            HookStream(layer: Int(s.layer), hiddenSize: Int(s.hidden_size), rowCount: Int(s.row_count), data: data, spans: spans))
                        return ok
                    } catch let thrown {
                        return report(thrown, to: error)
                    }
                }))
        return t
    }()

    // MARK: Trait pack

    static let traitPack: UnsafeMutablePointer<persona_trait_pack_functions> = {
        let t = UnsafeMutablePointer<persona_trait_pack_functions>.allocate(capacity: 1)
        t.initialize(
            to: persona_trait_pack_functions(
                struct_size: UInt32(MemoryLayout<persona_trait_pack_functions>.size),
                pack_json: { context in UnsafePointer(Instance.from(context)?.packCString) },
                filter_count: { context in UInt32(Instance.from(context)?.pack?.filters.count ?? 0) },
                filter_name: { context, index in
                    guard let names = Instance.from(context)?.filterNames, Int(index) < names.count else { return nil }
                    return UnsafePointer(names[Int(index)])
                },
                filter: { context, index, pair, outDrop, reason, capacity, error in
                    guard let filters = Instance.from(context)?.pack?.filters, Int(index) < filters.count, let pair, let outDrop else {
                        return report(PluginError.invalid("bad filter call (index \(index))"), to: error)
                    }
                    let pairSize = persona_struct_read_u32(pair, 0)
                    guard persona_struct_size_accepted(pairSize, PERSONA_CANDIDATE_PAIR_V1_SIZE) != 0 else {
                        return report(
                            PluginError.invalid(
                                "candidate pair struct_size is \(pairSize) bytes, ABI version 1 needs at least \(PERSONA_CANDIDATE_PAIR_V1_SIZE)"), to: error)
                    }
                    let p = readDeclared(UnsafeRawPointer(pair), declaredSize: pairSize, as: persona_candidate_pair.self)
                    func s(_ c: UnsafePointer<CChar>?) -> String { c.map { String(cString: $0) } ?? "" }
                    let view = PairView(
                        question: s(p.question), instructionIndex: Int(p.instruction_index), sampleIndex: Int(p.sample_index),
                        positiveAnswer: s(p.positive_answer), negativeAnswer: s(p.negative_answer),
                        positiveTrait: p.has_positive_trait != 0 ? p.positive_trait : nil,
                        negativeTrait: p.has_negative_trait != 0 ? p.negative_trait : nil,
                        positiveCoherence: p.has_positive_coherence != 0 ? p.positive_coherence : nil,
                        negativeCoherence: p.has_negative_coherence != 0 ? p.negative_coherence : nil)
                    do {
                        if let why = try filters[Int(index)].dropReason(view) {
                            outDrop.pointee = 1
                            if let reason, capacity > 0 {
                                let bytes = Array(why.utf8.prefix(capacity - 1))
                                for (i, b) in bytes.enumerated() { reason[i] = CChar(bitPattern: b) }
                                reason[bytes.count] = 0
                            }
                        } else {
                            outDrop.pointee = 0
                        }
                        return ok
                    } catch let thrown {
                        return report(thrown, to: error)
                    }
                }))
        return t
    }()
}
