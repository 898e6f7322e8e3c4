import Foundation
import GRDB
import LinesightCore
import TestSupport
import Testing
@testable import Store

func temporaryPath(_ name: String = "inspection.sqlite") throws -> (dir: String, file: String) {
    let dir = try TemporaryDirectory.make("store")
    return (dir, dir + "/" + name)
}

func verdict(_ seq: Int64, _ decision: Decision, at t: Double = 1_800_000_000, camera: String = "cam1",
             defects: [String] = [], flags: [FlagReason] = []) -> VerdictRecord {
    VerdictRecord(cameraId: camera, capturedAt: t, frameSequence: seq, stage1Score: decision == .noVerdict ? nil : 0.5,
                  decision: decision, defects: defects, stage1Model: "s1-v1", stage1Ms: 1.2, totalMs: 3.4,
                  flags: flags, error: decision == .noVerdict ? "decode failed" : nil)
}

@Suite("SQLite store")
struct StoreTests {
    @Test func verdictsFramesFlagsAndRollupsLandTogether() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: file)
        try store.register(camera: "cam1", source: "synthetic")
        let frame = FrameRecord(path: "2026/11/29/1.jpg", sha256: String(repeating: "a", count: 64), bytes: 1000,
                                width: 64, height: 48, keptBecause: .failed)
        try store.insert([
            VerdictBundle(verdict: verdict(1, .pass)),
            VerdictBundle(verdict: verdict(2, .fail, defects: ["scratch", "dent"], flags: [.lowStage2Confidence]), frame: frame),
            VerdictBundle(verdict: verdict(3, .noVerdict, flags: [.noVerdict])),
        ])
        try store.pool.read { (db: Database) throws in
            #expect(try VerdictRecord.fetchCount(db) == 3)
            let fail = try #require(try VerdictRecord.filter(Column("decision") == "fail").fetchOne(db))
            #expect(fail.defectList == ["scratch", "dent"])
            let f = try #require(try FrameRecord.fetchOne(db))
            #expect(f.verdictId == fail.id)
            #expect(try FlagRecord.fetchAll(db).map(\.reason) == [.lowStage2Confidence, .noVerdict])
            let r = try #require(try Row.fetchOne(db, sql: "SELECT * FROM rollups"))
            #expect(r["model"] as String == "s1-v1")
            #expect(r["frames"] as Int == 3 && r["passes"] as Int == 1 && r["fails"] as Int == 1 && r["no_verdicts"] as Int == 1)
            #expect(r["flagged"] as Int == 2)
            #expect(try Row.fetchAll(db, sql: "SELECT defect, count FROM rollup_defects ORDER BY defect").map { "\($0[0] as String)=\($0[1] as Int)" }
                    == ["dent=1", "scratch=1"])
        }
    }

    @Test func theStatsMigrationKeepsEveryCountOfOlderHistory() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let old = try Store(path: file, busyTimeout: 5, schemaUpTo: "v2-registry")
            try old.register(camera: "cam1", source: "synthetic")
            let t0 = 1_800_000_000.0
            try old.pool.write { db in
                // Two hours of history; in the first, retention already deleted the verdict rows.
                try db.execute(sql: """
                    INSERT INTO hourly_rollups(camera_id, hour, frames, passes, fails, no_verdicts, flagged, defects, total_ms_sum)
                    VALUES ('cam1', ?, 10, 7, 2, 1, 3, '{"dent":2}', 30), ('cam1', ?, 3, 1, 2, 0, 1, '{"dent":1,"scratch":2}', 9)
                    """, arguments: [Int64(t0 / 3600) - 1, Int64(t0 / 3600)])
                for (i, (d, defects)) in [("pass", ""), ("fail", "dent,scratch"), ("fail", "scratch")].enumerated() {
                    try db.execute(sql: """
                        INSERT INTO verdicts(camera_id, captured_at, frame_sequence, stage1_score, decision, defects, stage1_model, total_ms, flags)
                        VALUES ('cam1', ?, ?, 0.5, ?, ?, 's1-v7', 3, ?)
                        """, arguments: [t0 + Double(i), i, d, defects, i == 2 ? "uncertain" : ""])
                }
                try db.execute(sql: "INSERT INTO flags(verdict_id, reason, created_at) VALUES (3, 'uncertain', 0)")
            }
        }
        let store = try Store(path: file)
        let rows = try store.rollups()
        #expect(rows.map { "\($0.model):\($0.frames)/\($0.passes)/\($0.fails)/\($0.noVerdicts)/\($0.flagged)" } == [":10/7/2/1/3", "s1-v7:3/1/2/0/1"])
        #expect(rows[0].defects == ["dent": 2])
        #expect(rows[1].defects == ["dent": 1, "scratch": 2])
        let total = try store.rangeStats()
        #expect(total.frames == 13 && total.defects == ["dent": 3, "scratch": 2])
        try store.pool.read { (db: Database) throws in
            #expect(try String.fetchAll(db, sql: "SELECT reason FROM flags") == ["uncertain"], "flags survive the rebuild")
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE name = 'hourly_rollups'") == 0)
        }
        // The rebuilt flags table takes the new reason.
        try store.pool.write { db in try db.execute(sql: "INSERT INTO flags(verdict_id, reason, created_at) VALUES (3, 'suspect_label', 0)") }
    }

    @Test func theSchemaRefusesWhatCannotBeTrue() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: file)
        let ghost = try store.insert([VerdictBundle(verdict: verdict(1, .pass, camera: "ghost"))])
        #expect(ghost.count == 1 && !ghost[0].recordedAsNoVerdict, "unknown camera: refused, and no stand-in can be recorded either")
        try store.register(camera: "cam1", source: "v4l2")
        var bad = verdict(1, .pass)
        bad.stage1Score = 1.5
        var unjudged = verdict(2, .pass)
        unjudged.stage1Score = nil
        var badJSON = verdict(3, .fail)
        badJSON.stage2Scores = #"{"scratch": nan}"#
        let refused = try store.insert([VerdictBundle(verdict: bad), VerdictBundle(verdict: unjudged), VerdictBundle(verdict: badJSON),
                                        VerdictBundle(verdict: verdict(4, .pass))])
        #expect(refused.map(\.sequence) == [1, 2, 3] && refused.allSatisfy(\.recordedAsNoVerdict))
        #expect(refused[0].reason.contains("stage1_score BETWEEN 0 AND 1") && refused[2].reason.contains("json_valid"), "\(refused)")
        let rows = try store.pool.read { db in try VerdictRecord.order(Column("frame_sequence")).fetchAll(db) }
        #expect(rows.map(\.frameSequence) == [1, 2, 3, 4], "one row per frame: the refused ones as no-verdicts, the good one as it was")
        #expect(rows.prefix(3).allSatisfy { $0.decision == .noVerdict && $0.error?.hasPrefix("store refused the verdict row: CHECK constraint failed") == true })
        #expect(rows[3].decision == .pass && rows[3].stage1Score == 0.5)
        // A kept frame whose ROI does not fit it: the stand-in keeps the JPEG's row (without
        // the ROI), so retention still accounts for the file.
        let frame = FrameRecord(path: "odd.jpg", sha256: String(repeating: "d", count: 64), bytes: 10, width: 32, height: 24,
                                keptBecause: .flagged, roi: FrameRegion(x: 16, y: 0, width: 32, height: 24))
        let odd = try store.insert([VerdictBundle(verdict: verdict(5, .fail), frame: frame)])
        #expect(odd.count == 1 && odd[0].recordedAsNoVerdict && odd[0].reason.contains("roi"), "\(odd)")
        let kept = try store.pool.read { db in try FrameRecord.filter(Column("path") == "odd.jpg").fetchOne(db) }
        #expect(kept != nil && kept?.roi == nil)
        // A kept map the schema refuses (not JSON, or too long) costs only the map: the verdict
        // and its frame are stored as they were.
        for (i, map) in ["{not json", "{\"values\":[" + String(repeating: "0.5,", count: 60_000) + "0]}"].enumerated() {
            let withMap = FrameRecord(path: "map\(i).jpg", sha256: String(repeating: "e", count: 64), bytes: 10, width: 32, height: 24,
                                      keptBecause: .failed, defectMap: map)
            #expect(try store.insert([VerdictBundle(verdict: verdict(Int64(6 + i), .fail), frame: withMap)]).isEmpty, "nothing refused")
            let row = try store.pool.read { db in try FrameRecord.filter(Column("path") == "map\(i).jpg").fetchOne(db) }
            #expect(row != nil && row?.defectMap == nil)
        }
        let mapped = FrameRecord(path: "map.jpg", sha256: String(repeating: "f", count: 64), bytes: 10, width: 32, height: 24,
                                 keptBecause: .failed, defectMap: #"{"width":1,"height":1,"values":[1]}"#)
        _ = try store.insert([VerdictBundle(verdict: verdict(9, .fail), frame: mapped)])
        #expect(try store.pool.read { db in try String.fetchOne(db, sql: "SELECT defect_map FROM frames WHERE path = 'map.jpg'") } == mapped.defectMap)
        let fails = try store.pool.read { db in try VerdictRecord.filter(Column("frame_sequence") >= 6).fetchAll(db) }
        #expect(fails.count == 3 && fails.allSatisfy { $0.decision == .fail })
    }

    @Test func aRefusedRowNeverBlocksTheVerdictsBehindIt() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: file)
        try store.register(camera: "cam1", source: "synthetic")
        let committer = GroupCommitter(store: store, interval: 0.02)
        var poison = verdict(1, .fail)
        poison.stage2Scores = #"{"scr"atch": 0.9}"#  // what hand-built JSON once wrote for a kind named with a quote
        committer.submit(VerdictBundle(verdict: poison))
        for i in 2...50 { committer.submit(VerdictBundle(verdict: verdict(Int64(i), .pass))) }
        #expect(committer.flush(timeout: 5), "the batch commits, with the poison row isolated")
        let s = committer.stats
        #expect(s.committed == 50 && s.refused == 1 && s.dropped == 0 && !s.failing && s.failedCommits == 0)
        committer.close()
        #expect(try store.rangeStats().frames == 50 && store.rangeStats().noVerdicts == 1)
    }
    @Test func partAndFrameCountsOverATimeRangeAreExact() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: file)
        try store.register(camera: "cam1", source: "synthetic")
        let committer = GroupCommitter(store: store, interval: 0.02)
        let t0 = 1_800_000_000.0
        let decisions: [Decision] = [.pass, .fail, .fail, .noVerdict, .pass, .fail]
        for (i, d) in decisions.enumerated() {
            let defects = d == .fail ? (i == 1 ? ["top:scratch", "side:scratch"] : ["top:dent", "top:dent"]) : []
            committer.submit(part: PartRecord(id: Int64(i + 1), station: i < 5 ? "s1" : "s2", triggeredAt: t0 + Double(i) * 60, serial: nil,
                                              decision: d, defects: defects, views: 2, frames: 2, decidedMs: 20, error: nil))
            committer.submit(VerdictBundle(verdict: verdict(Int64(i + 1), d, at: t0 + Double(i) * 60)))
        }
        #expect(committer.flush(timeout: 5))
        committer.close()
        let all = try store.partStats()
        #expect(all.parts == 6 && all.passes == 2 && all.fails == 3 && all.noVerdicts == 1 && all.yield == 2.0 / 6)
        #expect(all.defects == ["top:scratch": 1, "side:scratch": 1, "top:dent": 2], "a part counts once per kind it showed")
        let window = try store.partStats(since: t0 + 60, until: t0 + 240)
        #expect(window.parts == 3 && window.fails == 2 && window.noVerdicts == 1, "[since, until): minutes 1, 2 and 3")
        #expect(try store.partStats(station: "s2").parts == 1)
        let frames = try store.verdictCounts(since: t0 + 60, until: t0 + 240)
        #expect(frames == [.fail: 2, .noVerdict: 1], "to the second, not by whole hours: \(frames)")
    }

    @Test func aFileThatIsNotADatabaseIsRefusedAndLeftAlone() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let junk = Data(repeating: 0x42, count: 8192)
        try junk.write(to: URL(fileURLWithPath: file))
        #expect {
            _ = try Store(path: file)
        } throws: { error in
            guard case StoreError.corrupt(let p, _) = error else { return false }
            return p == file && "\(error)".contains("will not overwrite")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == junk)
    }

    @Test func aDamagedDatabaseFailsQuickCheckAtStart() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let store = try Store(path: file)
            try store.register(camera: "cam1", source: "synthetic")
            try store.insert((0..<3000).map { VerdictBundle(verdict: verdict($0, .pass)) })
            try store.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        }
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: file))
        let size = try handle.seekToEnd()
        for offset in stride(from: UInt64(8192), to: size - 4096, by: 8192) {
            try handle.seek(toOffset: offset + 100)
            handle.write(Data(repeating: 0xEE, count: 700))
        }
        try handle.close()
        #expect(throws: StoreError.self) { _ = try Store(path: file) }
    }

    @Test func aDatabaseFromANewerLinesightIsRefused() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: file)
        try store.pool.write { db in try db.execute(sql: "INSERT INTO grdb_migrations(identifier) VALUES ('v9-future')") }
        #expect(throws: StoreError.newerSchema(path: file, migrations: ["v9-future"])) { _ = try Store(path: file) }
    }

    @Test func groupCommitBatchesThousandsOfVerdicts() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: file)
        try store.register(camera: "cam1", source: "synthetic")
        let committer = GroupCommitter(store: store, interval: 0.05, maxBatch: 500)
        for i in 0..<5000 { committer.submit(VerdictBundle(verdict: verdict(Int64(i), i % 10 == 0 ? .fail : .pass))) }
        #expect(committer.flush())
        let s = committer.stats
        #expect(s.committed == 5000 && s.pending == 0 && s.dropped == 0)
        #expect(s.batches >= 10 && s.batches <= 200, "\(s.batches) transactions for 5000 rows")
        committer.close()
        try store.pool.read { (db: Database) throws in
            #expect(try VerdictRecord.fetchCount(db) == 5000)
            #expect(try Int.fetchOne(db, sql: "SELECT sum(fails) FROM rollups") == 500)
        }
    }

    @Test func readersNeverBlockTheWriter() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: file)
        try store.register(camera: "cam1", source: "synthetic")
        let committer = GroupCommitter(store: store, interval: 0.02)
        let reader = try DatabaseQueue(path: file)  // a second connection, like the CLI
        let release = DispatchSemaphore(value: 0), holding = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            try? reader.read { db in
                _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM verdicts")  // snapshot taken
                holding.signal()
                release.wait()
            }
        }
        holding.wait()
        for i in 0..<200 { committer.submit(VerdictBundle(verdict: verdict(Int64(i), .pass))) }
        #expect(committer.flush(timeout: 5), "commits go through while a reader holds its snapshot")
        release.signal()
        committer.close()
        #expect(committer.stats.committed == 200)
    }

    @Test func failedCommitsAreRetriedNotLost() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: file, busyTimeout: 0.05)
        try store.register(camera: "cam1", source: "synthetic")
        // Another writer holds the database's write lock: every commit fails with SQLITE_BUSY.
        let blocker = try DatabaseQueue(path: file)
        let holding = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), released = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            try? blocker.inDatabase { db in
                try db.execute(sql: "BEGIN IMMEDIATE")
                holding.signal()
                release.wait()
                try db.execute(sql: "ROLLBACK")
            }
            released.signal()
        }
        holding.wait()
        let committer = GroupCommitter(store: store, interval: 0.02)
        committer.submit(VerdictBundle(verdict: verdict(1, .pass)))
        #expect(!committer.flush(timeout: 0.6))
        #expect(committer.stats.failedCommits >= 1 && committer.stats.failing)
        release.signal()
        released.wait()
        #expect(committer.flush(timeout: 5))
        #expect(committer.stats.committed == 1 && !committer.stats.failing && committer.stats.refused == 0)
        committer.close()
    }

    @Test func retentionDeletesOldestUnlabeledAuditFramesFirstAndKeepsRollups() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: file)
        try store.register(camera: "cam1", source: "synthetic")
        let now = 1_800_000_000.0
        let kinds: [FrameRecord.KeptBecause] = [.flagged, .audit, .failed, .audit, .flagged, .failed]
        var bundles: [VerdictBundle] = []
        for (i, kind) in kinds.enumerated() {
            let path = "f\(i).jpg"
            try Data(repeating: 1, count: 100).write(to: URL(fileURLWithPath: dir + "/" + path))
            let age = i == 0 ? 200.0 : 1.0  // frame 0 is 200 days old
            bundles.append(VerdictBundle(verdict: verdict(Int64(i), kind == .failed ? .fail : .pass, at: now - age * 86400),
                                         frame: FrameRecord(path: path, sha256: String(repeating: "b", count: 64), bytes: 100,
                                                            width: 8, height: 8, keptBecause: kind,
                                                            defectMap: kind == .failed ? #"{"width":1,"height":1,"values":[1]}"# : nil)))
        }
        try store.insert(bundles)
        try store.pool.write { db in  // a reviewer labeled frame 5 (failed)
            try db.execute(sql: "INSERT INTO labels(frame_id, label, who, labeled_at, source) VALUES ((SELECT id FROM frames WHERE path = 'f5.jpg'), 'scratch', 'ana', ?, 'review')", arguments: [now])
        }
        let report = try store.applyRetention(RetentionPolicy(frameBudgetBytes: 250, verdictDays: 90), framesDirectory: dir, now: now)
        #expect(report.framesDeleted == 4 && report.bytesFreed == 400)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".jpg") }.sorted()
        #expect(left == ["f4.jpg", "f5.jpg"], "audit first, then failed, then flagged; the labeled frame last")
        #expect(report.verdictsDeleted == 1, "the 200-day-old verdict")
        try store.pool.read { (db: Database) throws in
            #expect(try VerdictRecord.fetchCount(db) == 5)
            // a deleted frame's kept map goes with it; the kept one's stays
            #expect(try String.fetchAll(db, sql: "SELECT path FROM frames WHERE defect_map IS NOT NULL") == ["f5.jpg"])
            #expect(try Int.fetchOne(db, sql: "SELECT sum(frames) FROM rollups") == 6, "rollups keep the old verdict's count")
        }
    }
}

extension StoreTests {
    /// Frames a person still has to see, holds, or labeled are not the budget's to take.
    @Test func retentionNeverDeletesFramesUnderReview() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: file)
        try store.register(camera: "cam1", source: "synthetic")
        let now = 1_800_000_000.0
        var bundles: [VerdictBundle] = []
        for i in 0..<6 {
            let path = "f\(i).jpg"
            try Data(repeating: 1, count: 100).write(to: URL(fileURLWithPath: dir + "/" + path))
            bundles.append(VerdictBundle(verdict: verdict(Int64(i), .pass, at: now - 200 * 86400, flags: i < 3 ? [.uncertain] : []),
                                         frame: FrameRecord(path: path, sha256: String(repeating: "b", count: 64), bytes: 100,
                                                            width: 8, height: 8, keptBecause: i < 3 ? .flagged : .audit)))
        }
        try store.insert(bundles)
        try store.pool.write { db in
            // f0: still open; f1: skipped but leased by a reviewer; f2: labeled (flag closed); f3-f5: nothing.
            try db.execute(sql: "UPDATE flags SET status = 'skipped', leased_by = 'ana', lease_until = ? WHERE verdict_id = 2", arguments: [now + 60])
            try db.execute(sql: "UPDATE flags SET status = 'labeled' WHERE verdict_id = 3")
            try db.execute(sql: "INSERT INTO labels(frame_id, label, who, labeled_at, source) VALUES (3, 'good', 'ana', ?, 'review')", arguments: [now])
        }
        var policy = RetentionPolicy(frameBudgetBytes: 0, verdictDays: 90)
        policy.batch = 2  // several batches
        let report = try store.applyRetention(policy, framesDirectory: dir, now: now)
        #expect(report.framesDeleted == 3 && report.bytesOverBudget == 300 && report.verdictsDeleted == 3 && report.fileErrors == 0)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".jpg") }.sorted()
        #expect(left == ["f0.jpg", "f1.jpg", "f2.jpg"])
        #expect(try store.openFlags().map(\.frameId) == [1], "the open flag is still in the queue, with its frame")
        policy.keepFramesUnderReview = false
        let all = try store.applyRetention(policy, framesDirectory: dir, now: now + 120)
        #expect(all.framesDeleted == 3 && all.verdictsDeleted == 2, "when the config says so; the labeled verdict stays")
    }
}

