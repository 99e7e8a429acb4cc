// The position modes of steering, capping and capture (DESIGN.md, "Position modes"). A plain enum
// in a file of its own: the server's request decoding uses it and compiles with it alone (scripts/fuzz.sh).

/// Where along the sequence an intervention applies.
public enum SteeringPositions: String, CaseIterable, Sendable, Codable {
    case all
    case prompt
    case response
}
