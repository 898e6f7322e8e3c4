import Foundation
import Hummingbird
import Inspection
import Logging
import Store

/// The daemon's HTTP API. Read routes are open on loopback; a bearer token guards every
/// route when the server listens beyond loopback, and routes that change state always.
/// Errors are JSON: {"error": "..."}.
enum HTTPAPI {
    static let maxClassifyBytes = 8 << 20

    static func router(_ d: InspectionService, events hub: EventHub, token: String?, requireTokenForReads: Bool) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: AuthMiddleware(token: token, requireForReads: requireTokenForReads))
        router.get("/healthz") { _, _ in json(["status": "ok"]) }
        router.get("/readyz") { _, _ in
            let advancing = d.isAdvancing(), failing = d.committer.stats.failing
            guard advancing && !failing else {
                return json(["status": "not ready", "pipelines_advancing": advancing, "store_failing": failing], status: .serviceUnavailable)
            }
            return json(["status": "ready"])
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: Metrics.render(d))))
        }
        router.get("/api/v1/verdicts") { request, _ in try verdicts(d, request) }
        router.get("/api/v1/stats") { request, _ in
            let q = request.uri.queryParameters
            let s = try d.store.rangeStats(camera: q.get("camera"), since: q.get("since", as: Double.self), until: q.get("until", as: Double.self))
            let live = d.pipelines.map { p -> [String: Any] in
                let s = p.stats
                return ["camera": p.camera, "received": s.received, "passes": s.passes, "fails": s.fails, "no_verdicts": s.noVerdicts,
                        "dropped": s.dropped, "queue_depth": s.queueDepth, "source": s.sourceState.rawValue,
                        "model_stage1": p.modelVersions.0, "model_stage2": p.modelVersions.1 ?? NSNull(),
                        "latency_p50_ms": s.latency.quantile(0.5) ?? NSNull(), "latency_p99_ms": s.latency.quantile(0.99) ?? NSNull()]
            }
            let range = try JSONSerialization.jsonObject(with: JSONEncoder().encode(s))
            return json(["range": range, "cameras": live, "uptime_seconds": Date().timeIntervalSince(d.startedAt)])
        }
        router.get("/api/v1/frames/:file") { _, context in
            guard let file = context.parameters.get("file"), file.hasSuffix(".jpg"), let id = Int64(file.dropLast(4)) else {
                return json(["error": "expected /api/v1/frames/ID.jpg"], status: .badRequest)
            }
            guard let f = try d.store.frame(id: id), let data = FileManager.default.contents(atPath: d.config.framesDirectory + "/" + f.path) else {
                return json(["error": "frame \(id) is not stored (never kept, or removed by retention)"], status: .notFound)
            }
            return Response(status: .ok, headers: [.contentType: "image/jpeg"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.get("/api/v1/events") { _, _ in events(hub) }
        router.post("/api/v1/classify") { request, _ in try await classify(d, request) }
        router.post("/api/v1/models/reload") { _, _ in
            let ok = d.reloadModels(reason: "HTTP request")
            return ok ? json(["status": "reloaded", "stage1": d.pipelines.first?.modelVersions.0 ?? ""])
                : json(["error": d.lastReloadError ?? "a reload is already running"], status: .conflict)
        }
        return router
    }

    static func verdicts(_ d: InspectionService, _ request: Request) throws -> Response {
        let p = request.uri.queryParameters
        var q = VerdictQuery()
        q.camera = p.get("camera")
        if let s = p.get("decision") {
            guard let dec = Decision(rawValue: s) else { return json(["error": "decision must be pass, fail or no_verdict"], status: .badRequest) }
            q.decision = dec
        }
        q.since = p.get("since", as: Double.self)
        q.until = p.get("until", as: Double.self)
        q.flaggedOnly = p.get("flagged") == "true"
        q.before = p.get("before", as: Int64.self)
        q.limit = p.get("limit", as: Int.self) ?? 100
        let page = try d.store.verdicts(q)
        let items = try JSONSerialization.jsonObject(with: JSONEncoder().encode(page.items))
        return json(["items": items, "next_before": page.nextBefore.map { $0 as Any } ?? NSNull()])
    }

    static func classify(_ d: InspectionService, _ request: Request) async throws -> Response {
        var request = request
        let body: ByteBuffer
        do { body = try await request.collectBody(upTo: maxClassifyBytes) } catch {
            return json(["error": "the image is larger than \(maxClassifyBytes >> 20) MiB"], status: .contentTooLarge)
        }
        let bytes = Array(body.readableBytesView)
        do {
            let (j, v1, v2) = try d.classify(jpeg: bytes)
            return json(["decision": j.decision.rawValue, "stage1_score": j.stage1Score, "defects": j.defects,
                         "stage2_scores": j.stage2Scores.map { $0 as Any } ?? NSNull(), "unsure": j.unsure,
                         "model_stage1": v1, "model_stage2": v2.map { $0 as Any } ?? NSNull()])
        } catch {
            return json(["decision": "no_verdict", "error": "\(error)"], status: .unprocessableContent)
        }
    }

    /// Server-sent events: one `verdict` event per judged frame, as JSON.
    static func events(_ hub: EventHub) -> Response {
        let (_, stream) = hub.subscribe()
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                        body: .init { writer in
                            try await writer.write(ByteBuffer(string: ": linesight live verdicts\n\n"))
                            for await v in stream {
                                let obj: [String: Any] = ["camera": v.camera, "sequence": v.sequence, "decision": v.decision.rawValue,
                                                          "stage1_score": v.stage1Score.map { $0 as Any } ?? NSNull(), "defects": v.defects,
                                                          "flags": v.flags.map(\.rawValue), "total_ms": v.totalMs]
                                let data = (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])) ?? Data("{}".utf8)
                                try await writer.write(ByteBuffer(string: "event: verdict\ndata: \(String(decoding: data, as: UTF8.self))\n\n"))
                            }
                            try await writer.finish(nil)
                        })
    }

    static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data(#"{"error":"unencodable"}"#.utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Bearer-token check: always for POST, and for every route when reads need it too.
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String?
    let requireForReads: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let readOnlyPost = request.uri.path == "/api/v1/classify"  // judges an image, stores nothing
        let changesState = request.method != .get && request.method != .head && !readOnlyPost
        guard changesState || requireForReads else { return try await next(request, context) }
        guard let token else {
            return HTTPAPI.json(["error": "this route needs a bearer token; set http.token_file in the config"], status: .forbidden)
        }
        guard request.headers[.authorization] == "Bearer \(token)" else {
            return HTTPAPI.json(["error": "missing or wrong bearer token"], status: .unauthorized)
        }
        return try await next(request, context)
    }
}