extension StoreTests {
    /// Only the lease holder's decision is recorded; a second reviewer gets a clear message.
    @Test func onlyTheLeaseHolderDecides() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: file)
        try store.register(camera: "cam1", source: "synthetic")
        let now = 1_800_000_000.0
        try store.insert((0..<2).map { i in
            VerdictBundle(verdict: verdict(Int64(i), .pass, at: now, flags: [.uncertain]),
                          frame: FrameRecord(path: "f\(i).jpg", sha256: String(repeating: "c", count: 64), bytes: 10, width: 8, height: 8, keptBecause: .flagged))
        })
        let a = try #require(try store.leaseNext(reviewer: "alice", seconds: 600, now: now))
        let b = try #require(try store.leaseNext(reviewer: "bob", seconds: 600, now: now))
        #expect(a.frameId != b.frameId)
        #expect { _ = try store.decide(a, defects: ["dent"], reviewer: "bob", now: now + 1) } throws: {
            "\($0)".contains("is being reviewed by alice; your decision was not recorded")
        }
        #expect { _ = try store.markUnsure(a, reviewer: "bob", now: now + 1) } throws: { "\($0)".contains("alice") }
        #expect(try store.renew(a, reviewer: "alice", seconds: 600, now: now + 500), "renewal extends the holder's lease")
        #expect(try !store.renew(a, reviewer: "bob", seconds: 600, now: now + 500), "nobody else renews it")
        // Alice's lease lapses; bob takes the frame; alice's late decision is refused.
        let taken = try #require(try store.leaseNext(reviewer: "bob", seconds: 600, excluding: [b.verdictId], now: now + 1200))
        #expect(taken.frameId == a.frameId)
        #expect(throws: StoreError.self) { _ = try store.decide(a, defects: [], reviewer: "alice", now: now + 1201) }
        _ = try store.decide(taken, defects: ["scratch"], reviewer: "bob", now: now + 1202)
        #expect { _ = try store.decide(a, defects: [], reviewer: "alice", now: now + 1203) } throws: { "\($0)".contains("already decided by bob") }
        let labels = try store.pool.read { db in try String.fetchAll(db, sql: "SELECT label || ':' || who FROM labels") }
        #expect(labels == ["scratch:bob"])
    }
}

