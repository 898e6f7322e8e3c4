import ArgumentParser
import Capture
import Foundation

struct CamerasCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cameras",
        abstract: "List V4L2 cameras with their formats, sizes, frame rates and controls.",
        discussion: """
        Like `v4l2-ctl --list-formats-ext --list-ctrls` for every /dev/video* device (or only \
        the --device given). Use the stable /dev/v4l/by-id/... path in the config: /dev/videoN \
        numbers can change after a reboot or replug. Control names in the list are the keys \
        the config's [camera.controls] accepts.

        Each format says how Linesight reads it: as it comes (MJPG, YUYV, GREY, RGB3, NV12), \
        converted to RGB by libv4lconvert (BGR3, UYVY, YVYU, RGBP, YU12, Y16, the Bayer \
        mosaics BA81, GBRG, GRBG, RGGB), or not at all. "For the line" names the controls to \
        pin: exposure, gain and white balance (so lighting does not change verdicts), and, on \
        cameras that have them, an external trigger mode and a strobe output (pin \
        trigger_mode = 1 to take a frame on each pulse of the trigger input).
        """)

    @Option(help: "Describe only this device.")
    var device: String?

    func run() throws {
        let paths = device.map { [$0] } ?? V4L2Inventory.devicePaths()
        guard !paths.isEmpty else {
            print("no V4L2 devices found (/dev/video* is empty). Is the camera plugged in, and is the uvcvideo module loaded?")
            return
        }
        var failures = 0
        for path in paths {
            do {
                print(Self.render(try V4L2Inventory.describe(path)))
            } catch {
                failures += 1
                print("\(path): \(error)\n")
            }
        }
        if device != nil && failures > 0 { throw ExitCode(1) }
    }

    static func render(_ d: CameraDescription) -> String {
        var s = "\(d.path): \(d.card) (driver \(d.driver), \(d.bus))\n"
        for link in d.stablePaths { s += "  stable path: \(link)\n" }
        s += "  formats:\n"
        for f in d.formats {
            let how = CameraFormat(rawValue: f.fourcc).map { $0.native == nil ? "converted to RGB by libv4lconvert" : "read as it comes" }
                ?? "not supported"
            s += "    \(f.fourcc) \(f.description)\(f.compressed ? " (compressed)" : "")  [\(how)]\n"
            for size in f.sizes {
                let rates = size.fps.map { String(format: "%g", $0) }.joined(separator: ", ")
                s += "      \(size.width)x\(size.height)\(rates.isEmpty ? "" : " @ \(rates) fps")\n"
            }
        }
        s += "  controls:\n"
        for c in d.controls {
            let value = c.value.map(String.init) ?? "?"
            s += "    \(c.key.padding(toLength: 32, withPad: " ", startingAt: 0)) \(value) (range \(c.minimum)...\(c.maximum), default \(c.defaultValue))\n"
        }
        s += "  for the line:\n"
        for role in ControlRole.allCases {
            let keys = d.controls.filter { $0.role == role }.map(\.key)
            s += "    \((role.rawValue + ":").padding(toLength: 15, withPad: " ", startingAt: 0)) \(keys.isEmpty ? "none" : keys.joined(separator: ", "))\n"
        }
        return s
    }
}
