public import ASGI

/// The fields and files of a `multipart/form-data` body (RFC 7578), read from a WSGI-style
/// request.
///
/// ```swift
/// let form = try MultipartForm(environ: environ)
/// let title = form.fields["title"] ?? ""
/// if let upload = form.file("attachment") { try upload.save(to: destination) }
/// ```
///
/// Reading streams `environ.input` through ``MultipartParser`` in 64 KiB reads (never past
/// `CONTENT_LENGTH`): fields are kept in memory, files in memory up to
/// ``MultipartLimits/spoolThreshold`` and in unlinked temporary files past it, so nothing is left
/// on disk whatever happens. Every limit of ``MultipartLimits`` is checked as the bytes arrive; the
/// first one passed throws ``FormError`` and stops reading. Field values are read as UTF-8
/// (ill-formed sequences as U+FFFD): RFC 7578 §5.1's default, and what browsers send for pages
/// served as UTF-8.
public struct MultipartForm: Sendable {
    /// The parts that are not files, in order.
    public var fields: FormFields
    /// The uploaded files, in order.
    public var files: [UploadedFile]

    /// Creates a form from parts already read.
    public init(fields: FormFields = [], files: [UploadedFile] = []) {
        self.fields = fields
        self.files = files
    }

    /// The first file uploaded as field `name`.
    public func file(_ name: String) -> UploadedFile? {
        files.first { $0.fieldName == name }
    }

    /// Every file uploaded as field `name`, in order.
    public func files(named name: String) -> [UploadedFile] {
        files.filter { $0.fieldName == name }
    }

    /// Reads the request body of `environ` as `multipart/form-data`. Blocking: call it from the
    /// WSGI-style handler's thread.
    /// - Throws: ``FormError`` (`unsupportedMediaType` when `CONTENT_TYPE` is not
    ///   `multipart/form-data`, `missingBoundary`, a limit, `malformedMultipart`,
    ///   `truncatedBody`…), or what `environ.input` throws (the client went away).
    public init(environ: Environ, limits: MultipartLimits = MultipartLimits()) throws {
        let contentType = environ["CONTENT_TYPE"] ?? ""
        guard HeaderParameters(contentType.utf8).value.lowercased() == "multipart/form-data" else {
            throw FormError(
                .unsupportedMediaType,
                "The body is \(contentType.isEmpty ? "of no declared type" : contentType), not multipart/form-data."
            )
        }
        var parser = try MultipartParser(contentType: contentType, maxHeaderBytes: limits.maxPartHeaderBytes, maxParts: limits.maxParts)
        var body = try RequestBody(environ, maxBytes: limits.maxBodyBytes)
        var builder = Builder(limits: limits)
        reading: while true {
            while let event = try parser.next() {
                if try builder.take(event) { break reading }
            }
            let chunk = try body.read(upTo: 64 * 1024)
            if chunk.isEmpty {
                parser.finish()
                // The parser now either completes or throws `truncatedBody`.
                while let event = try parser.next() {
                    if try builder.take(event) { break reading }
                }
                throw FormError(.truncatedBody, "The multipart body ended before its closing boundary.")
            }
            parser.append(chunk)
        }
        self.init(fields: builder.fields, files: builder.files)
    }

    /// Collects parser events into fields and files, within the limits.
    private struct Builder {
        let limits: MultipartLimits
        var fields = FormFields()
        var files: [UploadedFile] = []
        var head: MultipartPartHead?
        var memory: [UInt8] = []
        var spooled: TemporaryFile?
        var size = 0
        var memoryUsed = 0

        init(limits: MultipartLimits) {
            self.limits = limits
        }

        /// Takes one event; `true` at the end of the body.
        mutating func take(_ event: MultipartParser.Event) throws(FormError) -> Bool {
            switch event {
            case .partStart(let head):
                self.head = head
                memory = []
                spooled = nil
                size = 0
            case .data(let bytes):
                guard let head else { return false }
                size += bytes.count
                if head.isFile {
                    try takeFileData(bytes, head: head)
                } else {
                    guard size <= limits.maxFieldBytes else {
                        throw FormError(
                            .fieldTooLarge,
                            "Form field \(String(reflecting: head.name)) is larger than \(limits.maxFieldBytes) bytes; upload it as a file, or raise MultipartLimits.maxFieldBytes."
                        )
                    }
                    try reserveMemory(bytes.count)
                    memory.append(contentsOf: bytes)
                }
            case .partEnd:
                guard let head else { return false }
                if head.isFile {
                    let storage: UploadedFile.Storage = spooled.map { .disk($0) } ?? .memory(memory)
                    files.append(UploadedFile(head: head, size: size, storage: storage))
                } else {
                    fields.append(head.name, String(decoding: memory, as: UTF8.self))
                }
                self.head = nil
                memory = []
                spooled = nil
            case .end:
                return true
            }
            return false
        }

        private mutating func takeFileData(_ bytes: [UInt8], head: MultipartPartHead) throws(FormError) {
            guard size <= limits.maxFileBytes else {
                throw FormError(
                    .fileTooLarge,
                    "Uploaded file \(String(reflecting: head.filename ?? "")) (field \(String(reflecting: head.name))) is larger than \(limits.maxFileBytes) bytes; raise MultipartLimits.maxFileBytes if that is expected."
                )
            }
            if spooled == nil, size > limits.spoolThreshold || memoryUsed + bytes.count > limits.maxMemoryBytes {
                let file = try TemporaryFile(directory: limits.temporaryDirectory)
                try file.write(memory, at: 0)
                memoryUsed -= memory.count
                memory = []
                spooled = file
            }
            if let spooled {
                try spooled.write(bytes, at: size - bytes.count)
            } else {
                memoryUsed += bytes.count
                memory.append(contentsOf: bytes)
            }
        }

        private mutating func reserveMemory(_ count: Int) throws(FormError) {
            memoryUsed += count
            guard memoryUsed <= limits.maxMemoryBytes else {
                throw FormError(
                    .bodyTooLarge,
                    "The form's fields hold more than \(limits.maxMemoryBytes) bytes; send less, or raise MultipartLimits.maxMemoryBytes."
                )
            }
        }
    }
}
