import ASGI
import ASGIToolkit
import Foundation
import TestSupport
import Testing

/// The toolkit's parsers against Python's standard library and werkzeug on the same inputs
/// (Fixtures/reference.json, written by Fixtures/generate_reference.py from hand-picked and
/// seeded random inputs).
@Suite struct ReferenceTests {
    let fixture = ReferenceFixture.shared

    @Test func fixtureIsCurrentWithThisMachinesPythonAndWerkzeug() throws {
        let script = ReferenceFixture.directory.appendingPathComponent("generate_reference.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--check"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        do {
            try process.run()
        } catch {
            Issue.record("python3 is needed to check the reference fixture: install it (scripts/bootstrap.sh). \(error)")
            return
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text) (werkzeug missing? scripts/bootstrap.sh installs it)")
    }

    @Test func urlencodedMatchesPythonsParseQsl() throws {
        #expect(fixture.urlencoded.count > 400)
        for reference in fixture.urlencoded {
            let input = bytes(hex: reference.input)
            let fields = try FormFields(urlEncoded: input)
            #expect(fields.map { [$0.name, $0.value] } == reference.stdlib, "input \(reference.input)")
        }
    }

    @Test func urlencodedMatchesWerkzeugWhereverTheFieldsAreUTF8() throws {
        var compared = 0
        for reference in fixture.urlencoded {
            let input = bytes(hex: reference.input)
            let grouped = groupedByName(try FormFields(urlEncoded: input).map { ($0.name, $0.value) })
            guard reference.utf8 else {
                // werkzeug keeps "%FF" for an escape that is not UTF-8 and drops (form) or fails on
                // (args) a raw body that is not UTF-8; WHATWG and parse_qsl say U+FFFD.
                continue
            }
            compared += 1
            guard case .pairs(let form) = reference.werkzeug_form, case .pairs(let args) = reference.werkzeug_args else {
                Issue.record("werkzeug failed on UTF-8 input \(reference.input)")
                continue
            }
            #expect(grouped == form, "form \(reference.input)")
            #expect(grouped == args, "args \(reference.input)")
        }
        #expect(compared > 300)
    }

    @Test func cookiesMatchWerkzeugsParseCookie() {
        #expect(fixture.cookies.count > 400)
        for reference in fixture.cookies {
            let input = bytes(hex: reference.input)
            let cookies = Cookies(header: input)
            #expect(groupedByName(cookies.map { ($0.name, $0.value) }) == reference.werkzeug, "input \(reference.input)")
            switch reference.werkzeug_environ {
            case .pairs(let pairs):
                #expect(pairs == reference.werkzeug)
            case .error:
                // werkzeug.http.parse_cookie(environ) decodes the header strictly: only bytes that
                // are not UTF-8 make it fail; here they become U+FFFD.
                #expect(String(validating: input, as: UTF8.self) == nil, "werkzeug failed on UTF-8 input \(reference.input)")
            }
            if let simple = reference.http_cookies {
                #expect(cookies.map { [$0.name, $0.value] } == simple, "http.cookies \(reference.input)")
            }
        }
    }

    @Test func multipartMatchesWerkzeugsFormParser() throws {
        #expect(fixture.multipart.count > 150)
        for reference in fixture.multipart {
            let body = bytes(hex: reference.body)
            let environ = postEnviron(body: body, contentType: reference.content_type, pieceSize: 7)
            guard let fields = reference.werkzeug.fields, let files = reference.werkzeug.files else {
                Issue.record("werkzeug failed (\(reference.werkzeug.error ?? "?")) on \(reference.body)")
                continue
            }
            let form = try MultipartForm(environ: environ)
            #expect(groupedByName(form.fields.map { ($0.name, $0.value) }) == fields, "body \(reference.body)")
            let expectedFiles = files.map { file in [file[0], file[1], file[2], file[3]] }
            var order: [String] = []
            for file in form.files where !order.contains(file.fieldName) { order.append(file.fieldName) }
            let actual: [[String?]] = try order.flatMap { name in
                try form.files(named: name).map { file in
                    [file.fieldName, file.filename, file.contentType, try file.bytes().map { String(format: "%02x", $0) }.joined()]
                }
            }
            #expect(actual == expectedFiles, "body \(reference.body)")
        }
    }

    @Test func escapingMatchesPythonsHtmlEscapeAndQuote() {
        for reference in fixture.escaping {
            #expect(HTML.escape(reference.text) == reference.html, "html \(reference.text.debugDescription)")
            var bytes: [UInt8] = []
            HTML.escape(reference.text, into: &bytes)
            #expect(bytes == Array(reference.html.utf8))
            #expect(PercentEncoding.encode(reference.text, .component) == reference.component, "component \(reference.text.debugDescription)")
            #expect(PercentEncoding.encode(reference.text, .path) == reference.path, "path \(reference.text.debugDescription)")
            #expect(PercentEncoding.encode(reference.text, .form) == reference.form, "form \(reference.text.debugDescription)")
            #expect(PercentEncoding.decode(reference.component) == reference.text)
            #expect(PercentEncoding.decode(reference.form, plusAsSpace: true) == reference.text)
        }
    }
}
