// SHA256.swift: the SHA-256 of a file (a recording names its model by it) or of
// bytes fed piece by piece (the key of cached reference features), by OpenSSL's libcrypto.
import COpenSSL
import Foundation

/// A SHA-256 digest fed piece by piece (OpenSSL's libcrypto EVP digest).
public final class SHA256 {
    private let ctx: OpaquePointer
    private var failed = false

    public init() throws {
        guard let ctx = EVP_MD_CTX_new() else { throw EngineError.io("SHA-256: out of memory") }
        self.ctx = ctx
        if EVP_DigestInit_ex(ctx, EVP_sha256(), nil) != 1 { failed = true }
    }
    deinit { EVP_MD_CTX_free(ctx) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count > 0 && EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count) != 1 { failed = true }
    }
    /// The values' bytes in memory (numbers: this machine's byte order).
    public func update<T: BitwiseCopyable>(_ values: [T]) { values.withUnsafeBytes { update($0) } }
    public func update(_ text: String) { update(Array(text.utf8)) }

    /// The 32 bytes of the digest (the hasher is spent).
    public func finish() throws -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var len: UInt32 = 0
        guard !failed, EVP_DigestFinal_ex(ctx, &digest, &len) == 1 else { throw EngineError.io("SHA-256: the digest failed") }
        return Array(digest.prefix(Int(len)))
    }
}

/// SHA-256 of a file, in lower-case hex (read in 1 MiB pieces).
public func sha256(ofFile path: String) throws -> String {
    guard let h = FileHandle(forReadingAtPath: path) else { throw EngineError.badFile(path: path, reason: InputFile.cannotRead(path)) }
    defer { try? h.close() }
    let digest = try SHA256()
    while true {
        let chunk: Data
        // (read(upToCount:) throws on an I/O error where readData(ofLength:) would trap.)
        do { chunk = try h.read(upToCount: 1 << 20) ?? Data() } catch {
            throw EngineError.badFile(path: path, reason: "cannot read the file (\(error.localizedDescription))")
        }
        if chunk.isEmpty { break }
        chunk.withUnsafeBytes { digest.update($0) }
    }
    do { return try digest.finish().map { String(format: "%02x", $0) }.joined() }
    catch { throw EngineError.badFile(path: path, reason: "SHA-256: the digest failed") }
}
