// A five-step tour of AsyncBridge: a blocking, thread-bound "legacy store" used from async code,
// request state in a Local, async code called back from blocking code, and a timeout.
import AsyncBridge

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A legacy store that, like a SQLite handle, must always be used from the thread that opened it.
final class LegacyStore: @unchecked Sendable {
    private var rows: [Int: String] = [1: "ada", 2: "grace"]
    private var owner: pthread_t?

    func user(id: Int) -> String? {
        checkThread()
        return rows[id]
    }

    func rename(id: Int, to name: String) {
        checkThread()
        rows[id] = name
    }

    private func checkThread() {
        if let owner {
            precondition(pthread_equal(owner, pthread_self()) != 0, "LegacyStore used from a second thread")
        } else {
            owner = pthread_self()
        }
    }
}

let store = LegacyStore()
let requestUser = Local<String>()

/// An async "service" the blocking code calls back into.
func greeting(for name: String) async -> String {
    await Task.yield()
    return "hello, \(name)"
}

@main
struct BridgeTour {
    static func main() async throws {
        // 1. Blocking, thread-bound code from async code: thread-sensitive calls share one thread.
        let name = try await SyncToAsync.run { store.user(id: 1) ?? "nobody" }
        print("1. syncToAsync read \(name) from the legacy store")

        // 2. A Local set in async code is seen by the blocking code, and its change comes back.
        try await LocalScope.run {
            try requestUser.set(name)
            try await SyncToAsync.run {
                store.rename(id: 1, to: (requestUser.value ?? "?").uppercased())
                try requestUser.set("\(requestUser.value ?? "?") (checked)")
            }
            print("2. Local after the crossing: \(requestUser.value ?? "nil")")
        }

        // 3. Blocking code calling async code: asyncToSync keeps the thread at work, so a
        //    thread-sensitive call underneath comes back to the same thread.
        let text = try await SyncToAsync.run {
            try AsyncToSync.run {
                let renamed = try await SyncToAsync.run { store.user(id: 1) ?? "?" }
                return await greeting(for: renamed)
            }
        }
        print("3. asyncToSync inside syncToAsync: \(text)")

        // 4. Per-request threads: each ThreadSensitiveContext gets its own thread.
        let pair = try await withThrowingTaskGroup(of: String.self) { group in
            for id in [1, 2] {
                group.addTask {
                    try await ThreadSensitiveContext.run {
                        try await SyncToAsync.run { "request \(id) on its own thread" }
                    }
                }
            }
            var lines: [String] = []
            for try await line in group { lines.append(line) }
            return lines.sorted()
        }
        print("4. \(pair.joined(separator: "; "))")

        // 5. A timeout around slow blocking work returns promptly; the work finishes on its own.
        do {
            _ = try await withTimeout(.milliseconds(50)) {
                try await SyncToAsync.run(threadSensitive: false) {
                    usleep(300_000)
                    return 0
                }
            }
        } catch let error as TimeoutError {
            print("5. \(error)")
        }
    }
}
