// The forward pass's scratch buffers, kept between passes.
import PersonaTensor

/// The scratch buffers of a forward pass (llama2.c's RunState): made once, grown when a pass needs
/// more rows or context than any before it, reused by every later pass. A pass takes one for its
/// whole duration, so passes running at once never share buffers.
final class RunState {
    enum Slot: Int, CaseIterable {
        case residual, normed, query, key, value, attention, projected, gate, up, scores, branchKeys, branchValues
    }
    private var buffers: [FloatBuffer?] = Array(repeating: nil, count: Slot.allCases.count)

    /// The slot's buffer with room for at least `count` floats (its contents are whatever the last
    /// pass left: the caller writes before it reads).
    func buffer(_ slot: Slot, _ count: Int) -> FloatBuffer {
        if let b = buffers[slot.rawValue], b.count >= count { return b }
        let b = FloatBuffer(count: count)
        buffers[slot.rawValue] = b
        return b
    }
}
