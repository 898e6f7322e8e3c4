import ArgumentParser
import Foundation
import Imaging
import Inspection
import Neural
import Store
#if canImport(Glibc)
import Glibc
#endif

extension Graphics: ExpressibleByArgument {}

struct ReviewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review",
        abstract: "Review flagged frames in the terminal, one key per decision.",
        discussion: """
        Shows each flagged frame (most useful first: uncertain, then suspect labels, \
        no-verdicts, audit samples) with the model's verdict and scores. Keys:
          p        pass: the part is good
          1-9      toggle a defect kind (starts at the model's call)
          enter    confirm the selected kinds (enter at once agrees with the model)
          n        type a kind's name: a known kind toggles, a new kind of defect is \
        selected once y confirms it and recorded with the label (then every reviewer and \
        `label` may use it, and a retrain with enough labels of it teaches stage 2)
          u        unsure: leave it for someone who can tell
          s        skip for now
          z        undo the last decision
          m        show or hide where stage 1 looked: its class map over the frame, \
        the hot spot boxed
          ?        help
          q        quit (resume any time; decided frames stay decided)
        Each frame is leased to one reviewer at a time, so several people can review at once. \
        Works over SSH and in an 80x24 terminal; draws with sixel or kitty graphics when the \
        terminal has them, truecolor half-blocks otherwise.
        """)

    @OptionGroup var options: StoreOptions
    @Option(help: "Recorded as who labeled.") var who: String = whoAmI()
    @Option(help: "auto|halfblock|sixel|kitty") var graphics: String = "auto"
    @Option(help: "Seconds a frame stays leased to you without a decision.") var lease: Double = 600

    func validate() throws {
        guard graphics == "auto" || Graphics(rawValue: graphics) != nil else { throw ValidationError("--graphics must be auto, halfblock, sixel or kitty") }
        guard lease >= 10 else { throw ValidationError("--lease must be at least 10 seconds") }
    }

    func run() throws {
        guard Terminal.isInteractive else {
            throw CommandFailure("review needs a terminal; for scripts use `linesight flagged list` and `linesight label ID... --as KINDS | --pass`")
        }
        let (cfg, store) = try options.open()
        let kinds = try Self.kinds(cfg, store)
        let session = ReviewSession(store: store, reviewer: who, kinds: kinds, lease: lease)
        let term = Terminal()
        term.enter()
        ReviewTerminal.current = term
        signal(SIGTERM) { _ in ReviewTerminal.current?.restore(); _exit(143) }
        signal(SIGHUP) { _ in ReviewTerminal.current?.restore(); _exit(129) }
        defer { term.restore() }
        let mode: Graphics = Graphics(rawValue: graphics) ?? Self.detect(term)
        // each product's models, loaded the first time a map of one of its frames is asked for
        var classifiers: [String: StagedClassifier] = [:]
        let screen = ReviewScreen(session: session, term: term, graphics: mode, framesDirectory: cfg.framesDirectory) { image, frame in
            let product = frame.product ?? cfg.mainProduct
            guard let models = cfg.product(product)?.models else {
                throw ValidationError("product '\(product)' judged this frame and the config no longer names its models")
            }
            let c = try classifiers[product] ?? StagedClassifier(models, roi: nil)
            classifiers[product] = c
            return try image.pixels.withUnsafeBytes { raw in
                try c.locate(FrameView(bytes: raw, format: .rgb24, width: image.width, height: image.height))
            }
        }
        try session.advance()
        screen.draw()
        while true {
            guard let key = term.readKey(timeout: lease / 2) else {
                // Idle: renew the lease; the toggles stay. A lost lease moves on, saying so.
                if session.current != nil, !(try session.renew()) { screen.draw() }
                continue
            }
            switch try session.handle(key) {
            case .quit:
                term.restore()
                print("reviewed \(session.decided) frame\(session.decided == 1 ? "" : "s") as \(who); `linesight review` resumes with the next open one")
                return
            case .next: try session.advance()
            case .stay: break
            }
            screen.draw()
        }
    }

    static func detect(_ term: Terminal) -> Graphics {
        let env = ProcessInfo.processInfo.environment
        if env["KITTY_WINDOW_ID"] != nil || env["TERM"] == "xterm-kitty" || env["TERM_PROGRAM"] == "WezTerm" || env["TERM_PROGRAM"] == "ghostty" { return .kitty }
        if env["TMUX"] == nil, term.supportsSixel() { return .sixel }
        return .halfblock
    }

    /// The defect kinds to toggle: the stage-2 models' classes, `[models]`'s first and then
    /// those only another product's knows (else the kinds seen so far), then the kinds
    /// reviewers named that none knows yet.
    static func kinds(_ cfg: LineConfig, _ store: Store) throws -> [String] {
        var kinds: [String] = []
        for p in cfg.products {
            guard let s2 = p.models.stage2, let (_, meta) = try? ModelFile.load(path: s2) else { continue }
            for k in meta.classes where !kinds.contains(k) { kinds.append(k) }
        }
        if kinds.isEmpty { kinds = try store.knownDefectKinds() }
        for k in try store.namedDefectKinds().map(\.name) where !kinds.contains(k) { kinds.append(k) }
        return kinds
    }
}

/// For the signal handlers: the terminal to put back.
enum ReviewTerminal {
    nonisolated(unsafe) static var current: Terminal?
}
