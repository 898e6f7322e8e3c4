/// Everything that can go wrong getting frames. The daemon counts and logs these and
/// carries on; only configuration errors stop it at start.
public enum CaptureError: Error, Equatable, CustomStringConvertible {
    /// A source's settings cannot work (bad size, rate, path...).
    case invalidConfig(String)
    /// The device path does not exist (yet): the camera may be unplugged.
    case deviceMissing(String)
    /// The device exists but is not a usable capture device, or refused a setting.
    case unsupported(device: String, reason: String)
    /// What the camera negotiated does not fit the config (e.g. the ROI lies outside its frames).
    case mismatch(device: String, reason: String)
    /// A system call failed on the device.
    case io(device: String, call: String, errno: Int32)
    /// The device vanished mid-stream (ENODEV, EIO).
    case disconnected(String)
    /// No frame arrived within the stall timeout.
    case stalled(device: String, seconds: Double)
    /// A replay folder or stream file holds nothing playable.
    case noFrames(String)

    public var description: String {
        switch self {
        case .invalidConfig(let why): return "invalid capture configuration: \(why)"
        case .deviceMissing(let path): return "camera \(path) does not exist (unplugged, or wrong path?)"
        case .unsupported(let dev, let why): return "camera \(dev): \(why)"
        case .mismatch(let dev, let why): return "camera \(dev): \(why)"
        case .io(let dev, let call, let e): return "camera \(dev): \(call) failed: \(errnoName(e))"
        case .disconnected(let dev): return "camera \(dev) disconnected"
        case .stalled(let dev, let s): return "camera \(dev) delivered no frame for \(s) s"
        case .noFrames(let path): return "no playable frames in \(path)"
        }
    }
}

/// "ENODEV (No such device)" for an errno value.
func errnoName(_ e: Int32) -> String {
    let names: [Int32: String] = [1: "EPERM", 2: "ENOENT", 4: "EINTR", 5: "EIO", 11: "EAGAIN", 12: "ENOMEM",
                                  13: "EACCES", 16: "EBUSY", 19: "ENODEV", 22: "EINVAL", 25: "ENOTTY", 28: "ENOSPC"]
    return "\(names[e] ?? "errno \(e)") (\(String(cString: strerror(e))))"
}

#if canImport(Glibc)
import Glibc
#endif
