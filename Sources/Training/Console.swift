import Foundation

/// Terminal and log-file plumbing for the command-line reports.
public enum Console {
    /// Makes stdout line-buffered, so reports reach a log file or pipe line by line.
    public static func lineBuffered() { setvbuf(stdout, nil, _IOLBF, 0) }
}
