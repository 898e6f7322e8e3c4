import Hummingbird
import Inspection
import NIOCore

extension HTTPAPI {
    /// What the route handlers work with.
    struct Backend: Sendable {
        let inspection: InspectionService
        let events: EventHub
        let outputs: LineOutputs
        let gate: ClassifyGate
        /// The operator's screen, when [operator] turns it on.
        let screen: OperatorScreen?
        /// The bearer token, when the config sets one.
        let token: String?
    }

    /// One route: method, path (":name" is a path parameter) and handler.
    struct Route: Sendable {
        let method: HTTPRequest.Method
        let path: String
        let handle: @Sendable (Request, BasicRequestContext, Backend) async throws -> Response

        init(_ method: HTTPRequest.Method, _ path: String,
             _ handle: @escaping @Sendable (Request, BasicRequestContext, Backend) async throws -> Response) {
            (self.method, self.path, self.handle) = (method, path, handle)
        }
    }

    /// Every route of the API, the one list the router, the 405/Allow answers and the token
    /// check read (a test holds OpenAPI.swift to the same paths and methods). GET routes
    /// answer HEAD too.
    static let routes: [Route] = [
        Route(.get, "/healthz") { request, _, _ in
            _ = try APIQuery(request, allowed: [])
            return json(["status": "ok"])
        },
        Route(.get, "/readyz") { request, _, b in
            _ = try APIQuery(request, allowed: [])
            let d = b.inspection
            let advancing = d.isAdvancing(), failing = d.committer.stats.failing, failed = d.failedCameras
            guard advancing && !failing && failed.isEmpty else {
                return json(["status": "not ready", "pipelines_advancing": advancing, "store_failing": failing, "cameras_failed": failed],
                            status: .serviceUnavailable)
            }
            return json(["status": "ready"])
        },
        Route(.get, "/metrics") { request, _, b in
            _ = try APIQuery(request, allowed: [])
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: Metrics.render(b.inspection, eventClients: b.events.subscriberCount, outputs: b.outputs.health))))
        },
        Route(.get, "/api/v1/openapi.json") { request, _, _ in
            _ = try APIQuery(request, allowed: [])
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: OpenAPI.document)))
        },
        Route(.get, "/api/v1/verdicts") { request, _, b in try verdicts(b.inspection, request) },
        Route(.get, "/api/v1/stats") { request, _, b in try stats(b.inspection, request) },
        Route(.get, "/api/v1/frames/:file") { request, context, b in try frame(b.inspection, request, context.parameters.get("file") ?? "") },
        Route(.get, "/api/v1/frames/:file/heatmap.png") { request, context, b in try await heatmap(b, request, context.parameters.get("file") ?? "") },
        Route(.get, "/api/v1/events") { request, _, b in
            _ = try APIQuery(request, allowed: [])
            return try events(b.events)
        },
        Route(.post, "/api/v1/classify") { request, _, b in try await classify(b.inspection, b.gate, request) },
        Route(.post, "/api/v1/trigger") { request, _, b in try trigger(b.inspection, request) },
        Route(.get, "/api/v1/parts") { request, _, b in try parts(b.inspection, request) },
        Route(.get, "/operator") { request, _, b in try operatorPage(request, b) },
        Route(.get, "/api/v1/operator/status") { request, _, b in try operatorStatus(request, b) },
        Route(.get, "/api/v1/operator/shots/:file") { request, context, b in try await operatorShot(request, context.parameters.get("file") ?? "", b) },
        Route(.get, "/api/v1/product") { request, _, b in
            _ = try APIQuery(request, allowed: [])
            return try productStatus(b.inspection)
        },
        Route(.post, "/api/v1/product") { request, _, b in
            let q = try APIQuery(request, allowed: ["product"])
            guard let id = try q.string("product") else { throw APIError.bad("product", "missing; POST /api/v1/product?product=ID") }
            let d = b.inspection
            switch await b.gate.offload({ d.changeProduct(to: id, by: "api") }) {
            case .changed, .already: return try productStatus(d)
            case .unknown(let known):
                throw APIError(status: .notFound, message: "product: no product '\(APIQuery.printable(id))' (known: \(known.joined(separator: ", ")))",
                               parameter: "product")
            case .busy: return json(["error": "a reload or changeover is already running; try again shortly"], status: .conflict)
            case .refused(let why):
                return json(["error": "the product's model files were refused, the line stays on \(d.currentProduct.id): \(why)"], status: .unprocessableContent)
            }
        },
        Route(.post, "/api/v1/models/reload") { request, _, b in
            _ = try APIQuery(request, allowed: [])
            let d = b.inspection
            switch await b.gate.offload({ d.reloadModels(reason: "HTTP request") }) {
            case .reloaded: return json(["status": "reloaded", "stage1": d.pipelines.first?.modelVersions.0 ?? ""])
            case .busy: return json(["error": "a reload is already running; try again shortly"], status: .conflict)
            case .refused(let why): return json(["error": "the new model files were refused, the running models stay: \(why)"], status: .unprocessableContent)
            }
        },
    ]
}
