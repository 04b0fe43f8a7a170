import Glibc

/// Starts worker processes: `posix_spawn` of the generation's executable with the supervisor's
/// own arguments, its environment plus the hand-over marker, and the listening sockets, the
/// scoreboard and the wake-up channel at the numbers ``WorkerHandOver/Descriptor`` gives.
///
/// Never `fork()`: the supervisor has threads (Swift's runtime, this library's), and a forked
/// copy of a threaded process may deadlock on a lock another thread held. `posix_spawn` starts a
/// new program, with signal dispositions reset and an empty signal mask.
struct WorkerSpawner {
    /// `argv`, the executable's name first.
    let arguments: [String]
    /// The environment every worker gets, without `NOTIFY_SOCKET` (only the supervisor talks to
    /// systemd) and without a hand-over of its own.
    let environment: [String]
    let sockets: ListeningSockets
    let scoreboard: Int32
    /// The workers' end of the wake-up channel.
    let channel: Int32

    init(arguments: [String], sockets: ListeningSockets, scoreboard: Int32, channel: Int32) {
        self.arguments = arguments
        self.sockets = sockets
        self.scoreboard = scoreboard
        self.channel = channel
        var environment: [String] = []
        var entry: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = Glibc.environ
        while let current = entry, let pointer = current.pointee {
            let variable = String(cString: pointer)
            if !variable.hasPrefix("NOTIFY_SOCKET="), !variable.hasPrefix(WorkerHandOver.variable + "=") {
                environment.append(variable)
            }
            entry = current.successor()
        }
        self.environment = environment
    }

    /// The hand-over for a worker in `slot`.
    func handOver(slot: Int, number: Int, generation: Int) -> WorkerHandOver {
        WorkerHandOver(
            slot: slot,
            number: number,
            generation: generation,
            supervisorPID: getpid(),
            http: sockets.http == nil ? nil : WorkerHandOver.Descriptor.http,
            fastCGI: sockets.fastCGI == nil ? nil : WorkerHandOver.Descriptor.fastCGI,
            scoreboard: WorkerHandOver.Descriptor.scoreboard,
            channel: WorkerHandOver.Descriptor.channel
        )
    }

    /// Spawns a worker from `image`; its pid.
    /// - Throws: ``GatewayError`` `startFailed` with the reason.
    func spawn(_ image: ExecutableImage, handOver: WorkerHandOver) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // Every source descriptor is numbered 10 or above, so no target overwrites a source.
        if let fastCGI = sockets.fastCGI {
            posix_spawn_file_actions_adddup2(&actions, fastCGI.descriptor, WorkerHandOver.Descriptor.fastCGI)
        } else {
            posix_spawn_file_actions_addopen(&actions, WorkerHandOver.Descriptor.fastCGI, "/dev/null", O_RDONLY, 0)
        }
        if let http = sockets.http {
            posix_spawn_file_actions_adddup2(&actions, http.descriptor, WorkerHandOver.Descriptor.http)
        }
        posix_spawn_file_actions_adddup2(&actions, scoreboard, WorkerHandOver.Descriptor.scoreboard)
        posix_spawn_file_actions_adddup2(&actions, channel, WorkerHandOver.Descriptor.channel)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGCHLD, SIGPIPE, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = (environment + ["\(WorkerHandOver.variable)=\(handOver.encoded)"]).map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid = pid_t()
        let result = posix_spawn(&pid, image.spawnPath, &actions, &attributes, &argv, &envp)
        guard result == 0 else {
            throw GatewayError(.startFailed, "Spawning worker \(handOver.number) failed: \(SystemCalls.describe(result)).")
        }
        return pid
    }
}
