#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An anonymous file on disk for a spooled upload: created, then unlinked at once, so it has no
/// name and its space returns to the file system when the descriptor closes, on every path: the
/// form going away, an error halfway, a trap or a kill.
///
/// Appends happen while the form is parsed, on one thread; reads use `pread` at explicit offsets,
/// so reads from several threads after the parse are safe.
final class TemporaryFile: Sendable {
    /// The open descriptor (close-on-exec), owned by this object and closed in `deinit`.
    let descriptor: Int32

    /// Creates an unlinked file in `directory` (`nil`: `$TMPDIR`, else `/tmp`).
    init(directory: String?) throws(FormError) {
        let base = directory ?? getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        // mkstemp's loop with O_CLOEXEC set atomically (mkostemp is not visible from Swift on
        // Glibc): a process spawned meanwhile by another thread never inherits the descriptor.
        var generator = SystemRandomNumberGenerator()
        var descriptor: Int32 = -1
        var failure: Int32 = EEXIST
        for _ in 0..<100 where failure == EEXIST {
            let path = "\(base)/asgi-upload-" + String(generator.next() as UInt64, radix: 36)
            descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if descriptor >= 0 {
                unlink(path)
                break
            }
            failure = errno
        }
        guard descriptor >= 0 else {
            throw FormError(
                .storageFailed,
                "Cannot create a temporary file for an upload in \(base): \(errorText(failure)). Check MultipartLimits.temporaryDirectory."
            )
        }
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    /// Writes `bytes` at `offset`.
    func write(_ bytes: some Collection<UInt8>, at offset: Int) throws(FormError) {
        let result: Int32? = bytes.withContiguousStorageIfAvailable { writeAll($0, at: offset) }
        let status = result ?? Array(bytes).withUnsafeBufferPointer { writeAll($0, at: offset) }
        guard status == 0 else {
            throw FormError(.storageFailed, "Cannot write an upload to its temporary file: \(errorText(status)).")
        }
    }

    private func writeAll(_ buffer: UnsafeBufferPointer<UInt8>, at offset: Int) -> Int32 {
        var done = 0
        while done < buffer.count {
            let written = pwrite(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            done += written
        }
        return 0
    }

    /// Reads `count` bytes at `offset` (fewer at the end of the file).
    func read(at offset: Int, count: Int) throws(FormError) -> [UInt8] {
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var done = 0
            while done < count {
                let got = pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
                if got < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if got == 0 { break }
                done += got
            }
            initialized = done
        }
        guard failure == 0 else {
            throw FormError(.storageFailed, "Cannot read an upload from its temporary file: \(errorText(failure)).")
        }
        return bytes
    }
}

/// The text of `errno`.
func lastErrorText() -> String {
    errorText(errno)
}

/// The text of an `errno` value.
func errorText(_ code: Int32) -> String {
    String(cString: strerror(code))
}
