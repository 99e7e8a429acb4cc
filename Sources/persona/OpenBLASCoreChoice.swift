// The OpenBLAS kernel choice, made where the program starts and nowhere else.
//
// OpenBLAS reads OPENBLAS_CORETYPE once, when the library loads, before `main`. On a processor it
// does not know it runs its generic Prescott kernels (3-4x slower sgemm; COpenBLASCore says when).
// `persona` then sets OPENBLAS_CORETYPE to the family that fits and executes itself again, once,
// with the same arguments. Nothing happens when OPENBLAS_CORETYPE is already set (the user's or the
// machine's choice wins), when PERSONA_KEEP_OPENBLAS_CORE is set, or when OpenBLAS knew the CPU.
// `persona inspect --machine --env` prints the choice for other programs; scripts/openblas-env.sh
// prints the same without building persona (`make test` starts the test processes with it).
import Foundation
import PersonaTensor

enum OpenBLASCoreChoice {
    /// The kernel family to re-execute with, nil when none is due (the one rule both callers share).
    private static var due: String? {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env["PERSONA_KEEP_OPENBLAS_CORE"] == nil else { return nil }
        return BLAS.betterCore
    }

    /// The environment assignments the choice makes, empty when it makes none.
    static var environment: [(String, String)] {
        if BLAS.coreChosenAtStartup, let core = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] {
            return [("OPENBLAS_CORETYPE", core), ("PERSONA_OPENBLAS_CORE_SET", core)]
        }
        return due.map { [("OPENBLAS_CORETYPE", $0), ("PERSONA_OPENBLAS_CORE_SET", $0)] } ?? []
    }

    /// Re-executes the program with the better kernel family when one is due; returns when none is
    /// (or when the re-execution fails: the program goes on with OpenBLAS's own choice).
    static func apply() {
        guard let core = due else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv("PERSONA_OPENBLAS_CORE_SET", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")
        unsetenv("PERSONA_OPENBLAS_CORE_SET")
    }
}
