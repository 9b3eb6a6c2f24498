// SafeTensors.swift: the safetensors format, read lazily and written atomically.
import Foundation

/// Reader and writer for the safetensors format: an 8-byte little-endian header
/// length, a JSON header `{name: {dtype, shape, data_offsets}, "__metadata__": {..}}`,
/// then the raw little-endian tensor bytes. Tensors are F32 (weights) or F16
/// (recorded trajectories); both read as Float.
///
/// Reading parses and checks the header only; the file is memory-mapped and a
/// tensor's bytes are read when it is used (`load(into:)` copies just the
/// layout's tensors), so an unused tensor costs no memory, however large.
public struct SafeTensors {
    /// The element types read and written here.
    public enum DType: String, Sendable {
        case f32 = "F32", f16 = "F16"
        public var bytes: Int { self == .f32 ? 4 : 2 }
    }

    public struct Tensor {
        public let name: String
        public let shape: [Int]
        public let dtype: DType
        /// The file's bytes (mapped) and where this tensor's start in them.
        let storage: Data
        let offset: Int
        public var count: Int { shape.reduce(1, *) }

        /// The values, decoded from the file now.
        public var data: [Float] {
            [Float](unsafeUninitializedCapacity: count) { buf, initialized in
                copy(into: buf.baseAddress!); initialized = count
            }
        }

