import Foundation
import Imaging
import Store

/// The review state machine, apart from the terminal: the leased frame, the defect kinds
/// toggled on it, what was decided (for undo), what was skipped. One key, one step.
final class ReviewSession {
    enum Outcome: Equatable { case next, stay, quit }

    let store: Store
    let reviewer: String
    private(set) var kinds: [String]
    let lease: Double
    /// Naming a kind (`n`): the name typed so far.
    private(set) var naming: String?
    /// A name no one knows yet, waiting for `y` to become a new defect kind.
    private(set) var confirming: String?
    /// New kinds confirmed here that no label has named yet: recorded with the first one that does.
    private(set) var pending: [String] = []
    private(set) var current: FlaggedFrame?
    private(set) var selected: Set<String> = []
    private(set) var history: [(frame: FlaggedFrame, decision: ReviewDecision, newKinds: [String])] = []
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
        (naming, confirming) = (nil, nil)
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
    private func decideOrExplain(_ f: FlaggedFrame, _ decision: () throws -> ReviewDecision, _ text: String, newKinds: [String] = []) throws -> Outcome {
        do {
            try record(f, try decision(), text, newKinds)
        } catch StoreError.conflict(let why) {
            message = why
        }
        return .next
    }

    func handle(_ key: Key) throws -> Outcome {
        if showHelp { showHelp = false; return .stay }
        if let name = naming { return typing(name, key) }
        if let name = confirming { return try confirm(name, key) }
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
            let named = pending.filter(defects.contains)
            let outcome = try decideOrExplain(f, { try store.decide(f, defects: defects, reviewer: reviewer, newKinds: named) },
                                              "frame \(f.frameId): \(defects.isEmpty ? "good" : defects.joined(separator: "+"))"
                                              + (named.isEmpty ? "" : "; new kind \(named.joined(separator: ", ")) recorded"), newKinds: named)
            if history.last?.frame.verdictId == f.verdictId { pending.removeAll(where: named.contains) }
            return outcome
        case .char("n"):
            naming = ""
            message = "name the defect kind: type it, enter takes it, esc cancels"
            return .stay
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

    /// A key while a kind's name is typed: letters, digits, '_' and '-' build it; enter
    /// selects a kind already known or asks to confirm a new one; esc cancels.
    private func typing(_ name: String, _ key: Key) -> Outcome {
        switch key {
        case .escape:
            naming = nil
            message = "naming cancelled"
        case .backspace:
            naming = String(name.dropLast())
            message = "name the defect kind: " + naming!
        case .enter:
            naming = nil
            if name.isEmpty {
                message = "naming cancelled"
            } else if kinds.contains(name) {
                if selected.remove(name) == nil { selected.insert(name) }
                message = selected.isEmpty ? "no defects selected: enter labels it good" : "selected: \(kinds.filter(selected.contains).joined(separator: "+"))"
            } else if let twin = DefectKind.caseTwin(of: name, in: kinds) {
                message = "'\(name)' differs from the kind \(twin) only in case: n \(twin) selects it"
            } else if !DefectKind.isValid(name) {
                message = "'\(name)' cannot name a defect kind (\(DefectKind.rule))"
            } else {
                confirming = name
                message = "'\(name)' is a new defect kind: y adds it for everyone (stage 1 fails such parts until a retrain teaches stage 2), any other key cancels"
            }
        case .char(let c) where (c.isASCII && (c.isLetter || c.isNumber)) || c == "_" || c == "-":
            if name.utf8.count < 64 { naming = name + String(c) }
            message = "name the defect kind: " + naming!
        default:
            message = "a kind's name is letters, digits, '_' or '-' (enter takes it, esc cancels): " + name
        }
        return .stay
    }

    /// `y` records the new kind (for every reviewer and `label`) and selects it.
    private func confirm(_ name: String, _ key: Key) throws -> Outcome {
        confirming = nil
        guard key == .char("y") || key == .char("Y") else {
            message = "'\(name)' not added"
            return .stay
        }
        kinds.append(name)
        pending.append(name)
        selected.insert(name)
        message = "new defect kind \(name) selected; enter records it with this label"
        return .stay
    }

    private func record(_ f: FlaggedFrame, _ d: ReviewDecision, _ what: String, _ newKinds: [String]) throws {
        history.append((f, d, newKinds))
        decided += 1
        message = what + " (z undoes)"
    }

    private func undo() throws -> Outcome {
        guard let last = history.popLast() else { message = "nothing to undo"; return .stay }
        if let c = current, c.verdictId != last.frame.verdictId { try store.release(c, reviewer: reviewer) }
        try store.undo(last.decision, reviewer: reviewer, seconds: lease, namedKinds: last.newKinds)
        for k in last.newKinds where !pending.contains(k) { pending.append(k) }  // named again by the next label that uses it
        decided -= 1
        current = last.frame
        if case .labeled = last.decision {
            selected = Set(last.frame.defects.split(separator: ",").map(String.init))
        }
        message = "undone: frame \(last.frame.frameId) is open again"
        return .stay
    }
}
