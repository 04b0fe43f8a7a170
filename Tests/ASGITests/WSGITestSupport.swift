import ASGI
import ASGITesting
import Foundation
import Synchronization
import TestSupport

/// A WSGI app that reports its environ and answers with the given chunks.
func recordingApp(_ environs: Recorder<[String: String]>, chunks: [[UInt8]] = [Array("ok".utf8)], headers: [(String, String)] = []) -> WSGIApp {
    WSGIApp { environ, startResponse in
        environs.append(environ.variables)
        _ = try startResponse("200 OK", headers, nil)
        return chunks
    }
}

extension Array where Element == UInt8 {
    var text: String { String(decoding: self, as: UTF8.self) }
}

func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }
