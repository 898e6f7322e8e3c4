import Capture
import Imaging
import LinesightCore

/// Presence gating, for a line without a part sensor: the part-present score of a camera's
/// region judged is how far the frame differs from the empty scene, the mean absolute
/// difference of its gray 80x60 picture from a background model, 0 (the empty belt) to 1.
/// A part arrives when the score reaches `threshold` for `frames` frames in a row; the next
/// may come once it fell below `release` (hysteresis: a part that wobbles is one part). The
/// background follows slow changes of light while the scene is empty (slower while the score
/// sits between `release` and `threshold`); a scene that stays "present" for `stuckSeconds`
/// (the camera moved, or a part left in view) becomes the background, and the former empty
/// scene is kept: should it come back (the resting part left), it is taken back without a
/// part. Used from the capture thread alone.
final class PresenceDetector {
    struct Settings: Sendable, Equatable {
        var threshold = 0.1
        var release = 0.05
        var frames = 2
        var stuckSeconds = 10.0
    }

    static let (width, height) = (80, 60)
    let settings: Settings
    private var thumbnail: GrayThumbnail
    private var picture: [Float] { thumbnail.pixels }
    private var background: [Float]?
    /// The empty scene before a stuck scene replaced it.
    private var formerEmpty: [Float]?
    private var present = false
    private var above = 0
    private var presentSince = 0.0
    /// The last frame's score (for metrics).
    private(set) var score: Double?
    /// Times the background was learned again after a stuck "present".
    private(set) var relearned = 0

    init(roi: Rect?, settings: Settings) throws {
        self.settings = settings
        thumbnail = try GrayThumbnail(width: Self.width, height: Self.height, roi: roi)
    }

    /// Reads one frame; true when a part has just arrived (trigger now).
    func observe(_ frame: Frame, now: Double = monotonicSeconds()) -> Bool {
        guard thumbnail.read(frame) else { return false }  // an unreadable frame says nothing about presence
        guard let bg = background else {
            background = picture  // the scene at start is taken as empty
            score = 0
            return false
        }
        let s = difference(bg)
        score = s
        if present {
            if s < settings.release {
                present = false
                above = 0
            } else if now - presentSince > settings.stuckSeconds {
                formerEmpty = bg  // stuck: this is the scene now, and the empty one may return
                background = picture
                relearned += 1
                present = false
                above = 0
            }
            return false
        }
        if s >= settings.threshold, let former = formerEmpty, difference(former) < settings.release {
            background = former  // the former empty scene is back (a resting part left): no part
            formerEmpty = nil
            above = 0
            score = difference(former)
            return false
        }
        if s >= settings.threshold {
            above += 1
            if above >= settings.frames {
                present = true
                presentSince = now
                return true
            }
        } else {
            above = 0
            // empty: the background follows the light, slowly (more slowly near the threshold)
            let rate: Float = s < settings.release ? 0.05 : 0.01
            for i in 0..<picture.count { background![i] += rate * (picture[i] - background![i]) }
        }
        return false
    }

    /// The mean absolute difference of the last picture from `scene` (pixels are 0...1).
    private func difference(_ scene: [Float]) -> Double {
        var sum: Float = 0
        for i in 0..<picture.count { sum += abs(picture[i] - scene[i]) }
        return Double(sum) / Double(picture.count)
    }
}
