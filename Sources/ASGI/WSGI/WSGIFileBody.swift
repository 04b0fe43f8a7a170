#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A response body that is a file (PEP 3333's `wsgi.file_wrapper`): every server of the package
/// sends it as a file, without copying it through the application's thread where the transport
/// can (the HTTP server's `sendfile`, through the `http.response.pathsend` extension), else in
/// blocks of `blockSize` bytes. As any body, it is closed on every path.
///
/// ```swift
/// let app = WSGIApp { environ, startResponse in
///     _ = try startResponse("200 OK", [("Content-Type", "application/pdf")], nil)
///     return try environ.fileWrapper(path: "/srv/files/report.pdf")
/// }
/// ```
///
/// Without a `Content-Length` from the application, the file's size is sent as one.
public struct WSGIFileBody: WSGIBody {
    /// Owns the descriptor: copies of the body share it, and it closes once.
    private final class Descriptor {
        var fd: Int32
        init(_ fd: Int32) { self.fd = fd }
        func close() {
            if fd >= 0 { _ = systemClose(fd) }
            fd = -1
        }
        deinit { close() }
    }

    /// The file's path, as given.
    public let path: String
    /// The file's size when it is a regular file.
    public let length: Int?
    /// The size of the blocks it is read in when it is streamed.
    public let blockSize: Int
    private let descriptor: Descriptor

    /// Opens the file at `path` for reading.
    /// - Throws: ``WSGIError`` `invalidFile`, naming the path and the system's reason.
    public init(path: String, blockSize: Int = ServerDefaults.chunkSize) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw WSGIError(.invalidFile, "Cannot open '\(path)' for the response body: \(String(cString: strerror(errno))).")
        }
        var info = stat()
        let isRegular = fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
        self.path = path
        self.length = isRegular ? Int(info.st_size) : nil
        self.blockSize = max(1, blockSize)
        self.descriptor = Descriptor(fd)
    }

    /// The path made absolute (the form `http.response.pathsend` carries), or `nil` when the
    /// working directory cannot be read.
    var absolutePath: String? {
        if path.hasPrefix("/") { return path }
        guard let cwd = getcwd(nil, 0) else { return nil }
        defer { free(cwd) }
        return String(cString: cwd) + "/" + path
    }

    /// The next block, or `nil` at the end of the file.
    public mutating func next() throws -> [UInt8]? {
        let fd = descriptor.fd
        guard fd >= 0 else { return nil }
        let size = blockSize
        var failure: Int32 = 0
        let block = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var got = -1
            repeat { got = read(fd, buffer.baseAddress, size) } while got < 0 && errno == EINTR
            if got < 0 { failure = errno }
            count = max(0, got)
        }
        if failure != 0 {
            throw WSGIError(.invalidFile, "Reading '\(path)' failed: \(String(cString: strerror(failure))).")
        }
        return block.isEmpty ? nil : block
    }

    /// Closes the file.
    public mutating func close() {
        descriptor.close()
    }
}

extension Environ {
    /// PEP 3333's `wsgi.file_wrapper`: a body that sends the file at `path` the fastest way the
    /// server can (see ``WSGIFileBody``).
    /// - Throws: ``WSGIError`` when the file cannot be opened.
    public func fileWrapper(path: String, blockSize: Int = ServerDefaults.chunkSize) throws -> WSGIFileBody {
        try WSGIFileBody(path: path, blockSize: blockSize)
    }
}

@inline(__always)
private func systemClose(_ fd: Int32) -> Int32 {
    close(fd)
}
