import Foundation
import Hummingbird
import Imaging
import Inspection
import NIOCore
import Reports

extension HTTPAPI {
    /// GET /api/v1/frames/ID/heatmap.png[?kind=K|map=kept]: the kept frame's judged region
    /// with where the live models see the defect laid over it (stage 1's map, or stage 2's
    /// map of kind K; with map=kept, stage 1's map as it judged the frame) and the hot spot boxed. The box, the peak and what the map is of come in
    /// headers, in the frame's pixels. Runs on the API's work thread, admitted like a classify.
    static func heatmap(_ b: Backend, _ request: Request, _ idText: String) async throws -> Response {
        let q = try APIQuery(request, allowed: ["kind", "map"])
        guard let id = Int64(idText), id > 0 else {
            throw APIError.bad("id", "expected /api/v1/frames/ID/heatmap.png with ID a positive whole number")
        }
        let kind = try q.string("kind")
        let kept: Bool
        switch try q.string("map") {
        case nil, "live": kept = false
        case "kept": kept = true
        case let other?: throw APIError.bad("map", "'\(APIQuery.printable(other))': expected live (the models as they are now) or kept (stage 1's map as it judged the frame)")
        }
        if kept, let kind {  // no such map: frames keep stage 1's only
            throw APIError(status: .notFound, message: "kind '\(APIQuery.printable(kind))': frames keep stage 1's map only; a kind's map needs map=live", parameter: "kind")
        }
        let admission = try b.gate.admit()
        let d = b.inspection
        // the model's pass, the overlay and the PNG all run on the API's work thread
        switch await b.gate.classify(admission, { () throws -> (png: Data, location: DefectLocation?) in
            let (image, location) = try d.locate(frameID: id, kind: kind, kept: kept)
            let region = location?.region ?? Rect(x: 0, y: 0, width: image.width, height: image.height)
            let box = location?.box.map { Rect(x: $0.x - region.x, y: $0.y - region.y, width: $0.width, height: $0.height) }
            let shown = location.map { heatOverlay(image, values: $0.map.values, mapWidth: $0.map.width, mapHeight: $0.map.height, box: box) } ?? image
            return (encodePNG(rgb: shown.pixels, width: shown.width, height: shown.height), location)
        }) {
        case .success(let (png, location)):
            var headers: HTTPFields = [.contentType: "image/png", .cacheControl: "no-cache"]
            if let f = HTTPFields.Element.Name("X-Defect-Map") {
                headers[f] = location.map { "\($0.what) \($0.map.width)x\($0.map.height)" } ?? "none (the model's head draws no map)"
            }
            if let l = location, let box = l.box, let peak = l.peak, let fb = HTTPFields.Element.Name("X-Defect-Box"), let fp = HTTPFields.Element.Name("X-Defect-Peak") {
                headers[fb] = "\(box.x),\(box.y),\(box.width),\(box.height)"
                headers[fp] = "\(peak.x),\(peak.y)"
            }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: png)))
        case .failure(InspectionError.frameNotStored(let id)):
            throw APIError(status: .notFound, message: "frame \(id) is not stored (never kept, or removed by retention)", parameter: "id")
        case .failure(InspectionError.noKeptMap(let id)):
            throw APIError(status: .notFound, message: "\(InspectionError.noKeptMap(id: id))", parameter: "map")
        case .failure(let e as InspectionError):
            // a kind the model does not know has no map: not found, as a frame that is not stored
            if case .unknownKind = e { throw APIError(status: .notFound, message: "\(e)", parameter: "kind") }
            throw APIError(status: .unprocessableContent, message: "\(e)")
        case .failure(let e):
            throw APIError(status: .unprocessableContent, message: "the stored frame cannot be mapped: \(e)")
        }
    }
}
