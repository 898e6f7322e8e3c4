import Foundation
import Inspection
import Logging

/// Product changeovers asked for over MQTT, one at a time on a thread of their own (the
/// broker's thread keeps publishing verdicts meanwhile). The latest request wins: a PLC that
/// asks for A and then B ends on B. A request that meets a reload or another changeover
/// (busy) is tried again every half second, for a minute, unless a newer one replaces it.
final class ChangeoverQueue: @unchecked Sendable {
    private let inspection: InspectionService
    private let logger: Logger
    private let lock = NSLock()
    private var pending: String?
    private var running = false

    init(inspection: InspectionService, logger: Logger) {
        (self.inspection, self.logger) = (inspection, logger)
    }

    func request(_ product: String) {
        lock.lock()
        pending = product
        guard !running else { lock.unlock(); return }
        running = true
        lock.unlock()
        let t = Thread { [self] in drain() }
        t.name = "linesight-changeover"
        t.start()
    }

    private func drain() {
        var retries = 0
        while true {
            lock.lock()
            guard let id = pending else { running = false; lock.unlock(); return }
            pending = nil
            lock.unlock()
            switch inspection.changeProduct(to: id, by: "mqtt") {
            case .changed, .already, .refused:  // a refusal is logged by the service
                retries = 0
            case .unknown(let known):
                retries = 0
                logger.warning("product changeover refused", metadata: ["product": "\(id)", "known": "\(known.joined(separator: ", "))", "source": "mqtt"])
            case .busy:
                retries += 1
                guard retries <= 120 else {
                    logger.error("product changeover given up", metadata: ["product": "\(id)", "why": "a reload or changeover ran for a minute", "source": "mqtt"])
                    retries = 0
                    continue
                }
                lock.withLock { if pending == nil { pending = id } }   // unless a newer request came
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
    }
}
