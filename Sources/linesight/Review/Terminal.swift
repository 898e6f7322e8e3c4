import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A key the review screen understands.
enum Key: Equatable {
    case char(Character)
    case enter, backspace, escape, up, down, left, right
}

/// The controlling terminal in raw mode on the alternate screen; everything it changed
/// is put back by `restore` (also on SIGINT/SIGTERM via the caller).
final class Terminal {
    private var saved = termios()
    private var raw = false
    private var out = ""

    static var isInteractive: Bool { isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1 }

    func enter() {
        tcgetattr(STDIN_FILENO, &saved)
        var t = saved
        t.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG | IEXTEN)
        t.c_iflag &= ~tcflag_t(IXON | ICRNL | BRKINT | INPCK | ISTRIP)
        t.c_oflag &= ~tcflag_t(OPOST)
        t.c_cflag |= tcflag_t(CS8)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &t)
        raw = true
        write("\u{1B}[?1049h\u{1B}[?25l\u{1B}[2J")
        flush()
    }

    func restore() {
        guard raw else { return }
        write("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l")
        flush()
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
        raw = false
    }

    /// Columns and rows; 80x24 when the terminal does not say.
    var size: (cols: Int, rows: Int) {
        var w = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &w) == 0, w.ws_col > 0, w.ws_row > 0 { return (Int(w.ws_col), Int(w.ws_row)) }
        return (80, 24)
    }

    func write(_ s: String) { out += s }

    func flush() {
        var data = Array(out.utf8)
        out = ""
        var at = 0
        while at < data.count {
            let n = data.withUnsafeMutableBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress! + at, $0.count - at) }
            if n < 0 { if errno == EINTR { continue } else { return } }
            at += n
        }
    }

    /// Bytes available within `timeout` seconds (nil on timeout).
    func readByte(timeout: Double) -> UInt8? {
        var p = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) > 0 else { return nil }
        var b: UInt8 = 0
        return read(STDIN_FILENO, &b, 1) == 1 ? b : nil
    }

    /// The next key; nil when `timeout` passes first.
    func readKey(timeout: Double = 3600) -> Key? {
        guard let b = readByte(timeout: timeout) else { return nil }
        switch b {
        case 13, 10: return .enter
        case 127, 8: return .backspace
        case 27:
            guard let b2 = readByte(timeout: 0.05) else { return .escape }
            guard b2 == UInt8(ascii: "["), let b3 = readByte(timeout: 0.05) else { return .escape }
            switch b3 {
            case UInt8(ascii: "A"): return .up
            case UInt8(ascii: "B"): return .down
            case UInt8(ascii: "C"): return .right
            case UInt8(ascii: "D"): return .left
            default: return .escape
            }
        default:
            return .char(Character(Unicode.Scalar(b)))
        }
    }

    /// Asks the terminal what it can draw (DA1): sixel when its answer lists 4. Waits at
    /// most `timeout` for the answer; a terminal that does not answer draws half-blocks.
    func supportsSixel(timeout: Double = 0.3) -> Bool {
        write("\u{1B}[c")
        flush()
        var answer = ""
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline, let b = readByte(timeout: max(0.01, deadline.timeIntervalSinceNow)) {
            answer.append(Character(Unicode.Scalar(b)))
            if b == UInt8(ascii: "c") { break }
        }
        guard let q = answer.firstIndex(of: "?") else { return false }
        return answer[answer.index(after: q)...].dropLast().split(separator: ";").contains("4")
    }
}
