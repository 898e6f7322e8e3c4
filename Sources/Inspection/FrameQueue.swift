import Capture
import Foundation

/// A bounded FIFO between a pipeline's capture and worker threads. A push into a full
/// queue is refused (the caller records the frame as dropped); `close` lets the worker
/// drain what is left and then see the end.
final class FrameQueue: @unchecked Sendable {
    private let capacity: Int
    private var items: [Frame] = []
    private var head = 0
    private var closed = false
    private let condition = NSCondition()

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        items.reserveCapacity(self.capacity)
    }

    var depth: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count - head
    }

    /// False when the queue is full or closed.
    func push(_ frame: Frame) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed, items.count - head < capacity else { return false }
        items.append(frame)
        condition.signal()
        return true
    }

    /// The next frame, waiting for one; nil once closed and empty.
    func pop() -> Frame? {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count && !closed { condition.wait() }
        guard head < items.count else { return nil }
        let f = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        return f
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
