import Foundation
import Hummingbird
import Inspection
import LinesightCore
import Logging
import NIOCore
import Store

/// The daemon's HTTP API. Read routes are open on loopback; a bearer token guards every
/// route when the server listens beyond loopback, and routes that change state always.
/// Errors are JSON: {"error": "..."}.
enum HTTPAPI {
    static let maxClassifyBytes = 8 << 20
    /// Live-event subscribers at once; the next gets a 503 (each holds a connection and a buffer).
    static let maxEventClients = 16

    static func router(_ d: InspectionService, events hub: EventHub, outputs: LineOutputs, screen: OperatorScreen? = nil, gate: ClassifyGate, token: String?, requireTokenForReads: Bool,
                       logger: Logger) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: JSONErrorMiddleware(logger: logger))
        router.add(middleware: AuthMiddleware(token: token, requireForReads: requireTokenForReads))
        let backend = Backend(inspection: d, events: hub, outputs: outputs, gate: gate, screen: screen, token: token)
        for route in routes {
            router.on(RouterPath(route.path), method: route.method) { request, context in
                try await route.handle(request, context, backend)
            }
        }
        return router
    }

    /// A camera id to filter by: printable, and one the database knows.
    static func camera(_ d: InspectionService, _ q: APIQuery) throws -> String? {
        guard let id = try q.string("camera") else { return nil }
        let known = try d.store.cameraIds()
        guard known.contains(id) else {
            throw APIError(status: .notFound, message: "camera: no camera '\(id)' (known: \(known.joined(separator: ", ")))", parameter: "camera")
        }
        return id
    }

    /// `since` and `until` as a half-open range [since, until) (empty when until <= since).
    static func timeRange(_ q: APIQuery) throws -> (since: Double?, until: Double?) {
        (try q.time("since"), try q.time("until"))
    }

    /// The methods a path takes, when it is one of the API's paths (a known path asked with
    /// another method is a 405, not a 404).
    static func methods(for path: String) -> [HTTPRequest.Method]? {
        let asked = path.split(separator: "/", omittingEmptySubsequences: false)
        let matching = routes.filter { route in
            let pattern = route.path.split(separator: "/", omittingEmptySubsequences: false)
            return pattern.count == asked.count && zip(pattern, asked).allSatisfy { p, a in p.hasPrefix(":") ? !a.isEmpty : p == a }
        }
        guard !matching.isEmpty else { return nil }
        return matching.flatMap { $0.method == .get ? [HTTPRequest.Method.get, .head] : [$0.method] }
    }

    static func verdicts(_ d: InspectionService, _ request: Request) throws -> Response {
        let p = try APIQuery(request, allowed: ["camera", "decision", "since", "until", "flagged", "before", "limit"])
        var q = VerdictQuery()
        q.camera = try camera(d, p)
        if let s = try p.string("decision") {
            guard let dec = Decision(rawValue: s) else { throw APIError.bad("decision", "expected pass, fail or no_verdict") }
            q.decision = dec
        }
        (q.since, q.until) = try timeRange(p)
        q.flaggedOnly = try p.bool("flagged") ?? false
        q.before = try p.int("before", in: 1...Int64.max)
        q.limit = Int(try p.int("limit", in: 1...1000) ?? 100)
        let page = try d.store.verdicts(q)
        let items = try JSONSerialization.jsonObject(with: JSONEncoder().encode(page.items))
        return json(["items": items, "next_before": page.nextBefore.map { $0 as Any } ?? NSNull()])
    }

    /// A software trigger: a new part at the station, judged from its views' next frames.
    static func trigger(_ d: InspectionService, _ request: Request) throws -> Response {
        let q = try APIQuery(request, allowed: ["station", "serial"])
        let station = try q.string("station"), serial = try q.string("serial")
        do {
            let t = try d.trigger(station: station, serial: serial)
            return json(["part": t.id, "station": t.station, "deadline_ms": Int((t.deadline * 1000).rounded())], status: .accepted)
        } catch .stopping {
            throw APIError(status: .serviceUnavailable, message: "\(InspectionError.stopping)", headers: [.retryAfter: "5"])
        } catch {
            let parameter = "\(error)".hasPrefix("serial") ? "serial" : "station"
            throw APIError(status: d.config.stations.isEmpty ? .conflict : .badRequest,
                           message: "\(parameter): \(error)", parameter: parameter)
        }
    }

    /// The latest parts, newest first, each with its views' frame verdicts.
    static func parts(_ d: InspectionService, _ request: Request) throws -> Response {
        let q = try APIQuery(request, allowed: ["station", "before", "limit"])
        let station = try q.string("station")
        if let station, !d.config.stations.contains(where: { $0.id == station }) {
            throw APIError(status: .notFound, message: "station: no station '\(APIQuery.printable(station))'", parameter: "station")
        }
        let before = try q.int("before", in: 1...Int64.max)
        let limit = Int(try q.int("limit", in: 1...1000) ?? 100)
        let page = try d.store.parts(station: station, before: before, limit: limit)
        let frames = try d.store.verdicts(ofParts: page.map(\.id))
        let items = try page.map { p -> [String: Any] in
            var o = try JSONSerialization.jsonObject(with: JSONEncoder().encode(p)) as? [String: Any] ?? [:]
            o["frames_judged"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(frames[p.id] ?? []))
            return o
        }
        return json(["items": items, "next_before": page.count == limit ? page.last.map { $0.id as Any } ?? NSNull() : NSNull()])
    }

    static func stats(_ d: InspectionService, _ request: Request) throws -> Response {
        let q = try APIQuery(request, allowed: ["camera", "since", "until"])
        let camera = try camera(d, q)
        let (since, until) = try timeRange(q)
        let s = try d.store.rangeStats(camera: camera, since: since, until: until)
        let live = d.pipelines.filter { camera == nil || $0.camera == camera }.map { p -> [String: Any] in
            let s = p.stats
            return ["camera": p.camera, "received": s.received, "passes": s.passes, "fails": s.fails, "no_verdicts": s.noVerdicts,
                    "dropped": s.dropped, "queue_depth": s.queueDepth, "source": s.sourceState.rawValue,
                    "model_stage1": p.modelVersions.0, "model_stage2": p.modelVersions.1 ?? NSNull(), "product": p.product,
                    "latency_p50_ms": number(s.latency.quantile(0.5)), "latency_p99_ms": number(s.latency.quantile(0.99)),
                    "drift": s.drift.map { r -> Any in
                        ["score": number(r.score), "alarm": r.alarm, "psi": number(r.psi), "frames": r.frames, "worst": r.worst,
                         "shifts": r.shifts.mapValues { number($0) }, "alarms": s.driftAlarms] as [String: Any]
                    } ?? NSNull()]
        }
        let range = try JSONSerialization.jsonObject(with: JSONEncoder().encode(s))
        var out: [String: Any] = ["range": range, "cameras": live, "uptime_seconds": Date().timeIntervalSince(d.startedAt)]
        // the range's frames per product ("" when made before products were named)
        var products: [String: [String: Int]] = [:]
        for r in try d.store.rollups(since: since, until: until, camera: camera) {
            var t = products[r.product, default: ["frames": 0, "passes": 0, "fails": 0, "no_verdicts": 0]]
            t["frames"]! += r.frames; t["passes"]! += r.passes; t["fails"]! += r.fails; t["no_verdicts"]! += r.noVerdicts
            products[r.product] = t
        }
        out["products"] = products
        if !d.config.stations.isEmpty {  // the line's parts in the same range, by trigger time
            out["parts"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(d.store.partStats(since: since, until: until)))
        }
        return json(out)
    }

    /// The product the line makes, the products it can make (with their model files' names),
    /// and the last changeovers.
    static func productStatus(_ d: InspectionService) throws -> Response {
        let current = d.currentProduct
        let products = d.config.products.map { p -> [String: Any] in
            ["id": p.id, "stage1": (p.models.stage1 as NSString).lastPathComponent,
             "stage2": p.models.stage2.map { ($0 as NSString).lastPathComponent as Any } ?? NSNull()]
        }
        let history = try d.store.productChanges(limit: 20).map { c -> [String: Any] in ["at": c.at, "product": c.product, "by": c.by] }
        return json(["product": current.id, "since": d.productSince, "changeovers": d.productChangeovers,
                     "models_stage1": d.pipelines.first?.modelVersions.0 ?? "", "products": products, "history": history])
    }

    static func frame(_ d: InspectionService, _ request: Request, _ file: String) throws -> Response {
        _ = try APIQuery(request, allowed: [])
        guard file.hasSuffix(".jpg"), let id = Int64(file.dropLast(4)), id > 0 else {
            throw APIError.bad("id", "expected /api/v1/frames/ID.jpg with ID a positive whole number")
        }
        guard let f = try d.store.frame(id: id), let data = FileManager.default.contents(atPath: d.config.framesDirectory + "/" + f.path) else {
            throw APIError(status: .notFound, message: "frame \(id) is not stored (never kept, or removed by retention)", parameter: "id")
        }
        return Response(status: .ok, headers: [.contentType: "image/jpeg"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func classify(_ d: InspectionService, _ gate: ClassifyGate, _ request: Request) async throws -> Response {
        _ = try APIQuery(request, allowed: [])
        if let type = request.headers[.contentType], !type.lowercased().hasPrefix("image/jpeg") {
            throw APIError(status: .unsupportedMediaType,
                           message: "body: Content-Type is '\(APIQuery.printable(type))'; send the JPEG as image/jpeg (curl -H 'Content-Type: image/jpeg' --data-binary @part.jpg)",
                           parameter: "body")
        }
        let admission = try gate.admit()
        var request = request
        let body: ByteBuffer
        do { body = try await request.collectBody(upTo: maxClassifyBytes) } catch is NIOTooManyBytesError {
            throw APIError(status: .contentTooLarge, message: "body: the image is larger than \(maxClassifyBytes >> 20) MiB", parameter: "body")
        } catch let e as HTTPError where e.status == .contentTooLarge {
            throw APIError(status: .contentTooLarge, message: "body: the image is larger than \(maxClassifyBytes >> 20) MiB", parameter: "body")
        }
        let bytes = Array(body.readableBytesView)
        guard !bytes.isEmpty else { throw APIError.bad("body", "empty; POST one JPEG image") }
        guard bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF else {
            let what = bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) ? "a PNG" : "not a JPEG (no FF D8 FF start of image)"
            throw APIError(status: .unsupportedMediaType, message: "body: \(what); only JPEG images are judged", parameter: "body")
        }
        switch await gate.classify(admission, { try d.classify(jpeg: bytes) }) {
        case .success(let (j, v1, v2)):
            return json(["decision": j.decision.rawValue, "stage1_score": j.stage1Score, "defects": j.defects,
                         "stage2_scores": j.stage2Scores.map { $0 as Any } ?? NSNull(), "unsure": j.unsure,
                         "model_stage1": v1, "model_stage2": v2.map { $0 as Any } ?? NSNull()])
        case .failure(let error):
            return json(["decision": "no_verdict", "error": "\(error)"], status: .unprocessableContent)
        }
    }

    /// Server-sent events: a `verdict` event per judged frame, a `part` event per decided part,
    /// and with the operator screen on, a `status` event a second; each as one JSON line.
    static func events(_ hub: EventHub) throws -> Response {
        guard let (_, stream) = hub.subscribe(limit: maxEventClients) else {
            throw APIError(status: .serviceUnavailable, message: "\(maxEventClients) clients already follow the live events; try again later",
                           headers: [.retryAfter: "5"])
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                        body: .init { writer in
                            try await writer.write(ByteBuffer(string: ": linesight live verdicts\n\n"))
                            for await event in stream {
                                let (name, data) = sse(event)
                                try await writer.write(ByteBuffer(string: "event: \(name)\ndata: \(data)\n\n"))
                            }
                            try await writer.finish(nil)
                        })
    }

    /// An event's name and its JSON (one line).
    static func sse(_ event: LiveEvent) -> (String, String) {
        let obj: [String: Any]
        switch event {
        case .status(let json): return ("status", json)
        case .verdict(let v):
            obj = ["camera": v.camera, "sequence": v.sequence, "decision": v.decision.rawValue,
                   "stage1_score": number(v.stage1Score), "defects": v.defects,
                   "flags": v.flags.map(\.rawValue), "total_ms": number(v.totalMs), "part": v.part.map { $0 as Any } ?? NSNull()]
        case .part(let p):
            obj = ["part": p.id, "station": p.station, "serial": p.serial.map { $0 as Any } ?? NSNull(), "decision": p.decision.rawValue,
                   "defects": p.defects, "views": p.views.mapValues(\.rawValue), "frames": p.frames, "decided_ms": number(p.decidedMs),
                   "error": p.error.map { $0 as Any } ?? NSNull()]
        }
        let name = if case .part = event { "part" } else { "verdict" }
        let data = (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])) ?? Data("{}".utf8)
        return (name, String(decoding: data, as: UTF8.self))
    }

    /// A number for JSON: null when absent or not finite (JSON has no NaN or infinity).
    static func number(_ v: Double?) -> Any {
        guard let v, v.isFinite else { return NSNull() }
        return v
    }

    static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            return Response(status: .internalServerError, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"error":"internal error: the response could not be encoded as JSON"}"#)))
        }
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Bearer-token check: always for POST, and for every route when reads need it too.
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String?
    let requireForReads: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let readOnlyPost = request.uri.path == "/api/v1/classify"  // judges an image, stores nothing
        // Only a route that takes this method can change anything; others go on to their 404 or 405.
        let routed = HTTPAPI.methods(for: request.uri.path)?.contains(request.method) == true
        let changesState = routed && request.method != .get && request.method != .head && !readOnlyPost
        guard changesState || requireForReads else { return try await next(request, context) }
        guard let token else {
            return HTTPAPI.json(["error": "this route needs a bearer token; set http.token_file in the config"], status: .forbidden)
        }
        guard Self.authorized(request, token: token) else {
            var response = HTTPAPI.json(["error": "missing or wrong bearer token"], status: .unauthorized)
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return try await next(request, context)
    }

    /// The cookie the operator page keeps its read-only secret in.
    static var cookie: String { "linesight_read" }

    /// The operator page's cookie value: derived from the token, good for reads only, and
    /// not the token itself (cookies are shared by every port of a host).
    static func readSecret(_ token: String) -> String { Hashing.hmacSHA256(key: token, message: "linesight operator screen: reads") }

    /// Whether the request presents the token: its bearer header; for reads also the operator
    /// page's cookie, and on /operator itself a `token` parameter (a panel's browser cannot
    /// send a header).
    static func authorized(_ request: Request, token: String) -> Bool {
        if let b = bearer(request.headers[.authorization]) { return constantTimeEqual(b, token) }
        guard request.method == .get || request.method == .head else { return false }
        if request.uri.path == "/operator", let t = request.uri.queryParameters["token"], !t.isEmpty {
            return constantTimeEqual(String(t), token)
        }
        let secret = readSecret(token)
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let kv = pair.trimmingCharacters(in: .whitespaces)
                if kv.hasPrefix(cookie + "=") { return constantTimeEqual(String(kv.dropFirst(cookie.count + 1)), secret) }
            }
        }
        return false
    }

    /// The credentials of an `Authorization: Bearer ...` header (the scheme in any case, RFC 7235).
    static func bearer(_ header: String?) -> String? {
        guard let header, let space = header.firstIndex(of: " "), header[..<space].lowercased() == "bearer" else { return nil }
        let credentials = header[header.index(after: space)...].trimmingCharacters(in: .whitespaces)
        return credentials.isEmpty ? nil : credentials
    }

    /// Compares every byte whatever the first difference, so the time taken tells nothing of the token.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff: UInt8 = x.count == y.count ? 0 : 1
        for i in 0..<max(x.count, y.count) {
            diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return diff == 0
    }
}
