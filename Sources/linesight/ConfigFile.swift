import ArgumentParser
import Config
import Foundation
import Inspection
import LineIO
import Reports

/// The line config file (deploy/linesight.toml documents every key): each part of the
/// program reads its own sections of the one TOML file, the line (Inspection's
/// `LineConfig`), the HTTP API ([http], `HTTPSettings`), the shifts ([stats], Reports'
/// `ShiftSchedule`), the outputs to the line ([outputs], LineIO's `OutputSettings`) and the
/// operator's screen ([operator], `OperatorSettings`), and a key none of them reads is refused
/// with the file, line and a "did you mean".
struct ConfigFile {
    var line: LineConfig
    var http: HTTPSettings
    var shifts: ShiftSchedule
    var outputs: OutputSettings
    var operatorScreen: OperatorSettings

    static func load(path: String) throws -> ConfigFile {
        try read(try ConfigSection.load(path: path), baseDirectory: (path as NSString).deletingLastPathComponent)
    }

    static func read(_ root: ConfigSection, baseDirectory: String = "") throws -> ConfigFile {
        func resolve(_ p: String) -> String { p.hasPrefix("/") || baseDirectory.isEmpty ? p : baseDirectory + "/" + p }
        let http = try HTTPSettings.read(try root.section("http"), resolve: resolve)
        let shifts = try ShiftSchedule.read(try root.section("stats"))
        let outputs = try OutputSettings.read(try root.section("outputs"), resolve: resolve)
        let screen = try OperatorSettings.read(try root.section("operator"))
        let line = try LineConfig.read(root, baseDirectory: baseDirectory)
        if let s = line.stations.first(where: { $0.triggers.contains(.mqtt) }), !outputs.mqtt.enabled {
            throw root.bad("stations", "station '\(s.id)' takes triggers from MQTT: enable [outputs.mqtt] (the broker they come through)")
        }
        if let s = line.stations.first(where: { $0.triggers.contains(.modbus) }), !outputs.modbus.enabled || outputs.modbus.trigger == nil {
            throw root.bad("stations", "station '\(s.id)' takes triggers from Modbus: enable [outputs.modbus] and set its trigger_input")
        }
        if let s = line.stations.first(where: { $0.triggers.contains(.gpio) }), !outputs.gpio.enabled || outputs.gpio.trigger == nil {
            throw root.bad("stations", "station '\(s.id)' takes triggers from GPIO: enable [outputs.gpio] and set its trigger_line")
        }
        try root.finish()
        return ConfigFile(line: line, http: http, shifts: shifts, outputs: outputs, operatorScreen: screen)
    }

    /// `load`, with a config error as a usage error (the message names file, line and key).
    static func forCommand(path: String) throws -> ConfigFile {
        do { return try load(path: path) } catch let e as ConfigError { throw ValidationError("\(e)") }
    }
}
