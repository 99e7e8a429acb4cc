// The host-services table as Swift: logging and the local-model services (tokenize, chat template,
// next-token log-probabilities). Only C types cross the boundary; this file turns them into Swift
// values inside the plugin.
import PersonaABI
import Foundation

/// An error inside a plugin: a persona_status code and a message, as the ABI carries them.
public struct PluginError: Error, CustomStringConvertible {
    public var code: persona_status
    public var message: String
    public init(_ code: persona_status, _ message: String) { self.code = code; self.message = message }
    public static func configuration(_ message: String) -> PluginError { PluginError(PERSONA_ERROR_CONFIGURATION, message) }
    public static func io(_ message: String) -> PluginError { PluginError(PERSONA_ERROR_IO, message) }
    public static func invalid(_ message: String) -> PluginError { PluginError(PERSONA_ERROR_INVALID_ARGUMENT, message) }
    public var description: String { message }
}

/// Copies `text` into a fixed C char array (a Swift tuple), NUL-terminated, truncated to fit at a
/// UTF-8 character boundary.
@inline(__always)
public func copyCString<T>(_ text: String, into field: inout T) {
    withUnsafeMutableBytes(of: &field) { buffer in
        guard buffer.count > 0 else { return }
        var bytes = Array(text.utf8)
        if bytes.count > buffer.count - 1 {
            var end = buffer.count - 1
            while end > 0 && (bytes[end] & 0xC0) == 0x80 { end -= 1 }  // don't split a character
            bytes = Array(bytes[..<end])
        }
        for (i, b) in bytes.enumerated() { buffer[i] = b }
        buffer[bytes.count] = 0
    }
}

/// Reads a NUL-terminated C char array (a Swift tuple).
public func stringFromCArray<T>(_ field: T) -> String {
    var copy = field
    return withUnsafeBytes(of: &copy) { buffer in
        let end = buffer.firstIndex(of: 0) ?? buffer.count
        return String(decoding: buffer[..<end], as: UTF8.self)
    }
}

/// Writes `error` into a host-provided persona_error and returns its code.
@discardableResult
public func report(_ error: Error, to out: UnsafeMutablePointer<persona_error>?) -> Int32 {
    let pluginError = (error as? PluginError) ?? PluginError(PERSONA_ERROR_INTERNAL, "\(error)")
    if let out {
        out.pointee.code = Int32(pluginError.code.rawValue)
        copyCString(pluginError.message, into: &out.pointee.message)
    }
    return Int32(pluginError.code.rawValue)
}

/// Reads a struct the host wrote with its own struct_size into a zeroed value of the plugin's
/// compiled size (persona_struct_read): fields the host does not have read as zero (absent).
func readDeclared<T>(_ pointer: UnsafeRawPointer, declaredSize: UInt32, as type: T.Type) -> T {
    let size = MemoryLayout<T>.size
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: MemoryLayout<T>.alignment)
    defer { buffer.deallocate() }
    persona_struct_read(buffer, size, pointer, declaredSize)
    return buffer.load(as: T.self)
}

/// The host's services, as handed to create. Valid until the plugin instance is destroyed.
public final class HostServices: @unchecked Sendable {
    /// The host's table as the host declared it (only its first `struct_size` bytes exist).
    public let table: UnsafePointer<persona_host_services>
    /// The plugin's own copy of the table: the host's declared bytes, and every function the host
    /// does not have (appended after its version, or left NULL) as nil. Functions and
    /// host_context never change during the table's life (persona_abi.h), so a copy is exact.
    let functions: persona_host_services

    public init(_ table: UnsafePointer<persona_host_services>) throws {
        let version = persona_struct_read_u32(table, 0)
        let size = persona_struct_read_u32(table, 4)
        guard version == PERSONA_ABI_VERSION else {
            throw PluginError(PERSONA_ERROR_UNAVAILABLE, "host ABI version \(version), plugin expects \(PERSONA_ABI_VERSION)")
        }
        guard persona_struct_size_accepted(size, PERSONA_HOST_SERVICES_V1_SIZE) != 0 else {
            throw PluginError(
                PERSONA_ERROR_UNAVAILABLE, "host services table struct_size is \(size) bytes, ABI version 1 needs at least \(PERSONA_HOST_SERVICES_V1_SIZE)")
        }
        self.table = table
        self.functions = readDeclared(UnsafeRawPointer(table), declaredSize: size, as: persona_host_services.self)
    }

