import ASGI
import ASGIToolkit
import Foundation
import TestSupport
import Testing

/// multipart/form-data: the specification's examples, chunking, limits, spooling, and hostile
/// bodies (no closing boundary, lying lengths, slow and vanishing clients).
@Suite struct MultipartTests {
    static let boundary = "AaB03x"
    static let contentType = "multipart/form-data; boundary=AaB03x"

    /// The HTML 4.01 §17.13.4 / RFC 2388 example, with its file, as a browser sends it.
    static let specificationExample = multipartBody(
        boundary: boundary,
        [
            (["Content-Disposition: form-data; name=\"submit-name\""], utf8("Larry")),
            (
                ["Content-Disposition: form-data; name=\"files\"; filename=\"file1.txt\"", "Content-Type: text/plain"],
                utf8("... contents of file1.txt ...")
            ),
        ]
    )

    @Test func specificationExample() throws {
        let form = try MultipartForm(environ: postEnviron(body: Self.specificationExample, contentType: Self.contentType))
        #expect(form.fields.map { [$0.name, $0.value] } == [["submit-name", "Larry"]])
        let file = try #require(form.file("files"))
        #expect(file.filename == "file1.txt")
        #expect(file.contentType == "text/plain")
        #expect(try file.bytes() == utf8("... contents of file1.txt ..."))
        #expect(file.isInMemory)
    }

    @Test func rfc7578LowerCaseHeadersCharsetAndQuotedBoundary() throws {
        // RFC 7578 §4.1-§4.4: header names in any case, a charset on the part, the boundary quoted.
        let body = multipartBody(
            boundary: "simple boundary",
            [
                (["content-disposition: form-data; name=\"field1\"", "content-type: text/plain;charset=UTF-8"], utf8("Joe owes €100."))
            ]
        )
        let form = try MultipartForm(environ: postEnviron(body: body, contentType: "multipart/form-data; boundary=\"simple boundary\""))
        #expect(form.fields["field1"] == "Joe owes €100.")
    }

    @Test func everyChunkingGivesTheSameEvents() throws {
        let body = utf8("preamble\r\n") + Self.specificationExample + utf8("epilogue")
        func events(pieceSize: Int) throws -> [MultipartParser.Event] {
            var parser = try MultipartParser(contentType: Self.contentType)
            var events: [MultipartParser.Event] = []
            var start = 0
            while true {
                while let event = try parser.next() { events.append(event) }
                guard start < body.count else { break }
                parser.append(body[start..<min(start + pieceSize, body.count)])
                start += pieceSize
            }
            parser.finish()
            while let event = try parser.next() { events.append(event) }
            // Data may arrive in any number of pieces: join neighbouring ones.
            var joined: [MultipartParser.Event] = []
            for event in events {
                if case .data(let more) = event, case .data(let bytes)? = joined.last {
                    joined[joined.count - 1] = .data(bytes + more)
                } else {
                    joined.append(event)
                }
            }
            return joined
        }
        let whole = try events(pieceSize: body.count)
        #expect(whole.count == 7)  // start, data, end, start, data, end, end of body
        #expect(whole.last == .end)
        for size in [1, 2, 3, 5, 7, 8, 9, 13, 64] {
            #expect(try events(pieceSize: size) == whole, "piece size \(size)")
        }
    }

    @Test func partWithoutClosingBoundaryIsTruncated() throws {
        let open = multipartBody(boundary: Self.boundary, [(["Content-Disposition: form-data; name=\"a\""], utf8("1"))], close: false)
        #expect(throws: FormError.truncatedBody) { try MultipartForm(environ: postEnviron(body: open, contentType: Self.contentType)) }
        let cut = Array(Self.specificationExample.dropLast(30))
        #expect(throws: FormError.truncatedBody) { try MultipartForm(environ: postEnviron(body: cut, contentType: Self.contentType)) }
        let noBoundaryAtAll = utf8("just some text\r\n")
        #expect(throws: FormError.truncatedBody) { try MultipartForm(environ: postEnviron(body: noBoundaryAtAll, contentType: Self.contentType)) }
        #expect(throws: FormError.truncatedBody) { try MultipartForm(environ: postEnviron(body: [], contentType: Self.contentType)) }
    }

