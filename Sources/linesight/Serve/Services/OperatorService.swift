import ServiceLifecycle

/// The operator's screen: once a second its status (shift counts, stack light, alarms) goes
/// out on the live event stream. Store reads (the shift's counts at start and at a shift
/// change) run off the async threads.
struct OperatorService: Service {
    let screen: OperatorScreen?
    let events: EventHub

    func run() async throws {
        guard let screen else {
            try? await gracefulShutdown()  // returning would end the daemon
            return
        }
        while await tick(1) {
            let status = await blocking("operator-status") { screen.tick() }
            events.publish(event: .status(status))
        }
    }
}
