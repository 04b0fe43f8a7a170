import ASGI
import ASGITesting
import ASGIToolkit
import Testing

/// WSGIRequest and WSGIResponse, alone and through WSGIToASGI in process.
@Suite struct WSGIRequestResponseTests {
    @Test func requestAccessors() throws {
        let environ = Environ(variables: [
            "REQUEST_METHOD": "GET",
            "PATH_INFO": String(latin1: utf8("/caf\u{E9}")),
            "SCRIPT_NAME": "/app",
            "QUERY_STRING": "a=1&a=2",
            "HTTP_X_USER": String(latin1: utf8("J\u{FC}rgen")),
            "CONTENT_TYPE": "text/plain",
            "HTTP_COOKIE": "s=1; t=2",
        ])
        let request = WSGIRequest(environ)
        #expect(request.method == "GET")
        #expect(request.path == "/café")
        #expect(request.scriptName == "/app")
        #expect(try request.query().values(for: "a") == ["1", "2"])
        #expect(request.header("X-User") == "Jürgen")
        #expect(request.header("content-type") == "text/plain")
        #expect(request.header("missing") == nil)
        #expect(request.cookies["t"] == "2")
        #expect(try request.form().isEmpty)
        #expect(WSGIRequest(Environ(variables: [:])).path == "/")
    }

    @Test func formIsReadOnceAndKept() throws {
        let request = WSGIRequest(postEnviron(body: utf8("a=1"), contentType: "application/x-www-form-urlencoded"))
        #expect(try request.form()["a"] == "1")
        #expect(try request.form()["a"] == "1")
        let multipart = WSGIRequest(postEnviron(body: MultipartTests.specificationExample, contentType: MultipartTests.contentType))
        #expect(try multipart.form()["submit-name"] == "Larry")
        #expect(try multipart.files().map(\.filename) == ["file1.txt"])
    }

    @Test func responses() throws {
        #expect(WSGIResponse.text("hi").statusLine == "200 OK")
        #expect(WSGIResponse(status: 599).statusLine == "599 Status 599")
        let redirect = WSGIResponse.redirect(to: "/notes?q=a b\r\nX-Evil: 1é")
        #expect(redirect.statusLine == "303 See Other")
        #expect(redirect.headers.last?.1 == "/notes?q=a%20b%0D%0AX-Evil:%201%C3%A9")
        let error = WSGIResponse(error: FormError.tooManyFields)
        #expect(error.status == 413)
        let json = try WSGIResponse.json(["a": 1])
        #expect(json.body == utf8("{\"a\":1}"))
        var cookie = WSGIResponse.text("x")
        try cookie.setCookie(SetCookie(name: "a", value: "1"))
        try cookie.deleteCookie("b")
        #expect(cookie.headers.filter { $0.0 == "Set-Cookie" }.count == 2)
        #expect(throws: CookieError.invalidValue) { try cookie.setCookie(SetCookie(name: "a", value: "1\r\n")) }
        #expect(cookie.headers.filter { $0.0 == "Set-Cookie" }.count == 2)
    }

    /// A small app written with the toolkit, served through WSGIToASGI in process.
    static let app = WSGIToASGI(
        WSGIApp { environ, startResponse in
            let request = WSGIRequest(environ, formLimits: FormLimits(maxFields: 10))
            do {
                switch (request.method, request.path) {
                case ("POST", "/echo"):
                    let form = try request.form()
                    let files = try request.files()
                    var page = "<ul>"
                    for field in form { page += "<li>\(HTML.escape(field.name))=\(HTML.escape(field.value))</li>" }
                    for file in files { page += "<li>file \(HTML.escape(file.filename)) \(file.size)</li>" }
                    var response = WSGIResponse.html(page + "</ul>")
                    try response.setCookie(SetCookie(name: "last", value: PercentEncoding.encode(form["name"] ?? "", .component)))
                    return try response(startResponse)
                default:
                    return try WSGIResponse.redirect(to: request.scriptName + "/echo")(startResponse)
                }
            } catch let error as FormError {
                return try WSGIResponse(error: error)(startResponse)
            }
        }
    )

    @Test func endToEndThroughWSGIToASGI() async throws {
        let form = try await HTTPCommunicator(
            application: Self.app,
            method: "POST",
            path: "/echo",
            body: utf8("name=%3Cb%3E+%26&x="),
            headers: [("content-type", "application/x-www-form-urlencoded")]
        ).getResponse(timeout: .seconds(30))
        #expect(form.status == 200)
        #expect(form.text == "<ul><li>name=&lt;b&gt; &amp;</li><li>x=</li></ul>")
        #expect(form.headers["set-cookie"] == "last=%3Cb%3E%20%26; Path=/; HttpOnly; SameSite=Lax")
        #expect(form.headers["content-length"] == String(form.body.count))

        let upload = try await HTTPCommunicator(
            application: Self.app,
            method: "POST",
            path: "/echo",
            body: MultipartTests.specificationExample,
            headers: [("content-type", MultipartTests.contentType)],
            chunkSize: 3
        ).getResponse(timeout: .seconds(30))
        #expect(upload.text == "<ul><li>submit-name=Larry</li><li>file file1.txt 29</li></ul>")

        let tooMany = try await HTTPCommunicator(
            application: Self.app,
            method: "POST",
            path: "/echo",
            body: utf8(String(repeating: "a=1&", count: 11)),
            headers: [("content-type", "application/x-www-form-urlencoded")]
        ).getResponse(timeout: .seconds(30))
        #expect(tooMany.status == 413)

        let redirect = try await HTTPCommunicator(application: Self.app, path: "/elsewhere", rootPath: "").getResponse(timeout: .seconds(30))
        #expect(redirect.status == 303)
        #expect(redirect.headers["location"] == "/echo")
    }
}
