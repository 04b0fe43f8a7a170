import Foundation
import TestSupport
import Testing

@testable import AsyncBridge

@Suite("Local")
struct LocalTests {
    /// Ports asgiref `test_local_task`: unset reads nil; set then read; delete then nil again.
    @Test func inATask() async throws {
        let local = Local<String>()
        try LocalScope.run {
            #expect(local.value == nil)
            try local.set("test")
            #expect(local.value == "test")
            try local.set(nil)
            #expect(local.value == nil)
        }
    }

    /// Ports asgiref `test_local_thread`.
    @Test func inAPlainThread() async throws {
        let local = Local<String>()
        let values = try await onNewThread { () throws -> [String?] in
            var values = [local.value]
            try local.set("test")
            values.append(local.value)
            try local.set(nil)
            values.append(local.value)
            return values
        }
        #expect(values == [nil, "test", nil])
    }

    /// Ports asgiref `test_local_thread_nested` and `test_visibility_thread_asgiref`: a value set in
    /// one thread is not visible in a new thread, and the new thread's value stays there.
    @Test func threadsDoNotSeeEachOthersValues() async throws {
        let local = Local<String>()
        let (inOther, afterOther) = try await onNewThread { () throws -> (String?, String?) in
            try local.set("outer")
            let inOther = try onNewThreadBlocking { () throws -> String? in
                let seen = local.value
                try local.set("inner")
                return seen
            }
            return (inOther, local.value)
        }
        #expect(inOther == nil)
        #expect(afterOther == "outer")
    }

    /// Ports asgiref `test_local_cycle` and `test_thread_critical_Local_remove_all_reference_cycles`:
    /// a freed `Local` is deallocated (no retain cycle), and new `Local`s never see its values.
    @Test func freedLocalsLeaveNothingBehind() async throws {
        final class WeakRef: @unchecked Sendable { weak var local: Local<String>? }
        let weakLocal = WeakRef()
        try await onNewThread {
            do {
                let local = Local<String>(threadCritical: true)
                weakLocal.local = local
                _ = local.value
                try local.set("stale")
            }
            do {
                let local = Local<String>()
                try local.set("stale")
            }
            for _ in 0..<100 {
                precondition(Local<String>().value == nil)
                precondition(Local<String>(threadCritical: true).value == nil)
            }
        }
        #expect(weakLocal.local == nil)
    }

    /// Ports asgiref `test_local_task_to_sync` (and `test_sync_to_async_contextvars`): a value set in
    /// async is visible in the sync body, and the body's change is visible to the caller afterwards.
    @Test func taskToSyncAndBack() async throws {
        let local = Local<String>()
        try await LocalScope.run {
            try local.set("test")
            let seen = try await SyncToAsync.run { () throws -> String? in
                let seen = local.value
                try local.set("changed")
                return seen
            }
            #expect(seen == "test")
            #expect(local.value == "changed")
        }
    }

    /// Ports asgiref `test_local_thread_to_async` (and `test_async_to_sync_contextvars`).
    @Test func threadToAsyncAndBack() async throws {
        let local = Local<String>()
        let (seen, after) = try await onNewThread { () throws -> (String?, String?) in
            try local.set("test")
            let seen = try AsyncToSync.run { () async throws -> String? in
                let seen = local.value
                try local.set("changed")
                return seen
            }
            return (seen, local.value)
        }
        #expect(seen == "test")
        #expect(after == "changed")
    }

    /// Ports asgiref `test_local_task_to_sync_to_task`: async → sync → async, the write at the bottom
    /// reaches the top.
    @Test func taskToSyncToTask() async throws {
        let local = Local<String>()
        try await LocalScope.run {
            try local.set("test")
            let seen = try await SyncToAsync.run {
                try AsyncToSync.run { () async throws -> String? in
                    let seen = local.value
                    try local.set("dragons")
                    return seen
                }
            }
            #expect(seen == "test")
            #expect(local.value == "dragons")
        }
    }

