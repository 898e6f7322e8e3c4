// libFuzzer target: arbitrary bytes as a model file, through `ModelFile.decode` (header,
// metadata, spec plan, tensors, network, and the int8 network of a quantized model). Built by scripts/fuzz.sh together with
// Sources/Neural (one module, ASan + libFuzzer) and run with -malloc_limit_mb=1024: every
// input must end in a network or a NeuralError, with no crash and no huge allocation.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Data(bytes: $0, count: size) } ?? Data()
    // As a whole file; a model with int8 ranges is also compiled for int8, as the daemon does.
    if let (network, meta) = try? ModelFile.decode(bytes, path: "fuzz.safetensors"), let q = meta.quantization {
        _ = try? QuantizedNetwork(network, quantization: q, compute: .serial)
    }
    // As the metadata JSON of a file without tensors, so mutations reach the metadata and
    // spec checks without first having to keep a safetensors header intact.
    if bytes.first == UInt8(ascii: "{") {
        let json = String(decoding: bytes, as: UTF8.self)
        _ = try? ModelFile.decode(Safetensors.encode([], metadata: ["linesight": json]), path: "fuzz-metadata")
    }
    return 0
}