    @Test func lyingContentLength() throws {
        // Claims more than it sends, and the body stops before its closing boundary.
        let cut = Array(Self.specificationExample.dropLast(20))
        let longer = postEnviron(body: cut, contentType: Self.contentType, contentLength: Self.specificationExample.count)
        #expect(throws: FormError.truncatedBody) { try MultipartForm(environ: longer) }
        // Claims more than it sends after a complete body: the form is whole at its closing
        // boundary, and what follows (the epilogue) is never waited for.
        let complete = postEnviron(
            body: Self.specificationExample,
            contentType: Self.contentType,
            contentLength: Self.specificationExample.count + 10
        )
        #expect(try MultipartForm(environ: complete).fields["submit-name"] == "Larry")
        // Claims less: only the declared bytes are read, so the closing boundary is never seen.
        let shorter = postEnviron(body: Self.specificationExample, contentType: Self.contentType, contentLength: 60)
        #expect(throws: FormError.truncatedBody) { try MultipartForm(environ: shorter) }
    }

    @Test func slowAndVanishingClients() throws {
        let slow = try MultipartForm(environ: postEnviron(body: Self.specificationExample, contentType: Self.contentType, pieceSize: 1))
        #expect(slow.fields["submit-name"] == "Larry")
        let half = Array(Self.specificationExample.prefix(100))
        let vanishing = postEnviron(
            body: half,
            contentType: Self.contentType,
            contentLength: Self.specificationExample.count,
            pieceSize: 10,
            then: ClientDisconnectedError.connectionClosed
        )
        #expect(throws: ClientDisconnectedError.connectionClosed) { try MultipartForm(environ: vanishing) }
    }

