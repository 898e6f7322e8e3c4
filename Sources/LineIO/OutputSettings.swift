import Config

/// The [outputs] section of the line config: where verdicts go besides SQLite and the API.
public struct OutputSettings: Sendable, Equatable {
    public var mqtt = MQTTSettings()
    public var modbus = ModbusSettings()
    public var gpio = GPIOSettings()

    public init() {}

    /// Reads [outputs] ([outputs.mqtt], [outputs.modbus], [outputs.gpio]); relative paths are resolved by `resolve`.
    public static func read(_ s: ConfigSection, resolve: (String) -> String) throws -> OutputSettings {
        var o = OutputSettings()
        o.mqtt = try MQTTSettings.read(try s.section("mqtt"), resolve: resolve)
        o.modbus = try ModbusSettings.read(try s.section("modbus"))
        o.gpio = try GPIOSettings.read(try s.section("gpio"))
        return o
    }
}
