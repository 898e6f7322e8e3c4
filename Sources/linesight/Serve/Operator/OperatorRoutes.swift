import Foundation
import Hummingbird
import NIOCore

extension HTTPAPI {
    /// The screen, or a 404 saying how to turn it on.
    static func screen(_ b: Backend) throws -> OperatorScreen {
        guard let s = b.screen else {
            throw APIError(status: .notFound, message: "the operator screen is off: set enabled = true in [operator] of the config")
        }
        return s
    }

    /// GET /operator: the page (one document, no external assets). `?token=` (for a panel
    /// that cannot send a header) is checked by the token check, then kept in a cookie and
    /// dropped from the address.
    static func operatorPage(_ request: Request, _ b: Backend) throws -> Response {
        let q = try APIQuery(request, allowed: ["token"])
        let screen = try screen(b)
        if let token = try q.string("token") {
            // only the server's own token becomes a cookie (the token check let the request in;
            // on loopback without a token, the parameter means nothing)
            var headers: HTTPFields = [.location: "/operator"]
            if let own = b.token, AuthMiddleware<BasicRequestContext>.constantTimeEqual(token, own) {
                let auth = AuthMiddleware<BasicRequestContext>.self
                headers[.setCookie] = "\(auth.cookie)=\(auth.readSecret(own)); Path=/; HttpOnly; SameSite=Strict"
            }
            return Response(status: .seeOther, headers: headers)
        }
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache",
                                               .contentSecurityPolicy: "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' blob:"],
                        body: .init(byteBuffer: ByteBuffer(string: OperatorPage.html(title: screen.settings.title))))
    }

    /// GET /api/v1/operator/status: what the page shows, now.
    static func operatorStatus(_ request: Request, _ b: Backend) throws -> Response {
        _ = try APIQuery(request, allowed: [])
        let screen = try screen(b)
        return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(string: screen.status())))
    }

    /// GET /api/v1/operator/shots/ID.jpg: a frame on the board (a camera's last, or a recent reject).
    static func operatorShot(_ request: Request, _ file: String, _ b: Backend) async throws -> Response {
        _ = try APIQuery(request, allowed: [])
        let screen = try screen(b)
        guard file.hasSuffix(".jpg"), let id = Int64(file.dropLast(4)), id > 0 else {
            throw APIError.bad("id", "expected /api/v1/operator/shots/ID.jpg with ID a positive whole number")
        }
        // encoded off the server's threads (a camera's frame, once)
        let board = screen.board
        let encoded = await blocking("operator-jpeg") { Result { try board.jpeg(shot: id) } }
        let bytes: [UInt8]?
        do { bytes = try encoded.get() } catch {
            throw APIError(status: .unprocessableContent, message: "shot \(id) cannot be shown: \(error)", parameter: "id")
        }
        guard let bytes else {
            throw APIError(status: .notFound, message: "shot \(id) is no longer on the screen (a newer frame took its place)", parameter: "id")
        }
        // a shot id names one frame for good (ids never repeat, across runs too)
        return Response(status: .ok, headers: [.contentType: "image/jpeg", .cacheControl: "private, max-age=3600, immutable"],
                        body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
