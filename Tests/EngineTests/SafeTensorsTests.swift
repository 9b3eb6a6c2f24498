import XCTest
@testable import Compute
@testable import Engine

final class SafeTensorsTests: XCTestCase {
    var dir: String!
    override func setUp() {
        dir = NSTemporaryDirectory() + "st-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func writeTiny(_ path: String) throws -> FloatBuffer {
        let net = try UNet(.tiny)
        let p = FloatBuffer(count: net.parameterCount)
        var rng = RNG(seed: 3)
        net.layout.initialize(p.ptr, rng: &rng)
        try Checkpoint.writeWeights(path, layout: net.layout, params: p.ptr, metadata: ["config": "tiny", "note": "a \"quoted\"\nvalue"])
        return p
    }

    func testRoundTrip() throws {
        let path = dir + "/w.safetensors"
        let p = try writeTiny(path)
        let f = try SafeTensors.read(path)
        XCTAssertEqual(f.metadata["note"], "a \"quoted\"\nvalue")
        let net = try UNet(.tiny)
        let q = FloatBuffer(count: net.parameterCount)
        try f.load(into: q.ptr, layout: net.layout)
        XCTAssertEqual(p.array(net.parameterCount), q.array(net.parameterCount))
        XCTAssertEqual(f.order.first, "time_emb.1.weight")
        // Header is padded to 8 bytes.
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let hlen = data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual((hlen + 8) % 8, 0)
    }

    /// F16 tensors (recordings) beside F32 ones: written, read back exactly
    /// (as halves, and as floats); another dtype is refused by name.
    func testHalfPrecisionTensors() throws {
        let path = dir + "/h.safetensors"
        let halves: [Float16] = [0, 1, -2.5, 65504, 0.000061035156, -0.33325195]
        let floats: [Float] = [1.5, -7]
        try halves.withUnsafeBytes { h in
            try floats.withUnsafeBytes { f in
                try SafeTensors.write(path, raw: [("h", [2, 3], .f16, h), ("f", [2], .f32, f)], metadata: ["k": "v"])
            }
        }
        let r = try SafeTensors.read(path)
        XCTAssertEqual(r.tensors["h"]?.dtype, .f16)
        XCTAssertEqual(r.tensors["h"]?.halves, halves)
        XCTAssertEqual(r.tensors["h"]?.data, halves.map { Float($0) })
        XCTAssertEqual(r.tensors["f"]?.data, floats)
        XCTAssertNil(r.tensors["f"]?.halves)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let at = try XCTUnwrap(bytes.range(of: Data("\"F16\"".utf8)))
        bytes[at.lowerBound + 1] = UInt8(ascii: "I")
        assertBad(bytes, contains: "dtype 'I16' is not supported (F32 or F16)")
    }

    func assertBad(_ bytes: Data, contains needle: String, file: StaticString = #filePath, line: UInt = #line) {
        let path = dir + "/bad.safetensors"
        try! bytes.write(to: URL(fileURLWithPath: path))
        do {
            let f = try SafeTensors.read(path)
            let net = try UNet(.tiny)
            let q = FloatBuffer(count: net.parameterCount)
            try f.load(into: q.ptr, layout: net.layout)
            XCTFail("expected an error", file: file, line: line)
        } catch {
            let msg = "\(error)"
            XCTAssertTrue(msg.contains(path), "message should name the file: \(msg)", file: file, line: line)
            XCTAssertTrue(msg.contains(needle), "'\(needle)' not in: \(msg)", file: file, line: line)
        }
    }

