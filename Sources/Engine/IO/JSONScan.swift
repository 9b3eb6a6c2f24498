// JSONScan.swift: looks at JSON text byte by byte, before or beside JSONSerialization: its shape, and names given twice.
import Foundation

/// Byte-level checks of JSON text that JSONSerialization does not make: a
/// safetensors header's size in objects before parsing builds them, and names
/// that appear twice in one object (JSONSerialization keeps the last).
public enum JSONScan {
    /// JSON text parsed by JSONSerialization, or an error that says why not: a
    /// number too large for a Double, or nesting deeper than the parser goes, is
    /// named as such (Foundation calls both "not in the correct format"),
    /// anything else is "not valid JSON".
    public static func parse(_ json: Data) -> Result<Any, ParseError> {
        do { return .success(try JSONSerialization.jsonObject(with: json)) } catch {
            let said = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? ""
            // "Number 1e999 is not representable in Swift."
            if said.hasPrefix("Number "), let end = said.range(of: " is not representable") {
                return .failure(.numberOutOfRange(String(said[said.index(said.startIndex, offsetBy: 7)..<end.lowerBound].prefix(40))))
            }
            // "Too many nested arrays or dictionaries around character 513."
            if said.hasPrefix("Too many nested") { return .failure(.tooDeep) }
            return .failure(.invalid)
        }
    }

    /// A decoding error's place as a message names it: "config.chMults.1" (not "Index 1").
    public static func path(_ keys: [CodingKey]) -> String {
        keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }

    /// Why a text is not JSON, in words for a message ("--config is …").
    public enum ParseError: Error, Sendable, CustomStringConvertible {
        case invalid, numberOutOfRange(String), tooDeep
        public var description: String {
            switch self {
            case .invalid: "not valid JSON"
            case .numberOutOfRange, .tooDeep: "not readable: " + reason
            }
        }
        /// What is wrong, without saying what the text is not.
        public var reason: String {
            switch self {
            case .invalid: "not valid JSON"
            case .numberOutOfRange(let n): "the number \(n) is out of range (at most about 1.8e308)"
            case .tooDeep: "its arrays and objects are nested deeper than 512 levels"
            }
        }
    }

    /// How many `{`, `[` and `,` a JSON text has outside its strings.
    public struct Shape: Equatable, Sendable {
        public var objects = 0, arrays = 0, commas = 0
        public init(objects: Int = 0, arrays: Int = 0, commas: Int = 0) {
            self.objects = objects; self.arrays = arrays; self.commas = commas
        }
    }

    /// The shape of a JSON object in UTF-8, or nil for text that is not one: not
    /// UTF-8 (JSONSerialization would guess UTF-16 or 32 from the bytes, which the
    /// byte-level checks do not read; their ASCII characters' zero bytes are control
    /// characters, which JSON has only as whitespace) or not starting with `{`.
    /// A text that ends inside a string is counted up to there (the parser refuses it).
    public static func shape(ofObject json: Data) -> Shape? {
        guard objectProblem(json) == nil else { return nil }
        return json.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Shape? in
            let b = raw.bindMemory(to: UInt8.self)
            var i = 0, shape = Shape()
            while i < b.count, isSpace(b[i]) { i += 1 }
            while i < b.count {
                switch b[i] {
                case UInt8(ascii: "{"): shape.objects += 1
                case UInt8(ascii: "["): shape.arrays += 1
                case UInt8(ascii: ","): shape.commas += 1
                case UInt8(ascii: "\""):
                    i += 1
                    while i < b.count && b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
                default: break
                }
                i += 1
            }
            return shape
        }
    }

    /// JSON's whitespace: space, tab, line feed, carriage return.
    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }

    /// Why `json` is not the text `shape(ofObject:)` reads, in words for a message ("the header …"),
    /// or nil when it is: UTF-8, no control byte but JSON's whitespace, and starting with `{`.
    public static func objectProblem(_ json: Data) -> String? {
        guard String(data: json, encoding: .utf8) != nil else { return "is not UTF-8 text" }
        return json.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> String? in
            let b = raw.bindMemory(to: UInt8.self)
            if let i = b.firstIndex(where: { $0 < 0x20 && !isSpace($0) }) {
                return String(format: "has a control byte 0x%02x at its byte %d (JSON has tab, line feed and carriage return only, outside strings)", b[i], i)
            }
            guard b.first(where: { !isSpace($0) }) == UInt8(ascii: "{") else { return "is not a JSON object (it must start with '{')" }
            return nil
        }
    }

    /// The first name that appears twice in one object of `json` (already
    /// known to be valid JSON), compared as the parsed dictionary compares them.
    public static func duplicateName(in json: Data) -> String? {
        let bytes = [UInt8](json)
        // One frame per open object or array: the names seen, and whether the next string is a name.
        var frames: [(names: Set<String>?, expectName: Bool)] = []
        var i = 0
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "{"): frames.append((names: [], expectName: true))
            case UInt8(ascii: "["): frames.append((names: nil, expectName: false))
            case UInt8(ascii: "}"), UInt8(ascii: "]"): _ = frames.popLast()
            case UInt8(ascii: ","): if frames.last?.names != nil { frames[frames.count - 1].expectName = true }
            case UInt8(ascii: "\""):
                let start = i
                var escaped = false
                i += 1
                while i < bytes.count, bytes[i] != UInt8(ascii: "\"") || escaped {
                    escaped = !escaped && bytes[i] == UInt8(ascii: "\\")
                    i += 1
                }
                if let top = frames.last, top.expectName, top.names != nil {
                    let raw = bytes[start...min(i, bytes.count - 1)]
                    let name: String
                    if raw.contains(UInt8(ascii: "\\")) {
                        let wrapped = Data("[".utf8) + Data(raw) + Data("]".utf8)
                        name = ((try? JSONSerialization.jsonObject(with: wrapped)) as? [String])?.first ?? ""
                    } else {
                        name = String(decoding: raw.dropFirst().dropLast(), as: UTF8.self)
                    }
                    if !frames[frames.count - 1].names!.insert(name).inserted { return name }
                    frames[frames.count - 1].expectName = false
                }
            default: break
            }
            i += 1
        }
        return nil
    }
}