@Suite("Model registry")
struct RegistryTests {
    @Test func promotionKeepsOneChampionPerStageAndRemembersTheLastOne() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: file)
        let a = try store.registerModel(stage: 1, file: "/m/a", sha256: String(repeating: "a", count: 64), metrics: ["x": 1],
                                        parent: nil, dataHash: "h1", notes: "first", now: 100)
        let b = try store.registerModel(stage: 1, file: "/m/b", sha256: String(repeating: "b", count: 64), metrics: [:],
                                        parent: a.version, dataHash: "h2", notes: "second", now: 200)
        #expect(b.parentId == a.id && a.version == String(repeating: "a", count: 12))
        let again = try store.registerModel(stage: 1, file: "/m/a2", sha256: String(repeating: "a", count: 64), metrics: [:],
                                            parent: nil, dataHash: nil, notes: "")
        #expect(again.id == a.id, "the same file registers once")
        _ = try store.promote(version: a.version, by: "ana", now: 300)
        let (new, old) = try store.promote(version: b.version, by: "retrain", now: 400)
        #expect(new.status == .champion && new.promotedBy == "retrain" && old?.version == a.version && old?.status == .retired)
        #expect(try store.champion(stage: 1)?.version == b.version)
        #expect(try store.previousChampion(stage: 1)?.version == a.version)
        #expect(try store.model(version: "bbbb")?.version == b.version, "a unique prefix finds a version")
        #expect(throws: StoreError.self) { _ = try store.promote(version: "nope", by: "x") }
        #expect(throws: (any Error).self, "the schema allows one champion per stage") {
            try store.pool.write { db in try db.execute(sql: "UPDATE models SET status = 'champion'") }
        }
    }

    @Test func aStageTwoModelRecordsTheKindsItKnows() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: file)
        let two = try store.registerModel(stage: 2, file: "/m/c", sha256: String(repeating: "c", count: 64), metrics: [:], parent: nil,
                                          dataHash: nil, notes: "", kinds: ["scratch", "burr"])
        let one = try store.registerModel(stage: 1, file: "/m/d", sha256: String(repeating: "d", count: 64), metrics: [:], parent: nil,
                                          dataHash: nil, notes: "")
        #expect(try store.model(version: two.version)?.knownKinds == ["scratch", "burr"])
        #expect(try store.model(version: one.version)?.knownKinds == nil && one.kinds == nil)
        #expect(throws: (any Error).self, "the schema keeps kinds JSON") {
            try store.pool.write { db in try db.execute(sql: "UPDATE models SET kinds = 'scratch,burr' WHERE stage = 2") }
        }
    }

    @Test func aDatabaseAtV7TakesDriftFlagsAfterV8AndKeepsItsFlags() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let old = try Store(path: file, busyTimeout: 5, schemaUpTo: "v7-defect-kinds")
            try old.register(camera: "cam1", source: "synthetic")
            // as a v7 daemon wrote it (today's records name columns v7 lacks)
            try old.pool.write { db in
                try db.execute(sql: "INSERT INTO verdicts(camera_id, captured_at, frame_sequence, stage1_score, decision, stage1_model, total_ms, flags) VALUES ('cam1', 1800000000, 1, 0.5, 'pass', 's1-v1', 1, 'uncertain')")
                try db.execute(sql: "INSERT INTO flags(verdict_id, reason, created_at) VALUES (1, 'uncertain', 1800000000)")
            }
            try old.pool.write { db in try db.execute(sql: "UPDATE flags SET note = 'kept', leased_by = 'ana', lease_until = 5") }
            #expect(throws: (any Error).self, "v7 does not know the reason") {
                try old.pool.write { db in try db.execute(sql: "INSERT INTO flags(verdict_id, reason, created_at) VALUES (1, 'drift', 0)") }
            }
        }
        let store = try Store(path: file)
        var b = VerdictBundle(verdict: verdict(2, .pass, flags: [.drift]))
        b.flagNotes[.drift] = "input drift: brightness -3.0 spreads"
        try store.insert([b])
        let rows = try store.pool.read { db in try Row.fetchAll(db, sql: "SELECT reason, note, leased_by, lease_until FROM flags ORDER BY id") }
        #expect(rows.map { $0[0] as String } == ["uncertain", "drift"])
        #expect(rows[0][1] as String? == "kept" && rows[0][2] as String? == "ana" && rows[0][3] as Double? == 5, "every column of the old rows kept")
        #expect(rows[1][1] as String? == "input drift: brightness -3.0 spreads")
        let samples = try store.driftSamples(since: 0, until: 2_000_000_000)
        #expect(samples.count == 1 && samples[0].camera == "cam1" && samples[0].note.hasPrefix("input drift"))
    }

    @Test func namedDefectKindsAreCheckedAndRecordedOnce() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: file)
        #expect(throws: StoreError.self) { try store.nameDefectKinds(["good"], who: "ana") }
        #expect(throws: StoreError.self) { try store.nameDefectKinds([String(repeating: "x", count: 65)], who: "ana") }
        #expect(throws: StoreError.self) { try store.nameDefectKinds(["burr;drop"], who: "ana") }
        try store.nameDefectKinds(["burr"], who: "ana", now: 10)
        try store.nameDefectKinds(["burr", "flash"], who: "bo", now: 20)
        #expect(try store.namedDefectKinds() == [NamedDefectKind(name: "burr", addedBy: "ana", addedAt: 10),
                                                 NamedDefectKind(name: "flash", addedBy: "bo", addedAt: 20)])
        // a label naming a kind records it in the same transaction: refused label, no kind
        #expect(throws: StoreError.self) { try store.label(frames: [42], defects: ["sliver"], who: "cy", newKinds: ["sliver"]) }
        #expect(try store.namedDefectKinds().count == 2, "a refused label names no kind")
    }
}

