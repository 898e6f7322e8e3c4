import Foundation
import Testing
@testable import linesight

/// HTTPAPI.routes is the one list of routes; the OpenAPI document must describe exactly it.
@Suite("API routes")
struct RoutesTests {
    @Test func theOpenAPIDocumentNamesEveryRouteAndNoOther() throws {
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPI.document.utf8)) as? [String: Any])
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        let documented = Set(paths.flatMap { path, ops in ops.keys.filter { $0 != "parameters" }.map { "\($0.uppercased()) \(path)" } })
        let routed = Set(HTTPAPI.routes.map { route in
            let path = route.path.split(separator: "/", omittingEmptySubsequences: false)
                .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            return "\(route.method.rawValue) \(path)"
        })
        #expect(documented == routed, "only documented: \(documented.subtracting(routed)), only routed: \(routed.subtracting(documented))")
    }

    @Test func knownPathsNameTheirMethodsForA405() {
        #expect(HTTPAPI.methods(for: "/healthz")?.map(\.rawValue) == ["GET", "HEAD"])
        #expect(HTTPAPI.methods(for: "/api/v1/classify")?.map(\.rawValue) == ["POST"])
        #expect(HTTPAPI.methods(for: "/api/v1/frames/12.jpg")?.map(\.rawValue) == ["GET", "HEAD"])
        #expect(HTTPAPI.methods(for: "/api/v1/frames/") == nil)
        #expect(HTTPAPI.methods(for: "/api/v1/frames/1/2") == nil)
        #expect(HTTPAPI.methods(for: "/nope") == nil)
    }
}
