// The host-services table handed to every plugin instance (persona_abi.h): logging, and the
// local-model services over LanguageModel — tokenize, token bytes, chat template, end-of-turn
// tokens, next-token log-probabilities (with prefix reuse, NextTokenScorer) and trees of
// continuations scored in one pass (tree_logprobs). Models opened by
// name are loaded once and shared by every handle.
import Foundation
import PersonaABI
import PersonaModel

/// A model handle given to a plugin (persona_model *): retained until model_release.
final class ModelHandle {
    let model: LanguageModel
    let scorer: NextTokenScorer
    init(model: LanguageModel, scorer: NextTokenScorer) { self.model = model; self.scorer = scorer }
}

/// Opens models for plugins: the host's model, or models by name/path (loaded once).
public final class ModelServices: @unchecked Sendable {
    /// The model the host has loaded (NULL / "" in model_open); nil when none.
    public var hostModel: LanguageModel?
    private var byArgument: [String: LanguageModel] = [:]
    private var scorers: [ObjectIdentifier: NextTokenScorer] = [:]
    private let lock = NSLock()

    public init(hostModel: LanguageModel? = nil) { self.hostModel = hostModel }

    /// The model for `argument` (nil/empty = host model).
    public func model(_ argument: String?) throws -> LanguageModel {
        lock.lock(); defer { lock.unlock() }
        guard let argument, !argument.isEmpty else {
            guard let hostModel else {
                throw PluginHostError.badPlugin(name: "host", reason: "no model is loaded in the host; name one in the plugin's configuration")
            }
            return hostModel
        }
        if let m = byArgument[argument] { return m }
        if let hostModel, hostModel.source.path == argument || hostModel.displayName == argument { return hostModel }
        let m = try LanguageModel(argument)
        byArgument[argument] = m
        return m
    }

    /// The shared prefix-reusing scorer of `model`.
    public func scorer(for model: LanguageModel) -> NextTokenScorer {
        lock.lock(); defer { lock.unlock() }
        if let s = scorers[ObjectIdentifier(model)] { return s }
        let s = NextTokenScorer(transformer: model.transformer)
        scorers[ObjectIdentifier(model)] = s
        return s
    }

    /// Forgets every scorer's cached sequences. A scorer's floats depend on how a sequence's rows
    /// were grouped into passes (sgemm's row blocking), so on what earlier calls left cached; a
    /// judge call made after this depends only on its own items (`PluginAutorater` calls it before
    /// every batch: a resumed run then scores a batch exactly as an uninterrupted one did).
    public func forgetCachedSequences() {
        lock.lock(); let all = Array(scorers.values); lock.unlock()
        for s in all { s.clear() }
    }
}

/// Where plugin log lines go.
public typealias PluginLogSink = @Sendable (_ level: Int32, _ message: String) -> Void

/// The C table and what stands behind it. Kept alive by every plugin instance created with it.
final class HostServicesProvider {
    let table: UnsafeMutablePointer<persona_host_services>
    let models: ModelServices
    let log: PluginLogSink

    init(models: ModelServices, log: @escaping PluginLogSink) {
        self.models = models
        self.log = log
        table = .allocate(capacity: 1)
        table.initialize(to: persona_host_services())
        table.pointee.abi_version = PERSONA_ABI_VERSION
        table.pointee.struct_size = UInt32(MemoryLayout<persona_host_services>.size)
        table.pointee.host_context = Unmanaged.passUnretained(self).toOpaque()
        Self.fill(table)
    }

    deinit { table.deinitialize(count: 1); table.deallocate() }

