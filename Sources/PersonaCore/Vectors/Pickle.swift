// A minimal, hostile-input-safe pickle reader for the subset PyTorch's `torch.save` uses to
// describe tensors (Python's Lib/pickletools.py documents every opcode). It never imports or calls
// anything: GLOBAL, REDUCE, BUILD and persistent ids become plain values (`.global`, `.reduce`,
// `.build`, `.persistent`) that the caller interprets. Limits bound the work on any input: the
// number of opcodes, the stack and memo sizes, and the nesting depth of values. An opcode outside
// the subset is an error naming the opcode and its offset.

public enum PickleError: Error, CustomStringConvertible, Equatable {
    case unknownOpcode(path: String, opcode: UInt8, offset: Int)
    case truncated(path: String, opcode: String, offset: Int)
    case stackUnderflow(path: String, opcode: String, offset: Int)
    case noMark(path: String, opcode: String, offset: Int)
    case badArgument(path: String, opcode: String, offset: Int, reason: String)
    case missingMemo(path: String, index: Int, offset: Int)
    case limitExceeded(path: String, limit: String, maximum: Int)
    case noStop(path: String)

    public var description: String {
        switch self {
        case let .unknownOpcode(path, opcode, offset):
            let printable = (0x21...0x7e).contains(opcode) ? " ('\(Character(Unicode.Scalar(opcode)))')" : ""
            return
                "\(path): pickle opcode 0x\(String(opcode, radix: 16))\(printable) at offset \(offset) is not supported (only the opcodes torch.save uses for a plain tensor)"
        case let .truncated(path, opcode, offset): return "\(path): pickle truncated in \(opcode) at offset \(offset)"
        case let .stackUnderflow(path, opcode, offset): return "\(path): pickle \(opcode) at offset \(offset) pops an empty stack"
        case let .noMark(path, opcode, offset): return "\(path): pickle \(opcode) at offset \(offset) needs a MARK that is not there"
        case let .badArgument(path, opcode, offset, reason): return "\(path): pickle \(opcode) at offset \(offset): \(reason)"
        case let .missingMemo(path, index, offset): return "\(path): pickle reads memo \(index) at offset \(offset), which was never stored"
        case let .limitExceeded(path, limit, maximum): return "\(path): pickle exceeds the \(limit) limit (\(maximum))"
        case let .noStop(path): return "\(path): pickle ends without STOP"
        }
    }
}