    /// An empty tensor at the offset where another's data starts: accepted
    /// whatever order the header's names come in (as the reference library does),
    /// and the order of the tensors is the same every time.
    func testEmptyTensorBesideAnother() throws {
        for names in [("a", "b"), ("b", "a"), ("z", "a"), ("a", "z")] {
            let header = "{\"\(names.0)\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"\(names.1)\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]}}"
            var d = Data(withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) })
            d.append(Data(header.utf8)); d.append(Data(repeating: 0, count: 8))
            let f = try SafeTensors.parse(d, path: "mem")
            XCTAssertEqual(f.order, [names.1, names.0], "the empty one first")
        }
    }

    /// More tensors than `maxTensors` are refused from the header's bytes, before parsing it.
    func testTooManyTensorsAreRefusedEarly() throws {
        let n = SafeTensors.maxTensors + 1
        var header = "{"
        for i in 0..<n { header += "\"\(i)\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}," }
        header.removeLast(); header += "}"
        var d = Data(withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) })
        d.append(Data(header.utf8))
        XCTAssertThrowsError(try SafeTensors.parse(d, path: "mem")) {
            XCTAssertTrue("\($0)".contains("lists \(n) tensors, more than the 65536"), "\($0)")
        }
        XCTAssertEqual(SafeTensors.occurrences(of: Array("ab".utf8), in: Data("xabab a b ab".utf8)), 3)
    }

    /// JSON nested in a metadata string is held to caps of its own before anything parses it: a
    /// config of 300,000 empty arrays, or a list of 2.1 million numbers, is refused by count; a
    /// 1000-step recording's frames (4,500 arrays and objects, 17,000 commas) are far below them.
    func testNestedMetadataJSONIsCapped() throws {
        func file(_ meta: [String: String]) -> Data {
            let obj: [String: Any] = ["__metadata__": meta, "x": ["dtype": "F32", "shape": [1], "data_offsets": [0, 4]]]
            let header = try! JSONSerialization.data(withJSONObject: obj)
            var d = Data(withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) })
            d.append(header); d.append(Data(count: 4))
            return d
        }
        let arrays = "{\"attention\":[" + Array(repeating: "[]", count: 300_000).joined(separator: ",") + "]}"
        XCTAssertThrowsError(try SafeTensors.parse(file(["config": arrays, "note": "[1]"]), path: "mem")) {
            XCTAssertTrue("\($0)".contains("hold 300003 JSON arrays and objects, more than a file of ddpm has (at most 200000) (metadata 'config' holds 300002)"), "\($0)")
        }
        let numbers = "[" + Array(repeating: "0", count: 2_100_000).joined(separator: ",") + "]"
        XCTAssertThrowsError(try SafeTensors.parse(file(["timesteps": numbers]), path: "mem")) {
            XCTAssertTrue("\($0)".contains("hold 2099999 commas, more than a file of ddpm has (at most 2000000)"), "\($0)")
        }
        // At the caps: read.
        let atCap = "[" + Array(repeating: "[]", count: SafeTensors.maxMetadataContainers - 1).joined(separator: ",") + "]"
        XCTAssertEqual(try SafeTensors.parse(file(["frames": atCap]), path: "mem").metadata["frames"]?.count, atCap.count)
    }

    func testCorruptFilesGiveClearErrors() throws {
        let path = dir + "/w.safetensors"
        _ = try writeTiny(path)
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        assertBad(good.prefix(good.count - 100), contains: "truncated")
        assertBad(good.prefix(5), contains: "only 5 bytes")
        assertBad(Data(repeating: 0xff, count: 64), contains: "header length")
        var garbage = good; garbage.replaceSubrange(8..<20, with: Data(repeating: 0x41, count: 12))
        assertBad(garbage, contains: "not a JSON object")
        // Another config: a Small file loaded as Tiny names the first mismatching tensor.
        let small = try UNet(.small)
        let sp = FloatBuffer(count: small.parameterCount)
        try Checkpoint.writeWeights(dir + "/small.safetensors", layout: small.layout, params: sp.ptr, metadata: [:])
        assertBad(try Data(contentsOf: URL(fileURLWithPath: dir + "/small.safetensors")), contains: "time_emb.1.weight")
        // A missing tensor.
        var L = ParameterLayout(); L.add("time_emb.1.weight", [64, 16])
        let one = FloatBuffer(count: L.count)
        try Checkpoint.writeWeights(dir + "/one.safetensors", layout: L, params: one.ptr, metadata: [:])
        assertBad(try Data(contentsOf: URL(fileURLWithPath: dir + "/one.safetensors")), contains: "'time_emb.1.bias': missing")
        // NaN weights.
        let net = try UNet(.tiny)
        let nanP = FloatBuffer(count: net.parameterCount); nanP.ptr[5] = .nan
        try Checkpoint.writeWeights(dir + "/nan.safetensors", layout: net.layout, params: nanP.ptr, metadata: [:])
        assertBad(try Data(contentsOf: URL(fileURLWithPath: dir + "/nan.safetensors")), contains: "not finite")
    }

    /// A header naming something twice is refused (JSONSerialization would keep
    /// the last silently; the reference library refuses it), at any depth and
    /// however the name is spelled; equal-looking values and escapes are not names.
    func testDuplicateNamesAreRefused() throws {
        func file(_ header: String, data: Int = 4) -> Data {
            var h = Data(header.utf8)
            while h.count % 8 != 0 { h.append(0x20) }
            var len = UInt64(h.count).littleEndian
            var out = Data()
            withUnsafeBytes(of: &len) { out.append(contentsOf: $0) }
            return out + h + Data(count: data)
        }
        let entry = #"{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#
        let other = #"{"dtype":"F32","shape":[1],"data_offsets":[4,8]}"#
        assertBad(file(#"{"a":\#(entry),"a":\#(other)}"#, data: 8), contains: "the name 'a' appears twice")
        assertBad(file(#"{"a":\#(entry),"\u0061":\#(other)}"#, data: 8), contains: "the name 'a' appears twice")
        assertBad(file(#"{"__metadata__":{"k":"1","k":"2"},"a":\#(entry)}"#), contains: "the name 'k' appears twice")
        assertBad(file(#"{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#), contains: "the name 'dtype' appears twice")
        // Two metadata objects are one more object than a tensor's header holds: said as the name given twice.
        assertBad(file(#"{"__metadata__":{},"__metadata__":{},"a":\#(entry)}"#), contains: "the name '__metadata__' appears twice")
        // Sizes are whole numbers: JSONSerialization would let `as? Int` read true as 1 and 4.0 as 4.
        assertBad(file(#"{"a":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#), contains: "bad dimension in shape")
        assertBad(file(#"{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#), contains: "bad dimension in shape")
        assertBad(file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[false,4]}}"#), contains: "bad data_offsets")
        assertBad(file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}}"#), contains: "bad data_offsets")
        // Text JSON cannot read is said as such, a number past a Double's range by name.
        assertBad(file(#"{"a":{"dtype":"F32","shape":[1e999],"data_offsets":[0,4]}}"#), contains: "the header is not readable: the number 1e999 is out of range")
        assertBad(file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#), contains: "the header is not valid JSON")
        assertBad(file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}x"#), contains: "the header is not valid JSON")
        XCTAssertEqual(try SafeTensors.parse(file(#"{"a":\#(entry)}"#), path: "ok").tensors["a"]?.shape, [1])
        // Refused before JSONSerialization builds them: more objects, arrays or elements than the
        // tensors need (a 16 MiB header of {"":0} took 7 GB), and a header in UTF-16, which
        // JSONSerialization reads but the duplicate and tensor counts above do not.
        let objects = "[" + Array(repeating: #"{"":0}"#, count: 2000).joined(separator: ",") + "]"
        assertBad(file(#"{"x":\#(objects),"a":\#(entry)}"#), contains: "the header has 2002 objects, more than 1 tensor can need (3)")
        let dims = Array(repeating: "1", count: 2000).joined(separator: ",")
        assertBad(file(#"{"a":{"dtype":"F32","shape":[\#(dims)],"data_offsets":[0,4]}}"#), contains: "elements, more than 1 tensor can need (1040)")
        assertBad(file(#"{"a":\#(entry),"b":[[[1]]]}"#), contains: "the header has 5 arrays, more than 1 tensor can need (3)")
        // No tensor at all: said so, not "more than 0 tensors can need".
        assertBad(file(#"{"a":[[[1]]]}"#), contains: "the header has 3 arrays, more than a header without tensors ('data_offsets' appears nowhere) can need (1)")
        // A length field of 0 or 1 is too short for any header (it was called too long for the file).
        assertBad(Data(count: 8) + Data("{}".utf8), contains: "header length 0 is too short for a header (the least is '{}', 2 bytes)")
        // A tensor left out of the header: the gap it leaves before the next one is said to be likely that.
        assertBad(file(#"{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: 8), contains: "4 bytes of gap before its data (a tensor left out of the header?)")
        // A "__metadata__" that is an array is said to be one (it was counted as an array too many).
        assertBad(file(#"{"__metadata__":["a","b"],"a":\#(entry)}"#), contains: "__metadata__ is not an object")
        var utf16 = Data(#"{"a":\#(entry)}"#.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
        while utf16.count % 8 != 0 { utf16.append(contentsOf: [0x20, 0]) }
        var len16 = UInt64(utf16.count).littleEndian
        assertBad(withUnsafeBytes(of: &len16) { Data($0) } + utf16 + Data(count: 4), contains: "the header has a control byte 0x00 at its byte 1 (JSON has tab")
        // A control byte inside a name or value is named with its place; so is text that is not UTF-8 or not an object.
        assertBad(file("{\"a\u{1}\":\(entry)}"), contains: "the header has a control byte 0x01 at its byte 3")
        assertBad(file("[\(entry)]"), contains: "the header is not a JSON object (it must start with '{')")
        assertBad(Data("hello, this is a note\n".utf8), contains: "it starts with text ('hello, t'), where a safetensors file starts with its header's length")
        assertBad(Data([16, 0, 0, 0, 0, 0, 0, 0, 0x7B, 0xFF] + Array(repeating: 0x20, count: 14)), contains: "the header is not UTF-8 text")
        // The count skips strings' brackets and commas, escaped quotes and backslashes included, and
        // stops where a text ends inside a string; whitespace alone is not an object.
        XCTAssertEqual(JSONScan.shape(ofObject: Data(#"{"a,[{":"\",{","b":[1,2]}"#.utf8)), JSONScan.Shape(objects: 1, arrays: 1, commas: 2))
        XCTAssertEqual(JSONScan.shape(ofObject: Data(#"{"a":"x\\","b":[1]}"#.utf8)), JSONScan.Shape(objects: 1, arrays: 1, commas: 1))
        XCTAssertEqual(JSONScan.shape(ofObject: Data(#"{"a":"x\"#.utf8)), JSONScan.Shape(objects: 1))
        XCTAssertNil(JSONScan.shape(ofObject: Data("   ".utf8)))
        XCTAssertNil(JSONScan.shape(ofObject: Data([0xEF, 0xBB, 0xBF] + Array("{}".utf8))), "a BOM is not JSON's start")
        // Not duplicates: the same name in two objects, names equal to values, quotes and backslashes escaped.
        let ok = file(#"{"__metadata__":{"a":"a","x\"y":"\\","x\\":"[{,"},"a":\#(entry),"x\"y":\#(other)}"#, data: 8)
        let f = try SafeTensors.parse(ok, path: "ok")
        XCTAssertEqual(Set(f.tensors.keys), ["a", "x\"y"])
        XCTAssertEqual(f.metadata, ["a": "a", "x\"y": "\\", "x\\": "[{,"])
    }

    func testMissingFile() {
        XCTAssertThrowsError(try SafeTensors.read(dir + "/nope.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("no such file"))
        }
    }

    /// A file that cannot be opened says the system's reason ("Permission denied"
    /// for a file of another user's; here, as root, a path through a file).
    func testUnreadableFileSaysWhy() throws {
        let plain = dir + "/plain"
        try Data([1]).write(to: URL(fileURLWithPath: plain))
        XCTAssertEqual(InputFile.cannotRead(plain + "/inside"), "cannot read the file: a part of the path is not a folder")
        XCTAssertEqual(InputFile.cannotRead(plain), "cannot read the file")
    }

    /// Metadata from a file is validated before anything is built or allocated.
    func testHostileMetadataIsRefused() throws {
        func spec(_ config: String) -> String? {
            do { _ = try Checkpoint.modelSpec(["config": config], path: "w.safetensors"); return nil } catch {
                XCTAssertTrue("\(error)".hasPrefix("w.safetensors: "), "\(error)")
                return "\(error)"
            }
        }
        let good = Checkpoint.encode(UNetConfig.tiny)
        XCTAssertNil(spec(good))
        func with(_ from: String, _ to: String) -> String { good.replacingOccurrences(of: from, with: to) }
        XCTAssertTrue(spec(with("\"groups\":8", "\"groups\":0"))!.contains("groups"))
        XCTAssertTrue(spec(with("\"nChannels\":16", "\"nChannels\":1048576"))!.contains("n_channels"))
        XCTAssertTrue(spec(with("[1,2,2]", "[1,-2,2]"))!.contains("ch_mults"))
        XCTAssertTrue(spec(with("[1,2,2]", "[]"))!.contains("ch_mults"))
        XCTAssertTrue(spec(with("\"imageChannels\":1", "\"imageChannels\":3"))!.contains("channels"))
        XCTAssertTrue(spec(with("\"imageSize\":28", "\"imageSize\":100000"))!.contains("image size"))
        XCTAssertTrue(spec(with("\"nBlocks\":2", "\"nBlocks\":99999"))!.contains("n_blocks"))
        XCTAssertTrue(spec(with("\"dropout\":0.1", "\"dropout\":2"))!.contains("dropout"))
        // Inside every single bound but too many parameters in all.
        let big = UNetConfig(nChannels: 256, chMults: [1, 2, 4, 4], nBlocks: 8, nMidBlocks: 8, imageSize: 32)
        XCTAssertTrue(spec(Checkpoint.encode(big))!.contains("parameters"))
        XCTAssertNotNil(spec("{not json"))
        XCTAssertThrowsError(try Checkpoint.modelSpec(["schedule": #"{"T":1000000000,"betaEnd":0.02,"betaStart":0.0001,"kind":"linear"}"#],
                                                      path: "w.safetensors", config: .tiny)) { e in
            XCTAssertTrue("\(e)".contains("T must be in"), "\(e)")
        }

        // A file without a config is refused unless the caller says what it holds; given options must agree with metadata.
        XCTAssertThrowsError(try Checkpoint.modelSpec([:], path: "w.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("--config tiny, small or the config JSON"), "\(e)")
        }
        // A format version this ddpm does not know is refused (it loaded without a word).
        XCTAssertThrowsError(try Checkpoint.modelSpec(["format": "ddpm-explorer weights 99", "config": Checkpoint.encode(UNetConfig.tiny)], path: "w.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("its format is 'ddpm-explorer weights 99', which this ddpm does not read"), "\(e)")
        }
        // So is a classifier's (both kinds), before its tensors are read.
        let path = NSTemporaryDirectory() + "format-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let one = FloatBuffer([1])
        for (format, reads, read) in [("ddpm-explorer classifier 9", "'ddpm-explorer classifier 1', 'ddpm-explorer classifier 2'", { _ = try Classifier.read(path) }),
                                      ("ddpm-explorer noisy classifier 2", "'ddpm-explorer noisy classifier 1'", { _ = try ClassifierGuidance.read(path) })]
                as [(String, String, () throws -> Void)] {
            try SafeTensors.write(path, tensors: [("x", [1], UnsafePointer(one.ptr))], metadata: ["format": format, "architecture": "32,64,64,256,relu"])
            XCTAssertThrowsError(try read()) { e in
                XCTAssertTrue("\(e)".contains("its format is '\(format)', which this ddpm does not read (\(reads)): made by a newer ddpm?"), "\(e)")
            }
        }
        let cos = NoiseSchedule.Spec(kind: .cosine, T: 500)
        let given = try Checkpoint.modelSpec([:], path: "w.safetensors", config: .small, schedule: cos)
        XCTAssertEqual(given.0, .small); XCTAssertEqual(given.1, cos)
        XCTAssertEqual(try Checkpoint.modelSpec([:], path: "w.safetensors", config: .tiny).1, NoiseSchedule.Spec())
        let tinyMeta = ["config": Checkpoint.encode(UNetConfig.tiny), "schedule": Checkpoint.encode(NoiseSchedule.Spec())]
        XCTAssertEqual(try Checkpoint.modelSpec(tinyMeta, path: "w.safetensors", config: .tiny, schedule: .init()).0, .tiny)
        XCTAssertThrowsError(try Checkpoint.modelSpec(tinyMeta, path: "w.safetensors", config: .small)) { e in
            XCTAssertTrue("\(e)".contains("not the --config small"), "\(e)")
        }
        XCTAssertThrowsError(try Checkpoint.modelSpec(tinyMeta, path: "w.safetensors", schedule: cos)) { e in
            XCTAssertTrue("\(e)".contains("not the --schedule cosine --T 500"), "\(e)")
        }

        // Trainer state.
        var meta = ["format": Trainer.checkpointFormat, "options": Checkpoint.encode(TrainOptions()),
                    "step": "12", "rng": "1,2,3,4"]
        XCTAssertEqual(try Checkpoint.trainState(meta, path: "c").step, 12)
        // The losses before (shown only): kept when they are at most the step's count of finite numbers,
        // else left out; a resume never fails on them.
        for (v, kept) in [("[0.5,0.25,-1]", true), ("[]", true), ("[0.5,\"x\"]", false), ("0.5", false), ("[1e39]", false),
                          ("[" + Array(repeating: "0.1", count: 13).joined(separator: ",") + "]", false)] {
            var m = meta; m["recent_losses"] = v
            let got = try Checkpoint.trainState(m, path: "c").recentLosses
            XCTAssertEqual(got != nil, kept, v)
        }
        meta["recent_losses"] = "[0.5,0.25,-1]"
        XCTAssertEqual(try Checkpoint.trainState(meta, path: "c").recentLosses?.prefix(2), [0.5, 0.25])
        XCTAssertTrue(try Checkpoint.trainState(meta, path: "c").recentLosses?.last?.isNaN ?? false, "a loss saved as -1 (not finite) is NaN")
        meta["recent_losses"] = nil
        for (k, v) in [("step", "-1"), ("step", "x"), ("rng", "1,2,3"), ("rng", "0,0,0,0"), ("rng", "1,2,3,zz"), ("rng", "+1,2,3,4"), ("rng", "1,-0,3,4"),
                       ("format", "other"), ("options", #"{"batch":0}"#)] {
            var m = meta; m[k] = v
            XCTAssertThrowsError(try Checkpoint.trainState(m, path: "c"), "\(k)=\(v)")
        }
        // The field at fault is named by its path.
        func options(_ edit: (inout [String: Any]) -> Void) throws -> String {
            var d = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(Checkpoint.encode(TrainOptions()).utf8)) as? [String: Any])
            edit(&d)
            return String(decoding: try JSONSerialization.data(withJSONObject: d), as: UTF8.self)
        }
        let fields: [((inout [String: Any]) -> Void, String)] = [
            ({ $0["lr"] = "fast" }, "metadata 'options' is not valid ('options.lr' has the wrong type)"),
            ({ $0["batch"] = nil }, "metadata 'options' is not valid (it has no 'options.batch')"),
            ({ $0["seed"] = NSNull() }, "metadata 'options' is not valid ('options.seed' is null)"),
            ({ var c = $0["config"] as? [String: Any] ?? [:]; c["chMults"] = [1, "2"]; $0["config"] = c },
             "metadata 'options' is not valid ('options.config.chMults.1' has the wrong type)"),
            // A config key this program does not know describes a model it cannot build: refused, not ignored.
            ({ var c = $0["config"] as? [String: Any] ?? [:]; c["heads"] = 8; $0["config"] = c },
             "metadata 'options' is not valid ('options.config.heads' is not a key of a model's config: a file of a newer ddpm?)"),
        ]
        for (edit, needle) in fields {
            var m = meta; m["options"] = try options(edit)
            XCTAssertThrowsError(try Checkpoint.trainState(m, path: "c")) { XCTAssertTrue("\($0)".contains(needle), "\($0)") }
        }
        var huge = meta; huge["options"] = Checkpoint.encode(TrainOptions()).replacingOccurrences(of: #""batch":128"#, with: #""batch":1e999"#)
        XCTAssertNotEqual(huge["options"], meta["options"])
        XCTAssertThrowsError(try Checkpoint.trainState(huge, path: "c")) {
            XCTAssertTrue("\($0)".contains("metadata 'options' is not valid (the number 1e999 is out of range (at most about 1.8e308))"), "\($0)")
        }
        // Two equal names in a metadata string are refused (JSONDecoder keeps one, Python's json the other);
        // a number that does not fit its type is said as such (JSONDecoder gives no path for it).
        var two = meta; two["options"] = Checkpoint.encode(TrainOptions()).replacingOccurrences(of: #""batch":128"#, with: #""batch":128,"batch":64"#)
        XCTAssertThrowsError(try Checkpoint.trainState(two, path: "c")) { XCTAssertTrue("\($0)".contains("metadata 'options' gives 'batch' twice"), "\($0)") }
        two["options"] = Checkpoint.encode(TrainOptions()).replacingOccurrences(of: #""batch":128"#, with: #""batch":16.5"#)
        XCTAssertThrowsError(try Checkpoint.trainState(two, path: "c")) { XCTAssertTrue("\($0)".contains("(a value does not fit its type: counts, sizes, steps and seeds are whole numbers)"), "\($0)") }
        var unknown = meta; unknown["config"] = Checkpoint.encode(UNetConfig.tiny).replacingOccurrences(of: "{", with: #"{"zz":1,"#)
        XCTAssertThrowsError(try Checkpoint.trainState(unknown, path: "c")) { XCTAssertTrue("\($0)".contains("('config.zz' is not a key of a model's config"), "\($0)") }
        XCTAssertThrowsError(try Checkpoint.modelSpec(unknown, path: "c")) { XCTAssertTrue("\($0)".contains("('config.zz' is not a key of a model's config"), "\($0)") }
        // A model or schedule said one way for weights readers and another in the options is refused.
        var twice = meta; twice["config"] = Checkpoint.encode(UNetConfig.small)
        XCTAssertThrowsError(try Checkpoint.trainState(twice, path: "c")) { XCTAssertTrue("\($0)".contains("metadata 'config' and the config in 'options' describe different models"), "\($0)") }
        twice = meta; twice["schedule"] = Checkpoint.encode(cos)
        XCTAssertThrowsError(try Checkpoint.trainState(twice, path: "c")) { XCTAssertTrue("\($0)".contains("metadata 'schedule' and the schedule in 'options' differ"), "\($0)") }
        twice = meta; twice["config"] = Checkpoint.encode(UNetConfig.tiny); twice["schedule"] = Checkpoint.encode(NoiseSchedule.Spec())
        XCTAssertEqual(try Checkpoint.trainState(twice, path: "c").step, 12)
        // Dropout only shapes training (as in modelSpec): the options' is the one a resume trains with.
        var noDropout = UNetConfig.tiny; noDropout.dropout = 0
        twice["config"] = Checkpoint.encode(noDropout)
        XCTAssertEqual(try Checkpoint.trainState(twice, path: "c").options.config.dropout, UNetConfig.tiny.dropout)
        var o = TrainOptions(); o.batch = 1 << 40
        meta["options"] = Checkpoint.encode(o)
        XCTAssertThrowsError(try Checkpoint.trainState(meta, path: "c")) { XCTAssertTrue("\($0)".contains("batch must be in 1...4096"), "\($0)") }
    }

    /// Resident memory of this process (VmRSS), MiB.
    static func residentMiB() -> Double {
        let s = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in s.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return (line.split(separator: " ").compactMap { Double($0) }.first ?? 0) / 1024
        }
        return 0
    }

    /// A weights file with an extra, unused 2 GiB tensor (a sparse file: a
    /// few MB on disk) loads with the memory the model needs, not 2 GiB: only
    /// the layout's tensors are read. Gaps between tensors are refused.
    func testUnusedHugeTensorIsNeverRead() throws {
        let tiny = dir + "/tiny.safetensors"
        _ = try writeTiny(tiny)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: tiny))
        let hlen = Int(bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        var header = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + hlen))) as! [String: Any]
        let dataLen = bytes.count - 8 - hlen, extra = 1 << 29   // floats: 2 GiB
        header["unused.huge"] = ["dtype": "F32", "shape": [extra], "data_offsets": [dataLen, dataLen + 4 * extra]]
        var h = try JSONSerialization.data(withJSONObject: header)
        while (h.count + 8) % 8 != 0 { h.append(0x20) }
        var out = Data()
        var len = UInt64(h.count).littleEndian
        withUnsafeBytes(of: &len) { out.append(contentsOf: $0) }
        out += h + bytes.subdata(in: (8 + hlen)..<bytes.count)
        let huge = dir + "/huge.safetensors"
        try out.write(to: URL(fileURLWithPath: huge))
        XCTAssertEqual(truncate(huge, off_t(out.count + 4 * extra)), 0)   // sparse: no blocks written
        let before = Self.residentMiB()
        let f = try SafeTensors.read(huge)
        let net = try UNet(.tiny)
        let q = FloatBuffer(count: net.parameterCount)
        try f.load(into: q.ptr, layout: net.layout)
        XCTAssertEqual(f.tensors["unused.huge"]?.count, extra)
        XCTAssertLessThan(Self.residentMiB() - before, 100, "the unused tensor was read")
        // The same file with a gap before the huge tensor is refused (as the reference library does).
        header["unused.huge"] = ["dtype": "F32", "shape": [4], "data_offsets": [dataLen + 8, dataLen + 24]]
        var g = try JSONSerialization.data(withJSONObject: header)
        while (g.count + 8) % 8 != 0 { g.append(0x20) }
        var gapped = Data()
        len = UInt64(g.count).littleEndian
        withUnsafeBytes(of: &len) { gapped.append(contentsOf: $0) }
        gapped += g + bytes.subdata(in: (8 + hlen)..<bytes.count) + Data(count: 24)
        XCTAssertThrowsError(try SafeTensors.parse(gapped, path: "g")) { XCTAssertTrue("\($0)".contains("8 bytes of gap"), "\($0)") }
    }
}