    var context: UnsafeMutableRawPointer? { functions.host_context }

    public enum LogLevel: Int32 { case debug = 0, info = 1, warning = 2, error = 3 }

    public func log(_ level: LogLevel, _ message: String) {
        functions.log?(context, level.rawValue, message)
    }

    /// Opens a model: nil = the host's loaded model; otherwise a default name, a GGUF file or a
    /// Hugging Face folder.
    public func openModel(_ nameOrPath: String?) throws -> HostModel {
        guard let open = functions.model_open else { throw PluginError(PERSONA_ERROR_UNAVAILABLE, "the host offers no model services") }
        var handle: OpaquePointer?
        var error = persona_error()
        let status = nameOrPath.map { open(context, $0, &handle, &error) } ?? open(context, nil, &handle, &error)
        try check(status, error)
        guard let handle else { throw PluginError(PERSONA_ERROR_INTERNAL, "model_open returned no handle") }
        return HostModel(host: self, handle: handle)
    }

    func check(_ status: Int32, _ error: persona_error) throws {
        guard status != Int32(PERSONA_OK.rawValue) else { return }
        let code = persona_status(rawValue: UInt32(bitPattern: status))
        throw PluginError(code, stringFromCArray(error.message))
    }
}

/// A model opened through the host services; released when this object goes away.
public final class HostModel: @unchecked Sendable {
    let host: HostServices
    let handle: OpaquePointer
    /// Number of log-probabilities per position.
    public private(set) var vocabularySize: Int = 0

    init(host: HostServices, handle: OpaquePointer) {
        self.host = host; self.handle = handle
        var size: UInt32 = 0
        var error = persona_error()
        if host.functions.model_vocab_size?(host.context, handle, &size, &error) == Int32(PERSONA_OK.rawValue) {
            vocabularySize = Int(size)
        }
    }

    deinit { host.functions.model_release?(host.context, handle) }

    /// The host's functions; a NULL one is a service the host does not offer (UNAVAILABLE).
    private var t: persona_host_services { host.functions }

    private func unavailable(_ name: String) -> PluginError {
        PluginError(PERSONA_ERROR_UNAVAILABLE, "the host offers no \(name) (its host-services table has it NULL or predates it)")
    }

    /// Token ids of `text` (special tokens written in it become their ids).
    public func tokenize(_ text: String) throws -> [Int32] {
        var out: UnsafeMutablePointer<Int32>?
        var count = 0
        var error = persona_error()
        let bytes = Array(text.utf8)
        guard let tokenize = t.tokenize else { throw unavailable("tokenize") }
        let status = (bytes + [0]).withUnsafeBufferPointer { b in  // never empty: a valid pointer even for ""
            UnsafeRawPointer(b.baseAddress!).withMemoryRebound(to: CChar.self, capacity: b.count) {
                tokenize(host.context, handle, $0, bytes.count, &out, &count, &error)
            }
        }
        defer { t.free_buffer?(host.context, out) }
        try host.check(status, error)
        guard let out else { return [] }
        return Array(UnsafeBufferPointer(start: out, count: count))
    }

