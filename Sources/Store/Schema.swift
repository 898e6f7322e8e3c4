import GRDB

/// The schema as named migrations. A migration that has shipped is never edited: a
/// change is a new migration appended to the list.
enum Schema {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-core", migrate: v1)
        m.registerMigration("v2-registry", migrate: v2)
        m.registerMigration("v3-review-stats", migrate: v3)
        m.registerMigration("v4-frame-roi", migrate: v4)
        m.registerMigration("v5-parts", migrate: v5)
        m.registerMigration("v6-frame-defect-map", migrate: v6)
        m.registerMigration("v7-defect-kinds", migrate: v7)
        m.registerMigration("v8-drift-flag", migrate: v8)
        m.registerMigration("v9-review-order", migrate: v9)
        m.registerMigration("v10-products", migrate: v10)
        m.registerMigration("v11-models-per-product", migrate: v11)
        return m
    }

    static let decisions = "('pass', 'fail', 'no_verdict')"
    static let flagReasons = "('uncertain', 'low_stage2_confidence', 'audit', 'no_verdict', 'suspect_label', 'drift')"
    /// The flag reasons v3 through v7 knew (v3's CHECK constraint, kept as shipped).
    static let v3FlagReasons = "('uncertain', 'low_stage2_confidence', 'audit', 'no_verdict', 'suspect_label')"
    /// The flag reasons v1 knew (its CHECK constraint, kept as shipped).
    static let v1FlagReasons = "('uncertain', 'low_stage2_confidence', 'audit', 'no_verdict')"

    private static func v1(_ db: Database) throws {
        try db.execute(sql: """
        CREATE TABLE cameras (
            id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 64),
            source TEXT NOT NULL,
            created_at REAL NOT NULL
        ) STRICT;

        CREATE TABLE models (
            id INTEGER PRIMARY KEY,
            version TEXT NOT NULL UNIQUE,
            stage INTEGER NOT NULL CHECK (stage IN (1, 2)),
            file TEXT NOT NULL,
            sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
            metrics TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metrics)),
            status TEXT NOT NULL CHECK (status IN ('candidate', 'champion', 'retired', 'rejected')),
            parent_id INTEGER REFERENCES models(id),
            created_at REAL NOT NULL
        ) STRICT;
        CREATE UNIQUE INDEX one_champion_per_stage ON models(stage) WHERE status = 'champion';

        CREATE TABLE verdicts (
            id INTEGER PRIMARY KEY,
            camera_id TEXT NOT NULL REFERENCES cameras(id),
            captured_at REAL NOT NULL,
            frame_sequence INTEGER NOT NULL CHECK (frame_sequence >= 0),
            stage1_score REAL CHECK (stage1_score BETWEEN 0 AND 1),
            stage2_scores TEXT CHECK (stage2_scores IS NULL OR json_valid(stage2_scores)),
            decision TEXT NOT NULL CHECK (decision IN \(decisions)),
            defects TEXT NOT NULL DEFAULT '',
            stage1_model TEXT,
            stage2_model TEXT,
            stage1_ms REAL CHECK (stage1_ms >= 0),
            stage2_ms REAL CHECK (stage2_ms >= 0),
            total_ms REAL NOT NULL CHECK (total_ms >= 0),
            flags TEXT NOT NULL DEFAULT '',
            error TEXT,
            CHECK (decision = 'no_verdict' OR stage1_score IS NOT NULL)
        ) STRICT;
        CREATE INDEX verdicts_by_time ON verdicts(captured_at);
        CREATE INDEX verdicts_by_camera ON verdicts(camera_id, captured_at);

        CREATE TABLE frames (
            id INTEGER PRIMARY KEY,
            verdict_id INTEGER NOT NULL UNIQUE REFERENCES verdicts(id) ON DELETE CASCADE,
            path TEXT NOT NULL UNIQUE,
            sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
            bytes INTEGER NOT NULL CHECK (bytes > 0),
            width INTEGER NOT NULL CHECK (width > 0),
            height INTEGER NOT NULL CHECK (height > 0),
            kept_because TEXT NOT NULL CHECK (kept_because IN ('flagged', 'failed', 'audit')),
            deleted_at REAL
        ) STRICT;

        CREATE TABLE flags (
            id INTEGER PRIMARY KEY,
            verdict_id INTEGER NOT NULL REFERENCES verdicts(id) ON DELETE CASCADE,
            reason TEXT NOT NULL CHECK (reason IN \(v1FlagReasons)),
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'labeled', 'skipped')),
            created_at REAL NOT NULL,
            UNIQUE (verdict_id, reason)
        ) STRICT;
        CREATE INDEX open_flags ON flags(status, created_at);

        CREATE TABLE labels (
            id INTEGER PRIMARY KEY,
            frame_id INTEGER NOT NULL REFERENCES frames(id),
            label TEXT NOT NULL CHECK (length(label) > 0),
            who TEXT NOT NULL CHECK (length(who) > 0),
            labeled_at REAL NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('review', 'import', 'synthetic')),
            supersedes INTEGER REFERENCES labels(id)
        ) STRICT;
        CREATE INDEX labels_by_frame ON labels(frame_id);

        CREATE TABLE training_runs (
            id INTEGER PRIMARY KEY,
            started_at REAL NOT NULL,
            finished_at REAL,
            status TEXT NOT NULL CHECK (status IN ('running', 'promoted', 'kept_champion', 'failed')),
            champion_id INTEGER REFERENCES models(id),
            challenger_id INTEGER REFERENCES models(id),
            data_hash TEXT,
            report TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(report))
        ) STRICT;

        CREATE TABLE hourly_rollups (
            camera_id TEXT NOT NULL REFERENCES cameras(id),
            hour INTEGER NOT NULL,
            frames INTEGER NOT NULL DEFAULT 0,
            passes INTEGER NOT NULL DEFAULT 0,
            fails INTEGER NOT NULL DEFAULT 0,
            no_verdicts INTEGER NOT NULL DEFAULT 0,
            flagged INTEGER NOT NULL DEFAULT 0,
            defects TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(defects)),
            total_ms_sum REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (camera_id, hour)
        ) STRICT;
        """)
    }

    /// The model registry: what each version saw, who promoted it and when.
    private static func v2(_ db: Database) throws {
        try db.execute(sql: """
        ALTER TABLE models ADD COLUMN data_hash TEXT;
        ALTER TABLE models ADD COLUMN notes TEXT NOT NULL DEFAULT '';
        ALTER TABLE models ADD COLUMN promoted_at REAL;
        ALTER TABLE models ADD COLUMN promoted_by TEXT;
        CREATE INDEX models_by_stage ON models(stage, created_at);
        """)
    }

    /// Review and statistics:
    /// - flags gain the reason 'suspect_label' (from `audit-labels`), the status 'unsure',
    ///   and a lease (who holds the flag in a review session, until when);
    /// - rollups gain the model dimension (`stats --by model`) and a row per defect kind,
    ///   so statistics aggregate in SQL; history from before this migration keeps its
    ///   counts under the model "" (unknown) where its verdict rows are gone.
    private static func v3(_ db: Database) throws {
        try db.execute(sql: """
        CREATE TABLE flags_v3 (
            id INTEGER PRIMARY KEY,
            verdict_id INTEGER NOT NULL REFERENCES verdicts(id) ON DELETE CASCADE,
            reason TEXT NOT NULL CHECK (reason IN \(v3FlagReasons)),
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'labeled', 'skipped', 'unsure')),
            created_at REAL NOT NULL,
            note TEXT,
            leased_by TEXT,
            lease_until REAL,
            UNIQUE (verdict_id, reason)
        ) STRICT;
        INSERT INTO flags_v3(id, verdict_id, reason, status, created_at)
            SELECT id, verdict_id, reason, status, created_at FROM flags;
        DROP TABLE flags;
        ALTER TABLE flags_v3 RENAME TO flags;
        CREATE INDEX open_flags ON flags(status, created_at);

        CREATE TABLE rollups (
            camera_id TEXT NOT NULL REFERENCES cameras(id),
            hour INTEGER NOT NULL,
            model TEXT NOT NULL,
            frames INTEGER NOT NULL DEFAULT 0,
            passes INTEGER NOT NULL DEFAULT 0,
            fails INTEGER NOT NULL DEFAULT 0,
            no_verdicts INTEGER NOT NULL DEFAULT 0,
            flagged INTEGER NOT NULL DEFAULT 0,
            total_ms_sum REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (hour, camera_id, model)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE rollup_defects (
            camera_id TEXT NOT NULL,
            hour INTEGER NOT NULL,
            model TEXT NOT NULL,
            defect TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (hour, camera_id, model, defect)
        ) STRICT, WITHOUT ROWID;

        INSERT INTO rollups
            SELECT camera_id, CAST(floor(captured_at / 3600) AS INTEGER), coalesce(stage1_model, ''),
                   count(*), sum(decision = 'pass'), sum(decision = 'fail'), sum(decision = 'no_verdict'),
                   sum(flags != ''), sum(total_ms)
            FROM verdicts GROUP BY 1, 2, 3;
        INSERT INTO rollups(camera_id, hour, model, frames, passes, fails, no_verdicts, flagged, total_ms_sum)
            SELECT h.camera_id, h.hour, '', h.frames - k.frames, h.passes - k.passes, h.fails - k.fails,
                   h.no_verdicts - k.no_verdicts, h.flagged - k.flagged, h.total_ms_sum - k.total_ms_sum
            FROM hourly_rollups h
            JOIN (SELECT camera_id, hour, sum(frames) AS frames, sum(passes) AS passes, sum(fails) AS fails,
                         sum(no_verdicts) AS no_verdicts, sum(flagged) AS flagged, sum(total_ms_sum) AS total_ms_sum
                  FROM rollups GROUP BY camera_id, hour) k USING (camera_id, hour)
            WHERE h.frames > k.frames
            ON CONFLICT(hour, camera_id, model) DO UPDATE SET frames = frames + excluded.frames,
                passes = passes + excluded.passes, fails = fails + excluded.fails,
                no_verdicts = no_verdicts + excluded.no_verdicts, flagged = flagged + excluded.flagged,
                total_ms_sum = total_ms_sum + excluded.total_ms_sum;
        INSERT INTO rollups(camera_id, hour, model, frames, passes, fails, no_verdicts, flagged, total_ms_sum)
            SELECT camera_id, hour, '', frames, passes, fails, no_verdicts, flagged, total_ms_sum
            FROM hourly_rollups h WHERE NOT EXISTS (SELECT 1 FROM rollups r WHERE r.camera_id = h.camera_id AND r.hour = h.hour);

        INSERT INTO rollup_defects
            SELECT v.camera_id, CAST(floor(v.captured_at / 3600) AS INTEGER), coalesce(v.stage1_model, ''), d.value, count(*)
            FROM verdicts v, json_each('["' || replace(v.defects, ',', '","') || '"]') d
            WHERE v.defects != '' GROUP BY 1, 2, 3, 4;
        INSERT INTO rollup_defects
            SELECT h.camera_id, h.hour, '', d.key, d.value - coalesce((SELECT sum(count) FROM rollup_defects r
                WHERE r.camera_id = h.camera_id AND r.hour = h.hour AND r.defect = d.key), 0)
            FROM hourly_rollups h, json_each(h.defects) d
            WHERE d.value > coalesce((SELECT sum(count) FROM rollup_defects r
                WHERE r.camera_id = h.camera_id AND r.hour = h.hour AND r.defect = d.key), 0)
            ON CONFLICT(hour, camera_id, model, defect) DO UPDATE SET count = count + excluded.count;
        DROP TABLE hourly_rollups;
        """)
    }

    /// The region the daemon judged, with each kept frame: export, retraining and review crop
    /// what the model saw. NULL = the whole frame (and every frame kept before this migration).
    static func v4(_ db: Database) throws {
        try db.execute(sql: """
        ALTER TABLE frames ADD COLUMN roi_x INTEGER;
        ALTER TABLE frames ADD COLUMN roi_y INTEGER;
        ALTER TABLE frames ADD COLUMN roi_w INTEGER;
        ALTER TABLE frames ADD COLUMN roi_h INTEGER CHECK (
            (roi_x IS NULL AND roi_y IS NULL AND roi_w IS NULL AND roi_h IS NULL)
            OR (roi_x >= 0 AND roi_y >= 0 AND roi_w > 0 AND roi_h > 0 AND roi_x + roi_w <= width AND roi_y + roi_h <= height));
        """)
    }

    /// The flag reason 'drift' (the input drift watch's samples): the flags table rebuilt
    /// with every row, column and index, as v3 did (a CHECK constraint cannot be altered).
    static func v8(_ db: Database) throws {
        try db.execute(sql: """
        CREATE TABLE flags_v8 (
            id INTEGER PRIMARY KEY,
            verdict_id INTEGER NOT NULL REFERENCES verdicts(id) ON DELETE CASCADE,
            reason TEXT NOT NULL CHECK (reason IN \(flagReasons)),
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'labeled', 'skipped', 'unsure')),
            created_at REAL NOT NULL,
            note TEXT,
            leased_by TEXT,
            lease_until REAL,
            UNIQUE (verdict_id, reason)
        ) STRICT;
        INSERT INTO flags_v8(id, verdict_id, reason, status, created_at, note, leased_by, lease_until)
            SELECT id, verdict_id, reason, status, created_at, note, leased_by, lease_until FROM flags;
        DROP TABLE flags;
        ALTER TABLE flags_v8 RENAME TO flags;
        CREATE INDEX open_flags ON flags(status, created_at);
        """)
    }

    /// A champion per product: each model version belongs to one product's set ('' for the
    /// `[models]` set, every model registered before this migration), and each product has
    /// its own champion per stage.
    static func v11(_ db: Database) throws {
        try db.execute(sql: """
        ALTER TABLE models ADD COLUMN product TEXT NOT NULL DEFAULT '' CHECK (length(product) <= 64);
        DROP INDEX one_champion_per_stage;
        CREATE UNIQUE INDEX one_champion_per_product_stage ON models(product, stage) WHERE status = 'champion';
        """)
    }

    /// Several products on one line: each verdict names the product whose models judged it,
    /// the changeovers are kept (the daemon starts on the last one), and the hourly rollups
    /// gain the product dimension (rebuilt with every row, as v3 did: a primary key cannot
    /// be altered; older rows count under product '').
    static func v10(_ db: Database) throws {
        try db.execute(sql: """
        ALTER TABLE verdicts ADD COLUMN product TEXT CHECK (product IS NULL OR length(product) BETWEEN 1 AND 64);
        CREATE TABLE product_changes (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            product TEXT NOT NULL CHECK (length(product) BETWEEN 1 AND 64),
            by TEXT NOT NULL CHECK (length(by) BETWEEN 1 AND 200)
        ) STRICT;

        CREATE TABLE rollups_v10 (
            camera_id TEXT NOT NULL REFERENCES cameras(id),
            hour INTEGER NOT NULL,
            model TEXT NOT NULL,
            product TEXT NOT NULL DEFAULT '',
            frames INTEGER NOT NULL DEFAULT 0,
            passes INTEGER NOT NULL DEFAULT 0,
            fails INTEGER NOT NULL DEFAULT 0,
            no_verdicts INTEGER NOT NULL DEFAULT 0,
            flagged INTEGER NOT NULL DEFAULT 0,
            total_ms_sum REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (hour, camera_id, model, product)
        ) STRICT, WITHOUT ROWID;
        INSERT INTO rollups_v10(camera_id, hour, model, product, frames, passes, fails, no_verdicts, flagged, total_ms_sum)
            SELECT camera_id, hour, model, '', frames, passes, fails, no_verdicts, flagged, total_ms_sum FROM rollups;
        DROP TABLE rollups;
        ALTER TABLE rollups_v10 RENAME TO rollups;

        CREATE TABLE rollup_defects_v10 (
            camera_id TEXT NOT NULL,
            hour INTEGER NOT NULL,
            model TEXT NOT NULL,
            product TEXT NOT NULL DEFAULT '',
            defect TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (hour, camera_id, model, product, defect)
        ) STRICT, WITHOUT ROWID;
        INSERT INTO rollup_defects_v10(camera_id, hour, model, product, defect, count)
            SELECT camera_id, hour, model, '', defect, count FROM rollup_defects;
        DROP TABLE rollup_defects;
        ALTER TABLE rollup_defects_v10 RENAME TO rollup_defects;
        """)
    }

    /// The review queue's order: each kept frame's embedding (stage 1's view of it, little-
    /// endian float16, with the model that made it) and each flag's place in the order the
    /// daemon picked (NULL: not placed; then by reason and newest first, as before).
    static func v9(_ db: Database) throws {
        try db.execute(sql: """
        ALTER TABLE frames ADD COLUMN embedding BLOB CHECK (embedding IS NULL OR (length(embedding) BETWEEN 2 AND 32768 AND length(embedding) % 2 = 0));
        ALTER TABLE frames ADD COLUMN embedding_model TEXT CHECK (embedding_model IS NULL OR length(embedding_model) BETWEEN 1 AND 64);
        ALTER TABLE flags ADD COLUMN priority INTEGER CHECK (priority IS NULL OR priority >= 0);
        """)
    }

    /// Defect kinds reviewers named beyond the stage-2 model's (one name per spelling in any
    /// case: a model cannot hold "Burr" beside "burr"), and the kinds each registered stage-2
    /// model knows (a JSON array; NULL for stage 1 and models registered before).
    static func v7(_ db: Database) throws {
        try db.execute(sql: """
        CREATE TABLE defect_kinds (
            name TEXT PRIMARY KEY NOT NULL COLLATE NOCASE CHECK (length(name) BETWEEN 1 AND 64),
            added_by TEXT NOT NULL CHECK (length(added_by) BETWEEN 1 AND 128),
            added_at REAL NOT NULL
        ) STRICT;
        ALTER TABLE models ADD COLUMN kinds TEXT CHECK (kinds IS NULL OR json_valid(kinds));
        """)
    }

    /// Where stage 1 saw the defect in a failed frame, as it judged it (`[flagging] keep_maps`):
    /// JSON `{"width": W, "height": H, "values": [...]}` of the map's cells, 0...1.
    static func v6(_ db: Database) throws {
        try db.execute(sql: """
        ALTER TABLE frames ADD COLUMN defect_map TEXT CHECK (defect_map IS NULL OR (json_valid(defect_map) AND length(defect_map) <= 200000));
        """)
    }

    /// Parts: one trigger of a station, judged from its views' frames; the frame verdicts
    /// name their part (no foreign key: a part is decided, and committed, after its frames).
    static func v5(_ db: Database) throws {
        try db.execute(sql: """
        CREATE TABLE parts (
            id INTEGER PRIMARY KEY,
            station TEXT NOT NULL CHECK (length(station) BETWEEN 1 AND 64),
            triggered_at REAL NOT NULL,
            serial TEXT CHECK (serial IS NULL OR length(serial) BETWEEN 1 AND 128),
            decision TEXT NOT NULL CHECK (decision IN \(decisions)),
            defects TEXT NOT NULL DEFAULT '',
            views INTEGER NOT NULL CHECK (views >= 1),
            frames INTEGER NOT NULL CHECK (frames >= 0),
            decided_ms REAL NOT NULL CHECK (decided_ms >= 0),
            error TEXT
        ) STRICT;
        CREATE INDEX parts_station_time ON parts(station, triggered_at);
        ALTER TABLE verdicts ADD COLUMN part_id INTEGER;
        CREATE INDEX verdicts_part ON verdicts(part_id) WHERE part_id IS NOT NULL;
        """)
    }
}