    private static func fill(_ t: UnsafeMutablePointer<persona_host_services>) {
        t.pointee.log = { context, level, message in
            guard let p = provider(context), let message else { return }
            p.log(level, String(cString: message))
        }
        t.pointee.free_buffer = { _, buffer in free(buffer) }
        t.pointee.model_open = { context, name, outModel, error in
            guard let p = provider(context), let outModel else { return writeError(error, PERSONA_ERROR_INVALID_ARGUMENT, "model_open: NULL argument") }
            do {
                let model = try p.models.model(name.map { String(cString: $0) })
                let h = ModelHandle(model: model, scorer: p.models.scorer(for: model))
                outModel.pointee = OpaquePointer(Unmanaged.passRetained(h).toOpaque())
                return ok
            } catch let thrown {
                return writeError(error, PERSONA_ERROR_UNAVAILABLE, "\(thrown)")
            }
        }
        t.pointee.model_release = { _, model in
            guard let model else { return }
            Unmanaged<ModelHandle>.fromOpaque(UnsafeRawPointer(model)).release()
        }
        t.pointee.model_vocab_size = { _, model, outSize, error in
            guard let h = handle(model), let outSize else { return writeError(error, PERSONA_ERROR_INVALID_ARGUMENT, "model_vocab_size: NULL argument") }
            outSize.pointee = UInt32(h.model.config.vocabularySize)
            return ok
        }
        t.pointee.tokenize = { _, model, text, length, outTokens, outCount, error in
            guard let h = handle(model), let outTokens, let outCount, text != nil || length == 0 else {
                return writeError(error, PERSONA_ERROR_INVALID_ARGUMENT, "tokenize: NULL argument")
            }
            let string = length == 0 ? "" : String(decoding: UnsafeRawBufferPointer(start: text, count: length), as: UTF8.self)
            let ids = h.model.tokenizer.encode(string).map { Int32($0) }
            outTokens.pointee = mallocCopy(ids)
            outCount.pointee = ids.count
            return ok
        }
        t.pointee.token_bytes = { _, model, id, outBytes, outLength, error in
            guard let h = handle(model), let outBytes, let outLength else {
                return writeError(error, PERSONA_ERROR_INVALID_ARGUMENT, "token_bytes: NULL argument")
            }
            guard let bytes = h.model.tokenizer.tokenBytes(Int(id)) else {
                return writeError(error, PERSONA_ERROR_INVALID_ARGUMENT, "token id \(id) is out of range (vocabulary \(h.model.tokenizer.vocabularySize))")
            }
            outBytes.pointee = mallocCopy(bytes)
            outLength.pointee = bytes.count
            return ok
        }
        t.pointee.render_chat = { _, model, messages, count, addGenerationPrompt, outText, outLength, error in
            guard let h = handle(model), let outText, let outLength, messages != nil || count == 0 else {
                return writeError(error, PERSONA_ERROR_INVALID_ARGUMENT, "render_chat: NULL argument")
            }
            var list: [ChatMessage] = []
            for i in 0..<count {
                let m = messages![i]
                guard let role = m.role, let content = m.content else {
                    return writeError(error, PERSONA_ERROR_INVALID_ARGUMENT, "render_chat: message \(i) has a NULL role or content")
                }
                list.append(ChatMessage(role: String(cString: role), content: String(cString: content)))
            }
            do {
                let text = try h.model.renderChat(list, addGenerationPrompt: addGenerationPrompt != 0)
                let bytes = Array(text.utf8)
                outText.pointee = UnsafeMutableRawPointer(mallocCopy(bytes + [0])).assumingMemoryBound(to: CChar.self)
                outLength.pointee = bytes.count
                return ok
            } catch let thrown {
                return writeError(error, PERSONA_ERROR_UNAVAILABLE, "\(thrown)")
            }
        }
        t.pointee.end_of_turn_tokens = { _, model, outIDs, outCount, error in
            guard let h = handle(model), let outIDs, let outCount else {
                return writeError(error, PERSONA_ERROR_INVALID_ARGUMENT, "end_of_turn_tokens: NULL argument")
            }
            let ids = h.model.stopTokens.sorted().map { Int32($0) }
            outIDs.pointee = mallocCopy(ids)
            outCount.pointee = ids.count
            return ok
        }
        t.pointee.model_describe = { _, model, outJSON, outLength, error in
            guard let h = handle(model), let outJSON, let outLength else {
                return writeError(error, PERSONA_ERROR_INVALID_ARGUMENT, "model_describe: NULL argument")
            }
            let m = h.model, c = m.config
            let object: [String: Any] = [
                "name": m.displayName, "path": m.source.path, "fingerprint": m.fingerprint,
                "architecture": c.architecture, "layers": c.layerCount, "hidden_size": c.hiddenSize,
                "vocab_size": c.vocabularySize, "arithmetic": m.transformer.effectiveArithmetic.rawValue
            ]
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
            let bytes = Array(data)
            outJSON.pointee = UnsafeMutableRawPointer(mallocCopy(bytes + [0])).assumingMemoryBound(to: CChar.self)
            outLength.pointee = bytes.count
            return ok
        }
        t.pointee.next_token_logprobs = { _, model, sequences, lengths, count, out, error in
            guard let h = handle(model), let out, count == 0 || (sequences != nil && lengths != nil) else {
                return writeError(error, PERSONA_ERROR_INVALID_ARGUMENT, "next_token_logprobs: NULL argument")
            }
            var batch: [[Int]] = []
            for i in 0..<count {
                guard let s = sequences![i], lengths![i] > 0 else {
                    return writeError(error, PERSONA_ERROR_INVALID_ARGUMENT, "next_token_logprobs: sequence \(i) is NULL or empty")
                }
                batch.append(UnsafeBufferPointer(start: s, count: lengths![i]).map { Int($0) })
            }
            do {
                let vocab = h.model.config.vocabularySize
                let rows = try h.scorer.logProbabilities(batch)
                for (i, row) in rows.enumerated() {
                    guard row.count == vocab else {
                        return writeError(error, PERSONA_ERROR_INTERNAL, "next_token_logprobs: row \(i) has \(row.count) values, expected \(vocab)")
                    }
                    row.withUnsafeBufferPointer { (out + i * vocab).update(from: $0.baseAddress!, count: vocab) }
                }
                return ok
            } catch let thrown {
                return writeError(error, PERSONA_ERROR_INVALID_ARGUMENT, "\(thrown)")
            }
        }
        t.pointee.tree_logprobs = { _, model, requests, count, error in
            guard let h = handle(model), count == 0 || requests != nil else {
                return writeError(error, PERSONA_ERROR_INVALID_ARGUMENT, "tree_logprobs: NULL argument")
            }
            let vocab = h.model.config.vocabularySize
            var batch: [NextTokenScorer.TreeRequest] = []
            var outputs: [(prompt: UnsafeMutablePointer<Float>, nodes: UnsafeMutablePointer<Float>?)] = []
            for i in 0..<count {
                guard let r = requests![i] else { return writeError(error, PERSONA_ERROR_INVALID_ARGUMENT, "tree_logprobs: request \(i) is NULL") }
                let declared = persona_struct_read_u32(r, 0)
                guard ABIStruct.accepts(declared, version1Size: PERSONA_TREE_REQUEST_V1_SIZE) else {
                    return writeError(
                        error, PERSONA_ERROR_INVALID_ARGUMENT,
                        "tree_logprobs: request \(i) struct_size is \(declared) bytes, ABI version 1 needs at least \(PERSONA_TREE_REQUEST_V1_SIZE)")
                }
                let q = ABIStruct.read(UnsafeRawPointer(r), declaredSize: declared, as: persona_tree_request.self)
                guard let prompt = q.prompt, q.prompt_length > 0, let outPrompt = q.out_prompt_logprobs else {
                    return writeError(
                        error, PERSONA_ERROR_INVALID_ARGUMENT, "tree_logprobs: request \(i) has a NULL or empty prompt, or no out_prompt_logprobs")
                }
                guard q.node_count == 0 || q.nodes != nil else {
                    return writeError(error, PERSONA_ERROR_INVALID_ARGUMENT, "tree_logprobs: request \(i) has \(q.node_count) nodes and a NULL node array")
                }
                var nodes: [NextTokenScorer.TreeNode] = []
                nodes.reserveCapacity(q.node_count)
                for n in 0..<q.node_count {
                    let node = q.nodes![n]
                    guard node.flags & ~PERSONA_TREE_NODE_WANT_LOGPROBS == 0 else {
                        return writeError(error, PERSONA_ERROR_INVALID_ARGUMENT, "tree_logprobs: request \(i) node \(n) has unknown flags \(node.flags)")
                    }
                    guard node.parent >= -1, Int(node.parent) < n else {
                        return writeError(
                            error, PERSONA_ERROR_INVALID_ARGUMENT,
                            "tree_logprobs: request \(i) node \(n) has parent \(node.parent); expected -1 or an earlier node")
                    }
                    nodes.append(
                        NextTokenScorer.TreeNode(
                            token: Int(node.token), parent: node.parent < 0 ? nil : Int(node.parent),
                            wantsLogProbabilities: node.flags & PERSONA_TREE_NODE_WANT_LOGPROBS != 0))
                }
                if nodes.contains(where: \.wantsLogProbabilities) && q.out_node_logprobs == nil {
                    return writeError(
                        error, PERSONA_ERROR_INVALID_ARGUMENT, "tree_logprobs: request \(i) wants node log-probabilities and has no out_node_logprobs")
                }
                batch.append(NextTokenScorer.TreeRequest(prompt: UnsafeBufferPointer(start: prompt, count: q.prompt_length).map { Int($0) }, nodes: nodes))
                outputs.append((outPrompt, q.out_node_logprobs))
            }
            do {
                let results = try h.scorer.treeLogProbabilities(batch)
                for (i, result) in results.enumerated() {
                    guard result.prompt.count == vocab else {
                        return writeError(
                            error, PERSONA_ERROR_INTERNAL, "tree_logprobs: request \(i)'s prompt row has \(result.prompt.count) values, expected \(vocab)")
                    }
                    result.prompt.withUnsafeBufferPointer { outputs[i].prompt.update(from: $0.baseAddress!, count: vocab) }
                    var slot = 0
                    for row in result.nodes {
                        guard let row else { continue }
                        guard row.count == vocab, let out = outputs[i].nodes else {
                            return writeError(error, PERSONA_ERROR_INTERNAL, "tree_logprobs: request \(i) node row has \(row.count) values, expected \(vocab)")
                        }
                        row.withUnsafeBufferPointer { (out + slot * vocab).update(from: $0.baseAddress!, count: vocab) }
                        slot += 1
                    }
                }
                return ok
            } catch let thrown {
                return writeError(error, PERSONA_ERROR_INVALID_ARGUMENT, "\(thrown)")
            }
        }
    }
}

// C-callable helpers (file scope: the table's closures may not capture anything).
private func provider(_ context: UnsafeMutableRawPointer?) -> HostServicesProvider? {
    context.map { Unmanaged<HostServicesProvider>.fromOpaque($0).takeUnretainedValue() }
}

private func handle(_ model: OpaquePointer?) -> ModelHandle? {
    model.map { Unmanaged<ModelHandle>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
}

/// Copies `values` into a malloc'ed buffer the plugin releases with free_buffer.
private func mallocCopy<T>(_ values: [T]) -> UnsafeMutablePointer<T> {
    let p = malloc(max(values.count, 1) * MemoryLayout<T>.stride)!.bindMemory(to: T.self, capacity: max(values.count, 1))
    values.withUnsafeBufferPointer { b in if let base = b.baseAddress { p.update(from: base, count: b.count) } }
    return p
}

private let ok = Int32(PERSONA_OK.rawValue)
