#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A file uploaded in a `multipart/form-data` body (a part with a `filename`).
///
/// Small files are kept in memory; larger ones (``MultipartLimits/spoolThreshold``) in an
/// anonymous temporary file that disappears with the last copy of this value, whatever happens.
///
/// ```swift
/// if let upload = form.file("avatar") {
///     try upload.save(to: "/var/lib/app/avatars/\(userID)")   // never use upload.filename as a path
/// }
/// ```
public struct UploadedFile: Sendable {
    enum Storage: Sendable {
        case memory([UInt8])
        case disk(TemporaryFile)
    }

    /// The head of its part: field name, file name, content type, headers.
    public let head: MultipartPartHead
    /// Its size in bytes.
    public let size: Int
    let storage: Storage

    init(head: MultipartPartHead, size: Int, storage: Storage) {
        self.head = head
        self.size = size
        self.storage = storage
    }

    /// The form field's name.
    public var fieldName: String { head.name }
    /// The file name the client gave; may be empty, may contain `/`, `..` or anything else.
    public var filename: String { head.filename ?? "" }
    /// The `Content-Type` the client gave, if any.
    public var contentType: String? { head.contentType }
    /// Whether it is held in memory rather than in a temporary file.
    public var isInMemory: Bool {
        if case .memory = storage { return true }
        return false
    }

    /// The whole content (blocking when on disk).
    public func bytes() throws(FormError) -> [UInt8] {
        try read(at: 0, count: size)
    }

    /// Up to `count` bytes from `offset` (blocking when on disk).
    public func read(at offset: Int, count: Int) throws(FormError) -> [UInt8] {
        let start = min(max(offset, 0), size)
        let end = start + min(max(count, 0), size - start)
        switch storage {
        case .memory(let bytes): return Array(bytes[start..<end])
        case .disk(let file): return try file.read(at: start, count: end - start)
        }
    }

    /// Writes the content to a new file at `path` (replacing one that exists) with permissions
    /// `mode`. Blocking.
    public func save(to path: String, mode: UInt32 = 0o644) throws(FormError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode_t(mode))
        guard descriptor >= 0 else {
            throw FormError(.storageFailed, "Cannot create \(path) for an upload: \(lastErrorText()).")
        }
        defer { close(descriptor) }
        var offset = 0
        while offset < size {
            let chunk = try read(at: offset, count: 256 * 1024)
            guard !chunk.isEmpty else { break }
            var done = 0
            while done < chunk.count {
                let written = chunk.withUnsafeBufferPointer { write(descriptor, $0.baseAddress! + done, chunk.count - done) }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw FormError(.storageFailed, "Cannot write an upload to \(path): \(lastErrorText()).")
                }
                done += written
            }
            offset += chunk.count
        }
    }
}
