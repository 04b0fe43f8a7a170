import CGatewaySystem
import Glibc
import Synchronization

/// The scoreboard: a table in shared memory with one slot per worker process (pid, state,
/// requests served, the requests in flight with their start, resident memory), as PHP-FPM keeps
/// one for its status page.
///
/// The supervisor creates it in an anonymous memory file (`memfd`) and hands the file to every
/// worker, which maps the same pages. Workers write their own slot on the request path with a few
/// atomic stores (no lock, no system call); the supervisor reads every slot for worker timeouts
/// and its logs, and any worker reads every slot to answer the status page. With `--workers 0`
/// the one process keeps a scoreboard of one slot for itself.
///
/// Unchecked `Sendable`: every stored property is immutable after `init`, and `words` points into
/// a shared mapping that is never unmapped while a `Scoreboard` exists on it (only `attach`'s own
/// header-only mapping is, before it escapes) and is only accessed through `Atomic` operations.
final class Scoreboard: @unchecked Sendable {
    private let words: UnsafeMutablePointer<Atomic<UInt64>>
    /// Slots in the table.
    let slotCount: Int
    /// The memory file (close-on-exec; numbered 10 or above when created here), which the
    /// supervisor hands to its workers.
    let descriptor: Int32

    private init(words: UnsafeMutablePointer<Atomic<UInt64>>, slotCount: Int, descriptor: Int32) {
        self.words = words
        self.slotCount = slotCount
        self.descriptor = descriptor
    }

    /// Creates a zeroed scoreboard of `slots` slots.
    /// - Parameters:
    ///   - supervised: whether worker processes serve (else this process does, `--workers 0`).
    ///   - configuredWorkers: `--workers` (1 when serving in this process).
    /// - Throws: ``GatewayError`` `startFailed`.
    static func create(slots: Int, supervised: Bool, configuredWorkers: Int) throws -> Scoreboard {
        let created = cgateway_memfd_create("swift-asgi-scoreboard")
        guard created >= 0 else {
            throw GatewayError(.startFailed, "Creating the scoreboard's shared memory failed: \(SystemCalls.describe(errno)).")
        }
        let fd = try SystemCalls.moveAboveInheritedNumbers(created)
        let size = ScoreboardLayout.byteCount(slots: slots)
        guard ftruncate(fd, off_t(size)) == 0 else {
            let code = errno
            close(fd)
            throw GatewayError(.startFailed, "Sizing the scoreboard's shared memory (\(size) bytes) failed: \(SystemCalls.describe(code)).")
        }
        let scoreboard = try map(fd, size: size, slots: slots)
        scoreboard.store(ScoreboardLayout.Header.slotCount, UInt64(slots))
        scoreboard.store(ScoreboardLayout.Header.supervisorPID, UInt64(getpid()))
        scoreboard.store(ScoreboardLayout.Header.startedAtWallSeconds, SystemCalls.wallClockSeconds())
        scoreboard.store(ScoreboardLayout.Header.startedAtMonotonicNanos, SystemCalls.monotonicNanos())
        scoreboard.store(ScoreboardLayout.Header.configuredWorkers, UInt64(configuredWorkers))
        scoreboard.store(ScoreboardLayout.Header.supervised, supervised ? 1 : 0)
        scoreboard.store(ScoreboardLayout.Header.magic, ScoreboardLayout.magic)
        return scoreboard
    }

    /// Maps the scoreboard a supervisor handed over on `descriptor`.
    /// - Throws: ``GatewayError`` `workerHandOver` when it is not one.
    static func attach(descriptor fd: Int32) throws -> Scoreboard {
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_size >= ScoreboardLayout.byteCount(slots: 0) else {
            throw GatewayError(.workerHandOver, "Descriptor \(fd) is not the supervisor's scoreboard.")
        }
        let headerOnly = try map(fd, size: ScoreboardLayout.byteCount(slots: 0), slots: 0)
        let magic = headerOnly.load(ScoreboardLayout.Header.magic)
        let slots = Int(headerOnly.load(ScoreboardLayout.Header.slotCount))
        headerOnly.unmap(size: ScoreboardLayout.byteCount(slots: 0))
        guard magic == ScoreboardLayout.magic, slots > 0, Int(status.st_size) >= ScoreboardLayout.byteCount(slots: slots) else {
            throw GatewayError(.workerHandOver, "Descriptor \(fd) does not hold a scoreboard of this version.")
        }
        return try map(fd, size: ScoreboardLayout.byteCount(slots: slots), slots: slots)
    }

    private static func map(_ fd: Int32, size: Int, slots: Int) throws -> Scoreboard {
        guard let memory = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), memory != MAP_FAILED else {
            throw GatewayError(.startFailed, "Mapping the scoreboard's shared memory failed: \(SystemCalls.describe(errno)).")
        }
        // Zero bytes are a valid Atomic<UInt64>: the memory needs no initialisation beyond the file's.
        let words = memory.bindMemory(to: Atomic<UInt64>.self, capacity: size / 8)
        return Scoreboard(words: words, slotCount: slots, descriptor: fd)
    }

    /// Only for the header-only mapping `attach` reads the size from.
    private func unmap(size: Int) {
        munmap(UnsafeMutableRawPointer(words), size)
    }

    // MARK: Header words

    func load(_ word: Int) -> UInt64 {
        words[word].load(ordering: .acquiring)
    }

    func store(_ word: Int, _ value: UInt64) {
        words[word].store(value, ordering: .releasing)
    }

    func increment(_ word: Int, by amount: UInt64 = 1) {
        words[word].wrappingAdd(amount, ordering: .relaxed)
    }

    // MARK: Slots

    /// The slot at `index` (`0..<slotCount`).
    func slot(_ index: Int) -> WorkerSlot {
        precondition(index >= 0 && index < slotCount, "scoreboard slot \(index) out of range")
        return WorkerSlot(index: index, base: words + ScoreboardLayout.headerWords + index * ScoreboardLayout.slotWords)
    }
}
