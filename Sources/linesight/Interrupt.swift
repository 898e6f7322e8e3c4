import Dispatch
import Foundation

/// Ctrl-C during training: the first asks the run to stop after the current epoch (its
/// checkpoint resumes with --resume); the second quits at once (the last epoch's
/// checkpoint is still on disk).
final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var source: DispatchSourceSignal?

    var requested: Bool { lock.withLock { count > 0 } }

    func install() {
        signal(SIGINT, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        s.setEventHandler { [self] in
            let n = lock.withLock { count += 1; return count }
            if n == 1 {
                FileHandle.standardError.write(Data("\ninterrupt: stopping after this epoch; Ctrl-C again to quit now (resume with --resume)\n".utf8))
            } else {
                FileHandle.standardError.write(Data("\ninterrupt: quitting; the last finished epoch's checkpoint resumes with --resume\n".utf8))
                exit(130)
            }
        }
        s.resume()
        source = s
    }
}
