// FuzzRequestTarget: the request-target split and path decoding every frontend uses
// (RequestTarget, HTTPScope.decodedPath), on any bytes, plus a root path from the first line.
//
// Invariants: it never traps; the raw path and query hold no '#' (a fragment ends the target);
// the raw path starts with '/' for an origin-form or absolute-form target; the raw path holds no
// '?'; the path is the decoding of the raw path; mounting under a root path keeps the path under
// it; the same target as a String splits the same way.
@_spi(ASGIFrontend) import ASGI
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestTarget(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let rootPath = String(decoding: input.line(limit: 64), as: UTF8.self)
    let bytes = input.rest()
    let target = RequestTarget(bytes)
    fuzzCheck(!target.rawPath.contains(UInt8(ascii: "#")), "'#' in the raw path")
    fuzzCheck(!target.queryString.contains(UInt8(ascii: "#")), "'#' in the query")
    fuzzCheck(!target.rawPath.contains(UInt8(ascii: "?")), "'?' in the raw path")
    if bytes.first == UInt8(ascii: "/") || target.authority != nil {
        fuzzCheck(target.rawPath.first == UInt8(ascii: "/"), "raw path \(target.rawPath) does not start with '/'")
    }
    fuzzCheck(target.path == HTTPScope.decodedPath(target.rawPath), "the path is not the decoded raw path")
    let normalized = RootPath.normalized(rootPath)
    let mounted = target.mounted(under: normalized)
    // As bytes: a combining mark after the root path joins its last character into another one.
    fuzzCheck(
        mounted.path.utf8.starts(with: normalized.utf8),
        "mounted path \(mounted.path.debugDescription) is not under \(normalized.debugDescription)"
    )
    if target.path.utf8.first == UInt8(ascii: "/") {
        fuzzCheck(RootPath.contains(mounted.path, under: normalized), "RootPath.contains disagrees for \(mounted.path.debugDescription)")
    }
    if let text = String(validating: bytes, as: UTF8.self) {
        fuzzCheck(RequestTarget(text) == target, "String and bytes disagree")
    }
    return 0
}
