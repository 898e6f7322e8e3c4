import Foundation

/// What `linesight cameras` shows for one device.
public struct CameraDescription: Equatable, Sendable {
    public var path: String
    /// The /dev/v4l/by-id links that point at this device (stable across reboots).
    public var stablePaths: [String]
    public var driver: String
    public var card: String
    public var bus: String
    public var formats: [V4L2FormatInfo]
    public var controls: [V4L2Control]
}

/// Finds and describes the V4L2 devices on this machine.
public enum V4L2Inventory {
    /// /dev/video* nodes, in numeric order.
    public static func devicePaths(devRoot: String = "/dev") -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: devRoot)) ?? []
        return names.filter { $0.hasPrefix("video") }
            .sorted { (Int($0.dropFirst(5)) ?? 0) < (Int($1.dropFirst(5)) ?? 0) }
            .map { devRoot + "/" + $0 }
    }

    /// The by-id links (under `byIdRoot`) resolving to `path`.
    public static func stablePaths(for path: String, byIdRoot: String = "/dev/v4l/by-id") -> [String] {
        let target = (path as NSString).resolvingSymlinksInPath
        let links = (try? FileManager.default.contentsOfDirectory(atPath: byIdRoot)) ?? []
        return links.sorted().map { byIdRoot + "/" + $0 }
            .filter { ($0 as NSString).resolvingSymlinksInPath == target }
    }

    /// Opens `path` briefly and reads its identity, formats, sizes, rates and controls.
    public static func describe(_ path: String) throws -> CameraDescription {
        let device = try V4L2Device(path: path)
        defer { device.close() }
        let (driver, card, bus) = try device.capabilities()
        return CameraDescription(path: path, stablePaths: stablePaths(for: path), driver: driver, card: card,
                                 bus: bus, formats: device.formats(), controls: device.controls())
    }
}
