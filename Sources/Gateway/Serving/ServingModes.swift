import Glibc
import Logging
import ServiceLifecycle
import UnixSignals

extension Gateway {
    /// Serves as the worker a supervisor spawned, until it is told to stop (SIGTERM) or its
    /// supervisor is gone. A worker that cannot set itself up logs why and exits 1; its supervisor
    /// starts another after a back-off.
    static func serveAsWorker(_ application: Application, options: GatewayOptions, handOver: WorkerHandOver, logging: GatewayLogging) async {
        let logging = logging.adding(metadata: ["worker": "\(handOver.number)"])
        let logger = logging.logger("asgi.worker")
        let (fastCGI, http) = ServerAssembly.frontends(options)
        do {
            guard handOver.fastCGI == nil || handOver.fastCGI == WorkerHandOver.Descriptor.fastCGI,
                fastCGI == (handOver.fastCGI != nil), http == (handOver.http != nil)
            else {
                throw GatewayError(.workerHandOver, "The supervisor's sockets do not match this worker's options.")
            }
            let process = try ServingProcess.worker(handOver, frontends: (fastCGI ? 1 : 0) + (http ? 1 : 0), logger: logger)
            try process.startMonitor()
            let services = try ServerAssembly.services(application, options: options, process: process, logging: logging)
            // A worker stops when its supervisor says so (SIGTERM): a Ctrl-C in a terminal reaches
            // the whole process group, and the supervisor stops its workers itself.
            try await runServices(services, signals: [.sigterm], logger: logger)
        } catch {
            logger.critical("Worker \(handOver.number) (pid \(getpid())) cannot serve: \(error)")
            exit(1)
        }
    }

    /// Serves in this process (`--workers 0`), with the same status and ping paths; tells
    /// systemd (`NOTIFY_SOCKET`) when it is ready and when it stops.
    static func serveInProcess(_ application: Application, options: GatewayOptions, logging: GatewayLogging) async throws {
        let logger = logging.logger("asgi.gateway")
        let (fastCGI, http) = ServerAssembly.frontends(options)
        let notifier = SystemdNotifier.fromEnvironment
        let process = try ServingProcess.standalone(frontends: (fastCGI ? 1 : 0) + (http ? 1 : 0), logger: logger) {
            notifier?.send("READY=1\nMAINPID=\(getpid())")
        }
        try process.startMonitor()
        var services = try ServerAssembly.services(application, options: options, process: process, logging: logging)
        if let notifier { services.append(StoppingNotice(notifier: notifier)) }
        try await runServices(services, signals: [.sigterm, .sigint], logger: logger)
    }

    private static func runServices(_ services: [any Service], signals: [UnixSignal], logger: Logger) async throws {
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services.map { service in
                    // The notice returns once shutdown began; that must not cut the servers short.
                    service is StoppingNotice
                        ? .init(service: service, successTerminationBehavior: .ignore)
                        : .init(service: service)
                },
                gracefulShutdownSignals: signals,
                logger: logger
            )
        )
        try await group.run()
    }
}

/// Sends `STOPPING=1` to systemd when a graceful shutdown begins.
private struct StoppingNotice: Service {
    let notifier: SystemdNotifier

    func run() async throws {
        try? await gracefulShutdown()
        if !Task.isCancelled { notifier.send("STOPPING=1") }
    }
}
