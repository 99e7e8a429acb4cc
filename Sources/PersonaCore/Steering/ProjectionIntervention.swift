// Which projection intervention a hook applies (Capping.swift applies it). Kept free of the rest of
// PersonaCore: the server-request fuzz target (scripts/fuzz.sh) compiles it alone with the request parser.

/// Which projection intervention.
public enum ProjectionIntervention: Equatable, Sendable {
    case cap(threshold: Float)
    case floor(threshold: Float)
    case ablate
}
