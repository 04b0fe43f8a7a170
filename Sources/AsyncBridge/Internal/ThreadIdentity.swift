#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The calling thread's identity, comparable across threads.
@inline(__always) func currentThreadID() -> pthread_t { pthread_self() }

/// Whether the calling code runs inside a Swift task (every cooperative-pool thread runs one).
@inline(__always) func isInsideTask() -> Bool {
    withUnsafeCurrentTask { $0 != nil }
}

@inline(__always) func pthread_equal_(_ a: pthread_t, _ b: pthread_t) -> Bool {
    pthread_equal(a, b) != 0
}