        /// Decodes the little-endian values into `dst` (count floats).
        func copy(into dst: UnsafeMutablePointer<Float>) {
            storage.withUnsafeBytes { raw in
                switch dtype {
                case .f32:
                    for i in 0..<count {
                        dst[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4 * i, as: UInt32.self)))
                    }
                case .f16:
                    for i in 0..<count {
                        dst[i] = Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 2 * i, as: UInt16.self))))
                    }
                }
            }
        }

        /// The values of an F16 tensor as stored (nil for another dtype).
        public var halves: [Float16]? {
            guard dtype == .f16 else { return nil }
            return halves(from: 0, count: count)
        }

        /// `n` values of an F16 tensor as stored, from value `start` on (a recording's frame
        /// without the whole tensor decoded first).
        public func halves(from start: Int, count n: Int) -> [Float16] {
            precondition(dtype == .f16 && start >= 0 && n >= 0 && start + n <= count, "halves: \(start)+\(n) of \(count) \(dtype)")
            return storage.withUnsafeBytes { raw in
                [Float16](unsafeUninitializedCapacity: n) { buf, initialized in
                    for i in 0..<n {
                        buf[i] = Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 2 * (start + i), as: UInt16.self)))
                    }
                    initialized = n
                }
            }
        }
    }

    public var tensors: [String: Tensor] = [:]
    public var order: [String] = []
    public var metadata: [String: String] = [:]
    public let path: String

    /// Header bigger than this is refused (real headers are a few kilobytes).
    public static let maxHeaderBytes = 16 << 20
    /// At most this many tensors in one file (a Small checkpoint has about
    /// 2,000): counted in the header's bytes before it is parsed, since 200k
    /// tiny tensors in an 18 MB file took 870 MB to parse.
    public static let maxTensors = 65_536

    public init(path: String) { self.path = path }

    /// JSON held inside metadata strings (a config, a recording's frames) is
    /// parsed later, past the header's caps: at most this many arrays and
    /// objects in all of them (a 1000-step recording with a fork has 4,500; a
    /// 16 MiB header of frames about 170,000), and this many commas (17,000;
    /// about 930,000). A 16 MiB config of 5.5 million empty arrays took 400 MB
    /// to refuse.
    public static let maxMetadataContainers = 200_000
    public static let maxMetadataCommas = 2_000_000

    /// Why metadata strings hold more JSON than any file of ddpm, or nil
    /// (counted by byte; brackets and commas inside nested strings count too,
    /// which only errs high).
    static func metadataOverBudget(_ metadata: [String: String]) -> String? {
        var containers = 0, commas = 0, most = ("", 0)
        for (k, v) in metadata {
            var c = 0
            for b in v.utf8 {
                if b == UInt8(ascii: "[") || b == UInt8(ascii: "{") { c += 1 } else if b == UInt8(ascii: ",") { commas += 1 }
            }
            containers += c
            if c > most.1 { most = (k, c) }
        }
        let named = most.1 > 0 ? " (metadata '\(EngineError.quoted(most.0, limit: 30))' holds \(most.1))" : ""
        if containers > maxMetadataContainers {
            return "its metadata strings hold \(containers) JSON arrays and objects, more than a file of ddpm has (at most \(maxMetadataContainers))" + named
        }
        if commas > maxMetadataCommas {
            return "its metadata strings hold \(commas) commas, more than a file of ddpm has (at most \(maxMetadataCommas))"
        }
        return nil
    }

    /// Parses and validates the whole file; every problem is an error naming the file.
    /// Largest weights file opened (the Small config is 17 MB; 64M parameters are 256 MB).
    public static let maxFileBytes = 1 << 33

    public static func read(_ path: String) throws -> SafeTensors {
        let size = try InputFile.size(path, what: "safetensors file", limit: maxFileBytes)
        return try parse(try InputFile.mapped(path, size: size), path: path)
    }

    /// How many times `needle` occurs in `data` (non-overlapping), by a plain scan.
    static func occurrences(of needle: [UInt8], in data: Data) -> Int {
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Int in
            let b = raw.bindMemory(to: UInt8.self), n = needle.count
            guard b.count >= n, let first = needle.first else { return 0 }
            var count = 0, i = 0
            while i <= b.count - n {
                if b[i] == first && (1..<n).allSatisfy({ b[i + $0] == needle[$0] }) { count += 1; i += n } else { i += 1 }
            }
            return count
        }
    }

    /// What a file that is not safetensors is, from its first bytes, for the files this program writes
    /// or reads beside them (a PNG given where a recording was meant), or nil.
    static func otherKind(_ data: Data) -> String? {
        let b = [UInt8](data.prefix(4))
        if b.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return "a PNG image" }
        if b.starts(with: Array("GIF8".utf8)) { return "a GIF image" }
        if b.starts(with: Array("P5".utf8)) || b.starts(with: Array("P2".utf8)) { return "a PGM image" }
        if b.starts(with: [0x1F, 0x8B]) { return "gzip-compressed" }
        if b.count == 4, b[0] == 0, b[1] == 0, b[2] == 0x08, (1...4).contains(b[3]) { return "IDX data (images or labels)" }
        return nil
    }

    public static func parse(_ data: Data, path: String) throws -> SafeTensors {
        func bad(_ r: String) -> EngineError { .badFile(path: path, reason: "not a valid safetensors file: " + r) }
        if let kind = otherKind(data) { throw EngineError.badFile(path: path, reason: "is \(kind), not a safetensors file") }
        guard data.count >= 8 else { throw bad("only \(data.count) bytes") }
        let hlen = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard hlen <= UInt64(maxHeaderBytes) else {
            // Text (a JSON file, a note, a CSV) is said as such; other bytes by the length they give.
            let head = data.prefix(8)
            if head.allSatisfy({ (0x20...0x7E).contains($0) || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
                let shown = String(decoding: head.map { $0 < 0x20 ? 0x20 : $0 }, as: UTF8.self)   // line breaks and tabs as spaces
                throw bad("it starts with text ('\(EngineError.quoted(shown))'), where a safetensors file starts with its header's length")
            }
            throw bad("its first 8 bytes give a header length of \(hlen), over the \(maxHeaderBytes >> 20) MiB limit (is it a safetensors file?)")
        }
        guard hlen >= 2 else { throw bad("header length \(hlen) is too short for a header (the least is '{}', 2 bytes)") }
        guard hlen <= UInt64(data.count - 8) else {
            throw bad("header length \(hlen) does not fit a file of \(data.count) bytes")
        }
        let headerData = data.subdata(in: 8..<(8 + Int(hlen)))
        let tensorsAtMost = Self.occurrences(of: Array("data_offsets".utf8), in: headerData)
        guard tensorsAtMost <= maxTensors else {
            throw bad("the header lists \(tensorsAtMost) tensors, more than the \(maxTensors) this program reads")
        }
        // Before JSONSerialization builds an object of every element (a 16 MiB header of small objects
        // or a shape of millions of dimensions would take gigabytes and seconds): UTF-8 text of one
        // object whose objects, arrays and commas a header of that many tensors can hold.
        guard let shape = JSONScan.shape(ofObject: headerData) else {
            throw bad("the header " + (JSONScan.objectProblem(headerData) ?? "is not a JSON object"))
        }
        if let over = Self.overBudget(shape, tensors: tensorsAtMost) {
            // Two "__metadata__" are the fault, not the object they add; counted first, so a header
            // refused for its size is never walked name by name.
            if Self.occurrences(of: Array("\"__metadata__\"".utf8), in: headerData) >= 2 { throw bad(Self.twice("__metadata__")) }
            throw bad(over)
        }
        let header: [String: Any]
        switch JSONScan.parse(headerData) {
        case .failure(let e): throw bad("the header is \(e)")
        case .success(let obj):
            guard let h = obj as? [String: Any] else { throw bad("the header is not a JSON object") }
            header = h
        }
        // JSONSerialization keeps the last of two equal names; the reference library refuses them.
        if let dup = JSONScan.duplicateName(in: headerData) {
            throw bad(Self.twice(dup))
        }
        let base = 8 + Int(hlen)
        let dataLen = data.count - base
        var out = SafeTensors(path: path)
        if let meta = header["__metadata__"] {
            guard let m = meta as? [String: Any] else { throw bad("__metadata__ is not an object") }
            for (k, v) in m {
                guard let s = v as? String else { throw bad("__metadata__ value for '\(EngineError.quoted(k))' is not a string") }
                out.metadata[k] = s
            }
            if let over = Self.metadataOverBudget(out.metadata) { throw bad(over) }
        }
        var spans: [(Int, Int, String)] = []
        for (name, value) in header where name != "__metadata__" {
            let shownName = EngineError.quoted(name, limit: 100)
            func badT(_ r: String) -> EngineError { .badTensor(path: path, tensor: shownName, reason: r) }
            guard let info = value as? [String: Any] else { throw badT("entry is not an object") }
            guard let dtype = info["dtype"] as? String else { throw badT("missing dtype") }
            guard let dt = DType(rawValue: dtype) else { throw badT("dtype '\(EngineError.quoted(dtype, limit: 20))' is not supported (F32 or F16)") }
            guard let shapeAny = info["shape"] as? [Any] else { throw badT("missing shape") }
            var shape: [Int] = []
            var count = 1
            for d in shapeAny {
                guard let n = Self.jsonInteger(d), n >= 0, n < (1 << 31) else { throw badT("bad dimension in shape (whole numbers from 0 to 2^31 - 1 only)") }
                shape.append(n)
                let (c, o) = count.multipliedReportingOverflow(by: n)
                guard !o, c <= (1 << 34) else { throw badT("shape too large") }
                count = c
            }
            guard let offs = info["data_offsets"] as? [Any], offs.count == 2,
                  let b = Self.jsonInteger(offs[0]), let e = Self.jsonInteger(offs[1]), b >= 0, e >= b else {
                throw badT("bad data_offsets")
            }
            guard e <= dataLen else { throw badT("data_offsets [\(b), \(e)] run past the end of the file (truncated?)") }
            guard e - b == count * dt.bytes else {
                throw badT("shape \(Self.shown(shape)) needs \(count * dt.bytes) bytes, offsets give \(e - b)")
            }
            spans.append((b, e, name))
            out.tensors[name] = Tensor(name: name, shape: shape, dtype: dt, storage: data, offset: base + b)
        }
        // As the reference library: the tensors cover the data exactly, in some order, without overlaps or gaps.
        // By start, then end (an empty tensor before a tensor at its offset), then name: one order every run.
        spans.sort { ($0.0, $0.1, $0.2) < ($1.0, $1.1, $1.2) }
        var end = 0
        for (b, e, name) in spans {
            let shownName = EngineError.quoted(name, limit: 100)
            if b < end { throw EngineError.badTensor(path: path, tensor: shownName, reason: "data overlaps the tensor before it") }
            if b > end { throw EngineError.badTensor(path: path, tensor: shownName, reason: "\(b - end) bytes of gap before its data (a tensor left out of the header?)") }
            end = e
        }
        guard end == dataLen else { throw bad("\(dataLen - end) bytes after the last tensor's data") }
        out.order = spans.map { $0.2 }
        return out
    }

    static func twice(_ name: String) -> String {
        "the name '\(EngineError.quoted(name, limit: 100))' appears twice in one object of the header"
    }

    /// What a header of `tensors` tensors (at most: "data_offsets" anywhere) may hold, else why not:
    /// an object for each tensor's entry, the whole and the metadata; two arrays a tensor (shape
    /// and offsets); 16 commas a tensor (an entry with a 4-dimension shape has 7) and 1,024 more for
    /// the metadata's entries. Objects cost the most to parse (about 3 KB each).
    static func overBudget(_ shape: JSONScan.Shape, tensors: Int) -> String? {
        let t = tensors == 0 ? "a header without tensors ('data_offsets' appears nowhere)" : tensors == 1 ? "1 tensor" : "\(tensors) tensors"
        if shape.objects > tensors + 2 { return "the header has \(shape.objects) objects, more than \(t) can need (\(tensors + 2))" }
        // Each tensor's shape and data_offsets, and one more: a "__metadata__" given as an array is then
        // said to be no object, not counted as one array too many.
        if shape.arrays > 2 * tensors + 1 { return "the header has \(shape.arrays) arrays, more than \(t) can need (\(2 * tensors + 1))" }
        if shape.commas > 16 * tensors + 1024 {
            return "the header has \(shape.commas) elements, more than \(t) can need (\(16 * tensors + 1024))"
        }
        return nil
    }

    /// Copies every tensor of `layout` (names prefixed by `prefix`) into `params`:
    /// first checks that each is present with the layout's shape (reading no
    /// data), then copies only those tensors and checks they are finite.
    /// Other tensors in the file are never read.
    public func load(into params: UnsafeMutablePointer<Float>, layout: ParameterLayout, prefix: String = "") throws {
        for e in layout.entries {
            let name = prefix + e.name
            guard let t = tensors[name] else {
                throw EngineError.badTensor(path: path, tensor: name, reason: "missing (is this a weights file of another model config?)")
            }
            guard t.shape == e.shape else {
                throw EngineError.badTensor(path: path, tensor: name, reason: "shape \(Self.shown(t.shape)), expected \(e.shape) (weights of another model config?)")
            }
        }
        for e in layout.entries {
            let name = prefix + e.name, dst = params + e.offset
            tensors[name]!.copy(into: dst)
            if let bad = (0..<e.count).first(where: { !dst[$0].isFinite }) {
                throw EngineError.badTensor(path: path, tensor: name, reason: "value \(dst[bad]) at index \(bad) is not finite")
            }
        }
    }

    /// The file's tensors that `layout` lacks, sorted by name; a checkpoint's
    /// copies of the layout's tensors under `Checkpoint.statePrefixes` are not
    /// counted. Not empty: the file holds another model than the layout's
    /// (one with attention, opened as a model without it, say), whose extra
    /// layers a load would leave unread.
    public func tensors(notIn layout: ParameterLayout) -> [String] {
        let known = Set(layout.entries.map(\.name))
        return tensors.keys.filter { name in
            !known.contains(name) && !Checkpoint.statePrefixes.contains { name.hasPrefix($0) && known.contains(String(name.dropFirst($0.count))) }
        }.sorted()
    }

    /// "a tensor" or "N tensors" the file holds beyond `layout`, and the first of them, for a message; nil if none.
    public func extraTensorsSaid(_ layout: ParameterLayout) -> String? {
        let extra = tensors(notIn: layout)
        guard let first = extra.first else { return nil }
        return (extra.count == 1 ? "a tensor" : "\(extra.count) tensors") + " this model does not have (\(first)\(extra.count > 1 ? ", …" : ""))"
    }

    /// Writes named F32 tensors (in the given order) atomically (`pauseMidwayMs`: see AtomicFile.write).
    public static func write(_ path: String, tensors: [(name: String, shape: [Int], data: UnsafePointer<Float>)],
                             metadata: [String: String], pauseMidwayMs: Int = 0) throws {
        try write(path, raw: tensors.map { t in
            (t.name, t.shape, DType.f32, UnsafeRawBufferPointer(start: t.data, count: t.shape.reduce(1, *) * 4))
        }, metadata: metadata, pauseMidwayMs: pauseMidwayMs)
    }

    /// Writes named tensors of any supported dtype, their little-endian bytes
    /// given (`bytes.count` must be the shape's element count times the dtype's size).
    public static func write(_ path: String, raw tensors: [(name: String, shape: [Int], dtype: DType, bytes: UnsafeRawBufferPointer)],
                             metadata: [String: String], pauseMidwayMs: Int = 0) throws {
        var header = "{"
        var first = true
        func emit(_ s: String) { if !first { header += "," }; first = false; header += s }
        if !metadata.isEmpty {
            let items = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            emit("\"__metadata__\":{" + items.joined(separator: ",") + "}")
        }
        var offset = 0
        for t in tensors {
            let bytes = t.shape.reduce(1, *) * t.dtype.bytes
            precondition(bytes == t.bytes.count, "tensor \(t.name): \(t.bytes.count) bytes for shape \(t.shape)")
            emit("\(jsonString(t.name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        header += "}"
        while (header.utf8.count + 8) % 8 != 0 { header += " " }
        var lenLE = UInt64(header.utf8.count).littleEndian
        let headerBytes = Array(header.utf8)
        try withUnsafeBytes(of: &lenLE) { lenRaw in
            try headerBytes.withUnsafeBytes { hRaw in
                try AtomicFile.write(path, chunks: [lenRaw, hRaw] + tensors.map { $0.bytes }, pauseMidwayMs: pauseMidwayMs)
            }
        }
    }

    /// Whether a file's first bytes start a safetensors file: 8 bytes of header length, then "{".
    public static func startsLikeSafeTensors(_ first: [UInt8]) -> Bool {
        first.count >= 9 && first[8] == UInt8(ascii: "{")
    }

    /// A whole number of a JSON header as JSONSerialization gives it, else nil:
    /// `as? Int` would also read `true`, `false` and `2.0` as 1, 0 and 2.
    static func jsonInteger(_ v: Any) -> Int? {
        guard let n = v as? NSNumber, integerTypes.contains(String(cString: n.objCType)) else { return nil }
        return v as? Int
    }
    private static let integerTypes: Set<String> = ["i", "q", "l", "s", "I", "Q", "L", "S"]

    /// A shape for a one-line message: at most 8 dimensions written out.
    static func shown(_ shape: [Int]) -> String {
        shape.count <= 8 ? "\(shape)" : "\(Array(shape.prefix(8)))… (\(shape.count) dimensions)"
    }

    /// A JSON string literal (RFC 8259): quotes, backslash and control characters escaped.
    public static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
