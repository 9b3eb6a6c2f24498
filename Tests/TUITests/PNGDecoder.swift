// PNGDecoder.swift: an independent reader of 8-bit grey PNGs for the tests
// (chunks and CRCs checked, IDAT inflated, all five row filters undone).
import Engine
import Foundation

enum PNGDecoder {
    struct Failure: Error, CustomStringConvertible { let description: String }

    static func decodeGrey(_ d: [UInt8]) throws -> (width: Int, height: Int, pixels: [UInt8]) {
        func be32(_ o: Int) -> Int { Int(d[o]) << 24 | Int(d[o + 1]) << 16 | Int(d[o + 2]) << 8 | Int(d[o + 3]) }
        guard d.count > 8, Array(d[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else { throw Failure(description: "no PNG signature") }
        var o = 8, width = 0, height = 0, idat: [UInt8] = [], ended = false
        while o + 12 <= d.count && !ended {
            let len = be32(o), type = String(decoding: d[(o + 4)..<(o + 8)], as: UTF8.self)
            guard o + 12 + len <= d.count else { throw Failure(description: "chunk \(type) runs past the end") }
            let body = Array(d[(o + 8)..<(o + 8 + len)])
            guard Gzip.crc(Array(d[(o + 4)..<(o + 8 + len)])) == UInt32(be32(o + 8 + len)) else { throw Failure(description: "bad CRC in \(type)") }
            switch type {
            case "IHDR":
                width = Int(body[0]) << 24 | Int(body[1]) << 16 | Int(body[2]) << 8 | Int(body[3])
                height = Int(body[4]) << 24 | Int(body[5]) << 16 | Int(body[6]) << 8 | Int(body[7])
                guard body[8] == 8, body[9] == 0 else { throw Failure(description: "not 8-bit grey") }
            case "IDAT": idat += body
            case "IEND": ended = true
            default: break
            }
            o += 12 + len
        }
        guard ended, width > 0, height > 0 else { throw Failure(description: "no IHDR or IEND") }
        let stride = width + 1
        var raw = [UInt8](repeating: 0, count: stride * height)
        let got = try Gzip.inflating(Data(idat), path: "png") { fill, atEnd in
            try raw.withUnsafeMutableBytes { try fill($0.baseAddress!, $0.count) }
        }
        guard got == raw.count else { throw Failure(description: "IDAT holds \(got) bytes, want \(raw.count)") }
        var px = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height {
            let f = raw[y * stride]
            for x in 0..<width {
                let v = Int(raw[y * stride + 1 + x])
                let a = x > 0 ? Int(px[y * width + x - 1]) : 0, b = y > 0 ? Int(px[(y - 1) * width + x]) : 0
                let c = x > 0 && y > 0 ? Int(px[(y - 1) * width + x - 1]) : 0
                let pred: Int
                switch f {
                case 0: pred = 0
                case 1: pred = a
                case 2: pred = b
                case 3: pred = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    pred = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                default: throw Failure(description: "filter \(f)")
                }
                px[y * width + x] = UInt8((v + pred) & 255)
            }
        }
        return (width, height, px)
    }
}
