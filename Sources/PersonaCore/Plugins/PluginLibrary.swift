// Opening one plugin library and checking it before anything of it is called (DESIGN.md,
// "Plugins"): the entry symbol must exist; every descriptor must carry our ABI version and a
// struct size at least the version-1 size; its kind must be known and its function table must be
// present, large enough and complete. Libraries are opened with RTLD_NOW | RTLD_LOCAL |
// RTLD_NODELETE and never closed (a Swift image cannot be unloaded safely).
import Foundation
import PersonaABI
import CPersonaLoader

/// What a plugin is for.
public enum PluginKind: String, Sendable, Codable, CaseIterable {
    case autorater
    case hook
    case traitPack = "trait-pack"

    init?(abi: Int32) {
        switch UInt32(bitPattern: abi) {
        case PERSONA_KIND_AUTORATER.rawValue: self = .autorater
        case PERSONA_KIND_HOOK.rawValue: self = .hook
        case PERSONA_KIND_TRAIT_PACK.rawValue: self = .traitPack
        default: return nil
        }
    }
}

/// A plugin found in a library, checked and ready to instantiate.
public final class PluginRecord: @unchecked Sendable, CustomStringConvertible {
    public let name: String
    public let version: String
    public let kind: PluginKind
    public let summary: String
    /// The library's path.
    public let path: String
    /// Index of the plugin in its library.
    public let index: Int
    /// The plugin's own descriptor pointer (handed back to its create).
    let descriptorPointer: UnsafePointer<persona_plugin_descriptor>
    /// The descriptor as read within its declared struct_size (fields past it read as zero).
    let descriptor: persona_plugin_descriptor
    /// The kind's function table and the struct_size it declares.
    let functions: UnsafeRawPointer
    let functionsSize: UInt32

    init(
        name: String, version: String, kind: PluginKind, summary: String, path: String, index: Int,
        descriptorPointer: UnsafePointer<persona_plugin_descriptor>, descriptor: persona_plugin_descriptor,
        functions: UnsafeRawPointer, functionsSize: UInt32
    ) {
        self.name = name; self.version = version; self.kind = kind; self.summary = summary
        self.path = path; self.index = index; self.descriptorPointer = descriptorPointer; self.descriptor = descriptor
        self.functions = functions; self.functionsSize = functionsSize
    }

    public var description: String { "\(name) \(version) (\(kind.rawValue)) \(path)" }

    /// The kind's function table, read within its declared struct_size.
    func functionTable<T>(_ type: T.Type) -> T { ABIStruct.read(functions, declaredSize: functionsSize, as: type) }
}

/// A library (or one plugin in it) that was refused, and why.
public struct RefusedPlugin: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}

/// Reads an ABI struct that a plugin wrote with its own struct_size (persona_struct_read, the rule
/// plugins apply to the host's structs): only the declared bytes are read (a plugin built against
/// an older header has no memory past them, not even readable), and the fields beyond them read as
/// zero, i.e. absent. A newer plugin's extra bytes are ignored.
enum ABIStruct {
    static func read<T>(_ pointer: UnsafeRawPointer, declaredSize: UInt32, as type: T.Type) -> T {
        let size = MemoryLayout<T>.size
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: MemoryLayout<T>.alignment)
        defer { buffer.deallocate() }
        persona_struct_read(buffer, size, pointer, declaredSize)
        return buffer.load(as: T.self)
    }

    /// Whether a declared struct_size holds every version-1 field (persona_struct_size_accepted).
    static func accepts(_ declaredSize: UInt32, version1Size: UInt32) -> Bool {
        persona_struct_size_accepted(declaredSize, version1Size) != 0
    }
}

enum PluginLibrary {
    /// Most plugins one library may declare (a guard against an entry that never returns NULL).
    static let maximumPluginsPerLibrary = 256

    /// Opens `path` and returns its checked plugins, or why the library is refused. Plugins of a
    /// library that fail their own checks are refused one by one; the others are kept.
    static func open(_ path: String) -> (plugins: [PluginRecord], refused: [RefusedPlugin]) {
        guard let handle = persona_loader_open(path) else {
            let why = persona_loader_error().map { String(cString: $0) } ?? "unknown dlopen error"
            return ([], [RefusedPlugin(path: path, reason: "not a loadable shared library: \(why)")])
        }
        guard let symbol = persona_loader_symbol(handle, PERSONA_ENTRY_SYMBOL) else {
            return ([], [RefusedPlugin(path: path, reason: "not a Persona plugin: no \(PERSONA_ENTRY_SYMBOL) symbol")])
        }
        let entry = unsafeBitCast(symbol, to: persona_plugin_entry_fn.self)
        var plugins: [PluginRecord] = []
        var refused: [RefusedPlugin] = []
        for index in 0..<maximumPluginsPerLibrary {
            guard let descriptor = entry(PERSONA_ABI_VERSION, UInt32(index)) else {
                if index == 0 {
                    refused.append(RefusedPlugin(path: path, reason: "offers no plugin for ABI version \(PERSONA_ABI_VERSION) (the entry returned NULL)"))
                }
                break
            }
            switch check(descriptor, path: path, index: index) {
            case .success(let record): plugins.append(record)
            case .failure(let reason): refused.append(reason)
            }
            if index == maximumPluginsPerLibrary - 1 {
                refused.append(RefusedPlugin(path: path, reason: "declares more than \(maximumPluginsPerLibrary) plugins; the rest are ignored"))
            }
        }
        return (plugins, refused)
    }

