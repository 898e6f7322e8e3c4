import Foundation
import Imaging
import Neural

/// Where a model saw a defect in one frame: its class map over the region it judged, scaled
/// so the strongest cell is 1 (cells that pushed toward a pass are 0), with the peak and a
/// box around the hot spot in frame pixels (the operator screen and review draw them).
public struct DefectLocation: Sendable, Equatable {
    /// "defect" for stage 1's map, else the stage-2 kind the map is of.
    public var what: String
    public var map: ClassMap
    /// The part of the frame the model judged (the ROI, or the whole frame), in frame pixels.
    public var region: Rect
    /// The centre of the strongest cell, in frame pixels; nil when no cell pushed toward it.
    public var peak: (x: Int, y: Int)? { peakCell.map { center(of: $0) } }
    /// The cells at half the peak or more that connect (4-neighbours) to it, as a box in
    /// frame pixels; nil when no cell pushed toward it.
    public let box: Rect?
    let peakCell: Int?

    /// The cells of half the peak or more that outline the hot spot.
    public static let boxLevel: Float = 0.5

    public init(what: String, map: ClassMap, region: Rect) {
        self.what = what
        self.map = map
        self.region = region
        let v = map.values
        let top = v.indices.max { v[$0] < v[$1] }
        guard let top, v[top] > 0 else {
            (peakCell, box) = (nil, nil)
            return
        }
        peakCell = top
        // flood fill from the peak over the cells at the box level
        let (w, h) = (map.width, map.height)
        var seen = [Bool](repeating: false, count: v.count), stack = [top]
        seen[top] = true
        var (x0, y0, x1, y1) = (top % w, top / w, top % w, top / w)
        while let c = stack.popLast() {
            let (x, y) = (c % w, c / w)
            (x0, y0, x1, y1) = (min(x0, x), min(y0, y), max(x1, x), max(y1, y))
            for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] where nx >= 0 && ny >= 0 && nx < w && ny < h {
                let n = ny * w + nx
                if !seen[n], v[n] >= Self.boxLevel * v[top] { seen[n] = true; stack.append(n) }
            }
        }
        let left = region.x + x0 * region.width / w, upper = region.y + y0 * region.height / h
        let right = region.x + (x1 + 1) * region.width / w, bottom = region.y + (y1 + 1) * region.height / h
        box = Rect(x: left, y: upper, width: max(1, right - left), height: max(1, bottom - upper))
    }

    /// The frame pixels the strongest cell covers (the finest a map can point); nil when no
    /// cell pushed toward it.
    public var peakArea: Rect? {
        peakCell.map { cell in
            let (cx, cy) = (cell % map.width, cell / map.width)
            let x0 = region.x + cx * region.width / map.width, y0 = region.y + cy * region.height / map.height
            let x1 = region.x + (cx + 1) * region.width / map.width, y1 = region.y + (cy + 1) * region.height / map.height
            return Rect(x: x0, y: y0, width: max(1, x1 - x0), height: max(1, y1 - y0))
        }
    }

    /// The frame pixel at the centre of map cell `cell`.
    func center(of cell: Int) -> (x: Int, y: Int) {
        let (cx, cy) = (cell % map.width, cell / map.width)
        return (region.x + (2 * cx + 1) * region.width / (2 * map.width), region.y + (2 * cy + 1) * region.height / (2 * map.height))
    }

    public static func == (a: DefectLocation, b: DefectLocation) -> Bool {
        a.what == b.what && a.map == b.map && a.region == b.region && a.box == b.box && a.peakCell == b.peakCell
    }
}

extension ClassMap {
    /// `{"width": W, "height": H, "values": [...]}`, values to three decimals (the form the
    /// store keeps a failed frame's map in).
    public var json: String {
        let cells = values.map { v -> String in
            let r = (Double(v.isFinite ? v : 0) * 1000).rounded() / 1000
            return r == r.rounded() ? String(Int(r)) : String(r)
        }
        return "{\"width\":\(width),\"height\":\(height),\"values\":[\(cells.joined(separator: ","))]}"
    }

    /// A map from `json`; nil when it is not one (sizes that do not match its values, a
    /// value outside 0...1, or more than 65,536 cells).
    public init?(json: String) {
        struct Stored: Decodable { var width: Int; var height: Int; var values: [Float] }
        guard let s = try? JSONDecoder().decode(Stored.self, from: Data(json.utf8)), s.width > 0, s.height > 0,
              s.width <= 65536 / s.height, s.values.count == s.width * s.height, s.values.allSatisfy({ $0 >= 0 && $0 <= 1 }) else { return nil }
        self.init(width: s.width, height: s.height, values: s.values)
    }
}