    @Test func contentTypeProblems() throws {
        let body = Self.specificationExample
        #expect(throws: FormError.missingBoundary) { try MultipartForm(environ: postEnviron(body: body, contentType: "multipart/form-data")) }
        #expect(throws: FormError.missingBoundary) {
            try MultipartForm(environ: postEnviron(body: body, contentType: "multipart/form-data; boundary="))
        }
        let long = String(repeating: "b", count: 201)
        #expect(throws: FormError.missingBoundary) {
            try MultipartForm(environ: postEnviron(body: body, contentType: "multipart/form-data; boundary=\(long)"))
        }
        #expect(throws: FormError.unsupportedMediaType) { try MultipartForm(environ: postEnviron(body: body, contentType: "text/plain")) }
        // The boundary of the header does not match the body's.
        #expect(throws: FormError.truncatedBody) {
            try MultipartForm(environ: postEnviron(body: body, contentType: "multipart/form-data; boundary=other"))
        }
    }

    @Test func malformedFraming() throws {
        func parse(_ text: String) throws -> MultipartForm {
            try MultipartForm(environ: postEnviron(body: utf8(text), contentType: Self.contentType))
        }
        // Bare LF line breaks (werkzeug accepts them; RFC 2046 says CRLF).
        #expect(throws: FormError.malformedMultipart) { try parse("--AaB03x\nContent-Disposition: form-data; name=\"a\"\n\n1\n--AaB03x--\n") }
        // The boundary followed by something else: it appears inside the data.
        #expect(throws: FormError.malformedMultipart) {
            try parse("--AaB03x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--AaB03xyz\r\n--AaB03x--")
        }
        #expect(throws: FormError.malformedMultipart) { try parse("--AaB03x\r\nContent-Type: text/plain\r\n\r\n1\r\n--AaB03x--") }
        #expect(throws: FormError.malformedMultipart) { try parse("--AaB03x\r\nContent-Disposition: form-data\r\n\r\n1\r\n--AaB03x--") }
        #expect(throws: FormError.malformedMultipart) { try parse("--AaB03x\r\nno colon here\r\n\r\n1\r\n--AaB03x--") }
        #expect(throws: FormError.malformedMultipart) { try parse("--AaB03x\r\n continuation first\r\n\r\n1\r\n--AaB03x--") }
        // The close delimiter right away: an empty form, and the epilogue is ignored.
        #expect(try parse("--AaB03x--").fields.isEmpty)
        #expect(try parse("--AaB03x--\r\nanything at all --AaB03x\r\n").fields.isEmpty)
    }

    @Test func headerParameterForms() throws {
        let body = multipartBody(
            boundary: Self.boundary,
            [
                (["Content-Disposition: form-data; NAME=plain; Filename=\"C:\\Users\\me\\a \\\"b\\\".txt\""], utf8("1")),
                (["Content-Disposition: form-data; name=\"ext\"; filename=\"fallback.txt\"; filename*=UTF-8''%E2%82%AC%20rates.txt"], utf8("2")),
                (["Content-Disposition: form-data;", "\tname=\"folded\""], utf8("3")),
                (["Content-Disposition: form-data; name=\"semi;colon\""], utf8("4")),
            ]
        )
        let form = try MultipartForm(environ: postEnviron(body: body, contentType: Self.contentType))
        #expect(form.files.map(\.filename) == ["C:\\Users\\me\\a \"b\".txt", "€ rates.txt"])
        #expect(form.files.map(\.fieldName) == ["plain", "ext"])
        #expect(form.fields.map { [$0.name, $0.value] } == [["folded", "3"], ["semi;colon", "4"]])
    }

    @Test func emptyFilenameIsStillAFile() throws {
        // What a browser sends for a file input left empty.
        let body = multipartBody(
            boundary: Self.boundary,
            [
                (["Content-Disposition: form-data; name=\"upload\"; filename=\"\"", "Content-Type: application/octet-stream"], [])
            ]
        )
        let form = try MultipartForm(environ: postEnviron(body: body, contentType: Self.contentType))
        #expect(form.fields.isEmpty)
        #expect(form.files.count == 1)
        #expect(form.files[0].size == 0)
    }

    @Test func tenThousandPartsStopAtThePartLimit() throws {
        let parts = (0..<10_000).map { (["Content-Disposition: form-data; name=\"f\($0)\""], utf8("\($0)")) }
        let body = multipartBody(boundary: Self.boundary, parts)
        #expect(throws: FormError.tooManyFields) { try MultipartForm(environ: postEnviron(body: body, contentType: Self.contentType)) }
        let form = try MultipartForm(environ: postEnviron(body: body, contentType: Self.contentType), limits: MultipartLimits(maxParts: 10_000))
        #expect(form.fields.count == 10_000)
    }

    @Test func sizeLimits() throws {
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 600 * 1024)
        let field = multipartBody(boundary: Self.boundary, [(["Content-Disposition: form-data; name=\"a\""], big)])
        #expect(throws: FormError.fieldTooLarge) { try MultipartForm(environ: postEnviron(body: field, contentType: Self.contentType)) }
        let file = multipartBody(boundary: Self.boundary, [(["Content-Disposition: form-data; name=\"a\"; filename=\"a\""], big)])
        #expect(throws: FormError.fileTooLarge) {
            try MultipartForm(environ: postEnviron(body: file, contentType: Self.contentType), limits: MultipartLimits(maxFileBytes: 100 * 1024))
        }
        #expect(throws: FormError.bodyTooLarge) {
            try MultipartForm(environ: postEnviron(body: file, contentType: Self.contentType), limits: MultipartLimits(maxBodyBytes: 1024))
        }
        #expect(throws: FormError.bodyTooLarge) {
            try MultipartForm(
                environ: postEnviron(body: file, contentType: Self.contentType, contentLength: nil),
                limits: MultipartLimits(maxBodyBytes: 1024)
            )
        }
        let hugeHeader = multipartBody(
            boundary: Self.boundary,
            [(["Content-Disposition: form-data; name=\"a\"", "X-Pad: " + String(repeating: "p", count: 9000)], utf8("1"))]
        )
        #expect(throws: FormError.partHeadersTooLarge) { try MultipartForm(environ: postEnviron(body: hugeHeader, contentType: Self.contentType)) }
        // A header line that never ends is cut off at the limit, not buffered forever.
        let endless = utf8("--AaB03x\r\nContent-Disposition: ") + [UInt8](repeating: 0x61, count: 100_000)
        #expect(throws: FormError.partHeadersTooLarge) { try MultipartForm(environ: postEnviron(body: endless, contentType: Self.contentType)) }
        // Fields together past the memory bound.
        let fields = multipartBody(
            boundary: Self.boundary,
            (0..<5).map { (["Content-Disposition: form-data; name=\"f\($0)\""], [UInt8](repeating: 0x61, count: 1000)) }
        )
        #expect(throws: FormError.bodyTooLarge) {
            try MultipartForm(environ: postEnviron(body: fields, contentType: Self.contentType), limits: MultipartLimits(maxMemoryBytes: 3000))
        }
    }

    @Test func largeFilesAreSpooledToUnlinkedFilesThatLeaveNothingBehind() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        do {
            var content: [UInt8] = []
            for index in 0..<(700 * 1024) { content.append(UInt8(truncatingIfNeeded: index &* 31)) }
            let body = multipartBody(
                boundary: Self.boundary,
                [
                    (["Content-Disposition: form-data; name=\"small\"; filename=\"s.bin\""], utf8("tiny")),
                    (["Content-Disposition: form-data; name=\"large\"; filename=\"l.bin\""], content),
                ]
            )
            let limits = MultipartLimits(temporaryDirectory: directory)
            let form = try MultipartForm(environ: postEnviron(body: body, contentType: Self.contentType, pieceSize: 4096), limits: limits)
            let large = try #require(form.file("large"))
            #expect(!large.isInMemory)
            #expect(try #require(form.file("small")).isInMemory)
            #expect(large.size == content.count)
            #expect(try large.bytes() == content)
            #expect(try large.read(at: 1000, count: 10) == Array(content[1000..<1010]))
            // Unlinked at creation: the directory is empty while the upload is in use.
            #expect(try entries(of: directory).isEmpty)
            let saved = directory + "/saved.bin"
            try large.save(to: saved)
            #expect(try Array(Data(contentsOf: URL(fileURLWithPath: saved))) == content)
        }
    }

    @Test func spoolFilesAreGoneAfterAnErrorHalfway() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        do {
            let content = [UInt8](repeating: 0x42, count: 800 * 1024)
            let body = multipartBody(
                boundary: Self.boundary,
                [(["Content-Disposition: form-data; name=\"f\"; filename=\"f\""], content)],
                close: false
            )
            let limits = MultipartLimits(temporaryDirectory: directory)
            #expect(throws: FormError.truncatedBody) {
                try MultipartForm(environ: postEnviron(body: body, contentType: Self.contentType), limits: limits)
            }
            #expect(try entries(of: directory).isEmpty)
            let vanishing = postEnviron(
                body: Array(body.prefix(700 * 1024)),
                contentType: Self.contentType,
                contentLength: body.count + 100,
                then: ClientDisconnectedError.connectionClosed
            )
            #expect(throws: ClientDisconnectedError.connectionClosed) { try MultipartForm(environ: vanishing, limits: limits) }
            #expect(try entries(of: directory).isEmpty)
        }
    }

    @Test func unwritableTemporaryDirectoryIsAStorageError() throws {
        let body = multipartBody(
            boundary: Self.boundary,
            [(["Content-Disposition: form-data; name=\"f\"; filename=\"f\""], [UInt8](repeating: 1, count: 2000))]
        )
        let limits = MultipartLimits(spoolThreshold: 100, temporaryDirectory: "/nonexistent-\(UUID().uuidString)")
        do {
            _ = try MultipartForm(environ: postEnviron(body: body, contentType: Self.contentType), limits: limits)
            Issue.record("expected a storage error")
        } catch let error as FormError {
            #expect(error.code == .storageFailed)
            #expect(error.status == 500)
            #expect(error.message.contains("temporaryDirectory"))
        }
    }
}
