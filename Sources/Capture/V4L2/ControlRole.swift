/// What a camera control does for a line, by its v4l2-ctl name: the controls a line pins
/// (exposure, gain, white balance) so lighting changes do not change verdicts, and those of
/// industrial cameras for a trigger input (external trigger mode, its source and edge) and a
/// strobe output (a flash fired with the exposure). Pin them in the config's controls.
public enum ControlRole: String, Sendable, CaseIterable {
    case exposure, gain
    case whiteBalance = "white balance"
    case trigger, strobe

    /// The role of a control named `key` ("exposure_time_absolute", "trigger_mode", ...).
    public init?(key: String) {
        let k = key.lowercased()
        if k.contains("trigger") {
            self = .trigger
        } else if k.contains("strobe") || k.contains("flash") {
            self = .strobe
        } else if k.contains("exposure") {
            self = .exposure
        } else if k.contains("white_balance") {
            self = .whiteBalance
        } else if k == "gain" || k.hasPrefix("gain_") || k.hasSuffix("_gain") || k.contains("_gain_") {
            self = .gain
        } else {
            return nil
        }
    }
}

extension V4L2Control {
    public var role: ControlRole? { ControlRole(key: key) }
}