    /// Ports asgiref `test_local_many_layers`: four alternating layers.
    @Test func manyLayers() async throws {
        let local = Local<String>()
        let (seen, after) = try await onNewThread { () throws -> (String?, String?) in
            try local.set("outer")
            let seen = try AsyncToSync.run {
                try await SyncToAsync.run {
                    try AsyncToSync.run {
                        try await SyncToAsync.run { () throws -> String? in
                            let seen = local.value
                            try local.set("deep")
                            return seen
                        }
                    }
                }
            }
            return (seen, local.value)
        }
        #expect(seen == "outer")
        #expect(after == "deep")
    }

    /// Ports asgiref `test_local_critical_no_task_to_thread`: a thread-critical value set in async is
    /// not visible in the sync body, and the body's value does not come back.
    @Test func criticalDoesNotCrossFromTaskToThread() async throws {
        let local = Local<String>(threadCritical: true)
        try await LocalScope.run {
            try local.set("async")
            let seen = try await SyncToAsync.run { () throws -> String? in
                let seen = local.value
                try local.set("sync")
                return seen
            }
            #expect(seen == nil)
            #expect(local.value == "async")
        }
    }

    /// Ports asgiref `test_local_critical_no_thread_to_task`.
    @Test func criticalDoesNotCrossFromThreadToTask() async throws {
        let local = Local<String>(threadCritical: true)
        let (seen, after) = try await onNewThread { () throws -> (String?, String?) in
            try local.set("sync")
            let seen = try AsyncToSync.run { () async throws -> String? in
                let seen = local.value
                try local.set("async")
                return seen
            }
            return (seen, local.value)
        }
        #expect(seen == nil)
        #expect(after == "sync")
    }

