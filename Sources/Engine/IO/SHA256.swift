// SHA256.swift: the SHA-256 of a file (a recording names its model by it), by OpenSSL's libcrypto.
import COpenSSL
import Foundation

/// SHA-256 of a file, in lower-case hex (OpenSSL's libcrypto EVP digest, read in 1 MiB pieces).
public func sha256(ofFile path: String) throws -> String {
    guard let h = FileHandle(forReadingAtPath: path) else { throw EngineError.badFile(path: path, reason: InputFile.cannotRead(path)) }
    defer { try? h.close() }
    guard let ctx = EVP_MD_CTX_new() else { throw EngineError.invalidArgument("SHA-256: out of memory") }
    defer { EVP_MD_CTX_free(ctx) }
    // (read(upToCount:) throws on an I/O error where readData(ofLength:) would trap.)
    func failed(_ why: String) -> EngineError { .badFile(path: path, reason: why) }
    guard EVP_DigestInit_ex(ctx, EVP_sha256(), nil) == 1 else { throw failed("SHA-256: the digest did not start") }
    while true {
        let chunk: Data
        do { chunk = try h.read(upToCount: 1 << 20) ?? Data() } catch { throw failed("cannot read the file (\(error.localizedDescription))") }
        if chunk.isEmpty { break }
        guard (chunk.withUnsafeBytes { EVP_DigestUpdate(ctx, $0.baseAddress, $0.count) }) == 1 else { throw failed("SHA-256: the digest failed") }
    }
    var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var len: UInt32 = 0
    guard EVP_DigestFinal_ex(ctx, &digest, &len) == 1 else { throw failed("SHA-256: the digest failed") }
    return digest.prefix(Int(len)).map { String(format: "%02x", $0) }.joined()
}
