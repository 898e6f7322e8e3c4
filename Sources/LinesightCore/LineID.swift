/// The ids of cameras, stations and products: they name MQTT topics, metric labels, folders
/// and JSON keys, so they keep to 1-64 ASCII letters, digits, '.', '_' or '-'.
public enum LineID {
    public static let rule = "1-64 letters, digits, '.', '_' or '-'"

    public static func isValid(_ s: String) -> Bool {
        (1...64).contains(s.utf8.count) && s.utf8.allSatisfy { b in
            (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || b == 0x2E || b == 0x5F || b == 0x2D
        }
    }
}
