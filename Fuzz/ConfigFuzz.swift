// libFuzzer target: arbitrary bytes as a config file, through the TOML parser and the typed
// reads of `ConfigSection`. Built by scripts/fuzz.sh together with Sources/Config (one
// module, ASan + libFuzzer): every input must end in a config or a ConfigError.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let root = try? ConfigSection(parsing: text, file: "fuzz.toml") else { return 0 }
    read(root, depth: 0)
    _ = try? root.finish()
    return 0
}

/// Every key as every type a program asks for, and every table below it.
private func read(_ section: ConfigSection, depth: Int) {
    for key in section.keys {
        _ = try? section.optionalString(key)
        _ = try? section.bool(key, default: false)
        _ = try? section.optionalInt(key, in: 0...100)
        _ = try? section.optionalDouble(key, in: 0...1)
        _ = try? section.strings(key, default: [])
        _ = try? section.doubles(key, default: [])
        _ = try? section.ints(key, default: [])
        guard depth < 8 else { continue }
        if let sub = try? section.section(key) { read(sub, depth: depth + 1) }
        for sub in (try? section.sections(key)) ?? [] { read(sub, depth: depth + 1) }
    }
    _ = try? section.finish()
    _ = ConfigSection.distance(section.keys.first ?? "", "camera")
}
