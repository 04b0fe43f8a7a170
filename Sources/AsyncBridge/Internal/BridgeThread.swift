#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Starts a detached, named pthread that runs `body` once and exits.
///
/// Plain pthreads keep Foundation out of the core module; the name (at most 15 bytes on Linux)
/// shows in `top -H`, gdb and crash logs.
func startBridgeThread(name: String, _ body: @escaping @Sendable () -> Void) {
    final class Start {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let start = Unmanaged.passRetained(Start(name: name, body: body)).toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    #if canImport(Glibc) || canImport(Musl)
    var thread = pthread_t()
    #else
    var thread: pthread_t? = nil
    #endif
    let rc = pthread_create(
        &thread,
        &attributes,
        { argument in
            #if canImport(Darwin)
            let start = Unmanaged<AnyObject>.fromOpaque(argument).takeRetainedValue() as! Start
            #else
            let start = Unmanaged<AnyObject>.fromOpaque(argument!).takeRetainedValue() as! Start
            #endif
            #if canImport(Glibc) || canImport(Musl)
            _ = setThreadName(pthread_self(), String(start.name.utf8.prefix(15))!)
            #elseif canImport(Darwin)
            _ = pthread_setname_np(start.name)
            #endif
            start.body()
            return nil
        },
        start
    )
    pthread_attr_destroy(&attributes)
    precondition(rc == 0, "pthread_create failed for bridge thread \(name): \(rc)")
}

#if canImport(Glibc) || canImport(Musl)
/// glibc's `pthread_setname_np`, which the Glibc module hides behind `_GNU_SOURCE`.
@_silgen_name("pthread_setname_np")
private func setThreadName(_ thread: pthread_t, _ name: UnsafePointer<CChar>) -> Int32
#endif
