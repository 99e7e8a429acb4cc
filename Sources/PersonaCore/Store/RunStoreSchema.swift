// The run store's schema, as GRDB schema steps (`DatabaseMigrator`): each step runs once per store,
// in its own transaction, and `grdb_migrations` records the steps a store has. Steps are only ever
// appended; a store with a step this version does not know is refused (RunStore.swift).
//
//   v1                 the tables of answers, scores, activations, filter runs and pair decisions,
//                      vectors, steering results, projections, the stage log and run_info
//   v2-answer-engine   answers.engine: where each answer was generated
//   v3-trait-tables    trait states, behaviour results and geometry in tables of their own; they
//                      were JSON values in run_info (`trait.NAME`, `behavior.KEY`, `geometry`) and
//                      move there in the same transaction
//   v4-typed-conditions answers without an instruction pair (steered ones) hold NULL in
//                      instruction_index and polarity (they held -1 and 'none'); a projection of a
//                      steered answer holds condition 'steered' and its coefficient in a column of
//                      its own (the condition was text like 'steered +2')
import Foundation
import GRDB

extension RunStore {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE run_info (name TEXT PRIMARY KEY, value TEXT NOT NULL);
                    CREATE TABLE answers (
                        key TEXT PRIMARY KEY, kind TEXT NOT NULL, trait TEXT NOT NULL, question_index INTEGER NOT NULL,
                        question TEXT NOT NULL, instruction_index INTEGER NOT NULL, polarity TEXT NOT NULL, sample_index INTEGER NOT NULL,
                        system_prompt TEXT, prompt_text TEXT NOT NULL, answer TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
                        response_tokens INTEGER NOT NULL, stop_reason TEXT NOT NULL, seed TEXT NOT NULL,
                        steering_layer INTEGER, coefficient REAL, vector_key TEXT, created_at REAL NOT NULL);
                    CREATE INDEX answers_trait ON answers(trait, kind);
                    CREATE TABLE scores (
                        key TEXT PRIMARY KEY, answer_key TEXT NOT NULL, kind TEXT NOT NULL, score REAL, no_score_reason TEXT,
                        number_mass REAL NOT NULL, judge TEXT NOT NULL, created_at REAL NOT NULL);
                    CREATE INDEX scores_answer ON scores(answer_key);
                    CREATE TABLE activations (
                        answer_key TEXT PRIMARY KEY, layers INTEGER NOT NULL, hidden INTEGER NOT NULL,
                        response_tokens INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL,
                        response_mean BLOB NOT NULL, prompt_mean BLOB NOT NULL, prompt_last BLOB NOT NULL);
                    CREATE TABLE filter_runs (
                        filter_key TEXT PRIMARY KEY, trait TEXT NOT NULL, total INTEGER NOT NULL, kept INTEGER NOT NULL, created_at REAL NOT NULL);
                    CREATE TABLE pair_decisions (
                        filter_key TEXT NOT NULL, trait TEXT NOT NULL, question_index INTEGER NOT NULL, instruction_index INTEGER NOT NULL,
                        sample_index INTEGER NOT NULL, positive_key TEXT NOT NULL, negative_key TEXT NOT NULL, kept INTEGER NOT NULL, reason TEXT,
                        PRIMARY KEY (filter_key, question_index, instruction_index, sample_index));
                    CREATE TABLE vectors (
                        key TEXT PRIMARY KEY, trait TEXT NOT NULL, method TEXT NOT NULL, filter_key TEXT NOT NULL, layers INTEGER NOT NULL,
                        hidden INTEGER NOT NULL, pair_count INTEGER NOT NULL, data BLOB NOT NULL, model TEXT NOT NULL, created_at REAL NOT NULL);
                    CREATE TABLE steering_results (
                        key TEXT PRIMARY KEY, trait TEXT NOT NULL, vector_key TEXT NOT NULL, layer INTEGER NOT NULL, coefficient REAL NOT NULL,
                        positions TEXT NOT NULL, mean_trait REAL, mean_coherence REAL, scored_count INTEGER NOT NULL, answer_count INTEGER NOT NULL,
                        created_at REAL NOT NULL);
                    CREATE TABLE projections (
                        trait TEXT NOT NULL, vector_key TEXT NOT NULL, layer INTEGER NOT NULL, answer_key TEXT NOT NULL, condition TEXT NOT NULL,
                        source TEXT NOT NULL, value REAL NOT NULL,
                        PRIMARY KEY (vector_key, layer, answer_key, source, condition));
                    CREATE TABLE stage_log (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, invocation TEXT NOT NULL, stage TEXT NOT NULL, trait TEXT NOT NULL,
                        computed INTEGER NOT NULL, reused INTEGER NOT NULL, at REAL NOT NULL);
                    """)
        }
        // Where each answer was generated (`--engine`); answers of older stores were local.
        m.registerMigration("v2-answer-engine") { db in
            try db.execute(sql: "ALTER TABLE answers ADD COLUMN engine TEXT NOT NULL DEFAULT 'local'")
        }
        m.registerMigration("v3-trait-tables") { db in
            try db.execute(
                sql: """
                    CREATE TABLE trait_states (
                        trait TEXT PRIMARY KEY, pack_hash TEXT NOT NULL, pairs_total INTEGER, filter_key TEXT, vector_keys TEXT NOT NULL,
                        method TEXT, steering_layer INTEGER, steering_result_keys TEXT NOT NULL, sweep_result_keys TEXT NOT NULL,
                        best_layer INTEGER, monitor_vector_key TEXT, monitor_layer INTEGER, prompt_last_correlation REAL,
                        example_answer_keys TEXT NOT NULL, behavior_result_keys TEXT, judge_quality TEXT, search_result_keys TEXT,
                        search_choice TEXT, chosen_result_key TEXT, prompting_baseline TEXT);
                    CREATE TABLE behavior_results (
                        key TEXT PRIMARY KEY, trait TEXT NOT NULL, layer INTEGER NOT NULL, coefficient REAL NOT NULL, positions TEXT NOT NULL,
                        mean_trait_probability REAL NOT NULL, item_probabilities TEXT NOT NULL, mean_log_ratio REAL NOT NULL);
                    CREATE TABLE geometry (
                        id INTEGER PRIMARY KEY CHECK (id = 1), traits TEXT NOT NULL, layer INTEGER NOT NULL, cosine TEXT NOT NULL,
                        per_layer TEXT NOT NULL);
                    """)
            try RunStore.moveTraitRecordsFromRunInfo(db)
        }
        m.registerMigration("v4-typed-conditions") { db in
            // SQLite relaxes a NOT NULL only by rebuilding the table.
            try db.execute(
                sql: """
                    CREATE TABLE answers_v4 (
                        key TEXT PRIMARY KEY, kind TEXT NOT NULL, trait TEXT NOT NULL, question_index INTEGER NOT NULL,
                        question TEXT NOT NULL, instruction_index INTEGER, polarity TEXT, sample_index INTEGER NOT NULL,
                        system_prompt TEXT, prompt_text TEXT NOT NULL, answer TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
                        response_tokens INTEGER NOT NULL, stop_reason TEXT NOT NULL, seed TEXT NOT NULL,
                        steering_layer INTEGER, coefficient REAL, vector_key TEXT, created_at REAL NOT NULL, engine TEXT NOT NULL DEFAULT 'local');
                    INSERT INTO answers_v4
                        SELECT key, kind, trait, question_index, question,
                               CASE WHEN polarity = 'none' THEN NULL ELSE instruction_index END, NULLIF(polarity, 'none'), sample_index,
                               system_prompt, prompt_text, answer, prompt_tokens, response_tokens, stop_reason, seed,
                               steering_layer, coefficient, vector_key, created_at, engine
                        FROM answers;
                    DROP TABLE answers;
                    ALTER TABLE answers_v4 RENAME TO answers;
                    CREATE INDEX answers_trait ON answers(trait, kind);
                    ALTER TABLE projections ADD COLUMN coefficient REAL;
                    """)
            try RunStore.splitSteeredConditions(db)
        }
        return m
    }

    /// Schema step v4: 'steered +2' becomes condition 'steered' with coefficient 2. A condition that
    /// does not parse stops the step, naming the row: nothing changes.
    static func splitSteeredConditions(_ db: Database) throws {
        let rows = try Row.fetchAll(db, sql: "SELECT rowid AS id, answer_key, condition FROM projections WHERE substr(condition, 1, 8) = 'steered '")
        for row in rows {
            let stored = StoredRow(row, table: "projections", keyColumn: "answer_key")
            let rowid = try stored.get("id", as: Int64.self)
            let text = try stored.get("condition", as: String.self)
            guard let coefficient = Double(text.dropFirst("steered ".count)), coefficient.isFinite else {
                throw RunStoreError.badValue(table: "projections", column: "condition", key: stored.key, value: text)
            }
            try db.execute(sql: "UPDATE projections SET condition = 'steered', coefficient = ? WHERE rowid = ?", arguments: [coefficient, rowid])
        }
    }

    /// Schema step v3: the JSON values of run_info that have tables now move there, decoded as the
    /// earlier version read them (a value that does not decode stops the step: nothing moves).
    static func moveTraitRecordsFromRunInfo(_ db: Database) throws {
        for entry in try InfoEntry.fetchAll(
            db,
            sql: """
                SELECT name, value FROM run_info
                WHERE substr(name, 1, 6) = 'trait.' OR substr(name, 1, 9) = 'behavior.' OR name = 'geometry' ORDER BY name
                """)
        {
            let name = entry.name
            if name.hasPrefix("trait.") {
                let state = try decode(TraitState.self, json: entry.value, name: name)
                try state.store(db, extra: ["trait": String(name.dropFirst("trait.".count)).databaseValue])
            } else if name.hasPrefix("behavior.") {
                var result = try decode(BehaviorResult.self, json: entry.value, name: name)
                result.key = String(name.dropFirst("behavior.".count))  // the key it was found by
                try result.store(db)
            } else if name == "geometry" {
                try decode(Geometry.self, json: entry.value, name: name).store(db, extra: ["id": Int64(1).databaseValue])
            } else {
                continue
            }
            try db.execute(sql: "DELETE FROM run_info WHERE name = ?", arguments: [name])
        }
    }
}
