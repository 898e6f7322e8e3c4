import Capture
import Config
import Foundation
import Testing
@testable import Inspection

@Suite("Line config")
struct LineConfigTests {
    /// deploy/linesight.toml, relative to this file.
    static var documented: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/linesight.toml").path
    }

    /// The line's sections of `text`; any other key is refused, as the executable's file reader does.
    func read(_ text: String) throws -> LineConfig {
        let root = try ConfigSection(parsing: text, file: "t.toml")
        let c = try LineConfig.read(root, baseDirectory: "/base")
        try root.finish()
        return c
    }

    @Test func theDocumentedConfigParsesAndStatesTheDefaults() throws {
        let c = try LineConfig.read(try ConfigSection.load(path: Self.documented),
                                    baseDirectory: (Self.documented as NSString).deletingLastPathComponent)
        let d = LineConfig()
        #expect(c.jpegQuality == d.jpegQuality && c.commitInterval == d.commitInterval)
        #expect(c.flags == d.flags && c.pipeline == d.pipeline && c.retention == d.retention)
        #expect(c.stallSeconds == d.stallSeconds && c.retentionEveryMinutes == d.retentionEveryMinutes)
        #expect(c.models.fail == nil && c.models.pass == nil && c.models.defect == nil && !c.models.overrideModel,
                "the shipped config leaves the model files' fitted thresholds in force")
        #expect(c.cameras.count == 1 && c.cameras[0].source == .synthetic && c.cameras[0].synthetic == SyntheticConfigDefaults.value)
        #expect(c.database.hasSuffix("deploy/linesight-data/inspection.sqlite"), "relative to the file's folder")
    }

    @Test func camerasOfEveryKind() throws {
        let c = try read("""
        [[cameras]]
        id = "top"
        source = "v4l2"
        device = "/dev/video3"
        formats = ["YUYV"]
        roi = [10, 20, 300, 200]
        controls = { exposure_absolute = 150, gain = 4 }
        [[cameras]]
        id = "rec"
        source = "replay"
        path = "frames"
        loop = false
        """)
        #expect(c.cameras[0].v4l2?.path == "/dev/video3" && c.cameras[0].v4l2?.formats == [.yuyv])
        #expect(c.cameras[0].v4l2?.controls == ["exposure_absolute": 150, "gain": 4] && c.cameras[0].roi?.width == 300)
        #expect(c.cameras[1].replay?.path == "/base/frames" && c.cameras[1].replay?.loop == false)
        let dim = try read("[drift]\nwindow = 50\nmax_shift = 3\n[[cameras]]\nid = \"s\"\nlighting_change_after = 100\nlighting_gain = 0.6\n")
        #expect(dim.cameras[0].synthetic?.lightingChange == .init(afterFrames: 100, gain: 0.6))
        #expect(dim.pipeline.drift.window == 50 && dim.pipeline.drift.maxShift == 3 && dim.pipeline.drift.enabled)
        #expect(dim.flags.reviewOrder == .diverse, "the default")
        #expect(dim.products.map(\.id) == ["default"] && dim.products[0].models == dim.models, "one product: [models]")
        let two = try read("[models]\nstage1 = \"a.safetensors\"\nproduct = \"plate-a\"\n[thresholds]\nfail = 0.8\n"
                           + "[[products]]\nid = \"plate-b\"\nstage1 = \"b1.safetensors\"\nstage2 = \"b2.safetensors\"\n[[cameras]]\nid = \"s\"\n")
        #expect(two.products.map(\.id) == ["plate-a", "plate-b"])
        #expect(two.product("plate-b")?.models.stage1.hasSuffix("/b1.safetensors") == true && two.product("plate-b")?.models.fail == 0.8,
                "paths from the file's folder, [thresholds] for every product")
        #expect(try read("[flagging]\nreview_order = \"newest\"\n[[cameras]]\nid = \"s\"\n").flags.reviewOrder == .newest)
    }

    @Test(arguments: [
        ("[[cameras]]\nid = \"a\"\nsource = \"v4l2\"\n", "missing required key 'cameras[0].device'"),
        ("[[cameras]]\nid = \"a\"\n[[cameras]]\nid = \"a\"\n", "used twice"),
        ("[[cameras]]\nid = \"a b\"\n", "letters, digits"),
        ("[[cameras]]\nid = \"a\"\nsource = \"usb\"\n", "'usb' is not one of: v4l2, replay, synthetic"),
        ("[[cameras]]\nid = \"a\"\nsource = \"replay\"\npath = \"x\"\ndevice = \"/dev/video0\"\n", "unknown key 'cameras[0].device'"),
        ("[http]\nlisten = \"0.0.0.0:80\"\n[[cameras]]\nid = \"a\"\n", "unknown key 'http'"),
        ("[thresholds]\nfail = 0.2\npass = 0.5\n[[cameras]]\nid = \"a\"\n", "must not exceed fail"),
        ("[[cameras]]\nid = \"a\"\nroi = [9223372036854775807, 0, 1, 1]\n", "0-65535"),
        ("[[cameras]]\nid = \"a\"\nwidth = 96\nheight = 64\nroi = [80, 0, 32, 32]\n", "does not fit the 96x64 frame"),
        ("[[cameras]]\nid = \"a\"\nsource = \"v4l2\"\ndevice = \"/dev/video0\"\nwidth = 640\nheight = 480\nroi = [600, 0, 64, 64]\n", "does not fit the 640x480 frame"),
        ("[[cameras]]\nid = \"a\"\nsource = \"replay\"\npath = \"x\"\nfps = 1e-11\n", "0.01-1000"),
        ("[[cameras]]\nid = \"a\"\nfps = 1e-11\n", "fps"),
        ("[[cameras]]\nid = \"a\"\nsource = \"v4l2\"\ndevice = \"/dev/video0\"\ncontrols = { gain = 99999999999 }\n", "gain"),
        ("[pipeline]\nqueue = 0\n[[cameras]]\nid = \"a\"\n", "outside 1...1000"),
        ("[drift]\nwindow = 5\n[[cameras]]\nid = \"a\"\n", "window"),
        ("[drift]\nmax_psi = nan\n[[cameras]]\nid = \"a\"\n", "max_psi"),
        ("[drift]\nthreshold = 1\n[[cameras]]\nid = \"a\"\n", "unknown key 'drift.threshold'"),
        ("[flagging]\nreview_order = \"smart\"\n[[cameras]]\nid = \"a\"\n", "'smart' is not one of: diverse, uncertainty, newest"),
        ("[[products]]\nid = \"b\"\n[[cameras]]\nid = \"a\"\n", "missing required key 'products[0].stage1'"),
        ("[[products]]\nstage1 = \"x\"\n[[cameras]]\nid = \"a\"\n", "missing required key 'products[0].id'"),
        ("[[products]]\nid = \"default\"\nstage1 = \"x\"\n[[cameras]]\nid = \"a\"\n", "product id 'default' is used twice"),
        ("[[products]]\nid = \"a b\"\nstage1 = \"x\"\n[[cameras]]\nid = \"a\"\n", "is not a product id"),
        ("[models]\nproduct = \"\"\n[[cameras]]\nid = \"a\"\n", "is not a product id"),
        ("[[products]]\nid = \"b\"\nstage1 = \"x\"\nwatch = true\n[[cameras]]\nid = \"a\"\n", "unknown key 'products[0].watch'"),
        ("[[cameras]]\nid = \"a\"\nlighting_gain = 0.5\n", "needs lighting_change_after"),
        ("[[cameras]]\nid = \"a\"\nlighting_change_after = 10\nlighting_gain = 0\n", "lighting_gain"),
        ("[store]\n", "at least one [[cameras]]"),
        ("[[cameras]]\nid = \"a\"\n[[stations]]\nid = \"s\"\ncameras = [\"b\"]\n", "'b' is not a camera id (known: a)"),
        ("[[cameras]]\nid = \"a\"\n[[stations]]\nid = \"s\"\n", "needs at least one camera"),
        ("[[cameras]]\nid = \"a\"\n[[stations]]\ncameras = [\"a\"]\n", "missing required key 'stations[0].id'"),
        ("[[cameras]]\nid = \"a\"\n[[stations]]\nid = \"s\"\ncameras = [\"a\", \"a\"]\n", "named twice"),
        ("[[cameras]]\nid = \"a\"\n[[stations]]\nid = \"s\"\ncameras = [\"a\"]\n[[stations]]\nid = \"t\"\ncameras = [\"a\"]\n", "already serves another station"),
        ("[[cameras]]\nid = \"a\"\n[[cameras]]\nid = \"b\"\n[[stations]]\nid = \"s\"\ncameras = [\"a\"]\n[[stations]]\nid = \"s\"\ncameras = [\"b\"]\n", "station id 's' is used twice"),
        ("[[cameras]]\nid = \"a\"\n[[stations]]\nid = \"s\"\ncameras = [\"a\"]\nframes = 0\n", "frames"),
        ("[[cameras]]\nid = \"a\"\n[[stations]]\nid = \"s\"\ncameras = [\"a\"]\ndeadline_ms = 5\n", "deadline_ms"),
        ("[[cameras]]\nid = \"a\"\n[[stations]]\nid = \"s/1\"\ncameras = [\"a\"]\n", "letters, digits"),
        ("[[cameras]]\nid = \"a\"\n[[stations]]\nid = \"s\"\ncameras = [\"a\"]\ntrigger = \"gpio\"\n", "unknown key 'stations[0].trigger'"),
        ("[[cameras]]\nid = \"a\"\n[[stations]]\nid = \"s\"\ncameras = [\"a\"]\ntriggers = [\"laser\"]\n", "'laser' is not one of api, mqtt, modbus, gpio, presence"),
        ("[[cameras]]\nid = \"a\"\n[[stations]]\nid = \"s\"\ncameras = [\"a\"]\nselect = \"best\"\n", "'best' is not all"),
        ("[[cameras]]\nid = \"a\"\n[[stations]]\nid = \"s\"\ncameras = [\"a\"]\npresence_threshold = 0.2\n", "needs triggers to include \"presence\""),
        ("[[cameras]]\nid = \"a\"\n[[stations]]\nid = \"s\"\ncameras = [\"a\"]\ntriggers = [\"presence\"]\npresence_camera = \"b\"\n", "'b' is not one of the station's cameras"),
        ("[[cameras]]\nid = \"a\"\n[[stations]]\nid = \"s\"\ncameras = [\"a\"]\ntriggers = [\"presence\"]\npresence_threshold = 0.1\npresence_release = 0.2\n", "must be below presence_threshold"),
        ("[[cameras]]\nid = \"a\"\nbelt_gap_frames = 3\n", "needs belt_part_frames"),
        ("[[cameras]]\nid = \"a\"\nfps = 10\n[[stations]]\nid = \"s\"\ncameras = [\"a\"]\nframes = 9\nselect = \"sharpest\"\n", "too close to deadline_ms"),
        ("[[cameras]]\nid = \"a\"\n[[stations]]\nid = \"s\"\ncameras = [\"a\"]\ntriggers = []\n", "needs a trigger source"),
    ])
    func badConfigsAreRefusedWithLineAndKey(text: String, words: String) {
        #expect {
            _ = try read(text)
        } throws: { error in
            "\(error)".hasPrefix("t.toml:") && "\(error)".contains(words)
        }
    }
}

enum SyntheticConfigDefaults {
    static let value = Capture.SyntheticConfig()
}