    /// Raw bytes of one token.
    public func tokenBytes(_ id: Int32) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var count = 0
        var error = persona_error()
        guard let tokenBytes = t.token_bytes else { throw unavailable("token_bytes") }
        let status = tokenBytes(host.context, handle, id, &out, &count, &error)
        defer { t.free_buffer?(host.context, out) }
        try host.check(status, error)
        guard let out else { return [] }
        return Array(UnsafeBufferPointer(start: out, count: count))
    }

    /// The model's chat template applied to (role, content) messages.
    public func renderChat(_ messages: [(role: String, content: String)], addGenerationPrompt: Bool) throws -> String {
        guard let renderChat = t.render_chat else { throw unavailable("render_chat") }
        // Keep C copies of the strings alive for the call.
        let roles = messages.map { strdup($0.role) }
        let contents = messages.map { strdup($0.content) }
        defer { roles.forEach { free($0) }; contents.forEach { free($0) } }
        var cMessages = zip(roles, contents).map { persona_chat_message(role: $0, content: $1) }
        var out: UnsafeMutablePointer<CChar>?
        var length = 0
        var error = persona_error()
        let status = renderChat(host.context, handle, &cMessages, cMessages.count, addGenerationPrompt ? 1 : 0, &out, &length, &error)
        defer { t.free_buffer?(host.context, out) }
        try host.check(status, error)
        guard let out else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: out, count: length), as: UTF8.self)
    }

    /// The tokens that end an assistant turn.
    public func endOfTurnTokens() throws -> [Int32] {
        var out: UnsafeMutablePointer<Int32>?
        var count = 0
        var error = persona_error()
        guard let endOfTurnTokens = t.end_of_turn_tokens else { throw unavailable("end_of_turn_tokens") }
        let status = endOfTurnTokens(host.context, handle, &out, &count, &error)
        defer { t.free_buffer?(host.context, out) }
        try host.check(status, error)
        guard let out else { return [] }
        return Array(UnsafeBufferPointer(start: out, count: count))
    }

    /// The model's identity as JSON (name, path, fingerprint, architecture, sizes); "{}" when the
    /// host leaves model_describe NULL (it is part of the version-1 table).
    public func describe() throws -> String {
        guard let describe = t.model_describe else { return "{}" }
        var out: UnsafeMutablePointer<CChar>?
        var length = 0
        var error = persona_error()
        let status = describe(host.context, handle, &out, &length, &error)
        defer { t.free_buffer?(host.context, out) }
        try host.check(status, error)
        guard let out else { return "{}" }
        return String(decoding: UnsafeRawBufferPointer(start: out, count: length), as: UTF8.self)
    }

    /// Whether the host offers tree_logprobs (appended after version 1: absent from an older
    /// host's table, which the plugin's copy then holds as nil).
    public var offersTrees: Bool { t.tree_logprobs != nil }

    /// A prompt and a tree of continuations (tree_logprobs): `nodes[i]` appends `token` to the
    /// prompt (parent nil) or to node `parent` (< i).
    public struct TreeRequest {
        public var prompt: [Int32]
        public var nodes: [(token: Int32, parent: Int?, wantsLogProbabilities: Bool)]
        public init(prompt: [Int32], nodes: [(token: Int32, parent: Int?, wantsLogProbabilities: Bool)]) {
            self.prompt = prompt; self.nodes = nodes
        }
    }

    /// The log-softmax after the prompt and after every node that wanted it (nil for the others).
    public struct TreeResult {
        public var prompt: [Float]
        public var nodes: [[Float]?]
    }

    /// Next-token log-probabilities after each request's prompt and its tree's nodes, computed by
    /// the host in one pass (see tree_logprobs in persona_abi.h). Throws UNAVAILABLE when the host
    /// predates the service (`offersTrees`).
    public func treeLogProbabilities(_ requests: [TreeRequest]) throws -> [TreeResult] {
        guard !requests.isEmpty else { return [] }
        guard let service = t.tree_logprobs else { throw unavailable("tree_logprobs") }
        guard vocabularySize > 0 else { throw PluginError(PERSONA_ERROR_UNAVAILABLE, "model has no vocabulary size") }
        let vocab = vocabularySize
        // C copies of everything, alive for the call.
        var prompts: [UnsafeMutablePointer<Int32>] = []
        var nodeArrays: [UnsafeMutablePointer<persona_tree_node>] = []
        var promptOut: [UnsafeMutablePointer<Float>] = []
        var nodeOut: [UnsafeMutablePointer<Float>] = []
        var cRequests: [UnsafeMutablePointer<persona_tree_request>] = []
        defer {
            prompts.forEach { $0.deallocate() }; nodeArrays.forEach { $0.deallocate() }
            promptOut.forEach { $0.deallocate() }; nodeOut.forEach { $0.deallocate() }; cRequests.forEach { $0.deallocate() }
        }
        for (i, request) in requests.enumerated() {
            guard !request.prompt.isEmpty else { throw PluginError.invalid("request \(i) has an empty prompt") }
            let prompt = UnsafeMutablePointer<Int32>.allocate(capacity: request.prompt.count)
            prompt.initialize(from: request.prompt, count: request.prompt.count)
            prompts.append(prompt)
            let nodes = UnsafeMutablePointer<persona_tree_node>.allocate(capacity: max(request.nodes.count, 1))
            nodeArrays.append(nodes)
            for (n, node) in request.nodes.enumerated() {
                nodes[n] = persona_tree_node(
                    token: node.token, parent: node.parent.map { Int32(clamping: $0) } ?? -1,
                    flags: node.wantsLogProbabilities ? PERSONA_TREE_NODE_WANT_LOGPROBS : 0)
            }
            let wanted = request.nodes.filter(\.wantsLogProbabilities).count
            let outPrompt = UnsafeMutablePointer<Float>.allocate(capacity: vocab)
            promptOut.append(outPrompt)
            let outNodes = UnsafeMutablePointer<Float>.allocate(capacity: max(wanted * vocab, 1))
            nodeOut.append(outNodes)
            let r = UnsafeMutablePointer<persona_tree_request>.allocate(capacity: 1)
            r.initialize(
                to: persona_tree_request(
                    struct_size: UInt32(MemoryLayout<persona_tree_request>.size), prompt: prompt,
                    prompt_length: request.prompt.count, nodes: nodes, node_count: request.nodes.count,
                    out_prompt_logprobs: outPrompt, out_node_logprobs: outNodes))
            cRequests.append(r)
        }
        var error = persona_error()
        let constRequests: [UnsafePointer<persona_tree_request>?] = cRequests.map { UnsafePointer($0) }
        let status = constRequests.withUnsafeBufferPointer { service(host.context, handle, $0.baseAddress, requests.count, &error) }
        try host.check(status, error)
        return requests.enumerated().map { i, request in
            var slot = 0
            let nodes: [[Float]?] = request.nodes.map { node in
                guard node.wantsLogProbabilities else { return nil }
                defer { slot += 1 }
                return Array(UnsafeBufferPointer(start: nodeOut[i] + slot * vocab, count: vocab))
            }
            return TreeResult(prompt: Array(UnsafeBufferPointer(start: promptOut[i], count: vocab)), nodes: nodes)
        }
    }

    /// Log-softmax of the next-token logits after each sequence, [sequences.count][vocabularySize].
    public func nextTokenLogProbabilities(_ sequences: [[Int32]]) throws -> [[Float]] {
        guard !sequences.isEmpty else { return [] }
        guard vocabularySize > 0 else { throw PluginError(PERSONA_ERROR_UNAVAILABLE, "model has no vocabulary size") }
        guard let nextTokenLogProbabilities = t.next_token_logprobs else { throw unavailable("next_token_logprobs") }
        for s in sequences where s.isEmpty { throw PluginError.invalid("an empty token sequence has no next token") }
        let pointers: [UnsafeMutablePointer<Int32>] = sequences.map { s in
            let p = UnsafeMutablePointer<Int32>.allocate(capacity: s.count)
            p.initialize(from: s, count: s.count)
            return p
        }
        defer { pointers.forEach { $0.deallocate() } }
        let constPointers: [UnsafePointer<Int32>?] = pointers.map { UnsafePointer($0) }
        let lengths = sequences.map(\.count)
        var flat = [Float](repeating: 0, count: sequences.count * vocabularySize)
        var error = persona_error()
        let status = constPointers.withUnsafeBufferPointer { seqs in
            lengths.withUnsafeBufferPointer { lens in
                flat.withUnsafeMutableBufferPointer { out in
                    nextTokenLogProbabilities(host.context, handle, seqs.baseAddress, lens.baseAddress, sequences.count, out.baseAddress, &error)
                }
            }
        }
        try host.check(status, error)
        return (0..<sequences.count).map { Array(flat[($0 * vocabularySize)..<(($0 + 1) * vocabularySize)]) }
    }
}
