/// `count` zeroed floats starting on a 64-byte boundary, so that no 32-byte vector load
/// at a multiple of 8 floats spans two cache lines. Free with `freeAligned`.
///
/// The channel-blocked kernels load every pixel as such a vector. From `allocate` their
/// buffers started wherever malloc put them, 16-byte aligned: the small ResNet's batch-1
/// latency measured 0.38 ms in some processes and 0.53 ms in others (6 of 10), the same
/// binary on the same input.
func alignedFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
    let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<Float>.size, alignment: 64)
    let p = raw.bindMemory(to: Float.self, capacity: max(1, count))
    p.initialize(repeating: 0, count: count)
    return p
}

/// Frees memory from `alignedFloats`.
func freeAligned(_ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).deallocate()
}