    /// Ports asgiref `test_local_threads_and_tasks`: a counter incremented through alternating
    /// bridges reaches 6 while five unrelated threads see nothing and disturb nothing.
    @Test func threadsAndTasks() async throws {
        let local = Local<Int>()
        try await LocalScope.run {
            try local.set(0)
            for _ in 0..<3 {
                try await SyncToAsync.run { try local.set(local.value! + 1) }
                try local.set(local.value! + 1)
            }
            let others = try await withThrowingTaskGroup(of: [Int?].self) { group in
                for index in 0..<5 {
                    group.addTask {
                        try await onNewThread { () throws -> [Int?] in
                            let before = local.value
                            try local.set(index)
                            return [before, local.value]
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(others.allSatisfy { $0[0] == nil && $0[1] != nil })
            #expect(local.value == 6)
        }
    }

    /// Ports asgiref `test_thread_critical_local_not_context_dependent_in_sync_thread`: outer sync →
    /// bridge → child task → thread-sensitive sync runs on the outer thread; a thread-critical value
    /// set there is visible to the outer sync code afterwards, a non-critical one (set in a child
    /// task's scope) is not.
    @Test func criticalFollowsTheThreadNotTheScope() async throws {
        let critical = Local<String>(threadCritical: true)
        let plain = Local<String>()
        let (criticalAfter, plainAfter) = try await onNewThread { () throws -> (String?, String?) in
            try AsyncToSync.run {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await SyncToAsync.run {
                            try critical.set("critical")
                            try plain.set("plain")
                        }
                    }
                    try await group.waitForAll()
                }
            }
            return (critical.value, plain.value)
        }
        #expect(criticalAfter == "critical")
        #expect(plainAfter == nil)
    }

    /// A server's per-request scope on a thread that serves one request after another
    /// (`LocalScope.runFresh`): it starts empty, a bridged call inside sees its values, its
    /// changes (also those merged back from the bridge) are gone afterwards, and thread-critical
    /// values stay with the thread.
    @Test func freshScopeKeepsNothingForTheNextRequest() async throws {
        let plain = Local<String>()
        let critical = Local<String>(threadCritical: true)
        let seen = try await onNewThread { () throws -> [String?] in
            try plain.set("thread")
            var seen: [String?] = []
            try LocalScope.runFresh {
                seen.append(plain.value)
                try plain.set("request")
                try critical.set("connection")
                seen.append(try AsyncToSync.run { plain.value })
                try AsyncToSync.run { try plain.set("changed by async code") }
                seen.append(plain.value)
            }
            seen.append(plain.value)
            seen.append(critical.value)
            return seen
        }
        #expect(seen == [nil, "request", "changed by async code", "thread", "connection"])
    }

    /// Ports asgiref `test_local_not_inherited_by_new_thread`: a thread started from code with a value
    /// does not see it, and its writes do not leak back.
    @Test func newThreadDoesNotInherit() async throws {
        let local = Local<String>()
        try await LocalScope.run {
            try local.set("parent")
            let seen = try await onNewThread { () throws -> String? in
                let seen = local.value
                try local.set("child")
                return seen
            }
            #expect(seen == nil)
            #expect(local.value == "parent")
        }
    }

    /// Ports asgiref `test_visibility_task`: a child task sees the parent's value; its own write (in a
    /// scope of its own) does not reach the parent; writing without a scope is a clear error.
    @Test func childTaskVisibility() async throws {
        let local = Local<Int>()
        try await LocalScope.run {
            try local.set(0)
            let (seen, refused) = await Task { () -> (Int?, Bool) in
                let seen = local.value
                let refused = (try? local.set(5)) == nil
                try? LocalScope.run {
                    try local.set(1)
                    precondition(local.value == 1)
                }
                return (seen, refused)
            }.value
            #expect(seen == 0)
            #expect(refused)
            #expect(local.value == 0)
        }
        #expect(throws: BridgeError.noLocalScope) {
            try local.set(9)
        }
    }

    /// Ports asgiref `test_deletion`: a child task deleting the value does not delete it for the parent.
    @Test func childTaskDeletion() async throws {
        let local = Local<Int>()
        try await LocalScope.run {
            try local.set(1)
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    try? local.withValue(2) {
                        try local.set(nil)
                        precondition(local.value == nil)
                    }
                }
            }
            #expect(local.value == 1)
        }
    }

    /// `withValue` binds for the block only and keeps changes to other `Local`s made inside.
    @Test func withValueIsScoped() async throws {
        let a = Local<String>()
        let b = Local<String>()
        try await LocalScope.run {
            try a.set("outer")
            try await a.withValue("inner") {
                #expect(a.value == "inner")
                #expect(try await SyncToAsync.run { a.value } == "inner")
                try b.set("kept")
            }
            #expect(a.value == "outer")
            #expect(b.value == "kept")
        }
        let syncResult = try await onNewThread { () -> [String?] in
            a.withValue("sync") { [a.value] } + [a.value]
        }
        #expect(syncResult == ["sync", nil])
    }

    /// Values never leak between concurrent requests, each in its own scope.
    @Test func concurrentRequestsAreIsolated() async throws {
        let user = Local<Int>()
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for request in 0..<200 {
                group.addTask {
                    try await LocalScope.run {
                        try user.set(request)
                        let seen = try await SyncToAsync.run(threadSensitive: request.isMultiple(of: 2)) { user.value }
                        return seen == request && user.value == request
                    }
                }
            }
            for try await ok in group { #expect(ok) }
        }
    }
}

/// Runs `body` on a new thread and blocks until it returns (call only from a plain thread).
func onNewThreadBlocking<R: Sendable>(_ body: @escaping @Sendable () throws -> R) throws -> R {
    let done = Gate()
    let result = Recorder<Result<R, any Error>>()
    Thread {
        result.append(Result { try body() })
        done.open()
    }.start()
    done.waitBlocking()
    return try result.values[0].get()
}