@Suite("Frames for self-supervised pretraining")
struct PretrainingFramesTests {
    @Test("good as far as anyone knows: labeled good, or unlabeled and passed by the model; a later label decides; deleted files are left out")
    func goodAsFarAsAnyoneKnows() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: file)
        try store.register(camera: "cam1", source: "synthetic")
        // kept because: flagged, failed, audit, failed, flagged, audit, flagged, flagged (a fail), flagged (no verdict)
        let kept: [FrameRecord.KeptBecause] = [.flagged, .failed, .audit, .failed, .flagged, .audit, .flagged, .flagged, .flagged]
        let decisions: [Decision] = [.pass, .fail, .pass, .fail, .pass, .pass, .pass, .fail, .noVerdict]
        try store.insert(kept.enumerated().map { i, k in
            VerdictBundle(verdict: verdict(Int64(i), decisions[i]),
                          frame: FrameRecord(path: "\(i).jpg", sha256: String(repeating: "0", count: 64), bytes: 1, width: 8, height: 8, keptBecause: k,
                                             roi: i == 2 ? FrameRegion(x: 1, y: 2, width: 4, height: 4) : nil))
        })
        let ids = try store.frameIds().sorted()
        try store.label(frames: [ids[3]], defects: [], who: "qa")           // failed, but a person says good
        try store.label(frames: [ids[4]], defects: ["scratch"], who: "qa")  // flagged, a person says scratch
        try store.label(frames: [ids[5]], defects: ["dent"], who: "qa")     // audit: dent, then good
        try store.label(frames: [ids[5]], defects: [], who: "qa")
        try store.label(frames: [ids[6]], defects: [], who: "qa")           // good, then stain
        try store.label(frames: [ids[6]], defects: ["stain"], who: "qa")
        try store.pool.write { db in try db.execute(sql: "UPDATE frames SET deleted_at = 1 WHERE id = ?", arguments: [ids[0]]) }
        let frames = try store.framesForPretraining()
        #expect(frames.map(\.frameId) == [ids[2], ids[3], ids[5]])
        #expect(frames.map(\.source) == ["unlabeled", "labeled good", "labeled good"] && frames.allSatisfy { $0.defects.isEmpty })
        #expect(frames[0].roi == FrameRegion(x: 1, y: 2, width: 4, height: 4) && frames[0].path == "2.jpg" && frames[0].labelId == 0)
    }
}
