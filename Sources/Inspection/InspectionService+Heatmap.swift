import Foundation
import Imaging
import Neural
import Store

extension InspectionService {
    /// A kept frame's judged region (its ROI, or the whole frame) and where a defect is in
    /// it: as the live models see it now (stage 1's map, or stage 2's map of `kind`), or with
    /// `kept`, stage 1's map as it judged the frame (`[flagging] keep_maps`). The location's
    /// region and box are in the frame's pixels; `image` is the region alone. Blocks for one
    /// pass of the model: call it from a thread of its own.
    public func locate(frameID id: Int64, kind: String?, kept: Bool = false) throws -> (image: Image, location: DefectLocation?) {
        guard let f = try store.frame(id: id), let data = FileManager.default.contents(atPath: config.framesDirectory + "/" + f.path) else {
            throw InspectionError.frameNotStored(id: id)
        }
        let decoder = try JPEGDecoder()
        let whole = try decoder.decode([UInt8](data), layout: .rgb)
        let region = f.roi.map { Rect(x: $0.x, y: $0.y, width: $0.width, height: $0.height) }.flatMap { $0.fits(width: whole.width, height: whole.height) ? $0 : nil }
        let image = try region.map { try whole.cropped(to: $0) } ?? whole
        if kept {
            guard let json = f.defectMap else { throw InspectionError.noKeptMap(id: id) }
            guard let map = ClassMap(json: json) else { throw InspectionError.config("frame \(id): its kept map is not a map") }
            let judged = region ?? Rect(x: 0, y: 0, width: whole.width, height: whole.height)
            return (image, DefectLocation(what: "defect", map: map, region: judged))
        }
        let found = try apiLock.withLock {
            try image.pixels.withUnsafeBytes { raw in
                try apiClassifier.locate(FrameView(bytes: raw, format: .rgb24, width: image.width, height: image.height), kind: kind)
            }
        }
        guard var location = found, let region else { return (image, found) }
        // from the region's own pixels to the frame's
        location = DefectLocation(what: location.what, map: location.map, region: region)
        return (image, location)
    }
}
