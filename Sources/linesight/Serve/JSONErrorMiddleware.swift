import Foundation
import Hummingbird
import Logging

/// Every error a route throws leaves as JSON with a fitting status: the API's own refusals
/// (`APIError`) as they are, Hummingbird's (an unknown route, a body over its limit) with
/// their status, and anything else as a 500 that is logged, since it is our bug, not the
/// client's.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as APIError {
            var body: [String: Any] = ["error": e.message]
            if let p = e.parameter { body["parameter"] = p }
            var response = HTTPAPI.json(body, status: e.status)
            for field in e.headers { response.headers.append(field) }
            return response
        } catch let e as HTTPError where e.status == .notFound && HTTPAPI.methods(for: request.uri.path) != nil {
            let allowed = HTTPAPI.methods(for: request.uri.path)!.map(\.rawValue).joined(separator: ", ")
            var response = HTTPAPI.json(["error": "\(APIQuery.printable(request.method.rawValue)) is not allowed here; use \(allowed)"],
                                        status: .methodNotAllowed)
            response.headers[.allow] = allowed
            return response
        } catch let e as HTTPError {
            let message = e.body ?? (e.status == .notFound ? "no such route: \(request.method) \(APIQuery.printable(request.uri.path))" : e.status.reasonPhrase)
            return HTTPAPI.json(["error": message], status: e.status)
        } catch {
            logger.error("http request failed", metadata: ["path": "\(APIQuery.printable(request.uri.path))", "error": "\(error)"])
            return HTTPAPI.json(["error": "internal error (logged by the daemon)"], status: .internalServerError)
        }
    }
}
