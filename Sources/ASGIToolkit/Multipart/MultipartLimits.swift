/// Bounds on a `multipart/form-data` body, and where its large files go.
///
/// Past a bound the parse throws ``FormError`` (HTTP 413) and stops reading; temporary files of
/// the uploads read so far are gone with it. The defaults follow werkzeug (1,000 parts, 500 kB of
/// memory per field, files spooled to disk past 500 kB) with totals so that one request can
/// neither fill the memory nor the disk.
public struct MultipartLimits: Sendable, Hashable {
    /// The most parts (fields and files together).
    public var maxParts: Int
    /// The most bytes of one part's header block.
    public var maxPartHeaderBytes: Int
    /// The most bytes of one field that is not a file (kept in memory).
    public var maxFieldBytes: Int
    /// The most bytes of one uploaded file.
    public var maxFileBytes: Int
    /// The most bytes of the whole body.
    public var maxBodyBytes: Int
    /// The most bytes kept in memory for the whole form: fields and files not spooled to disk.
    /// A file that would pass it goes to disk whatever its size; a field that would pass it is an error.
    public var maxMemoryBytes: Int
    /// A file larger than this goes to a temporary file on disk; smaller ones stay in memory.
    public var spoolThreshold: Int
    /// Where temporary files are created (`nil`: `$TMPDIR`, else `/tmp`). They are unlinked as
    /// soon as they are created, so nothing is left behind on any path, even a crash.
    public var temporaryDirectory: String?

    /// Creates limits.
    public init(
        maxParts: Int = 1000,
        maxPartHeaderBytes: Int = 8 * 1024,
        maxFieldBytes: Int = 500 * 1024,
        maxFileBytes: Int = 100 * 1024 * 1024,
        maxBodyBytes: Int = 256 * 1024 * 1024,
        maxMemoryBytes: Int = 16 * 1024 * 1024,
        spoolThreshold: Int = 500 * 1024,
        temporaryDirectory: String? = nil
    ) {
        self.maxParts = maxParts
        self.maxPartHeaderBytes = maxPartHeaderBytes
        self.maxFieldBytes = maxFieldBytes
        self.maxFileBytes = maxFileBytes
        self.maxBodyBytes = maxBodyBytes
        self.maxMemoryBytes = maxMemoryBytes
        self.spoolThreshold = spoolThreshold
        self.temporaryDirectory = temporaryDirectory
    }
}