/// A value the pickle describes.
public indirect enum PickleValue: Equatable, CustomStringConvertible {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list([PickleValue])
    case dict([PickleValue], [PickleValue])  // keys, values in order
    /// `module.name`, never resolved.
    case global(module: String, name: String)
    /// A persistent id (torch: the storage tuple).
    case persistent(PickleValue)
    /// `callable(*arguments)`, never called.
    case reduce(callable: PickleValue, arguments: PickleValue)
    /// `object.__setstate__(state)`, never applied.
    case build(object: PickleValue, state: PickleValue)

    public var description: String {
        switch self {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .float(let d): return String(d)
        case .string(let s): return "'\(s)'"
        case .bytes(let b): return "b<\(b.count) bytes>"
        case .tuple(let items): return "(" + items.map(\.description).joined(separator: ", ") + (items.count == 1 ? ",)" : ")")
        case .list(let items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .dict(let keys, let values): return "{" + zip(keys, values).map { "\($0): \($1)" }.joined(separator: ", ") + "}"
        case let .global(module, name): return "\(module).\(name)"
        case .persistent(let pid): return "persistent\(pid)"
        case let .reduce(callable, arguments): return "\(callable)\(arguments)"
        case let .build(object, state): return "build(\(object), \(state))"
        }
    }
}

/// Reads one pickle.
public struct PickleReader {
    public struct Limits {
        public var opcodes = 1_000_000
        public var stack = 100_000
        public var memo = 100_000
        public var depth = 32
        /// Container elements built or copied in total (bounds the work of APPEND/SETITEMS loops).
        public var work = 10_000_000
        public init() {}
    }

    /// Parses `bytes` up to STOP and returns the top value. `path` names the source in errors.
    public static func read(_ bytes: [UInt8], path: String, limits: Limits = Limits()) throws -> PickleValue {
        var reader = PickleReader(bytes: bytes, path: path, limits: limits)
        return try reader.run()
    }

    private struct Item { var value: PickleValue; var depth: Int }
    private enum Slot { case item(Item), mark }

    private let bytes: [UInt8]
    private let path: String
    private let limits: Limits
    private var position = 0
    private var stack: [Slot] = []
    private var memo: [Int: Item] = [:]
    private var opcode = ""
    private var opcodeOffset = 0
    private var work = 0

    private init(bytes: [UInt8], path: String, limits: Limits) {
        self.bytes = bytes; self.path = path; self.limits = limits
    }

    // MARK: Reading arguments

    private mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - position else { throw PickleError.truncated(path: path, opcode: opcode, offset: opcodeOffset) }
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    private mutating func uintLE(_ count: Int) throws -> UInt64 {
        var v: UInt64 = 0
        for (k, byte) in try take(count).enumerated() { v |= UInt64(byte) << (8 * UInt64(k)) }
        return v
    }

    private mutating func line() throws -> String {
        guard let end = bytes[position...].firstIndex(of: 0x0A) else { throw PickleError.truncated(path: path, opcode: opcode, offset: opcodeOffset) }
        let text = bytes[position..<end]
        position = end + 1
        guard let s = String(validating: text, as: UTF8.self) else { throw bad("line is not UTF-8") }
        return s
    }

    private mutating func utf8(_ count: Int) throws -> String {
        guard let s = String(validating: try take(count), as: UTF8.self) else { throw bad("string is not valid UTF-8") }
        return s
    }

    private func bad(_ reason: String) -> PickleError { .badArgument(path: path, opcode: opcode, offset: opcodeOffset, reason: reason) }

    // MARK: Stack

    private mutating func push(_ value: PickleValue, depth: Int = 0) throws {
        guard depth <= limits.depth else { throw PickleError.limitExceeded(path: path, limit: "nesting depth", maximum: limits.depth) }
        guard stack.count < limits.stack else { throw PickleError.limitExceeded(path: path, limit: "stack size", maximum: limits.stack) }
        stack.append(.item(Item(value: value, depth: depth)))
    }

    private mutating func pop() throws -> Item {
        guard case .item(let item)? = stack.popLast() else { throw PickleError.stackUnderflow(path: path, opcode: opcode, offset: opcodeOffset) }
        return item
    }

    private func top() throws -> Item {
        guard case .item(let item)? = stack.last else { throw PickleError.stackUnderflow(path: path, opcode: opcode, offset: opcodeOffset) }
        return item
    }

    /// Pops everything down to the topmost MARK (removed too), oldest first.
    private mutating func popToMark() throws -> [Item] {
        guard let markIndex = stack.lastIndex(where: { if case .mark = $0 { return true } else { return false } }) else {
            throw PickleError.noMark(path: path, opcode: opcode, offset: opcodeOffset)
        }
        let items = stack[(markIndex + 1)...].compactMap { slot -> Item? in if case .item(let i) = slot { return i } else { return nil } }
        stack.removeSubrange(markIndex...)
        return items
    }

    private mutating func replaceTop(_ value: PickleValue, depth: Int) throws {
        _ = try pop()
        try push(value, depth: depth)
    }

    private static func depth(_ items: [Item]) -> Int { 1 + (items.map(\.depth).max() ?? 0) }

    /// Counts container elements built or copied; throws past the work limit.
    private mutating func spend(_ elements: Int) throws {
        work += elements
        guard work <= limits.work else { throw PickleError.limitExceeded(path: path, limit: "work", maximum: limits.work) }
    }

    private mutating func memoPut(_ index: Int) throws {
        guard index >= 0 else { throw bad("negative memo index \(index)") }
        if memo[index] == nil && memo.count >= limits.memo { throw PickleError.limitExceeded(path: path, limit: "memo size", maximum: limits.memo) }
        memo[index] = try top()
    }

    private mutating func memoGet(_ index: Int) throws {
        guard let item = memo[index] else { throw PickleError.missingMemo(path: path, index: index, offset: opcodeOffset) }
        try push(item.value, depth: item.depth)
    }

    // MARK: The machine

    private mutating func run() throws -> PickleValue {
        var count = 0
        while position < bytes.count {
            count += 1
            guard count <= limits.opcodes else { throw PickleError.limitExceeded(path: path, limit: "opcode count", maximum: limits.opcodes) }
            opcodeOffset = position
            let code = bytes[position]
            position += 1
            switch code {
            case 0x80:  // PROTO
                opcode = "PROTO"
                let version = try uintLE(1)
                guard version <= 5 else { throw bad("protocol \(version) is unknown") }
            case 0x95:  // FRAME (protocol 4): a length hint only
                opcode = "FRAME"; _ = try uintLE(8)
            case 0x2E:  // STOP
                opcode = "STOP"
                let item = try pop()
                return item.value
            case 0x28:  // MARK
                opcode = "MARK"
                guard stack.count < limits.stack else { throw PickleError.limitExceeded(path: path, limit: "stack size", maximum: limits.stack) }
                stack.append(.mark)
            case 0x30:  // POP
                opcode = "POP"; _ = try pop()
            case 0x4E: opcode = "NONE"; try push(.none)
            case 0x88: opcode = "NEWTRUE"; try push(.bool(true))
            case 0x89: opcode = "NEWFALSE"; try push(.bool(false))
            case 0x4B: opcode = "BININT1"; try push(.int(Int(try uintLE(1))))
            case 0x4D: opcode = "BININT2"; try push(.int(Int(try uintLE(2))))
            case 0x4A: opcode = "BININT"; try push(.int(Int(Int32(bitPattern: UInt32(try uintLE(4))))))
            case 0x8A:  // LONG1: little-endian two's complement of n ≤ 8 bytes
                opcode = "LONG1"
                let n = Int(try uintLE(1))
                guard n <= 8 else { throw bad("\(n)-byte integer does not fit 64 bits") }
                let raw = n == 0 ? 0 : try uintLE(n)
                let shift = UInt64(64 - 8 * n)
                try push(.int(n == 0 ? 0 : Int(Int64(bitPattern: raw << shift) >> Int64(shift))))
            case 0x47:  // BINFLOAT: big-endian double
                opcode = "BINFLOAT"
                var v: UInt64 = 0
                for byte in try take(8) { v = v << 8 | UInt64(byte) }
                try push(.float(Double(bitPattern: v)))
            case 0x58: opcode = "BINUNICODE"; let n = Int(try uintLE(4)); try push(.string(try utf8(n)))
            case 0x8C: opcode = "SHORT_BINUNICODE"; let n = Int(try uintLE(1)); try push(.string(try utf8(n)))
            case 0x55: opcode = "SHORT_BINSTRING"; let n = Int(try uintLE(1)); try push(.string(try utf8(n)))
            case 0x43: opcode = "SHORT_BINBYTES"; let n = Int(try uintLE(1)); try push(.bytes(Array(try take(n))))
            case 0x42: opcode = "BINBYTES"; let n = Int(try uintLE(4)); try push(.bytes(Array(try take(n))))
            case 0x29: opcode = "EMPTY_TUPLE"; try push(.tuple([]), depth: 1)
            case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
                let n = Int(code - 0x84)
                opcode = "TUPLE\(n)"
                var items: [Item] = []
                for _ in 0..<n { items.insert(try pop(), at: 0) }
                try push(.tuple(items.map(\.value)), depth: Self.depth(items))
            case 0x74:  // TUPLE
                opcode = "TUPLE"
                let items = try popToMark()
                try spend(items.count)
                try push(.tuple(items.map(\.value)), depth: Self.depth(items))
            case 0x5D: opcode = "EMPTY_LIST"; try push(.list([]), depth: 1)
            case 0x61, 0x65:  // APPEND, APPENDS
                opcode = code == 0x61 ? "APPEND" : "APPENDS"
                let added = code == 0x61 ? [try pop()] : try popToMark()
                let list = try top()
                guard case .list(var items) = list.value else { throw bad("target is not a list") }
                try spend(items.count + added.count)
                items += added.map(\.value)
                try replaceTop(.list(items), depth: max(list.depth, Self.depth(added)))
            case 0x7D: opcode = "EMPTY_DICT"; try push(.dict([], []), depth: 1)
            case 0x73, 0x75:  // SETITEM, SETITEMS
                opcode = code == 0x73 ? "SETITEM" : "SETITEMS"
                var pairs: [Item]
                if code == 0x73 { let v = try pop(); let k = try pop(); pairs = [k, v] } else { pairs = try popToMark() }
                guard pairs.count % 2 == 0 else { throw bad("odd number of items (\(pairs.count))") }
                let dict = try top()
                guard case .dict(var keys, var values) = dict.value else { throw bad("target is not a dict") }
                try spend(keys.count + pairs.count)
                // Keys are kept in order, duplicates included (a tensor's pickle has no dict we read).
                for k in stride(from: 0, to: pairs.count, by: 2) {
                    keys.append(pairs[k].value); values.append(pairs[k + 1].value)
                }
                try replaceTop(.dict(keys, values), depth: max(dict.depth, Self.depth(pairs)))
            case 0x63:  // GLOBAL
                opcode = "GLOBAL"
                let module = try line(), name = try line()
                try push(.global(module: module, name: name))
            case 0x93:  // STACK_GLOBAL
                opcode = "STACK_GLOBAL"
                let name = try pop(), module = try pop()
                guard case .string(let n) = name.value, case .string(let m) = module.value else { throw bad("module and name must be strings") }
                try push(.global(module: m, name: n))
            case 0x51:  // BINPERSID
                opcode = "BINPERSID"
                let pid = try pop()
                try push(.persistent(pid.value), depth: pid.depth + 1)
            case 0x52:  // REDUCE
                opcode = "REDUCE"
                let arguments = try pop(), callable = try pop()
                guard case .tuple = arguments.value else { throw bad("arguments are not a tuple") }
                try push(.reduce(callable: callable.value, arguments: arguments.value), depth: Self.depth([arguments, callable]))
            case 0x62:  // BUILD
                opcode = "BUILD"
                let state = try pop(), object = try pop()
                try push(.build(object: object.value, state: state.value), depth: Self.depth([state, object]))
            case 0x71: opcode = "BINPUT"; try memoPut(Int(try uintLE(1)))
            case 0x72: opcode = "LONG_BINPUT"; try memoPut(Int(try uintLE(4)))
            case 0x94: opcode = "MEMOIZE"; try memoPut(memo.count)
            case 0x68: opcode = "BINGET"; try memoGet(Int(try uintLE(1)))
            case 0x6A: opcode = "LONG_BINGET"; try memoGet(Int(try uintLE(4)))
            default:
                throw PickleError.unknownOpcode(path: path, opcode: code, offset: opcodeOffset)
            }
        }
        throw PickleError.noStop(path: path)
    }
}
