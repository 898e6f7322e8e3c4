import Foundation
import Imaging
import Store

/// The review state machine, apart from the terminal: the leased frame, the defect kinds
/// toggled on it, what was decided (for undo), what was skipped. One key, one step.
final class ReviewSession {
    enum Outcome: Equatable { case next, stay, quit }

    let store: Store
    let reviewer: String
    let kinds: [String]
    let lease: Double
    private(set) var current: FlaggedFrame?
    private(set) var selected: Set<String> = []
    private(set) var history: [(frame: FlaggedFrame, decision: ReviewDecision)] = []
    private(set) var skipped: Set<Int64> = []
    private(set) var message = ""
    private(set) var decided = 0
    var showHelp = false
    /// The frame is drawn with stage 1\'s class map over it (`m`).
    var showMap = false

    init(store: Store, reviewer: String, kinds: [String], lease: Double = 600) {
        self.store = store
        self.reviewer = reviewer
        self.kinds = kinds
        self.lease = lease
    }

    /// Leases the next frame; the toggles start at the model's call.
    func advance() throws {
        current = try store.leaseNext(reviewer: reviewer, seconds: lease, excluding: skipped)
        selected = Set(current?.defects.split(separator: ",").map(String.init) ?? [])
    }

    /// Extends the lease on the current frame without touching the toggles; when it was lost
    /// (another reviewer has it, or it was decided) says so and takes the next frame.
    func renew() throws -> Bool {
        guard let f = current else { return true }
        if try store.renew(f, reviewer: reviewer, seconds: lease) { return true }
        try advance()
        message = "frame \(f.frameId): the lease lapsed and someone else took it or decided it; here is the next one"
        return false
    }

    /// Records a decision, or, when the lease was lost, says why and moves on.
    private func decideOrExplain(_ f: FlaggedFrame, _ decision: () throws -> ReviewDecision, _ text: String) throws -> Outcome {
        do {
            try record(f, try decision(), text)
        } catch StoreError.conflict(let why) {
            message = why
        }
        return .next
    }

    func handle(_ key: Key) throws -> Outcome {
        if showHelp { showHelp = false; return .stay }
        switch key {
        case .char("q"), .escape:
            if let c = current { try store.release(c, reviewer: reviewer) }
            return .quit
        case .char("?"), .char("h"):
            showHelp = true
            return .stay
        case .char("z"), .backspace:
            return try undo()
        case .char("m"):
            showMap.toggle()
            message = showMap ? "map on: where stage 1 looked, its hot spot boxed (m hides it)" : "map hidden (m shows it)"
            return .stay
        default: break
        }
        guard let f = current else {
            message = "nothing to review"
            return .stay
        }
        switch key {
        case .char("p"), .char("g"):
            return try decideOrExplain(f, { try store.decide(f, defects: [], reviewer: reviewer) }, "frame \(f.frameId): good")
        case .enter, .char("c"):
            let defects = kinds.filter(selected.contains) + selected.subtracting(kinds).sorted()
            return try decideOrExplain(f, { try store.decide(f, defects: defects, reviewer: reviewer) },
                                       "frame \(f.frameId): \(defects.isEmpty ? "good" : defects.joined(separator: "+"))")
        case .char("u"):
            return try decideOrExplain(f, { try store.markUnsure(f, reviewer: reviewer) }, "frame \(f.frameId): unsure, left for someone who can tell")
        case .char("s"), .right, .char(" "):
            skipped.insert(f.verdictId)
            try store.release(f, reviewer: reviewer)
            message = "frame \(f.frameId): skipped (back next session)"
            return .next
        case .char(let c) where c.isNumber:
            let i = Int(String(c))! - 1
            guard kinds.indices.contains(i) else { message = "no defect kind \(c)"; return .stay }
            if selected.remove(kinds[i]) == nil { selected.insert(kinds[i]) }
            message = selected.isEmpty ? "no defects selected: enter labels it good" : "selected: \(kinds.filter(selected.contains).joined(separator: "+"))"
            return .stay
        default:
            message = "unknown key (? for help)"
            return .stay
        }
    }

    private func record(_ f: FlaggedFrame, _ d: ReviewDecision, _ what: String) throws {
        history.append((f, d))
        decided += 1
        message = what + " (z undoes)"
    }

    private func undo() throws -> Outcome {
        guard let last = history.popLast() else { message = "nothing to undo"; return .stay }
        if let c = current, c.verdictId != last.frame.verdictId { try store.release(c, reviewer: reviewer) }
        try store.undo(last.decision, reviewer: reviewer, seconds: lease)
        decided -= 1
        current = last.frame
        if case .labeled = last.decision {
            selected = Set(last.frame.defects.split(separator: ",").map(String.init))
        }
        message = "undone: frame \(last.frame.frameId) is open again"
        return .stay
    }
}
