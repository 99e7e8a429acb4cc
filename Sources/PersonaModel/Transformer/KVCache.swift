// Key/value cache of one sequence: per layer, a row-major [capacity, kvHeads · headDim] matrix for
// keys (after RoPE) and one for values. Grows by doubling; `count` positions are valid.
import PersonaTensor

/// The attention state of one sequence.
public final class KVCache {
    public let layerCount: Int
    public let width: Int
    public private(set) var capacity: Int
    /// Number of positions stored (the next token's absolute position).
    public private(set) var count: Int = 0
    var keys: [FloatBuffer]
    var values: [FloatBuffer]

    public init(layerCount: Int, kvWidth: Int, initialCapacity: Int = 64) {
        self.layerCount = layerCount
        self.width = kvWidth
        self.capacity = max(initialCapacity, 1)
        keys = (0..<layerCount).map { _ in FloatBuffer(count: max(initialCapacity, 1) * kvWidth) }
        values = (0..<layerCount).map { _ in FloatBuffer(count: max(initialCapacity, 1) * kvWidth) }
    }

    /// Makes room for `extra` more positions.
    func reserve(_ extra: Int) {
        let needed = count + extra
        guard needed > capacity else { return }
        var newCapacity = capacity
        while newCapacity < needed { newCapacity *= 2 }
        for l in 0..<layerCount {
            let k = FloatBuffer(count: newCapacity * width)
            let v = FloatBuffer(count: newCapacity * width)
            k.pointer.update(from: keys[l].pointer, count: count * width)
            v.pointer.update(from: values[l].pointer, count: count * width)
            keys[l] = k
            values[l] = v
        }
        capacity = newCapacity
    }

    /// Marks `n` more positions as valid (after every layer has written them).
    func advance(by n: Int) { count += n }

    /// Forgets positions from `length` on (e.g. to reuse a shared prefix).
    public func truncate(to length: Int) { count = min(max(length, 0), count) }

    /// A copy holding the same positions (prefix sharing).
    public func copy() -> KVCache { copy(keeping: count) }

    /// A copy holding the first `length` positions, with room for `extra` more without growing
    /// (a judge's one-token probes of a long prompt would otherwise reallocate every copy).
    public func copy(keeping length: Int, reserving extra: Int = 0) -> KVCache {
        let kept = min(max(length, 0), count)
        let c = KVCache(layerCount: layerCount, kvWidth: width, initialCapacity: max(kept + max(extra, 0), 1))
        for l in 0..<layerCount {
            c.keys[l].pointer.update(from: keys[l].pointer, count: kept * width)
            c.values[l].pointer.update(from: values[l].pointer, count: kept * width)
        }
        c.count = kept
        return c
    }
}
