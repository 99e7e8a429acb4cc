// Read-only views of model files: a memory-mapped file, or bytes held in memory (tests, fuzzing).
// Readers never trust the file: every access goes through bounds-checked helpers.
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// Errors about opening and mapping files.
public enum FileError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case cannotMap(path: String, reason: String)
    case notARegularFile(path: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): return "\(path): cannot open: \(reason)"
        case .cannotMap(let path, let reason): return "\(path): cannot map into memory: \(reason)"
        case .notARegularFile(let path): return "\(path): not a regular file"
        }
    }
}

/// Immutable bytes that stay valid for the lifetime of the object: an mmap'ed file or an owned buffer.
public final class FileBytes: @unchecked Sendable {
    /// Where the bytes came from (a path, or a label for in-memory data); used in error messages.
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    private let unmap: (() -> Void)?

    /// Maps `path` read-only. An empty file gives an empty buffer.
    public init(mapping path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw FileError.notARegularFile(path: path) }
        let size = Int(st.st_size)
        self.path = path
        if size == 0 {
            self.bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            self.unmap = nil
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw FileError.cannotMap(path: path, reason: String(cString: strerror(errno)))
        }
        self.bytes = UnsafeRawBufferPointer(start: base, count: size)
        self.unmap = { munmap(base, size) }
    }

    /// Copies `data` into an owned, 64-byte aligned buffer.
    public init(data: Data, label: String = "<memory>") {
        self.path = label
        let count = data.count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        data.withUnsafeBytes { src in
            if let base = src.baseAddress, count > 0 { raw.copyMemory(from: base, byteCount: count) }
        }
        self.bytes = UnsafeRawBufferPointer(start: raw, count: count)
        self.unmap = { raw.deallocate() }
    }

    deinit { unmap?() }

    public var count: Int { bytes.count }
}
