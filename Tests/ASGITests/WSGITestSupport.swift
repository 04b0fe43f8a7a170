import ASGI
import ASGITesting
import Foundation
import Synchronization

/// A thread-safe log of values, for asserting what a blocking application saw.
final class Log<T: Sendable>: Sendable {
    private let items = Mutex<[T]>([])
    func append(_ item: T) { items.withLock { $0.append(item) } }
    var values: [T] { items.withLock { $0 } }
}

/// A one-shot event that blocking threads and async code can wait for.
final class Latch: Sendable {
    private struct State {
        var open = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let condition = NSCondition()
    private let state = Mutex(State())

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        condition.lock()
        condition.broadcast()
        condition.unlock()
        for waiter in waiters { waiter.resume() }
    }

    var isOpen: Bool { state.withLock { $0.open } }

    func waitBlocking() {
        condition.lock()
        while !isOpen { condition.wait() }
        condition.unlock()
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}

/// A WSGI app that reports its environ and answers with the given chunks.
func recordingApp(_ environs: Log<[String: String]>, chunks: [[UInt8]] = [Array("ok".utf8)], headers: [(String, String)] = []) -> WSGIApp {
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