    private static func check(_ d: UnsafePointer<persona_plugin_descriptor>, path: String, index: Int) -> Result<PluginRecord, RefusedPlugin> {
        func refuse(_ reason: String) -> Result<PluginRecord, RefusedPlugin> {
            .failure(RefusedPlugin(path: path, reason: index == 0 ? reason : "plugin #\(index): \(reason)"))
        }
        // The first two fields are read before anything else: they say whether the rest exists.
        let raw = UnsafeRawPointer(d)
        let version = persona_struct_read_u32(raw, 0)
        let size = persona_struct_read_u32(raw, 4)
        guard version == PERSONA_ABI_VERSION else {
            return refuse("ABI version \(version), this host speaks version \(PERSONA_ABI_VERSION): rebuild the plugin against persona_abi.h")
        }
        guard ABIStruct.accepts(size, version1Size: PERSONA_PLUGIN_DESCRIPTOR_V1_SIZE) else {
            return refuse("descriptor struct_size \(size) is smaller than the \(PERSONA_PLUGIN_DESCRIPTOR_V1_SIZE) bytes of ABI version \(PERSONA_ABI_VERSION)")
        }
        let desc = ABIStruct.read(raw, declaredSize: size, as: persona_plugin_descriptor.self)
        guard let namePointer = desc.name else { return refuse("descriptor has no name") }
        let name = String(cString: namePointer)
        guard isValidName(name) else { return refuse("plugin name \"\(name)\" is not of the form [a-z0-9_-]+ (1–64 characters)") }
        let version_ = desc.version.map { String(cString: $0) } ?? ""
        let summary = desc.description.map { String(cString: $0) } ?? ""
        guard let kind = PluginKind(abi: desc.kind) else { return refuse("\(name): unknown plugin kind \(desc.kind)") }
        guard desc.create != nil, desc.destroy != nil else { return refuse("\(name): create or destroy is NULL") }
        guard let functions = desc.functions else { return refuse("\(name): no \(kind.rawValue) function table") }
        let tableSize = persona_struct_read_u32(functions, 0)
        switch kind {
        case .autorater:
            guard ABIStruct.accepts(tableSize, version1Size: PERSONA_AUTORATER_FUNCTIONS_V1_SIZE) else {
                return refuse("\(name): autorater table struct_size \(tableSize) < \(PERSONA_AUTORATER_FUNCTIONS_V1_SIZE)")
            }
            let t = ABIStruct.read(functions, declaredSize: tableSize, as: persona_autorater_functions.self)
            guard t.score != nil, t.identity != nil else { return refuse("\(name): autorater table lacks score or identity") }
        case .hook:
            guard ABIStruct.accepts(tableSize, version1Size: PERSONA_HOOK_FUNCTIONS_V1_SIZE) else {
                return refuse("\(name): hook table struct_size \(tableSize) < \(PERSONA_HOOK_FUNCTIONS_V1_SIZE)")
            }
            let t = ABIStruct.read(functions, declaredSize: tableSize, as: persona_hook_functions.self)
            guard t.layers != nil, t.process != nil else { return refuse("\(name): hook table lacks layers or process") }
        case .traitPack:
            guard ABIStruct.accepts(tableSize, version1Size: PERSONA_TRAIT_PACK_FUNCTIONS_V1_SIZE) else {
                return refuse("\(name): trait-pack table struct_size \(tableSize) < \(PERSONA_TRAIT_PACK_FUNCTIONS_V1_SIZE)")
            }
            let t = ABIStruct.read(functions, declaredSize: tableSize, as: persona_trait_pack_functions.self)
            guard t.pack_json != nil, t.filter_count != nil else { return refuse("\(name): trait-pack table lacks pack_json or filter_count") }
        }
        return .success(
            PluginRecord(
                name: name, version: version_, kind: kind, summary: summary, path: path, index: index,
                descriptorPointer: d, descriptor: desc, functions: functions, functionsSize: tableSize))
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95 }
    }
}

/// Writes a status and message into a persona_error the caller owns.
@discardableResult
func writeError(_ out: UnsafeMutablePointer<persona_error>?, _ code: persona_status, _ message: String) -> Int32 {
    if let out {
        out.pointee.code = Int32(code.rawValue)
        withUnsafeMutableBytes(of: &out.pointee.message) { buffer in
            let all = Array(message.utf8)
            var bytes = Array(all.prefix(buffer.count - 1))
            if bytes.count < all.count {  // truncated: end on a whole character
                while let last = bytes.last, last & 0xC0 == 0x80 { bytes.removeLast() }
                if let last = bytes.last, last >= 0xC0 { bytes.removeLast() }
            }
            for (i, b) in bytes.enumerated() { buffer[i] = b }
            buffer[bytes.count] = 0
        }
    }
    return Int32(code.rawValue)
}

/// Reads the message of a persona_error.
func errorMessage(_ error: persona_error) -> String {
    var copy = error.message
    return withUnsafeBytes(of: &copy) { buffer in
        String(decoding: buffer[..<(buffer.firstIndex(of: 0) ?? buffer.count)], as: UTF8.self)
    }
}

/// A C string field into a fixed array, NUL-terminated, truncated.
func writeCString<T>(_ text: String, into field: inout T) {
    withUnsafeMutableBytes(of: &field) { buffer in
        let bytes = Array(text.utf8.prefix(buffer.count - 1))
        for (i, b) in bytes.enumerated() { buffer[i] = b }
        buffer[bytes.count] = 0
    }
}

func readCString<T>(_ field: T) -> String {
    var copy = field
    return withUnsafeBytes(of: &copy) { buffer in
        String(decoding: buffer[..<(buffer.firstIndex(of: 0) ?? buffer.count)], as: UTF8.self)
    }
}
