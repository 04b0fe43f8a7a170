import ArgumentParser
import Foundation
import TestSupport
import Testing

@testable import Gateway

/// Every runner command line in `deploy/` and in the documentation, parsed by the runner's own
/// parser: a user who copies one gets a server, not "Error: Unknown option".
///
/// The lines are found in the files themselves, by the names a Gateway-based program goes by
/// there; each file must still hold at least the lines it holds today, so moving or rewording
/// them cannot make this test pass by finding nothing.
@Suite("Documented command lines")
struct DocumentedCommandLinesTests {
    /// The repository's root (this file is Tests/GatewayTests/DocumentedCommandLinesTests.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The files, and how many runner command lines each holds at least.
    static let sources: [(path: String, atLeast: Int)] = [
        ("deploy/run-local.sh", 1),
        ("deploy/systemd/swift-asgi-app.service", 1),
        ("deploy/nginx/swift-asgi-app.conf", 1),
        ("deploy/nginx/upstream-cluster.conf", 2),
        ("README.md", 3),
        ("Sources/Gateway/Docs.docc/Gateway.md", 4),
        ("Sources/Gateway/Docs.docc/ServingBehindNginx.md", 6),
        ("Sources/Gateway/Gateway.swift", 1),
        ("examples/HelloLegacy/main.swift", 1),
        ("Makefile", 1),
    ]

    /// The names a Gateway-based program goes by in those files.
    static let programNames = ["my-app", "HelloLegacy", "\"$BIN\""]

    /// Shell variables the lines use, with a value of the kind the script gives them.
    static let variables = ["STATE_DIR": "/tmp/swift-asgi-local-0", "THREADS": "4", "BACKEND_ARGS": "", "PORT": "8080"]

    struct CommandLine: CustomStringConvertible {
        var file: String
        var text: String
        var arguments: [String]
        var description: String { "\(file): \(text)" }
    }

    @Test func everyDocumentedCommandLineParses() throws {
        var checked = 0
        for source in Self.sources {
            let text = try String(contentsOfFile: Self.root + "/" + source.path, encoding: .utf8)
            let lines = try Self.commandLines(in: text, file: source.path)
            #expect(
                lines.count >= source.atLeast,
                "\(source.path): found \(lines.count) runner command line(s), expected at least \(source.atLeast): \(lines)"
            )
            for line in lines {
                checked += 1
                check(line)
            }
        }
        #expect(checked >= Self.sources.map(\.atLeast).reduce(0, +))
    }

    /// The extraction finds what a reader sees, and the parser refuses what the runner refuses,
    /// so the test above can fail.
    @Test func extractionAndRefusalWork() throws {
        let sample = """
            # e.g. `my-app --fastcgi 10.0.0.11:9000 --threads 16`, and more
            ExecStart=/usr/local/bin/my-app --fastcgi stdin \\
                --slow-log 5 --log-level info
            setsid "$BIN" --fastcgi "unix:$STATE_DIR/app.sock" --threads "$THREADS" $BACKEND_ARGS \\
                > "$STATE_DIR/backend.log" 2>&1 < /dev/null &
            $ my-app --http 127.0.0.1:8000 --proxy-headers   # behind proxy_pass
            the `my-app` program, examples/HelloLegacy) and HelloLegacy's routes
            $(SWIFT) run HelloLegacy --http 127.0.0.1:8080
            """
        let lines = try Self.commandLines(in: sample, file: "sample")
        #expect(
            lines.map(\.arguments) == [
                ["--fastcgi", "10.0.0.11:9000", "--threads", "16"],
                ["--fastcgi", "stdin", "--slow-log", "5", "--log-level", "info"],
                ["--fastcgi", "unix:/tmp/swift-asgi-local-0/app.sock", "--threads", "4"],
                ["--http", "127.0.0.1:8000", "--proxy-headers"],
                ["--http", "127.0.0.1:8080"],
            ]
        )
        // The unit's command line before the runner: FastCGIHello's own options.
        let old = try Self.commandLines(in: "ExecStart=/usr/local/bin/my-app --socket stdin --slow 5", file: "old")
        #expect(old.count == 1)
        #expect(throws: (any Error).self) { try GatewayOptions.parse(old[0].arguments) }
    }

    func check(_ line: CommandLine) {
        do {
            _ = try GatewayOptions.parse(line.arguments)
        } catch  where GatewayOptions.exitCode(for: error) == .success {
            // --help, --version
        } catch {
            Issue.record("\(line) does not parse: \(GatewayOptions.message(for: error))")
        }
    }

    // MARK: Extraction

    /// The runner command lines in `text`: a program name followed by an option, its arguments
    /// up to the end of the line (backslash continuations joined), a closing backtick, a comment
    /// or a shell operator.
    static func commandLines(in text: String, file: String) throws -> [CommandLine] {
        let joined = text.replacingOccurrences(of: #"\\\n[ \t]*"#, with: " ", options: .regularExpression)
        var found: [CommandLine] = []
        for line in joined.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(line)
            for name in programNames {
                var searchStart = line.startIndex
                while let range = line.range(of: name, range: searchStart..<line.endIndex) {
                    searchStart = range.upperBound
                    guard startsCommand(line, at: range.lowerBound) else { continue }
                    let rest = line[range.upperBound...]
                    guard rest.first == " " || rest.first == "\t" else { continue }
                    let first = rest.drop { $0 == " " || $0 == "\t" }
                    guard first.hasPrefix("-") || first.hasPrefix("\"$") || first.hasPrefix("$") else { continue }
                    let words = try shellWords(rest, file: file)
                    found.append(
                        CommandLine(file: file, text: String(line[range.lowerBound...]).trimmingCharacters(in: .whitespaces), arguments: words)
                    )
                }
            }
        }
        return found
    }

    /// Whether the name at `index` stands where a command starts (not inside another word).
    static func startsCommand(_ line: String, at index: String.Index) -> Bool {
        guard index > line.startIndex else { return true }
        let before = line[line.index(before: index)]
        return before == " " || before == "\t" || before == "/" || before == "`" || before == "="
    }

    /// Splits shell words the way bash would for these lines: quotes, `$VAR` and `${VAR}`,
    /// stopping at an unquoted backtick, `#`, `;`, `|`, `&`, `<`, `>` or `)`.
    static func shellWords(_ text: Substring, file: String) throws -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character? = nil
        var index = text.startIndex
        func variable() throws -> String {
            var name = ""
            var position = text.index(after: index)
            let braced = position < text.endIndex && text[position] == "{"
            if braced { position = text.index(after: position) }
            while position < text.endIndex, text[position].isLetter || text[position].isNumber || text[position] == "_" {
                name.append(text[position])
                position = text.index(after: position)
            }
            if braced, position < text.endIndex, text[position] == "}" { position = text.index(after: position) }
            index = text.index(before: position)
            guard let value = variables[name] else {
                throw TestFailure("\(file): the variable $\(name) has no value in DocumentedCommandLinesTests.variables; add one")
            }
            return value
        }
        while index < text.endIndex {
            let character = text[index]
            if let open = quote {
                if character == open {
                    quote = nil
                } else if character == "$", open == "\"" {
                    current += try variable()
                } else {
                    current.append(character)
                }
            } else if character == "\"" || character == "'" {
                quote = character
                inWord = true
            } else if character == " " || character == "\t" {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else if "`#;|&<>)".contains(character) {
                break
            } else if character == "$" {
                let value = try variable()
                current += value
                inWord = inWord || !value.isEmpty
            } else {
                current.append(character)
                inWord = true
            }
            index = text.index(after: index)
        }
        if inWord { words.append(current) }
        return words
    }
}
