/// Everything that can go wrong while building a report or a chart.
public enum ReportsError: Error, Equatable, CustomStringConvertible {
    /// A shift definition that cannot be used (bad time, overlap).
    case badShift(String)
    /// The chart asked for cannot be drawn from the data (e.g. no periods).
    case nothingToPlot(String)
    /// An output file could not be written.
    case io(path: String, detail: String)

    public var description: String {
        switch self {
        case .badShift(let m): "shift: \(m)"
        case .nothingToPlot(let m): "nothing to plot: \(m)"
        case .io(let path, let detail): "\(path): \(detail)"
        }
    }
}
