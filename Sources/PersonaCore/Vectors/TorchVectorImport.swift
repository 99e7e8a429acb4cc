// The reference repo's `.pt` vector files as trait vectors: the tensor TorchVectorFile reads, with
// the embeddings row dropped and the trait and method guessed from the file name. Kept apart from
// the reader so that the reader compiles alone (scripts/fuzz.sh).
import Foundation

extension TorchVectorFile {
    /// Reads a reference `.pt` vector file as trait vectors: `[numLayers + 1, hidden]` drops row 0
    /// (the embeddings; DESIGN.md), `[hidden]` becomes a single-vector file.
    public static func readVectors(path: String, trait: String? = nil) throws -> TraitVectors {
        let tensor = try readTensor(path: path)
        let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        var metadata: [String: String] = ["persona.source": URL(fileURLWithPath: path).lastPathComponent]
        metadata["persona.trait"] = trait ?? guessTrait(stem)
        metadata["persona.method"] = guessMethod(stem)
        switch tensor.shape.count {
        case 1 where tensor.shape[0] > 0:
            return TraitVectors(rows: [tensor.values], isSingle: true, metadata: metadata)
        case 2 where tensor.shape[0] >= 2 && tensor.shape[1] > 0:
            let width = tensor.shape[1]
            let rows = (1..<tensor.shape[0]).map { Array(tensor.values[($0 * width)..<(($0 + 1) * width)]) }
            metadata["persona.import"] = "dropped row 0 (embeddings) of \(tensor.shape)"
            return TraitVectors(rows: rows, metadata: metadata)
        default:
            throw TorchFileError.unsupportedRank(path: path, shape: tensor.shape)
        }
    }

    /// The method named in a reference file name (`evil_response_avg_diff.pt`), or `other`.
    static func guessMethod(_ stem: String) -> String {
        for method in ["response_avg", "prompt_avg", "prompt_last"] where stem.contains(method) { return method }
        return "other"
    }

    /// The trait named in a reference file name: the part before the method, or the whole stem.
    static func guessTrait(_ stem: String) -> String {
        for method in ["_response_avg", "_prompt_avg", "_prompt_last"] {
            if let r = stem.range(of: method), r.lowerBound > stem.startIndex { return String(stem[..<r.lowerBound]) }
        }
        return stem
    }
}
