// pipeline-testhost: runs the pipeline with the test-only text-derived autorater, for tests that
// need a separate process (kill -9 and resume). Not installed, not a user tool.
//
// usage: pipeline-testhost run|judge RUN_DIR MODEL PACK_DIR SETTINGS_JSON [JUDGE_DELAY_SECONDS]
import Foundation
import PersonaCore
import PipelineTestSupport
import PersonaModel

let args = CommandLine.arguments
guard args.count >= 6, ["run", "judge"].contains(args[1]) else {
    FileHandle.standardError.write(Data("usage: pipeline-testhost run|judge RUN_DIR MODEL PACK_DIR SETTINGS_JSON [JUDGE_DELAY_SECONDS]\n".utf8))
    exit(2)
}
do {
    let settings = try JSONDecoder().decode(PipelineSettings.self, from: Data(args[5].utf8))
    let judge = TextDerivedAutorater(delay: args.count > 6 ? Double(args[6]) ?? 0 : 0)
    let model = try LanguageModel(args[3])
    let pack = try PluginHost.loadPackFile(args[4])
    let pipeline = try Pipeline(model: model, runDirectory: args[2], judge: judge, settings: settings)
    try pipeline.recordRun(packs: [pack])
    if args[1] == "judge" {
        try pipeline.generate(pack)
        try pipeline.judgeAnswers(pack)
    } else {
        _ = try pipeline.run([pack])
    }
    for r in pipeline.reports { print("\(r.stage) \(r.trait) \(r.computed) \(r.reused)") }
} catch {
    FileHandle.standardError.write(Data("pipeline-testhost: \(error)\n".utf8))
    exit(1)
}
