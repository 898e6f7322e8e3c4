import Config

/// The [http] section of the line config: where the API listens and the bearer token file.
struct HTTPSettings: Sendable, Equatable {
    var enabled = true
    var host = "127.0.0.1"
    var port = 8080
    /// File holding the bearer token (required for state-changing routes, and for any
    /// non-loopback listen address).
    var tokenFile: String?
    var isLoopback: Bool { ["127.0.0.1", "::1", "localhost", "[::1]"].contains(host) }

    /// Sets host and port from "HOST:PORT"; false when it is not that.
    mutating func setListen(_ listen: String) -> Bool {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
              (0...65535).contains(port) else { return false }
        host = String(listen[..<colon])
        self.port = port
        return true
    }

    /// Reads [http]: `enabled`, `listen` ("HOST:PORT"), `token_file` (relative to the config's folder).
    static func read(_ h: ConfigSection, resolve: (String) -> String) throws -> HTTPSettings {
        var s = HTTPSettings()
        s.enabled = try h.bool("enabled", default: true)
        let listen = try h.string("listen", default: "127.0.0.1:8080")
        guard s.setListen(listen) else { throw h.bad("listen", "'\(listen)' is not HOST:PORT (e.g. 127.0.0.1:8080)") }
        s.tokenFile = try h.optionalString("token_file").map(resolve)
        if s.enabled, !s.isLoopback, s.tokenFile == nil {
            throw h.bad("listen", "listening beyond loopback (\(s.host)) needs http.token_file with a bearer token")
        }
        return s
    }
}
